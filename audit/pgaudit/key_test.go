package pgaudit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
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
			k, _, err := SigningKey(t.Context(), p, keys)
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
	vk, err := VerifyKey(t.Context(), p, keys)
	if err != nil || !vk.Public().Equal(got[0].Public()) || !vk.ChecksMACs() {
		t.Errorf("VerifyKey = %x (MACs %v), %v; want the signing key's, checking MACs", vk.Public(), vk.ChecksMACs(), err)
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
	reps, err := audit.VerifyAll(t.Context(), ReadOnly(p), vk)
	if err != nil || len(reps) != 2 || reps[0].Err != nil || reps[1].Err != nil || reps[1].Report.Signed != 1 || !reps[1].Report.MACs {
		t.Errorf("VerifyAll with the loaded key = %+v, %v; want both chains intact, their MACs checked", reps, err)
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
			key, _, err := SigningKey(t.Context(), p, keys)
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
			_, err = VerifyKey(t.Context(), p, tt.keys)
			if bulwark.ErrorKind(err) != tt.kind || !strings.Contains(bulwark.ErrorMessage(err), tt.msg) {
				t.Errorf("VerifyKey = %v, want %v with %q", err, tt.kind, tt.msg)
			}
			// SigningKey neither opens it nor, the key gone, makes
			// another while checkpoints signed with the old one remain.
			if k, _, err := SigningKey(t.Context(), p, tt.keys); err == nil {
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
			key, _, err := SigningKey(t.Context(), p, v1)
			if err != nil {
				t.Fatal(err)
			}
			v2 := v1.WithNewKey()
			switch how {
			case "SigningKey":
				if _, _, err := SigningKey(t.Context(), p, v2); err != nil {
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
			again, _, err := SigningKey(t.Context(), p, only2)
			if err != nil || !again.Equal(key) {
				t.Errorf("SigningKey with version 1 retired = %v; want the same key", err)
			}
		})
	}
}

// TestSigningKeyOfAnEarlierRelease: a key sealed by a release before
// records had MACs (the seed alone) loads as not strict, and stays so
// sealed again with a new master version; a key made now is strict.
// Whoever can write the database cannot make a strict key loose: the
// mark is sealed with the seed.
func TestSigningKeyOfAnEarlierRelease(t *testing.T) {
	d := freshDB(t)
	keys := secret.NewKeyring()
	p := d.pool(t)
	made, strict, err := SigningKey(t.Context(), p, keys)
	if err != nil || !strict {
		t.Fatalf("new key: strict %v, %v; want strict", strict, err)
	}
	// The sealed seed alone, as an earlier release sealed it, for
	// another key: a stranger cannot pass one off (the public key column
	// must match), so this is the earlier release's own row.
	_, old, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sealed, v, err := keys.Wrap(keyAD(), old.Seed())
	if err != nil {
		t.Fatal(err)
	}
	d.exec(t, p, `UPDATE audit_signing_key SET public = $1, sealed = $2, master_version = $3 WHERE id = 1`,
		[]byte(old.Public().(ed25519.PublicKey)), sealed, int64(v))
	k, strict, err := SigningKey(t.Context(), p, keys)
	if err != nil || strict || !k.Equal(old) {
		t.Fatalf("earlier release's key: strict %v, same %v, %v; want it, not strict", strict, k.Equal(old), err)
	}
	vk, err := VerifyKey(t.Context(), p, keys)
	if err != nil || !vk.ChecksMACs() || !vk.Public().Equal(old.Public()) {
		t.Fatalf("VerifyKey of the earlier release's key: %v", err)
	}
	keys2 := keys.WithNewKey()
	if err := RewrapSigningKey(t.Context(), p, keys2); err != nil {
		t.Fatal(err)
	}
	if _, strict, err := SigningKey(t.Context(), p, keys2); err != nil || strict {
		t.Errorf("sealed again: strict %v, %v; want it still not strict", strict, err)
	}
	// A strict key's row put back where a loose one was: strict again.
	sealed, v, _ = keys2.Wrap(keyAD(), append(made.Seed(), macsEvery))
	d.exec(t, p, `UPDATE audit_signing_key SET public = $1, sealed = $2, master_version = $3 WHERE id = 1`,
		[]byte(made.Public().(ed25519.PublicKey)), sealed, int64(v))
	if _, strict, err := SigningKey(t.Context(), p, keys2); err != nil || !strict {
		t.Errorf("strict key: strict %v, %v", strict, err)
	}
}
