package sqlite

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/bulwark-agents/bulwark"
)

// Tables are the store's tables, in foreign-key order: a table comes after
// every table it refers to, so copying them in this order (and deleting in
// the reverse order) keeps every reference valid. Package postgres has the
// same tables with the same columns (see postgres.Tables); schema_migrations
// is each backend's own and is not listed. api_keys refers to itself
// (creator_key): copy its rows oldest first.
var Tables = []string{
	"tenants",
	"master_keys",
	"data_keys",
	"users",
	"api_keys",
	"sessions",
	"settings",
	"tasks",
	"events",
	"secrets",
	"artifacts",
	"shared_key_usage",
	"checkpoints",
	"checkpoint_blobs",
	"task_controls",
	"schedules",
	"memories",
	"skills",
	"user_totp",
	"recovery_codes",
}

// LatestSchemaVersion is the newest schema version this build knows: the
// number of its newest migration.
func LatestSchemaVersion() int {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	latest := 0
	for _, n := range names {
		if v, err := migrationVersion(n); err == nil {
			latest = max(latest, v)
		}
	}
	return latest
}

// SchemaVersion returns the schema version of the open database: the
// newest migration applied to it.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, unavailable("sqlite.SchemaVersion", "read the schema version", err)
	}
	return int(v.Int64), nil
}

var _ interface {
	bulwark.Store
	bulwark.ArtifactStore
	bulwark.UsageStore
	bulwark.TaskQuerier
} = (*DB)(nil)
