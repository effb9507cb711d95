-- schedules start a task at each tick of a cron spec, as their owner
-- (bulwark.Schedule). input_ct is the sealed input, bound to the tenant and
-- the schedule id; the rest is in the clear so that due schedules can be
-- found and their ticks claimed (a conditional UPDATE of next_run). No
-- foreign key to the owner: removing the owner stops the schedule, with a
-- reason, rather than deleting it unseen.
CREATE TABLE schedules (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	cron         TEXT NOT NULL,
	timezone     TEXT NOT NULL,
	model        TEXT NOT NULL,
	limits       TEXT NOT NULL,
	overlap      INTEGER NOT NULL,
	owner_user   TEXT NOT NULL,
	owner_key    TEXT NOT NULL,
	input_ct     BLOB NOT NULL,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL,
	next_run     INTEGER NOT NULL,
	last_run     INTEGER,
	last_task    TEXT NOT NULL,
	runs         INTEGER NOT NULL,
	skipped      INTEGER NOT NULL,
	last_skipped INTEGER,
	skip_reason  TEXT NOT NULL,
	stopped      TEXT NOT NULL
) STRICT;
CREATE INDEX schedules_tenant ON schedules (tenant_id, created);
-- The scheduler reads only the schedules that still fire, by next tick.
CREATE INDEX schedules_due ON schedules (next_run) WHERE stopped = '';
-- A task started by a schedule names it (bulwark.Task.ScheduleID).
ALTER TABLE tasks ADD COLUMN schedule_id TEXT;
