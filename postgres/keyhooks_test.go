package postgres

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestKeyHooks: OnRotateMaster runs in the rotation's transaction (its
// writes commit with it, its error undoes it), and OnRetireMaster's error
// keeps the version.
func TestKeyHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	k1 := secret.NewKeyring()
	if _, err := mustOpen(t, url, k1).CreateTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	k2 := k1.WithNewKey()
	refuse := errors.New("the hook refuses")
	var sawVersion uint32
	cfg := Config{URL: url, Keys: k2,
		OnRotateMaster: func(ctx context.Context, tx *sql.Tx, keys *secret.Keyring) error {
			sawVersion = keys.Current()
			if _, err := tx.ExecContext(ctx, `CREATE TABLE hook_ran (v bigint)`); err != nil {
				return err
			}
			return refuse
		},
	}
	db, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.RotateMaster(ctx); !errors.Is(err, refuse) {
		t.Fatalf("RotateMaster with a refusing hook = %v, want the hook's error", err)
	}
	var stale int
	db.db.QueryRow(`SELECT COUNT(*) FROM data_keys WHERE master_version = 1`).Scan(&stale)
	var hookTable bool
	db.db.QueryRow(`SELECT to_regclass('hook_ran') IS NOT NULL`).Scan(&hookTable)
	if stale == 0 || hookTable || sawVersion != 2 {
		t.Errorf("after a refused rotation: %d data keys on version 1 (want > 0), hook's table kept %v, hook saw version %d (want 2)", stale, hookTable, sawVersion)
	}

	cfg.OnRotateMaster = func(ctx context.Context, tx *sql.Tx, keys *secret.Keyring) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE hook_ran (v bigint)`)
		return err
	}
	cfg.OnRetireMaster = func(ctx context.Context, tx *sql.Tx, version int) error {
		return bulwark.Errorf(bulwark.Conflict, "test", "version %d is still needed", version)
	}
	db = mustOpen(t, url, k2)
	db.cfg.OnRotateMaster, db.cfg.OnRetireMaster = cfg.OnRotateMaster, cfg.OnRetireMaster
	if _, err := db.RotateMaster(ctx); err != nil {
		t.Fatal(err)
	}
	db.db.QueryRow(`SELECT to_regclass('hook_ran') IS NOT NULL`).Scan(&hookTable)
	if !hookTable {
		t.Error("the hook's write did not commit with the rotation")
	}
	if err := db.RetireMaster(ctx, 1); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Fatalf("RetireMaster with a refusing hook = %v, want its Conflict", err)
	}
	var checks int
	db.db.QueryRow(`SELECT COUNT(*) FROM master_keys WHERE version = 1`).Scan(&checks)
	if checks != 1 {
		t.Errorf("the refused retire removed version 1's key check")
	}
}
