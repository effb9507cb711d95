-- user_totp and recovery_codes are each user's second factor, as in
-- SQLite's 0017: secret_ct is the sealed TOTP secret, last_step the last
-- time step whose code was accepted (each code works once, on every
-- node), recovery codes are kept as hashes and deleted when used.
CREATE TABLE user_totp (
	tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	user_id   text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	secret_ct bytea NOT NULL,
	enabled   bigint NOT NULL DEFAULT 0, -- 0 or 1, as in SQLite, so that a copy between them keeps it
	last_step bigint NOT NULL DEFAULT 0,
	created   bigint NOT NULL,
	PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE recovery_codes (
	tenant_id text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	user_id   text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash bytea NOT NULL,
	PRIMARY KEY (tenant_id, user_id, code_hash)
);
