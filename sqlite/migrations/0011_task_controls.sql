-- task_controls carries control requests (bulwark.ControlRequest: cancel,
-- message, answer) from the process that received them to the process
-- that runs the task. payload_ct is the sealed JSON of the request's
-- actor, text and decision, bound to the tenant and the request id.
-- taken is set (unix nanoseconds) when the running process took it.
CREATE TABLE task_controls (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	turn       INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	payload_ct BLOB NOT NULL,
	created    INTEGER NOT NULL,
	taken      INTEGER
) STRICT;
-- The poll of a running process reads only the requests not taken.
CREATE INDEX task_controls_open ON task_controls (task_id) WHERE taken IS NULL;
