-- artifacts are the files of tasks that have stopped: uploaded by people
-- or written by the agent, moved here from the task's workspace folder.
-- meta_ct is the sealed JSON of the path, digest and origin; content_ct
-- the sealed content, bound to tenant, task and path. id is derived from
-- task and path (bulwark.ArtifactID); size and dates stay in the clear
-- for quotas.
CREATE TABLE artifacts (
	task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
	id         TEXT NOT NULL,
	tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	size       INTEGER NOT NULL,
	meta_ct    BLOB NOT NULL,
	content_ct BLOB NOT NULL,
	created    INTEGER NOT NULL,
	PRIMARY KEY (task_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX artifacts_tenant ON artifacts (tenant_id);

-- Listing a tenant's tasks by status, newest first.
CREATE INDEX tasks_tenant_status_created ON tasks (tenant_id, status, created);
