-- event_seq is the seq of the task's last event when a control request
-- was stored (bulwark.ControlRequest.EventSeq): a message is the answer
-- to the task's question only when it was sent after the question's
-- event. A request not taken yet when this version came counts as sent
-- now, as every message could be an answer before.
ALTER TABLE task_controls ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
UPDATE task_controls SET event_seq = (SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.task_id = task_controls.task_id)
	WHERE taken IS NULL;
