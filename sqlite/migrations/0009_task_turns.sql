-- turns counts the runs of a task's conversation: 1 for a new task, one
-- more each time a person's message continued it after it stopped.
ALTER TABLE tasks ADD COLUMN turns INTEGER NOT NULL DEFAULT 1;
