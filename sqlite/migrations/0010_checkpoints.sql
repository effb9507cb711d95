-- checkpoints are what a running task committed with each completed step
-- (bulwark.Checkpoint): state_ct is the sealed JSON of its budgets used,
-- taint and workspace manifest, bound to tenant, task and seq.
CREATE TABLE checkpoints (
	task_id   TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,
	tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	state_ct  BLOB NOT NULL,
	created   INTEGER NOT NULL,
	PRIMARY KEY (task_id, seq)
) STRICT, WITHOUT ROWID;
CREATE INDEX checkpoints_tenant ON checkpoints (tenant_id);

-- checkpoint_blobs are the file contents checkpoints refer to, one per
-- distinct content of a task: id is the hex SHA-256 of the content;
-- content_ct the sealed content, bound to tenant, task and id. size stays
-- in the clear for quotas.
CREATE TABLE checkpoint_blobs (
	task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	id         TEXT NOT NULL,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	size       INTEGER NOT NULL,
	content_ct BLOB NOT NULL,
	created    INTEGER NOT NULL,
	PRIMARY KEY (task_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX checkpoint_blobs_tenant ON checkpoint_blobs (tenant_id);
