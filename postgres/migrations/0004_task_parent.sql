-- parent_id names the task whose agent started this one with the delegate
-- tool (a sub-agent), as in SQLite's 0012; NULL for a task a person started.
ALTER TABLE tasks ADD COLUMN parent_id text COLLATE "C";
CREATE INDEX tasks_parent ON tasks (tenant_id, parent_id) WHERE parent_id IS NOT NULL;
