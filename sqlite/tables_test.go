package sqlite

import (
	"context"
	"slices"
	"testing"
)

// TestTablesCoverTheSchema: Tables names every table of the migrated
// schema but schema_migrations, each after the tables it refers to, so
// that a copy in that order never inserts a row before its parent. A
// full-text index (memories_fts: virtual, with shadow tables) is not a
// table to copy: triggers fill it from its table's rows.
func TestTablesCoverTheSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		have = append(have, n)
	}
	rows.Close()
	listed := slices.Sorted(slices.Values(Tables))
	if !slices.Equal(have, listed) {
		t.Fatalf("the schema has tables %v, Tables lists %v", have, listed)
	}
	for i, table := range Tables {
		refs, err := db.r.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for refs.Next() {
			var parent string
			if err := refs.Scan(&parent); err != nil {
				t.Fatal(err)
			}
			if j := slices.Index(Tables, parent); j < 0 || j > i {
				t.Errorf("table %s refers to %s, which Tables lists after it", table, parent)
			}
		}
		refs.Close()
	}
}
