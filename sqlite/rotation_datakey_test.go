package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/secret"
)

// A master key rotation makes a new data key for every tenant, so that a
// retired master key does not open what is sealed after it, even with a
// copy of the data keys from before (an old backup, a copy of the
// database's files): rotation only re-wrapped the one data key, which the
// old master key opened from the copy (a red team). Another process that
// holds the tenant's keys seals with the new one within KeysRecheck, and
// opens what the new one sealed at once.
func TestRotationMakesNewDataKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	kr, err := secret.CreateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	open := func() *DB {
		db, err := Open(ctx, Config{Path: filepath.Join(dir, "bulwark.db"), Keys: kr, KeyFile: keyFile})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db, other := open(), open()
	tn, err := db.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.SetSecret(ctx, tn.ID, "OLD", "set-before", "api.github.com"); err != nil {
		t.Fatal(err) // other now holds the tenant's keys
	}
	var oldWrapped []byte
	if err := db.r.QueryRowContext(ctx, `SELECT wrapped FROM data_keys WHERE tenant_id = ? AND version = 1`, tn.ID).Scan(&oldWrapped); err != nil {
		t.Fatal(err)
	}
	rot, err := db.RotateMaster(ctx)
	if err != nil || rot.DataKeys != 1 {
		t.Fatalf("RotateMaster = %+v, %v; want 1 new data key", rot, err)
	}
	if err := db.RetireMaster(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The retired master key, with the data key as it was wrapped before.
	oldKey, err := kr.Unwrap(sealing.DataKeyAD(tn.ID, 1), oldWrapped)
	if err != nil {
		t.Fatal(err)
	}
	opensWithOld := func(name string) (string, bool) {
		t.Helper()
		var ct []byte
		var hosts, inject string
		if err := db.r.QueryRowContext(ctx, `SELECT value_ct, hosts, inject FROM secrets WHERE tenant_id = ? AND name = ?`, tn.ID, name).Scan(&ct, &hosts, &inject); err != nil {
			t.Fatal(err)
		}
		pt, err := secret.Open(oldKey, secret.AD(string(tn.ID), sealing.KindSecret, sealing.SecretID(name, hosts, inject)), ct)
		return string(pt), err == nil
	}
	if err := db.SetSecret(ctx, tn.ID, "NEW", "stored-after-v1-was-retired", "api.github.com"); err != nil {
		t.Fatal(err)
	}
	if pt, ok := opensWithOld("NEW"); ok {
		t.Errorf("the retired master key opens a secret stored after its retirement: %q", pt)
	}
	// The other process opens it now, and seals with the new key once
	// it looks again.
	if vals, err := other.SecretValues(ctx, tn.ID); err != nil || vals["NEW"] != "stored-after-v1-was-retired" || vals["OLD"] != "set-before" {
		t.Errorf("the other process reads %v, %v", vals, err)
	}
	other.now = func() time.Time { return time.Now().Add(2 * sealing.KeysRecheck) }
	if err := other.SetSecret(ctx, tn.ID, "LATER", "set-by-the-other", "api.github.com"); err != nil {
		t.Fatal(err)
	}
	if pt, ok := opensWithOld("LATER"); ok {
		t.Errorf("the other process sealed with the replaced data key after KeysRecheck: %q", pt)
	}
	if vals, err := db.SecretValues(ctx, tn.ID); err != nil || vals["LATER"] != "set-by-the-other" {
		t.Errorf("read back: %v, %v", vals, err)
	}
}
