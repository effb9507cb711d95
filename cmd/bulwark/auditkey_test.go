package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
