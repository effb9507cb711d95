-- bulwark:foreign-keys-off
-- Emails are unique per tenant, not in the installation: a tenant admin
-- adding a user must not learn that the address is used in another
-- tenant (a Conflict would say so), nor be able to claim an address
-- first so that its owner cannot be added elsewhere. Login names the
-- tenant when an email is in several (server/handlers_auth.go).
--
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt the way
-- SQLite's documentation describes (with foreign keys off for this
-- migration, so that dropping the old table does not cascade to the
-- sessions and keys that refer to its rows; foreign_key_check runs
-- before the commit).
CREATE TABLE users_new (
	id            TEXT PRIMARY KEY,
	tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	email         TEXT NOT NULL, -- lower case; unique in the tenant
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL,
	UNIQUE (tenant_id, email)
) STRICT;
INSERT INTO users_new (id, tenant_id, email, role, password_hash, created, updated)
	SELECT id, tenant_id, email, role, password_hash, created, updated FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_tenant ON users (tenant_id, created);
CREATE INDEX users_email ON users (email);
