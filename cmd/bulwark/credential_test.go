package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/secret"
)

// writeCredential writes a new master key where systemd's
// LoadCredential=bulwark.master-key:FILE puts it, with the mode systemd
// gives it where it grants the service's user read access by an ACL, and
// points CREDENTIALS_DIRECTORY there.
func writeCredential(t *testing.T) *secret.Keyring {
	t.Helper()
	dir := t.TempDir()
	kr := secret.NewKeyring()
	p := filepath.Join(dir, masterKeyCredential)
	if err := secret.WriteKeyFile(p, kr); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o440); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	return kr
}

// TestMasterKeyCredential: under systemd the master key comes as the
// credential bulwark.master-key: the SQLite store opens with it and no key
// is generated into the data folder, a data folder written with another
// key refuses it, a second source beside it is a usage error, and doctor
// counts it as a key kept apart from the data.
func TestMasterKeyCredential(t *testing.T) {
	clearStoreEnv(t)
	writeCredential(t)
	data := t.TempDir()
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runDispatch("tenants", "create", "acme", "--data", data); code != exitOK {
		t.Fatalf("tenants create with the credential: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, masterKeyFileName)); err == nil {
		t.Errorf("a master key was generated into the data folder although the credential holds one")
	}
	code, stdout, stderr := runDispatch("keys", "status", "--data", data)
	if code != exitOK || !strings.Contains(stdout, "systemd credential "+masterKeyCredential) {
		t.Errorf("keys status: exit %d, stdout %q, stderr %q; want the credential named as the source", code, stdout, stderr)
	}
	for _, c := range doctor(context.Background(), storeFlags{data: data}) {
		if c.name == "master key" && (c.level != "ok" || !strings.Contains(c.detail, masterKeyCredential)) {
			t.Errorf("doctor's master key check = %+v; want ok naming the credential", c)
		}
	}

	// Two sources: refused, whichever was meant.
	keyFile := filepath.Join(t.TempDir(), "master.key")
	if _, err := secret.CreateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BULWARK_MASTER_KEY_FILE", keyFile)
	if code, _, stderr := runDispatch("tenants", "list", "--data", data); code != exitUsage || !strings.Contains(stderr, "not more") {
		t.Errorf("tenants list with a credential and BULWARK_MASTER_KEY_FILE: exit %d, stderr %q; want a usage error", code, stderr)
	}
	t.Setenv("BULWARK_MASTER_KEY_FILE", "")

	// Another key in the credential does not open the data folder.
	writeCredential(t)
	if code, _, stderr := runDispatch("tenants", "list", "--data", data); code != exitFailed || !strings.Contains(stderr, "master key") {
		t.Errorf("tenants list with another key in the credential: exit %d, stderr %q; want the key refused", code, stderr)
	}
}

// TestMasterKeyCredentialPostgres: the credential is a key from outside
// the data folder, so a PostgreSQL store takes it.
func TestMasterKeyCredentialPostgres(t *testing.T) {
	clearStoreEnv(t)
	fake := useFakePostgres(t, nil)
	kr := writeCredential(t)
	if code, _, stderr := runDispatch("tenants", "list", "--data", t.TempDir(), "--database-url", testPGURL); code != exitOK {
		t.Fatalf("tenants list on PostgreSQL with the credential: exit %d, stderr %q", code, stderr)
	}
	if len(fake.calls) != 1 || fake.calls[0].keys.Current() != kr.Current() || !strings.Contains(fake.calls[0].keySource, masterKeyCredential) {
		t.Fatalf("openPostgres calls = %+v; want one with the credential's key", fake.calls)
	}
	chk, err := kr.KeyCheck(kr.Current())
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.calls[0].keys.VerifyKeyCheck(kr.Current(), chk); err != nil {
		t.Errorf("the key given to PostgreSQL is not the credential's: %v", err)
	}
}

// A credential systemd did not make (writable) is refused, not used.
func TestMasterKeyCredentialWritable(t *testing.T) {
	clearStoreEnv(t)
	writeCredential(t)
	if err := os.Chmod(filepath.Join(env("CREDENTIALS_DIRECTORY"), masterKeyCredential), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runDispatch("tenants", "list", "--data", t.TempDir()); code != exitFailed || !strings.Contains(stderr, "systemd makes credentials 0400") {
		t.Errorf("tenants list with a writable credential: exit %d, stderr %q; want it refused", code, stderr)
	}
}
