-- Tenants, their data keys, the master key checks, tasks with their
-- events, and secrets. Columns named *_ct hold values sealed with the
-- tenant's data key (secret.Seal); everything else is metadata kept in the
-- clear so it can be indexed.

CREATE TABLE tenants (
	id      TEXT PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	created INTEGER NOT NULL -- Unix nanoseconds, UTC
) STRICT;

-- master_keys holds one key-check record per master key version: a known
-- text sealed under it, to tell a wrong master key at open.
CREATE TABLE master_keys (
	version  INTEGER PRIMARY KEY,
	check_ct BLOB NOT NULL,
	created  INTEGER NOT NULL
) STRICT;

-- data_keys holds each tenant's data keys, wrapped by a master key.
CREATE TABLE data_keys (
	tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	version        INTEGER NOT NULL,
	wrapped        BLOB NOT NULL,
	master_version INTEGER NOT NULL REFERENCES master_keys (version),
	created        INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, version)
) STRICT;
CREATE INDEX data_keys_master ON data_keys (master_version);

CREATE TABLE tasks (
	id        TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	status    TEXT NOT NULL,
	model     TEXT NOT NULL,
	limits    TEXT NOT NULL, -- JSON of bulwark.Limits
	input_ct  BLOB NOT NULL,
	answer_ct BLOB,
	reason    TEXT NOT NULL DEFAULT '',
	created   INTEGER NOT NULL,
	updated   INTEGER NOT NULL
) STRICT;
CREATE INDEX tasks_tenant_created ON tasks (tenant_id, created);

-- events are the steps of a task; payload_ct is the sealed JSON of the
-- bulwark.Event.
CREATE TABLE events (
	task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,
	tenant_id  TEXT NOT NULL,
	type       TEXT NOT NULL,
	time       INTEGER NOT NULL,
	payload_ct BLOB NOT NULL,
	PRIMARY KEY (task_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE secrets (
	tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	name      TEXT NOT NULL,
	value_ct  BLOB NOT NULL,
	created   INTEGER NOT NULL,
	updated   INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, name)
) STRICT, WITHOUT ROWID;
