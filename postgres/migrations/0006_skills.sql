-- skills are a tenant's skills (bulwark.StoredSkill), as in SQLite's 0014:
-- content_ct is the sealed JSON of the description and the files, bound to
-- the tenant and the name; the name stays in the clear for listings.
CREATE TABLE skills (
	tenant_id  text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	name       text COLLATE "C" NOT NULL,
	content_ct bytea NOT NULL,
	created    bigint NOT NULL,
	updated    bigint NOT NULL,
	PRIMARY KEY (tenant_id, name)
);
