package pgaudit

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestSigningKeyIsShared: nodes that start at once on an empty database
// all sign with one key, which the database holds only sealed; its
// public key is what verification needs, and checkpoints one node signs
// verify with the key another node loads.
func TestSigningKeyIsShared(t *testing.T) {
	d := freshDB(t)
	keys := secret.NewKeyring()
	got := make([]ed25519.PrivateKey, 4)
	var wg sync.WaitGroup
	for i := range got {
		p := d.pool(t)
		wg.Go(func() {
			k, err := SigningKey(t.Context(), p, keys)
			if err != nil {
				t.Errorf("SigningKey: %v", err)
			}
			got[i] = k
		})
	}
	wg.Wait()
	for i, k := range got[1:] {
		if !k.Equal(got[0]) {
			t.Fatalf("node %d signs with another key than node 0", i+1)
		}
	}
	p := d.pool(t)
	pub, err := PublicKey(t.Context(), p, keys)
	if err != nil || !pub.Equal(got[0].Public()) {
		t.Errorf("PublicKey = %x, %v; want the signing key's", pub, err)
	}
	stored, err := StoredPublicKey(t.Context(), p)
	if err != nil || !stored.Equal(got[0].Public()) {
		t.Errorf("StoredPublicKey = %x, %v; want the signing key's", stored, err)
	}
	var sealed []byte
	if err := p.QueryRow(t.Context(), `SELECT sealed FROM audit_signing_key`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, got[0].Seed()) {
		t.Error("the database holds the signing key in the clear")
	}

	// A checkpoint signed on one node verifies with what another loads.
	b := d.backend(t)
	c, err := audit.OpenChains(t.Context(), b, audit.Options{SigningKey: got[1]})
	if err != nil {
		t.Fatal(err)
	}
	c.Append(t.Context(), audit.Record{TenantID: "t1", Action: "x", Outcome: audit.OutcomeOK})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	reps, err := audit.VerifyAll(t.Context(), ReadOnly(p), pub)
	if err != nil || len(reps) != 2 || reps[0].Err != nil || reps[1].Err != nil || reps[1].Report.Signed != 1 {
		t.Errorf("VerifyAll with the loaded public key = %+v, %v", reps, err)
	}
}

// TestSigningKeyRefusesChanges: a wrong master key, no master key, and a
// key put in place of the stored one by someone who can write the
// database but lacks the master key are refused, with errors that say so.
func TestSigningKeyRefusesChanges(t *testing.T) {
	keys := secret.NewKeyring()
	_, forged, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name   string
		change string // SQL run on the stored key
		keys   *secret.Keyring
		kind   bulwark.Kind
		msg    string
	}{
		{"another master key", "", secret.NewKeyring(), bulwark.Invalid, "master key does not open"},
		{"no master key", "", nil, bulwark.Invalid, "needs the master key"},
		{"public key replaced", `UPDATE audit_signing_key SET public = $1`, keys, bulwark.Invalid, "was changed"},
		{"sealed key replaced", `UPDATE audit_signing_key SET sealed = $1`, keys, bulwark.Invalid, "master key does not open"},
		{"key removed", `DELETE FROM audit_signing_key WHERE $1::bytea IS NOT NULL`, keys, bulwark.NotFound, "no audit signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := freshDB(t)
			p := d.pool(t)
			key, err := SigningKey(t.Context(), p, keys)
			if err != nil {
				t.Fatal(err)
			}
			c, err := audit.OpenChains(t.Context(), d.backend(t), audit.Options{SigningKey: key})
			if err != nil {
				t.Fatal(err)
			}
			c.Append(t.Context(), audit.Record{Action: "x", Outcome: audit.OutcomeOK})
			if err := c.Close(); err != nil { // signs a checkpoint
				t.Fatal(err)
			}
			if tt.change != "" {
				arg := []byte(forged.Public().(ed25519.PublicKey))
				if strings.Contains(tt.change, "sealed") {
					// A value sealed with the master key, but for another place.
					arg, _, _ = keys.Wrap(secret.AD("", "datakey", "1"), forged.Seed())
				}
				d.exec(t, p, tt.change, arg)
			}
			_, err = PublicKey(t.Context(), p, tt.keys)
			if bulwark.ErrorKind(err) != tt.kind || !strings.Contains(bulwark.ErrorMessage(err), tt.msg) {
				t.Errorf("PublicKey = %v, want %v with %q", err, tt.kind, tt.msg)
			}
			// SigningKey neither opens it nor, the key gone, makes
			// another while checkpoints signed with the old one remain.
			if k, err := SigningKey(t.Context(), p, tt.keys); err == nil {
				t.Errorf("SigningKey = %x, want an error", k.Public())
			}
		})
	}
}

// TestSigningKeyFollowsRotation: after the master key is rotated, the
// signing key is sealed again with the new version (by SigningKey, or by
// RewrapSigningKey in the rotation's transaction), so that the old
// version can be retired.
func TestSigningKeyFollowsRotation(t *testing.T) {
	for _, how := range []string{"SigningKey", "RewrapSigningKey"} {
		t.Run(how, func(t *testing.T) {
			d := freshDB(t)
			p := d.pool(t)
			v1 := secret.NewKeyring()
			key, err := SigningKey(t.Context(), p, v1)
			if err != nil {
				t.Fatal(err)
			}
			v2 := v1.WithNewKey()
			switch how {
			case "SigningKey":
				if _, err := SigningKey(t.Context(), p, v2); err != nil {
					t.Fatal(err)
				}
			case "RewrapSigningKey":
				err := pgx.BeginFunc(t.Context(), p, func(tx pgx.Tx) error { return RewrapSigningKey(t.Context(), tx, v2) })
				if err != nil {
					t.Fatal(err)
				}
			}
			var version int64
			if err := p.QueryRow(t.Context(), `SELECT master_version FROM audit_signing_key`).Scan(&version); err != nil || version != 2 {
				t.Errorf("master_version = %d, %v; want 2", version, err)
			}
			only2, err := v2.Without(1)
			if err != nil {
				t.Fatal(err)
			}
			again, err := SigningKey(t.Context(), p, only2)
			if err != nil || !again.Equal(key) {
				t.Errorf("SigningKey with version 1 retired = %v; want the same key", err)
			}
		})
	}
}
