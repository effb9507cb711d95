package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestSecretMovedToAnotherTenant copies tenant A's sealed secret row into
// tenant B: reading B's secrets must fail with a clear error, never return
// A's value.
func TestSecretMovedToAnotherTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	const value = "tenant-a-only-value"
	if err := db.SetSecret(ctx, a, "API_KEY", value); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec(`INSERT INTO secrets (tenant_id, name, value_ct, created, updated)
		SELECT ?, name, value_ct, created, updated FROM secrets WHERE tenant_id = ?`, b, a); err != nil {
		t.Fatal(err)
	}
	vals, err := db.SecretValues(ctx, b)
	checkDoesNotOpen(t, "SecretValues(B) with A's row", vals, err, value)
	// Even with B's data key replaced by A's (a swap of the whole key row),
	// the associated data names tenant A.
	if _, err := db.w.Exec(`UPDATE secrets SET value_ct = (SELECT value_ct FROM secrets WHERE tenant_id = ?) WHERE tenant_id = ?`, a, b); err != nil {
		t.Fatal(err)
	}
	db.dataKeys[b] = db.dataKeys[a]
	vals, err = db.SecretValues(ctx, b)
	checkDoesNotOpen(t, "SecretValues(B) with A's row and A's data key", vals, err, value)
	if got, err := db.SecretValues(ctx, a); err != nil || got["API_KEY"] != value {
		t.Errorf("A's own SecretValues = %v, %v", got, err)
	}
}

// TestSealedValueMovedToAnotherRecord moves sealed values between records
// of one tenant: another secret name, another task, another event seq.
func TestSealedValueMovedToAnotherRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a := mustTenant(t, db, "a")
	if err := db.SetSecret(ctx, a, "ADMIN_TOKEN", "admin-only-value"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret(ctx, a, "PUBLIC_ID", "harmless-value"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec(`UPDATE secrets SET value_ct = (SELECT value_ct FROM secrets WHERE name = 'ADMIN_TOKEN') WHERE name = 'PUBLIC_ID'`); err != nil {
		t.Fatal(err)
	}
	vals, err := db.SecretValues(ctx, a)
	checkDoesNotOpen(t, "a secret moved to another name", vals, err, "admin-only-value")

	t1, _ := db.CreateTask(ctx, a, bulwark.Task{Input: "secret plan"})
	t2, _ := db.CreateTask(ctx, a, bulwark.Task{Input: "public plan"})
	if _, err := db.w.Exec(`UPDATE tasks SET input_ct = (SELECT input_ct FROM tasks WHERE id = ?) WHERE id = ?`, t1.ID, t2.ID); err != nil {
		t.Fatal(err)
	}
	task, err := db.Task(ctx, a, t2.ID)
	checkDoesNotOpen(t, "a task input moved to another task", task, err, "secret plan")

	for seq, text := range []string{"", "first", "second"} {
		if seq > 0 {
			if err := db.AppendEvent(ctx, a, bulwark.Event{TaskID: t1.ID, Seq: int64(seq), Type: bulwark.EventNotice, Text: text}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.w.Exec(`UPDATE events SET payload_ct = (SELECT payload_ct FROM events WHERE task_id = ? AND seq = 1) WHERE task_id = ? AND seq = 2`, t1.ID, t1.ID); err != nil {
		t.Fatal(err)
	}
	events, err := db.Events(ctx, a, t1.ID, 0, 0)
	checkDoesNotOpen(t, "an event moved to another seq", events, err, "first")
}

func checkDoesNotOpen(t *testing.T, what string, got any, err error, leaked string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: read succeeded with %+v, want an error", what, got)
		return
	}
	if bulwark.ErrorKind(err) != bulwark.Internal || !strings.Contains(bulwark.ErrorMessage(err), "does not decrypt") {
		t.Errorf("%s: error %v, want Internal \"... does not decrypt ...\"", what, err)
	}
	if strings.Contains(err.Error(), leaked) {
		t.Errorf("%s: the error %q holds the value", what, err)
	}
}

// TestWrongMasterKey opens a data folder with another master key: Open
// fails with the clear message and returns no store.
func TestWrongMasterKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	a := mustTenant(t, db, "a")
	if err := db.SetSecret(ctx, a, "K", "value-123"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct {
		name string
		keys *secret.Keyring
	}{
		{"another v1", secret.NewKeyring()},
		{"only another version", secret.NewKeyring().WithNewKey()},
	} {
		if tc.name == "only another version" {
			kr, _ := tc.keys.Without(1)
			tc.keys = kr
		}
		db, err := Open(ctx, Config{Path: f.dbPath, Keys: tc.keys})
		if err == nil {
			db.Close()
			t.Errorf("%s: Open succeeded, want the wrong-key error", tc.name)
			continue
		}
		if bulwark.ErrorMessage(err) != msgWrongKey && !strings.Contains(bulwark.ErrorMessage(err), "BULWARK_MASTER_KEY changed") {
			t.Errorf("%s: Open = %q, want %q", tc.name, bulwark.ErrorMessage(err), msgWrongKey)
		}
	}
	if _, err := Open(ctx, Config{Path: f.dbPath}); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("Open without keys = %v, want Invalid", err)
	}
	// The right key still opens it: the failed opens changed nothing.
	db = f.open(t)
	if vals, err := db.SecretValues(ctx, a); err != nil || vals["K"] != "value-123" {
		t.Errorf("after the failed opens, SecretValues = %v, %v", vals, err)
	}
}
