-- parent_id names the task whose agent started this one with the delegate
-- tool (a sub-agent); NULL for a task a person started. A task's children
-- are listed by it.
ALTER TABLE tasks ADD COLUMN parent_id TEXT;
CREATE INDEX tasks_parent ON tasks (tenant_id, parent_id) WHERE parent_id IS NOT NULL;
