package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/backup"
	"github.com/bulwark-agents/bulwark/secret"
)

// backupFixture makes a data folder (a tenant, a secret, their audit
// records) and a backup of it, in process, with the environment vars
// (which the test may change). It returns the data folder and the file.
func backupFixture(t *testing.T, vars map[string]string) (data, file string) {
	t.Helper()
	old := env
	t.Cleanup(func() { env = old })
	env = func(k string) string { return vars[k] }
	data = t.TempDir()
	vars["BULWARK_DATA"] = data
	if code, _, stderr := runDispatch("tenants", "create", "fx"); code != 0 {
		t.Fatalf("tenants create: %d %s", code, stderr)
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"secrets", "set", "--tenant", "fx", "TOKEN"},
		stdio{strings.NewReader(backupSecret), &out, &errb}); code != 0 {
		t.Fatalf("secrets set: %d %s", code, errb.String())
	}
	file = filepath.Join(t.TempDir(), "fx.backup")
	if code, stdout, stderr := runDispatch("backup", "--out", file); code != 0 {
		t.Fatalf("backup: %d %s%s", code, stdout, stderr)
	}
	vars["BULWARK_MASTER_KEY_FILE"] = filepath.Join(data, masterKeyFileName)
	vars["BULWARK_DATA"] = ""
	return data, file
}

// entrySpan finds where the content of the backup entry name lies in b.
func entrySpan(t *testing.T, b []byte, name string) (from, to int) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no entry %s", name)
		}
		if hdr.Name == name {
			content := make([]byte, hdr.Size)
			tr.Read(content)
			i := bytes.Index(b, content)
			if i < 0 || hdr.Size == 0 {
				t.Fatalf("entry %s not found", name)
			}
			return i, i + int(hdr.Size)
		}
	}
}

// TestBackupVerifyCatchesAFlippedByte flips one byte in the store, in an
// audit chain and in the manifest of a backup: verify fails with one line
// naming the damage, and restore refuses the file without creating the
// target folder.
func TestBackupVerifyCatchesAFlippedByte(t *testing.T) {
	vars := map[string]string{}
	_, file := backupFixture(t, vars)
	good, _ := os.ReadFile(file)
	if code, stdout, stderr := runDispatch("backup", "verify", file); code != 0 || !strings.Contains(stdout, "backup intact") {
		t.Fatalf("verify of the good backup: %d %s%s", code, stdout, stderr)
	}
	var tenantLog string
	tr := tar.NewReader(bytes.NewReader(good))
	for hdr, err := tr.Next(); err == nil; hdr, err = tr.Next() {
		if strings.HasPrefix(hdr.Name, "audit/tenants/") && strings.HasSuffix(hdr.Name, ".log") {
			tenantLog = hdr.Name
		}
	}
	for _, name := range []string{backup.ManifestName, dbFileName, tenantLog} {
		from, to := entrySpan(t, good, name)
		bad := bytes.Clone(good)
		bad[(from+to)/2] ^= 0x04
		p := filepath.Join(t.TempDir(), "flipped")
		os.WriteFile(p, bad, 0o600)
		code, _, stderr := runDispatch("backup", "verify", p)
		if code != exitFailed || !strings.Contains(stderr, "damaged") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("verify with a byte flipped in %s: exit %d, %q; want 1 and one line saying it is damaged", name, code, stderr)
		}
		target := filepath.Join(t.TempDir(), "target")
		if code, _, stderr := runDispatch("restore", "--data", target, p); code != exitFailed {
			t.Errorf("restore with a byte flipped in %s: exit %d %s", name, code, stderr)
		}
		mustNotExist(t, target)
	}
}

// TestBackupVerifyCatchesAnAlteredChain: a backup whose audit record was
// changed and whose checksums were made again to match still fails
// verify and restore, on the chain's own hashes.
func TestBackupVerifyCatchesAnAlteredChain(t *testing.T) {
	vars := map[string]string{}
	_, file := backupFixture(t, vars)
	dir := filepath.Join(t.TempDir(), "x")
	os.Mkdir(dir, 0o700)
	f, _ := os.Open(file)
	m, err := backup.Extract(f, dir, nil, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range m.Entries {
		names = append(names, e.Name)
		if strings.HasPrefix(e.Name, "audit/tenants/") && strings.HasSuffix(e.Name, ".log") {
			p := filepath.Join(dir, filepath.FromSlash(e.Name))
			b, _ := os.ReadFile(p)
			b = bytes.Replace(b, []byte(`"TOKEN"`), []byte(`"TOKEX"`), 1)
			os.WriteFile(p, b, 0o600)
		}
	}
	rewrite := func(keys *secret.Keyring) string {
		p := filepath.Join(t.TempDir(), "altered")
		out, _ := os.Create(p)
		if _, err := backup.Write(out, m, dir, names, sealManifest(keys), nil); err != nil {
			t.Fatal(err)
		}
		out.Close()
		return p
	}
	// Even sealed with the master key, the chain's own hashes fail.
	altered := rewrite(fixtureKeys(t, vars))
	code, _, stderr := runDispatch("backup", "verify", altered)
	if code != exitFailed || !strings.Contains(stderr, "NOT intact") {
		t.Errorf("verify of an altered chain: exit %d %q, want 1 and NOT intact", code, stderr)
	}
	target := filepath.Join(t.TempDir(), "target")
	if code, _, _ := runDispatch("restore", "--data", target, altered); code != exitFailed {
		t.Errorf("restore of an altered chain: exit %d", code)
	}
	mustNotExist(t, target)
}

// TestBackupForgedWithoutTheMasterKey: a backup whose store was replaced
// and whose checksums were all made again, by someone without the master
// key, reads as intact without the key but is refused by verify with the
// key and by restore.
func TestBackupForgedWithoutTheMasterKey(t *testing.T) {
	vars := map[string]string{}
	_, file := backupFixture(t, vars)
	dir := filepath.Join(t.TempDir(), "x")
	os.Mkdir(dir, 0o700)
	f, _ := os.Open(file)
	m, err := backup.Extract(f, dir, nil, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range m.Entries {
		names = append(names, e.Name)
	}
	db, _ := os.OpenFile(filepath.Join(dir, dbFileName), os.O_WRONLY|os.O_APPEND, 0)
	db.Write(make([]byte, 4096)) // a page more: another store
	db.Close()
	forged := filepath.Join(t.TempDir(), "forged")
	out, _ := os.Create(forged)
	if _, err := backup.Write(out, m, dir, names, sealManifest(secret.NewKeyring()), nil); err != nil {
		t.Fatal(err)
	}
	out.Close()
	keyFile := vars["BULWARK_MASTER_KEY_FILE"]
	vars["BULWARK_MASTER_KEY_FILE"] = ""
	if code, stdout, _ := runDispatch("backup", "verify", forged); code != 0 || !strings.Contains(stdout, "not checked against the master key") {
		t.Errorf("verify of a forged backup without the key: exit %d %q; want 0 and saying the key was not checked", code, stdout)
	}
	vars["BULWARK_MASTER_KEY_FILE"] = keyFile
	if code, _, stderr := runDispatch("backup", "verify", forged); code != exitFailed || !strings.Contains(stderr, "not sealed by this master key") {
		t.Errorf("verify of a forged backup with the key: exit %d %q", code, stderr)
	}
	target := filepath.Join(t.TempDir(), "target")
	if code, _, stderr := runDispatch("restore", "--data", target, forged); code != exitFailed || !strings.Contains(stderr, "not sealed by this master key") {
		t.Errorf("restore of a forged backup: exit %d %q", code, stderr)
	}
	mustNotExist(t, target)
}

// fixtureKeys reads the fixture's master key.
func fixtureKeys(t *testing.T, vars map[string]string) *secret.Keyring {
	t.Helper()
	kr, err := secret.ReadKeyFile(vars["BULWARK_MASTER_KEY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestRestoreRefuses: restore writes only into a new or empty folder,
// only with the master key the backup was made with, and only a whole,
// well-formed backup; otherwise it fails with one line and leaves
// nothing behind.
func TestRestoreRefuses(t *testing.T) {
	vars := map[string]string{}
	_, file := backupFixture(t, vars)
	good, _ := os.ReadFile(file)

	// A folder that holds anything is never written into.
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o600)
	if code, _, stderr := runDispatch("restore", "--data", full, file); code != exitFailed || !strings.Contains(stderr, "not empty") {
		t.Errorf("restore into a folder that holds a file: exit %d %q", code, stderr)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Errorf("the non-empty target was changed: %v", ents)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	if code, _, _ := runDispatch("restore", "--data", notDir, file); code != exitFailed {
		t.Errorf("restore onto a file: exit %d", code)
	}
	// An empty folder is fine.
	empty := t.TempDir()
	os.Chmod(empty, 0o755)
	if code, stdout, stderr := runDispatch("restore", "--data", empty, file); code != 0 {
		t.Fatalf("restore into an empty folder: %d %s%s", code, stdout, stderr)
	}
	mustBePrivate(t, empty)

	// The master key: required, and the right one.
	target := filepath.Join(t.TempDir(), "target")
	keyFile := vars["BULWARK_MASTER_KEY_FILE"]
	vars["BULWARK_MASTER_KEY_FILE"] = ""
	if code, _, stderr := runDispatch("restore", "--data", target, file); code != exitFailed || !strings.Contains(stderr, "master key") {
		t.Errorf("restore without a master key: exit %d %q", code, stderr)
	}
	vars["BULWARK_MASTER_KEY"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	if code, _, stderr := runDispatch("restore", "--data", target, file); code != exitFailed || !strings.Contains(stderr, "master key") {
		t.Errorf("restore with another master key: exit %d %q", code, stderr)
	}
	vars["BULWARK_MASTER_KEY"], vars["BULWARK_MASTER_KEY_FILE"] = "", keyFile
	mustNotExist(t, target)

	// Truncated: at the manifest, inside an entry, inside the last entry.
	// (A file cut after the last entry's content has lost nothing: it
	// reads.)
	lastFrom, _ := entrySpan(t, good, backupAuditKey+sealedSuffix)
	for _, n := range []int{0, 100, 700, len(good) / 2, lastFrom + 10} {
		p := filepath.Join(t.TempDir(), "cut")
		os.WriteFile(p, good[:n], 0o600)
		code, _, stderr := runDispatch("restore", "--data", target, p)
		if code != exitFailed || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("restore of a backup cut to %d bytes: exit %d %q", n, code, stderr)
		}
		mustNotExist(t, target)
	}

	// Hostile entries: names that climb out, absolute paths, links, and
	// files a data folder does not hold.
	for _, c := range []struct {
		name string
		hdr  tar.Header
	}{
		{"climbs out", tar.Header{Typeflag: tar.TypeReg, Name: "../escaped"}},
		{"climbs out inside", tar.Header{Typeflag: tar.TypeReg, Name: "audit/../../escaped"}},
		{"absolute", tar.Header{Typeflag: tar.TypeReg, Name: "/tmp/escaped"}},
		{"symlink", tar.Header{Typeflag: tar.TypeSymlink, Name: "audit", Linkname: "/"}},
		{"hard link", tar.Header{Typeflag: tar.TypeLink, Name: "bulwark.db", Linkname: "/etc/passwd"}},
		{"unknown file", tar.Header{Typeflag: tar.TypeReg, Name: "run.sh"}},
		{"key in the clear", tar.Header{Typeflag: tar.TypeReg, Name: "keys/audit-signing.key"}},
	} {
		parent := t.TempDir()
		p := filepath.Join(parent, "hostile")
		os.WriteFile(p, hostileBackup(t, fixtureKeys(t, vars), c.hdr), 0o600)
		target := filepath.Join(parent, "target")
		if code, _, stderr := runDispatch("restore", "--data", target, p); code != exitFailed {
			t.Errorf("%s: restore exit %d %q, want 1", c.name, code, stderr)
		}
		if code, _, _ := runDispatch("backup", "verify", p); code != exitFailed {
			t.Errorf("%s: verify exit %d, want 1", c.name, code)
		}
		mustNotExist(t, target)
		ents, _ := os.ReadDir(parent)
		if len(ents) != 1 {
			t.Errorf("%s: restore left %v beside the target", c.name, ents)
		}
	}
}

// hostileBackup is a backup whose manifest lists one entry as hdr names
// it, with content "x" (for a regular file), checksums right and the
// manifest sealed with keys: only the entry is wrong.
func hostileBackup(t *testing.T, keys *secret.Keyring, hdr tar.Header) []byte {
	t.Helper()
	content := "x"
	if hdr.Typeflag != tar.TypeReg {
		content = ""
	}
	sum := sha256.Sum256([]byte(content))
	m := backup.Manifest{Format: backup.Format, Version: backup.Version, Created: time.Now().UTC(), Store: "sqlite", Schema: 1,
		Entries: []backup.Entry{{Name: hdr.Name, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}}}
	body, _ := json.Marshal(m)
	msum := sha256.Sum256(body)
	line := hex.EncodeToString(msum[:]) + "\n"
	seal, err := sealManifest(keys)(msum)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name    string
		content []byte
	}{{backup.ManifestName, body}, {backup.SumName, []byte(line)}, {backup.SealName, seal}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.content)), Mode: 0o600})
		tw.Write(e.content)
	}
	hdr.Size, hdr.Mode = int64(len(content)), 0o600
	if err := tw.WriteHeader(&hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	tw.Close()
	return buf.Bytes()
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err == nil {
		t.Errorf("%s was created", p)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(filepath.Dir(p)), "escaped")); err == nil {
		t.Errorf("a file escaped the target folder")
	}
}

var backupCheckCases = []struct {
	name  string
	last  string // last-backup.json; "" for none
	max   string // BULWARK_BACKUP_MAX_AGE
	level string
	says  string
}{
	{"none", "", "", "warn", "no backup recorded"},
	{"fresh", `{"time":"2026-01-02T09:00:00Z","file":"/b/x.tar"}`, "", "ok", "/b/x.tar, was made 3h ago"},
	{"old", `{"time":"2025-12-29T12:00:00Z","file":"/b/x.tar"}`, "", "warn", "more than 48h"},
	{"old for a tighter limit", `{"time":"2026-01-02T09:00:00Z","file":"/b/x.tar"}`, "2h", "warn", "more than 2h"},
	{"unreadable", `{"time":`, "", "warn", "cannot be read"},
	{"in the future", `{"time":"2026-01-09T12:00:00Z","file":"/b/x.tar"}`, "", "warn", "in the future"},
	{"bad limit", `{"time":"2026-01-02T09:00:00Z","file":"/b/x.tar"}`, "2", "FAIL", "BULWARK_BACKUP_MAX_AGE"},
}

func TestBackupCheck(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	old := env
	t.Cleanup(func() { env = old })
	for _, c := range backupCheckCases {
		data := t.TempDir()
		if c.last != "" {
			os.WriteFile(filepath.Join(data, lastBackupFile), []byte(c.last), 0o600)
		}
		env = func(k string) string {
			if k == backupMaxAgeVar {
				return c.max
			}
			return ""
		}
		got := backupCheck(data, false, now)
		if got.level != c.level || !strings.Contains(got.detail, c.says) {
			t.Errorf("%s: backupCheck = %s %q, want %s and %q", c.name, got.level, got.detail, c.level, c.says)
		}
	}
	if got := backupCheck(t.TempDir(), true, now); got.level != "ok" || !strings.Contains(got.detail, "pg_dump") {
		t.Errorf("with PostgreSQL: %+v, want ok naming pg_dump", got)
	}
}

// TestBackupRecordsForDoctor: a backup made is what doctor reports.
func TestBackupRecordsForDoctor(t *testing.T) {
	vars := map[string]string{}
	data, file := backupFixture(t, vars)
	got := backupCheck(data, false, time.Now())
	if got.level != "ok" || !strings.Contains(got.detail, file) {
		t.Errorf("backupCheck after a backup = %+v, want ok naming %s", got, file)
	}
}

// TestBackupRefusesToReplace: --out never replaces a file of the data
// folder nor any file that is not an earlier backup (a master key kept
// apart, say); an earlier backup is replaced.
func TestBackupRefusesToReplace(t *testing.T) {
	vars := map[string]string{}
	data, file := backupFixture(t, vars)
	vars["BULWARK_DATA"] = data
	if code, _, stderr := runDispatch("backup", "--out", filepath.Join(data, dbFileName)); code != exitUsage || !strings.Contains(stderr, "inside the data folder") {
		t.Errorf("backup over the store: exit %d %q", code, stderr)
	}
	// Through a symlink to the data folder, or a symlink of the data
	// folder itself, it is the data folder still.
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(data, link)
	if code, _, stderr := runDispatch("backup", "--out", filepath.Join(link, "new.backup")); code != exitUsage || !strings.Contains(stderr, "inside the data folder") {
		t.Errorf("backup into the data folder through a symlink: exit %d %q", code, stderr)
	}
	vars["BULWARK_DATA"] = link
	if code, _, stderr := runDispatch("backup", "--out", filepath.Join(data, "new.backup")); code != exitUsage || !strings.Contains(stderr, "inside the data folder") {
		t.Errorf("backup into the data folder named by a symlink: exit %d %q", code, stderr)
	}
	vars["BULWARK_DATA"] = data
	mustNotExist(t, filepath.Join(data, "new.backup"))
	keyApart := filepath.Join(t.TempDir(), "master.key")
	os.WriteFile(keyApart, []byte("1 c2VjcmV0\n"), 0o600)
	if code, _, stderr := runDispatch("backup", "--out", keyApart); code != exitFailed || !strings.Contains(stderr, "not a bulwark backup") {
		t.Errorf("backup over a key file: exit %d %q", code, stderr)
	}
	if b, _ := os.ReadFile(keyApart); string(b) != "1 c2VjcmV0\n" {
		t.Errorf("the file was replaced: %q", b)
	}
	// An earlier backup left readable by all is replaced by one that is
	// not: the file is private whatever the umask and what it replaced.
	os.Chmod(file, 0o644)
	if code, stdout, stderr := runDispatch("backup", "--out", file); code != 0 {
		t.Errorf("backup over an earlier backup: exit %d %s%s", code, stdout, stderr)
	}
	mustBePrivate(t, file)
	mustBePrivate(t, filepath.Join(data, lastBackupFile))
}

// mustBePrivate fails when p, or anything below it, may be read or
// written by others than its owner.
func mustBePrivate(t *testing.T, p string) {
	t.Helper()
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("%s: %v", q, err)
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: others may read it", q, fi.Mode().Perm())
		}
		return nil
	})
}

// TestBackupKeepsAnAuditKeyApartApart: an audit signing key kept outside
// the data folder (BULWARK_AUDIT_KEY_FILE) is not put in the backup, in
// any form; the restored folder verifies with it.
func TestBackupKeepsAnAuditKeyApartApart(t *testing.T) {
	apart := filepath.Join(t.TempDir(), "audit-signing.key")
	vars := map[string]string{"BULWARK_AUDIT_KEY_FILE": apart}
	_, file := backupFixture(t, vars)
	raw, _ := os.ReadFile(file)
	key, err := os.ReadFile(apart)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, bytes.TrimSpace(key)) {
		t.Error("the backup holds the audit key kept apart")
	}
	for _, e := range mustManifest(t, file).Entries {
		if strings.HasPrefix(e.Name, "keys/") {
			t.Errorf("the backup holds %s", e.Name)
		}
	}
	target := filepath.Join(t.TempDir(), "target")
	code, stdout, stderr := runDispatch("restore", "--data", target, file)
	if code != 0 || !strings.Contains(stdout, "BULWARK_AUDIT_KEY_FILE") {
		t.Fatalf("restore: exit %d %s%s; want 0 and a word on the key kept apart", code, stdout, stderr)
	}
	if code, stdout, stderr := runDispatch("audit", "verify", "--data", target); code != 0 {
		t.Errorf("audit verify with the key kept apart: exit %d %s%s", code, stdout, stderr)
	}
}

func mustManifest(t *testing.T, file string) backup.Manifest {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := backup.Read(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBackupOfPostgresSaysPgDump: a PostgreSQL store is not backed up
// (nor restored) by bulwark: the answer names pg_dump (pg_restore).
func TestBackupOfPostgresSaysPgDump(t *testing.T) {
	old := env
	t.Cleanup(func() { env = old })
	env = func(k string) string {
		if k == "BULWARK_DATABASE_URL" {
			return "postgres://bulwark@db.internal/bulwark"
		}
		return ""
	}
	if code, _, stderr := runDispatch("backup", "--out", filepath.Join(t.TempDir(), "b"), "--data", t.TempDir()); code != exitFailed || !strings.Contains(stderr, "pg_dump") {
		t.Errorf("backup of a PostgreSQL store: exit %d %q, want 1 naming pg_dump", code, stderr)
	}
	if code, _, stderr := runDispatch("restore", "--data", filepath.Join(t.TempDir(), "r"), "b"); code != exitFailed || !strings.Contains(stderr, "pg_restore") {
		t.Errorf("restore with a PostgreSQL store set: exit %d %q, want 1 naming pg_restore", code, stderr)
	}
}

// TestRestoreChecksTheSealFirst: restore opens the manifest's seal before
// it writes any entry, so a backup not made with this master key is
// refused as such whatever its entries are (here one a data folder does
// not hold), and nothing of it reaches the disk.
func TestRestoreChecksTheSealFirst(t *testing.T) {
	vars := map[string]string{}
	backupFixture(t, vars)
	parent := t.TempDir()
	p := filepath.Join(parent, "forged")
	os.WriteFile(p, hostileBackup(t, secret.NewKeyring(), tar.Header{Typeflag: tar.TypeReg, Name: "run.sh"}), 0o600)
	target := filepath.Join(parent, "target")
	if code, _, stderr := runDispatch("restore", "--data", target, p); code != exitFailed || !strings.Contains(stderr, "not sealed by this master key") {
		t.Errorf("restore of a backup sealed by another key: exit %d %q, want the seal refused before the entries are read", code, stderr)
	}
	mustNotExist(t, target)
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("restore left %v beside the target", ents)
	}
}

// TestConcurrentBackups: backups made at once, to one file and to two,
// each complete and verify (each writes its own temporary file and stage
// folder, and the rename is whole), and none leaves files behind.
func TestConcurrentBackups(t *testing.T) {
	vars := map[string]string{}
	data, _ := backupFixture(t, vars)
	vars["BULWARK_DATA"] = data
	out := t.TempDir()
	files := []string{filepath.Join(out, "same.backup"), filepath.Join(out, "same.backup"), filepath.Join(out, "other.backup")}
	codes := make(chan string, len(files))
	for _, f := range files {
		go func() {
			code, stdout, stderr := runDispatch("backup", "--out", f)
			codes <- fmt.Sprintf("%d %s%s", code, stdout, stderr)
		}()
	}
	for range files {
		if got := <-codes; !strings.HasPrefix(got, "0 ") {
			// Two backups racing for one new name: the second may find
			// the first's complete file there, which it replaces.
			t.Errorf("a concurrent backup: %s", got)
		}
	}
	vars["BULWARK_DATA"] = ""
	for _, f := range []string{files[0], files[2]} {
		if code, stdout, stderr := runDispatch("backup", "verify", f); code != 0 {
			t.Errorf("verify %s: %d %s%s", f, code, stdout, stderr)
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the backup folder holds %v, want the two backups only", names)
	}
}
