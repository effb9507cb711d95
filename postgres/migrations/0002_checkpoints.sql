-- The tables of the SQLite store's migration 0010, with the same columns
-- (bulwark.CheckpointStore).

-- checkpoints are what a running task committed with each completed step
-- (bulwark.Checkpoint): state_ct is the sealed JSON of its budgets used,
-- taint and workspace manifest, bound to tenant, task and seq.
CREATE TABLE checkpoints (
	task_id   text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	seq       bigint NOT NULL,
	tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	state_ct  bytea NOT NULL,
	created   bigint NOT NULL,
	PRIMARY KEY (task_id, seq)
);
CREATE INDEX checkpoints_tenant ON checkpoints (tenant_id);

-- checkpoint_blobs are the file contents checkpoints refer to, one per
-- distinct content of a task: id is the hex SHA-256 of the content;
-- content_ct the sealed content, bound to tenant, task and id. size stays
-- in the clear for quotas.
CREATE TABLE checkpoint_blobs (
	task_id    text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	id         text COLLATE "C" NOT NULL,
	tenant_id  text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	size       bigint NOT NULL,
	content_ct bytea NOT NULL,
	created    bigint NOT NULL,
	PRIMARY KEY (task_id, id)
);
CREATE INDEX checkpoint_blobs_tenant ON checkpoint_blobs (tenant_id);
