-- shared_key_usage counts what each tenant spent on the operator's own
-- provider keys (BULWARK_SHARED_PROVIDER_KEYS), by UTC day, so that the
-- daily budgets hold across restarts. Numbers only: no task content.
CREATE TABLE shared_key_usage (
	tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	day       TEXT NOT NULL, -- YYYY-MM-DD, UTC (bulwark.UsageDay)
	input_tokens  INTEGER NOT NULL,
	output_tokens INTEGER NOT NULL,
	cost          REAL NOT NULL,
	PRIMARY KEY (tenant_id, day)
) STRICT, WITHOUT ROWID;
