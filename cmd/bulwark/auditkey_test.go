package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/backup"
	"github.com/bulwark-agents/bulwark/secret"
)

// A command that writes to an audit log whose signing key is not where it
// looks refuses, rather than sign with a new key: checkpoints signed with
// one would fork the log, and the right key would find them forged (red
// team, session 42: a data folder restored without BULWARK_AUDIT_KEY_FILE
// set got a new key at its first write). With the key back, the log is
// intact.
func TestNoNewSigningKeyForAnExistingLog(t *testing.T) {
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	env := []string{"BULWARK_DATA=" + data}
	if r := runBulwark(t, env, "tenants", "create", "acme"); r.code != 0 {
		t.Fatalf("tenants create: %d %s", r.code, r.stderr)
	}
	key := filepath.Join(data, "keys", "audit-signing.key")
	apart := filepath.Join(t.TempDir(), "audit-signing.key")
	if err := os.Rename(key, apart); err != nil {
		t.Fatal(err)
	}
	r := runBulwark(t, env, "tenants", "create", "other")
	if !strings.Contains(r.stderr, "audit signing key") || !strings.Contains(r.stderr, "BULWARK_AUDIT_KEY_FILE") {
		t.Errorf("a write without the log's key: exit %d, stderr %q; want the key named missing, and BULWARK_AUDIT_KEY_FILE", r.code, r.stderr)
	}
	if fileExists(key) {
		t.Error("a new signing key was made beside the log")
	}
	withKey := append(env, "BULWARK_AUDIT_KEY_FILE="+apart)
	if r := runBulwark(t, withKey, "tenants", "create", "third"); r.code != 0 {
		t.Fatalf("tenants create with the key: %d %s", r.code, r.stderr)
	}
	if r := runBulwark(t, withKey, "audit", "verify"); r.code != 0 {
		t.Errorf("audit verify with the key: %d %s%s", r.code, r.stdout, r.stderr)
	}
}

// A backup sealed with a master key version the key file no longer holds
// (retired since) is refused with that version named, not as altered
// (red team, session 42).
func TestBackupOfARetiredVersionSaysSo(t *testing.T) {
	k1 := secret.NewKeyring()
	k2, err := k1.WithNewKey().Without(k1.Current())
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	seal, err := sealManifest(k1)(sum)
	if err != nil {
		t.Fatal(err)
	}
	m := backup.Manifest{Sum: sum, Seal: seal, MasterKeyVersion: k1.Current()}
	if err := checkManifestSeal(k1, m); err != nil {
		t.Fatalf("the key that sealed it: %v", err)
	}
	err = checkManifestSeal(k2, m)
	if err == nil || !strings.Contains(bulwark.ErrorMessage(err), fmt.Sprintf("master key version %d, which this key does not hold", k1.Current())) {
		t.Errorf("a key without the version: %v", err)
	}
}
