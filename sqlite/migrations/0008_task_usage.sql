-- What each task consumed and when it ran, kept with the task so that a
-- list of tasks shows tokens, cost and time without reading its events.
-- AppendEvent keeps them: model_text events add their usage as they come,
-- task_finished sets the run's total (when larger) and the end time.
ALTER TABLE tasks ADD COLUMN input_tokens  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN cost          REAL NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN started       INTEGER; -- unix time of the first task_started
ALTER TABLE tasks ADD COLUMN finished      INTEGER; -- unix time of the last task_finished
