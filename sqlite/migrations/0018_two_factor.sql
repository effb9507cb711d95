-- user_totp is each user's second factor (bulwark.TOTP): secret_ct is the
-- TOTP secret sealed with the tenant's data key, bound to the tenant and
-- the user. enabled is 0 while it waits for its first code. last_step is
-- the last time step whose code was accepted: a code of that step or an
-- earlier one is refused, so each code works once on every node.
CREATE TABLE user_totp (
	tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	secret_ct BLOB NOT NULL,
	enabled   INTEGER NOT NULL DEFAULT 0,
	last_step INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, user_id)
) STRICT, WITHOUT ROWID;

-- recovery_codes are the one-time recovery codes of a user's second
-- factor, as hashes; a code used is deleted.
CREATE TABLE recovery_codes (
	tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash BLOB NOT NULL,
	PRIMARY KEY (tenant_id, user_id, code_hash)
) STRICT, WITHOUT ROWID;
