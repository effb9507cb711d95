-- The store's schema: the tables and columns of the SQLite store after its
-- migrations 0001 to 0009, with the same names and in the same order, types
-- mapped (BLOB: bytea, INTEGER: bigint, TEXT: text, REAL: double
-- precision), so that a table-by-table copy between the backends works.
-- Columns named *_ct hold values sealed with the tenant's data key
-- (secret.Seal, bound as in package sqlite); times are Unix nanoseconds,
-- UTC. Text columns collate "C", so that they sort by bytes as in SQLite.

CREATE TABLE tenants (
	id      text COLLATE "C" PRIMARY KEY,
	name    text COLLATE "C" NOT NULL UNIQUE,
	created bigint NOT NULL
);

-- One key-check record per master key version: a known text sealed under
-- it, to tell a wrong master key at open.
CREATE TABLE master_keys (
	version  bigint PRIMARY KEY,
	check_ct bytea NOT NULL,
	created  bigint NOT NULL
);

-- Each tenant's data keys, wrapped by a master key.
CREATE TABLE data_keys (
	tenant_id      text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	version        bigint NOT NULL,
	wrapped        bytea NOT NULL,
	master_version bigint NOT NULL REFERENCES master_keys (version),
	created        bigint NOT NULL,
	PRIMARY KEY (tenant_id, version)
);
CREATE INDEX data_keys_master ON data_keys (master_version);

-- Emails are unique per tenant, lower case.
CREATE TABLE users (
	id            text COLLATE "C" PRIMARY KEY,
	tenant_id     text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	email         text COLLATE "C" NOT NULL,
	role          text COLLATE "C" NOT NULL,
	password_hash text COLLATE "C" NOT NULL,
	created       bigint NOT NULL,
	updated       bigint NOT NULL,
	UNIQUE (tenant_id, email)
);
CREATE INDEX users_tenant ON users (tenant_id, created);
CREATE INDEX users_email ON users (email);

-- tenant_id is NULL for operator keys; hash is the SHA-256 of the whole
-- key; creator_user and creator_key are the user and key the key's rights
-- come from (revoking either revokes it).
CREATE TABLE api_keys (
	id           text COLLATE "C" PRIMARY KEY,
	tenant_id    text COLLATE "C" REFERENCES tenants (id) ON DELETE CASCADE,
	prefix       text COLLATE "C" NOT NULL UNIQUE,
	hash         bytea NOT NULL,
	name         text COLLATE "C" NOT NULL,
	role         text COLLATE "C" NOT NULL,
	scopes       text COLLATE "C" NOT NULL DEFAULT '',
	created_by   text COLLATE "C" NOT NULL,
	created      bigint NOT NULL,
	expires      bigint NOT NULL DEFAULT 0,
	last_used    bigint NOT NULL DEFAULT 0,
	creator_user text COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
	creator_key  text COLLATE "C" REFERENCES api_keys (id) ON DELETE CASCADE
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created);
CREATE INDEX api_keys_creator ON api_keys (creator_user);
CREATE INDEX api_keys_creator_key ON api_keys (creator_key);

-- token_hash is the SHA-256 of the cookie's token.
CREATE TABLE sessions (
	id         text COLLATE "C" PRIMARY KEY,
	tenant_id  text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash bytea NOT NULL UNIQUE,
	created    bigint NOT NULL,
	last_seen  bigint NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE settings (
	tenant_id   text COLLATE "C" PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
	settings_ct bytea NOT NULL,
	updated     bigint NOT NULL
);

CREATE TABLE tasks (
	id            text COLLATE "C" PRIMARY KEY,
	tenant_id     text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	status        text COLLATE "C" NOT NULL,
	model         text COLLATE "C" NOT NULL,
	limits        text COLLATE "C" NOT NULL, -- JSON of bulwark.Limits
	input_ct      bytea NOT NULL,
	answer_ct     bytea,
	reason        text COLLATE "C" NOT NULL DEFAULT '',
	created       bigint NOT NULL,
	updated       bigint NOT NULL,
	input_tokens  bigint NOT NULL DEFAULT 0,
	output_tokens bigint NOT NULL DEFAULT 0,
	cost          double precision NOT NULL DEFAULT 0,
	started       bigint,
	finished      bigint,
	turns         bigint NOT NULL DEFAULT 1
);
CREATE INDEX tasks_tenant_created ON tasks (tenant_id, created);
CREATE INDEX tasks_tenant_status_created ON tasks (tenant_id, status, created);

-- payload_ct is the sealed JSON of the bulwark.Event.
CREATE TABLE events (
	task_id    text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	seq        bigint NOT NULL,
	tenant_id  text COLLATE "C" NOT NULL,
	type       text COLLATE "C" NOT NULL,
	time       bigint NOT NULL,
	payload_ct bytea NOT NULL,
	PRIMARY KEY (task_id, seq)
);

-- hosts are the host patterns a secret is bound to, comma-separated,
-- sorted; they are bound into the associated data of value_ct.
CREATE TABLE secrets (
	tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	name      text COLLATE "C" NOT NULL,
	value_ct  bytea NOT NULL,
	created   bigint NOT NULL,
	updated   bigint NOT NULL,
	hosts     text COLLATE "C" NOT NULL DEFAULT '',
	PRIMARY KEY (tenant_id, name)
);

-- The files of tasks that have stopped; meta_ct seals path, digest and
-- origin, content_ct the content.
CREATE TABLE artifacts (
	task_id    text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	id         text COLLATE "C" NOT NULL,
	tenant_id  text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	size       bigint NOT NULL,
	meta_ct    bytea NOT NULL,
	content_ct bytea NOT NULL,
	created    bigint NOT NULL,
	PRIMARY KEY (task_id, id)
);
CREATE INDEX artifacts_tenant ON artifacts (tenant_id);

-- What each tenant spent on the operator's shared provider keys, by UTC
-- day (YYYY-MM-DD).
CREATE TABLE shared_key_usage (
	tenant_id     text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	day           text COLLATE "C" NOT NULL,
	input_tokens  bigint NOT NULL,
	output_tokens bigint NOT NULL,
	cost          double precision NOT NULL,
	PRIMARY KEY (tenant_id, day)
);
