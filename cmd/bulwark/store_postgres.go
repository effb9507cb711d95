package main

import (
	"context"

	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/secret"
)

// This build keeps the store in PostgreSQL when a database URL is given,
// and the audit log in the same database (audit_postgres.go).
func init() {
	openPostgres = func(ctx context.Context, url string, keys *secret.Keyring, keySource string, pool poolOptions) (store, error) {
		cfg := postgres.Config{URL: url, Keys: keys, KeySource: keySource,
			MaxConns: pool.MaxConns, StatementTimeout: pool.StatementTimeout}
		auditKeyHooks(&cfg)
		db, err := postgres.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return pgStore{DB: db, keys: keys}, nil
	}
	postgresLatestSchema = postgres.LatestSchemaVersion
}
