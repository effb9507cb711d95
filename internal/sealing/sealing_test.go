package sealing

import (
	"bytes"
	"errors"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestKindsPinned: the kinds and record ids are bound into every sealed
// value at rest; changing one would make stored data fail to open.
func TestKindsPinned(t *testing.T) {
	for got, want := range map[string]string{
		KindSecret: "secret", KindTaskInput: "task.input", KindTaskAnswer: "task.answer", KindEvent: "event",
		KindDataKey: "datakey", KindSettings: "settings", KindArtifactMeta: "artifact.meta", KindArtifactContent: "artifact",
		SecretID("K", "", ""): "K", SecretID("K", "a.com,b.com", ""): "K\x00a.com,b.com",
		SecretID("K", "a.com", "headers,body"): "K\x00a.com\x00inject=headers,body", EventID("t_1", 12): "t_1/12",
		ArtifactContentID("t_1", "a/b"): "t_1\x00a/b", ArtifactMetaID("t_1", "f_1"): "t_1\x00f_1",
		KindCheckpoint: "checkpoint", KindCheckpointBlob: "checkpoint.blob", KindSkill: "skill",
		CheckpointID("t_1", 12): "t_1\x0012", CheckpointBlobID("t_1", "ab12"): "t_1\x00ab12",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if !bytes.Equal(DataKeyAD("tn_1", 3), secret.AD("tn_1", "datakey", "3")) {
		t.Error("DataKeyAD changed")
	}
}

// TestSealOpen: a value opens with the key version it names, bound to its
// tenant, kind and record.
func TestSealOpen(t *testing.T) {
	var tk TenantKeys
	tk.Add(1, secret.NewKey())
	old, err := tk.Seal("tn_a", KindSecret, "K", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	tk.Add(2, secret.NewKey())
	if tk.Current != 2 {
		t.Errorf("Current = %d after adding version 2", tk.Current)
	}
	cur, err := tk.Seal("tn_a", KindSecret, "K", []byte("v2"))
	if err != nil {
		t.Fatal(err)
	}
	for ct, want := range map[*[]byte]string{&old: "v1", &cur: "v2"} {
		if pt, err := tk.Open("tn_a", KindSecret, "K", *ct); err != nil || string(pt) != want {
			t.Errorf("Open = %q, %v; want %q", pt, err, want)
		}
	}
	for _, c := range []struct {
		tenant   bulwark.TenantID
		kind, id string
	}{{"tn_b", KindSecret, "K"}, {"tn_a", KindSettings, "K"}, {"tn_a", KindSecret, "L"}} {
		if _, err := tk.Open(c.tenant, c.kind, c.id, cur); err == nil {
			t.Errorf("a value sealed for tn_a/secret/K opened as %s/%s/%s", c.tenant, c.kind, c.id)
		}
	}
	var other TenantKeys
	other.Add(3, secret.NewKey())
	if _, err := other.Open("tn_a", KindSecret, "K", cur); !errors.Is(err, secret.ErrUnknownKey) {
		t.Errorf("Open with keys lacking the version = %v, want ErrUnknownKey", err)
	}
}

// TestVerifyKeyring: a keyring must open the checks of the versions it
// holds, and hold one of them when there are any.
func TestVerifyKeyring(t *testing.T) {
	k := secret.NewKeyring()
	check, err := k.KeyCheck(k.Current())
	if err != nil {
		t.Fatal(err)
	}
	checks := map[uint32][]byte{k.Current(): check}
	if err := VerifyKeyring(k, checks); err != nil {
		t.Errorf("the right keyring: %v", err)
	}
	if err := VerifyKeyring(k, nil); err != nil {
		t.Errorf("a new database: %v", err)
	}
	var ve *VersionError
	if err := VerifyKeyring(secret.NewKeyring(), checks); !errors.As(err, &ve) {
		t.Errorf("another keyring of the same version: %v, want a VersionError", err)
	}
	if err := VerifyKeyring(k, map[uint32][]byte{7: check}); !errors.Is(err, ErrNoChecks) {
		t.Errorf("a keyring holding none of the versions: %v, want ErrNoChecks", err)
	}
}
