-- skills are a tenant's skills (bulwark.StoredSkill): content_ct is the
-- sealed JSON of the description and the files (SKILL.md and those beside
-- it), bound to the tenant and the name. The name stays in the clear, as a
-- secret's does, for listings.
CREATE TABLE skills (
	tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	content_ct BLOB NOT NULL,
	created    INTEGER NOT NULL,
	updated    INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, name)
) STRICT, WITHOUT ROWID;
