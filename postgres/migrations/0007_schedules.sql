-- schedules start a task at each tick of a cron spec, as their owner
-- (bulwark.Schedule), as in SQLite's 0015. input_ct is the sealed input,
-- bound to the tenant and the schedule id; the rest is in the clear so
-- that due schedules can be found and their ticks claimed (a conditional
-- UPDATE of next_run: of several nodes, exactly one claims a tick).
CREATE TABLE schedules (
	id           text COLLATE "C" PRIMARY KEY,
	tenant_id    text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	cron         text NOT NULL,
	timezone     text NOT NULL,
	model        text NOT NULL,
	limits       text NOT NULL,
	overlap      bigint NOT NULL,
	owner_user   text COLLATE "C" NOT NULL,
	owner_key    text COLLATE "C" NOT NULL,
	input_ct     bytea NOT NULL,
	created      bigint NOT NULL,
	updated      bigint NOT NULL,
	next_run     bigint NOT NULL,
	last_run     bigint,
	last_task    text COLLATE "C" NOT NULL,
	runs         bigint NOT NULL,
	skipped      bigint NOT NULL,
	last_skipped bigint,
	skip_reason  text NOT NULL,
	stopped      text NOT NULL
);
CREATE INDEX schedules_tenant ON schedules (tenant_id, created);
CREATE INDEX schedules_due ON schedules (next_run) WHERE stopped = '';
ALTER TABLE tasks ADD COLUMN schedule_id text COLLATE "C";
