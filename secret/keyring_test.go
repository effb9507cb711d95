package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	keyA = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	keyB = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, KeySize))
)

var parseTests = []struct {
	in       string
	versions []uint32 // nil: an error is wanted
	current  uint32
}{
	{keyA, []uint32{1}, 1},
	{keyA + "\n", []uint32{1}, 1},
	{"v1:" + keyA, []uint32{1}, 1},
	{"# comment\nv1:" + keyA + "\n\nv2:" + keyB + "\n", []uint32{1, 2}, 2},
	{"v3:" + keyB + ",v1:" + keyA, []uint32{1, 3}, 3},
	{strings.TrimRight(keyA, "="), []uint32{1}, 1},
	{"", nil, 0},
	{"# only a comment", nil, 0},
	{"v1:" + keyA + "\nv1:" + keyB, nil, 0}, // duplicate
	{keyA + "\n" + keyB, nil, 0},            // two keys without versions
	{"v0:" + keyA, nil, 0},                  // version 0
	{"x1:" + keyA, nil, 0},                  // no v
	{"v1:" + base64.StdEncoding.EncodeToString([]byte("short")), nil, 0},
	{"v1:not base64!", nil, 0},
}

func TestParseKeyring(t *testing.T) {
	for _, tc := range parseTests {
		k, err := ParseKeyring([]byte(tc.in))
		if tc.versions == nil {
			if err == nil {
				t.Errorf("ParseKeyring(%q) = %v, want an error", tc.in, k.Versions())
			} else if strings.Contains(err.Error(), keyA[:20]) || strings.Contains(err.Error(), keyB[:20]) {
				t.Errorf("ParseKeyring(%q) error %q quotes a key", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKeyring(%q): %v", tc.in, err)
			continue
		}
		if got := k.Versions(); !slicesEqual(got, tc.versions) || k.Current() != tc.current {
			t.Errorf("ParseKeyring(%q) = versions %v current %d, want %v current %d", tc.in, got, k.Current(), tc.versions, tc.current)
		}
	}
}

func slicesEqual(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeyringRotation(t *testing.T) {
	k1 := NewKeyring()
	ad := AD("tn_a", "datakey", "1")
	dk := NewKey()
	w1, v, err := k1.Wrap(ad, dk)
	if err != nil || v != 1 {
		t.Fatalf("Wrap = v%d, %v", v, err)
	}
	k2 := k1.WithNewKey()
	if k2.Current() != 2 || k1.Current() != 1 {
		t.Fatalf("WithNewKey: current %d (old keyring %d), want 2 (1)", k2.Current(), k1.Current())
	}
	w2, v, _ := k2.Wrap(ad, dk)
	if v != 2 {
		t.Fatalf("Wrap after rotation used v%d, want v2", v)
	}
	for _, w := range [][]byte{w1, w2} {
		got, err := k2.Unwrap(ad, w)
		if err != nil || !bytes.Equal(got, dk) {
			t.Fatalf("Unwrap: %v", err)
		}
	}
	if _, err := k1.Unwrap(ad, w2); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old keyring Unwrap(v2) = %v, want ErrUnknownKey", err)
	}
	if _, err := k2.Without(2); err == nil {
		t.Error("Without(current) succeeded")
	}
	k3, err := k2.Without(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Without(1); err == nil {
		t.Error("Without(1) twice succeeded")
	}
	if _, err := k3.Unwrap(ad, w1); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Unwrap(retired v1) = %v, want ErrUnknownKey", err)
	}
	chk, _ := k2.KeyCheck(1)
	if err := k2.VerifyKeyCheck(1, chk); err != nil {
		t.Errorf("VerifyKeyCheck: %v", err)
	}
	if err := NewKeyring().VerifyKeyCheck(1, chk); !errors.Is(err, ErrOpen) {
		t.Errorf("VerifyKeyCheck with another key = %v, want ErrOpen", err)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	k, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if _, err := CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateKeyFile over an existing file = %v, want ErrExist", err)
	}
	k2 := k.WithNewKey()
	if err := WriteKeyFile(path, k2); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(got.Versions(), []uint32{1, 2}) || got.Current() != 2 {
		t.Errorf("read back versions %v current %d, want [1 2] current 2", got.Versions(), got.Current())
	}
	chk, _ := k.KeyCheck(1)
	if err := got.VerifyKeyCheck(1, chk); err != nil {
		t.Errorf("the key read back does not open its check: %v", err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		os.Chmod(path, mode)
		if _, err := ReadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("ReadKeyFile of a mode %04o file = %v, want a refusal that says chmod 600", mode, err)
		}
	}
}

// A systemd credential is 0400, or shows 0440 where systemd grants the
// service's user read access by an ACL (the group bits are the ACL's mask);
// both are read. A write bit or access for others means it is not a file
// systemd made, and it is refused.
func TestKeyCredential(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bulwark.master-key")
	k := NewKeyring()
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	chk, _ := k.KeyCheck(k.Current())
	for _, mode := range []os.FileMode{0o400, 0o440} {
		os.Chmod(path, mode)
		got, err := ReadKeyCredential(path)
		if err != nil {
			t.Errorf("ReadKeyCredential of a mode %04o file = %v, want the keyring", mode, err)
			continue
		}
		if err := got.VerifyKeyCheck(k.Current(), chk); err != nil {
			t.Errorf("the credential read back (mode %04o) does not open its check: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o460, 0o404, 0o401, 0o444} {
		os.Chmod(path, mode)
		if _, err := ReadKeyCredential(path); err == nil || !strings.Contains(err.Error(), "systemd makes credentials 0400") {
			t.Errorf("ReadKeyCredential of a mode %04o file = %v, want a refusal", mode, err)
		}
	}
	// A key file keeps its stricter rule: the group may not read it.
	os.Chmod(path, 0o440)
	if _, err := ReadKeyFile(path); err == nil {
		t.Errorf("ReadKeyFile of a mode 0440 file succeeded, want a refusal")
	}
	if _, err := ReadKeyCredential(filepath.Dir(path)); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadKeyCredential of a folder = %v, want a refusal", err)
	}
}

// FuzzParseKeyring checks that any text either fails without quoting
// itself or gives a keyring that survives MarshalText and ParseKeyring.
func FuzzParseKeyring(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		k, err := ParseKeyring([]byte(in))
		if err != nil {
			if len(in) >= 16 && strings.Contains(err.Error(), in) {
				t.Fatalf("the error %q quotes the input", err)
			}
			return
		}
		text, _ := k.MarshalText()
		k2, err := ParseKeyring(text)
		if err != nil || !slicesEqual(k.Versions(), k2.Versions()) || k.Current() != k2.Current() {
			t.Fatalf("round trip of %q: %v", in, err)
		}
	})
}

// A key file that is a link keeps being one: its target gets the new
// keyring (red team, session 42: rotation replaced the link with a file,
// and the target never got the new version).
func TestWriteKeyFileThroughALink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "mounted", "real.key")
	if err := os.Mkdir(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	k1, err := CreateKeyFile(target)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "master.key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	k2 := k1.WithNewKey()
	if err := WriteKeyFile(link, k2); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v, %v", fi, err)
	}
	got, err := ReadKeyFile(target)
	if err != nil || got.Current() != k2.Current() {
		t.Errorf("the target holds version %v (%v), want %d", got, err, k2.Current())
	}
}
