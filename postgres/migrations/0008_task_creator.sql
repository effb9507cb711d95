-- The user who created a task, so the task's private memories (scope
-- "user") are that user's rather than the tenant's. NULL: no user (the
-- CLI's local tenant, an API key not tied to a user, tasks made before).
ALTER TABLE tasks ADD COLUMN created_by text COLLATE "C";
