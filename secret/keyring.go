package secret

// This file is the master keyring: the versioned key-encryption keys that
// wrap each tenant's data key, and the key file that holds them.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Keyring is a set of master key versions, the highest of which is current:
// new wrappings use it, and every version still opens what it wrapped. A
// Keyring is immutable (WithNewKey and Without return new ones), so it is
// safe for concurrent use.
type Keyring struct {
	keys    map[uint32][]byte
	current uint32
}

// NewKeyring returns a keyring holding one new random key, version 1.
func NewKeyring() *Keyring {
	return &Keyring{keys: map[uint32][]byte{1: NewKey()}, current: 1}
}

// ParseKeyring reads a keyring from text: lines (or comma- or
// space-separated fields) "vN:BASE64", N from 1, each key KeySize bytes in
// standard base64; blank lines and lines starting with '#' are skipped. A
// text that is a single base64 key without a version is version 1. Errors
// never quote the text.
func ParseKeyring(text []byte) (*Keyring, error) {
	var fields []string
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields = append(fields, strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t'
		})...)
	}
	if len(fields) == 0 {
		return nil, errors.New("no master key in it")
	}
	k := &Keyring{keys: map[uint32][]byte{}}
	for i, f := range fields {
		v, b64, ok := strings.Cut(f, ":")
		if !ok {
			if len(fields) > 1 {
				return nil, fmt.Errorf("key %d has no version: write each key as vN:BASE64", i+1)
			}
			v, b64 = "v1", f
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(v, "v"), 10, 32)
		if !strings.HasPrefix(v, "v") || err != nil || n == 0 {
			return nil, fmt.Errorf("key %d: the version must be v and a number from 1 up (v1, v2 and so on)", i+1)
		}
		key, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("key v%d: %w", n, err)
		}
		if _, dup := k.keys[uint32(n)]; dup {
			return nil, fmt.Errorf("key v%d is given twice", n)
		}
		k.keys[uint32(n)] = key
		k.current = max(k.current, uint32(n))
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("not valid base64")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// MarshalText returns the keyring in the key file format, newest last.
func (k *Keyring) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Bulwark master keys (the highest version is current). Keep this file secret and\n")
	b.WriteString("# backed up apart from the data folder: without it the data cannot be read.\n")
	for _, v := range k.Versions() {
		fmt.Fprintf(&b, "v%d:%s\n", v, base64.StdEncoding.EncodeToString(k.keys[v]))
	}
	return b.Bytes(), nil
}

// Current returns the current version.
func (k *Keyring) Current() uint32 { return k.current }

// Has reports whether version v is held.
func (k *Keyring) Has(v uint32) bool { _, ok := k.keys[v]; return ok }

// Versions returns the versions held, in increasing order.
func (k *Keyring) Versions() []uint32 { return slices.Sorted(maps.Keys(k.keys)) }

// WithNewKey returns a copy of k with a new random key, one version above
// the highest, as current.
func (k *Keyring) WithNewKey() *Keyring {
	n := &Keyring{keys: maps.Clone(k.keys), current: k.current + 1}
	n.keys[n.current] = NewKey()
	return n
}

// Without returns a copy of k without version v. Removing the current
// version or one not held is an error.
func (k *Keyring) Without(v uint32) (*Keyring, error) {
	if !k.Has(v) {
		return nil, fmt.Errorf("master key version %d is not held", v)
	}
	if v == k.current {
		return nil, fmt.Errorf("master key version %d is current", v)
	}
	n := &Keyring{keys: maps.Clone(k.keys), current: k.current}
	delete(n.keys, v)
	return n, nil
}

// Wrap seals a data key with the current master key, bound to ad, and
// returns the wrapped key and the master version used.
func (k *Keyring) Wrap(ad, dataKey []byte) ([]byte, uint32, error) {
	w, err := Seal(k.keys[k.current], k.current, ad, dataKey)
	return w, k.current, err
}

// Unwrap opens a data key wrapped by Wrap with any held version. It
// returns an error that matches ErrUnknownKey when the version is not
// held, ErrOpen when the key or ad is wrong, ErrFormat for garbage.
func (k *Keyring) Unwrap(ad, wrapped []byte) ([]byte, error) {
	v, err := KeyVersion(wrapped)
	if err != nil {
		return nil, err
	}
	key, ok := k.keys[v]
	if !ok {
		return nil, fmt.Errorf("master key version %d: %w", v, ErrUnknownKey)
	}
	return Open(key, ad, wrapped)
}

// keyCheckText is the known plaintext of key-check records.
const keyCheckText = "bulwark master key check"

func keyCheckAD(v uint32) []byte { return AD("", "master.check", strconv.FormatUint(uint64(v), 10)) }

// KeyCheck returns a key-check record for version v: a known plaintext
// sealed under it. Stored next to the data, it lets VerifyKeyCheck tell a
// wrong master key at start instead of failing on every record later.
func (k *Keyring) KeyCheck(v uint32) ([]byte, error) {
	key, ok := k.keys[v]
	if !ok {
		return nil, fmt.Errorf("master key version %d: %w", v, ErrUnknownKey)
	}
	return Seal(key, v, keyCheckAD(v), []byte(keyCheckText))
}

// VerifyKeyCheck reports whether the record made by KeyCheck(v) opens with
// the version v held here (ErrUnknownKey when v is not held).
func (k *Keyring) VerifyKeyCheck(v uint32, record []byte) error {
	key, ok := k.keys[v]
	if !ok {
		return fmt.Errorf("master key version %d: %w", v, ErrUnknownKey)
	}
	pt, err := Open(key, keyCheckAD(v), record)
	if err != nil {
		return err
	}
	if string(pt) != keyCheckText {
		return ErrOpen
	}
	return nil
}

// ReadKeyFile reads a keyring from a key file. It refuses a file that is
// not a regular file or that group or others may read or write, since a key
// that others can read protects nothing.
func ReadKeyFile(path string) (*Keyring, error) {
	return readKeyring(path, func(perm fs.FileMode) error {
		if perm&0o077 != 0 {
			return fmt.Errorf("the master key file %s can be read or written by group or others (mode %04o): run chmod 600 %s", path, perm, path)
		}
		return nil
	})
}

// ReadKeyCredential reads a keyring from a systemd credential: a file of
// the folder $CREDENTIALS_DIRECTORY names, which the service manager fills
// from LoadCredential= as the service starts, read-only, in a folder only
// the service's user can enter. systemd gives that user read access with
// an ACL where the file system has them, which shows as the group's read
// bit (the ACL mask); so unlike ReadKeyFile it accepts that bit, and
// refuses a write bit for anyone or any access for others, which systemd
// never sets.
func ReadKeyCredential(path string) (*Keyring, error) {
	return readKeyring(path, func(perm fs.FileMode) error {
		if perm&0o227 != 0 {
			return fmt.Errorf("the master key credential %s is writable or readable by others (mode %04o): systemd makes credentials 0400; is it one?", path, perm)
		}
		return nil
	})
}

// readKeyring reads a keyring from the regular file at path, once permOK
// has accepted its permission bits.
func readKeyring(path string, permOK func(fs.FileMode) error) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("the master key file %s is not a regular file", path)
	}
	if err := permOK(fi.Mode().Perm()); err != nil {
		return nil, err
	}
	b, err := readAllLimit(f, 1<<20)
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("the master key file %s: %w", path, err)
	}
	return k, nil
}

func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errors.New("the master key file is too large")
	}
	return b, nil
}

// CreateKeyFile generates a new keyring into a new file at path, mode 0600.
// An existing file is fs.ErrExist: never overwritten.
func CreateKeyFile(path string) (*Keyring, error) {
	k := NewKeyring()
	text, _ := k.MarshalText()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, err
	}
	return k, syncDir(filepath.Dir(path))
}

// WriteKeyFile replaces the key file at path with k, atomically: readers
// see the old file or the new one, never a part. The file is mode 0600.
func WriteKeyFile(path string, k *Keyring) error {
	text, _ := k.MarshalText()
	// A link is followed: its target gets the new text, and the link
	// stays (a key file linked from a mounted secret, or from where it is
	// backed up). Renaming over the link would leave the target without
	// the new version (red team, session 42).
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".master.key-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(text); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, fs.ErrInvalid) {
		return err
	}
	return nil
}
