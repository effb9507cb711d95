-- Users, API keys, browser sessions and tenant settings. Secrets of these
-- records are kept only as hashes: password hashes (argon2id or imported
-- bcrypt, PHC strings), SHA-256 of API keys and session tokens. Settings
-- are sealed with the tenant's data key (settings_ct).

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	email         TEXT NOT NULL UNIQUE, -- lower case; unique in the installation
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL
) STRICT;
CREATE INDEX users_tenant ON users (tenant_id, created);

-- api_keys: tenant_id is NULL for operator keys. prefix is the visible
-- start of the key, unique so that lookup needs no scan; hash is the
-- SHA-256 of the whole key.
CREATE TABLE api_keys (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT REFERENCES tenants (id) ON DELETE CASCADE,
	prefix     TEXT NOT NULL UNIQUE,
	hash       BLOB NOT NULL,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	scopes     TEXT NOT NULL DEFAULT '', -- space-separated
	created_by TEXT NOT NULL,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL DEFAULT 0, -- 0: never
	last_used  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created);

-- sessions: token_hash is the SHA-256 of the cookie's token.
CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	token_hash BLOB NOT NULL UNIQUE,
	created    INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE settings (
	tenant_id   TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
	settings_ct BLOB NOT NULL,
	updated     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
