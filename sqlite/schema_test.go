package sqlite

import (
	"context"
	"io/fs"
	"testing"
)

// TestSchemaVersion: a new database is at the newest migration, which is
// what LatestSchemaVersion says this build knows.
func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	newest := 0
	for _, n := range names {
		v, err := migrationVersion(n)
		if err != nil {
			t.Fatal(err)
		}
		newest = max(newest, v)
	}
	if got := LatestSchemaVersion(); got != newest || got == 0 {
		t.Errorf("LatestSchemaVersion() = %d, want %d", got, newest)
	}
	db := mustOpenDB(t)
	if v, err := db.SchemaVersion(context.Background()); err != nil || v != newest {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, newest)
	}
}
