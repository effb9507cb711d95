package postgres_test

// An external test package: the store itself knows nothing of package
// audit/pgaudit; this test puts both on one database, as a node does.

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit/pgaudit"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/secret"
)

func open(t *testing.T, url string, keys *secret.Keyring) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Keys: keys})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestRetireMasterKeepsTheAuditKey: a master key version that still seals
// the audit signing key (audit_signing_key.master_version) is not retired
// — no node could sign audit checkpoints without it — and the error says
// what to do; rotate-master is not refused while only that key lags, and
// once the key is sealed again the version retires.
func TestRetireMasterKeepsTheAuditKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	k1 := secret.NewKeyring()
	db := open(t, url, k1)
	tn, err := db.CreateTenant(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret(ctx, tn.ID, "K", "value-of-the-secret"); err != nil {
		t.Fatal(err)
	}
	signing, strict, err := pgaudit.SigningKey(ctx, db.Pool(), k1)
	if err != nil || !strict {
		t.Fatalf("new audit key: strict %v, %v; want a key whose records all have MACs", strict, err)
	}
	db.Close()

	// A new version on the node; the data keys are re-wrapped to it, the
	// audit key is not (no node has started the audit log since).
	k2 := k1.WithNewKey()
	db = open(t, url, k2)
	if _, err := db.RotateMaster(ctx); err != nil {
		t.Fatal(err)
	}
	old := int(k1.Current())
	err = db.RetireMaster(ctx, old)
	if !kindIs(err, bulwark.Conflict) {
		t.Fatalf("RetireMaster of the version sealing the audit key = %v, want Conflict", err)
	}
	for _, want := range []string{"audit signing key is still sealed with master key version 1", "bulwark keys rotate-master"} {
		if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, want) {
			t.Errorf("the refusal says %q; want it to hold %q", msg, want)
		}
	}
	// Nothing was retired: the old version's key check is still there.
	if st, err := db.KeyStatus(ctx); err != nil || len(st.Versions) != 2 {
		t.Errorf("after the refusal KeyStatus = %+v, %v; want both versions", st, err)
	}
	// rotate-master run again is not refused while the audit key lags
	// (it re-wraps no data key), so the CLI can seal the key after it.
	rot, err := db.RotateMaster(ctx)
	if err != nil || rot.Rewrapped != 0 || rot.Version != int(k2.Current()) {
		t.Errorf("RotateMaster with only the audit key behind = %+v, %v; want success re-wrapping nothing", rot, err)
	}

	if err := pgaudit.RewrapSigningKey(ctx, db.Pool(), k2); err != nil {
		t.Fatal(err)
	}
	if err := db.RetireMaster(ctx, old); err != nil {
		t.Fatalf("RetireMaster once the audit key is sealed again = %v", err)
	}
	// Now nothing lags: rotate-master without a new version is refused.
	if _, err := db.RotateMaster(ctx); !kindIs(err, bulwark.Conflict) {
		t.Errorf("RotateMaster with nothing behind = %v, want Conflict", err)
	}
	// The audit key opens with the remaining version alone; the data too.
	k2only, err := k2.Without(k1.Current())
	if err != nil {
		t.Fatal(err)
	}
	got, strict, err := pgaudit.SigningKey(ctx, db.Pool(), k2only)
	if err != nil || !got.Equal(signing) || !strict {
		t.Errorf("the audit key with only version 2: %v, same key %v, strict %v (sealed again, it must stay strict)", err, got.Equal(signing), strict)
	}
	db.Close()
	db = open(t, url, k2only)
	if vals, err := db.SecretValues(ctx, tn.ID); err != nil || vals["K"] != "value-of-the-secret" {
		t.Errorf("SecretValues with only version 2 = %v, %v", vals, err)
	}
}

func kindIs(err error, k bulwark.Kind) bool { return bulwark.ErrorKind(err) == k }
