package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testFiles = map[string]string{
	"bulwark.db":           "SQLite format 3\x00 and more",
	"audit/audit.log":      "{\"seq\":1}\n",
	"audit/tenants/t1.log": "{\"seq\":1}\n{\"seq\":2}\n",
	"empty":                "",
}

// testSeal stands for a sealing key: the seal is the sum, marked.
func testSeal(sum [32]byte) ([]byte, error) { return append([]byte("seal:"), sum[:]...), nil }

func testNames() []string {
	return []string{"bulwark.db", "audit/audit.log", "audit/tenants/t1.log", "empty"}
}

// mustBackup writes testFiles into a folder and returns a backup of them.
func mustBackup(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, content := range testFiles {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	var last, total int64
	m, err := Write(&buf, Manifest{Created: time.Unix(1700000000, 0).UTC(), Store: "sqlite", Schema: 3}, dir, testNames(),
		testSeal, func(done, all int64) { last, total = done, all })
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != len(testFiles) || last != total || total == 0 {
		t.Fatalf("Write: %d entries, progress %d of %d", len(m.Entries), last, total)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := mustBackup(t)
	m, err := Read(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if m.Store != "sqlite" || m.Schema != 3 || m.Format != Format || m.Version != Version {
		t.Errorf("manifest = %+v", m)
	}
	if want, _ := testSeal(m.Sum); !bytes.Equal(m.Seal, want) {
		t.Errorf("Read gave the seal %q for the sum %x", m.Seal, m.Sum)
	}
	for _, e := range m.Entries {
		sum := sha256.Sum256([]byte(testFiles[e.Name]))
		if e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(testFiles[e.Name])) {
			t.Errorf("entry %+v does not describe %q", e, testFiles[e.Name])
		}
	}
	dir := filepath.Join(t.TempDir(), "out")
	os.Mkdir(dir, 0o700)
	if _, err := Extract(bytes.NewReader(b), dir, nil, nil); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	for name, want := range testFiles {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || string(got) != want {
			t.Errorf("extracted %s = %q, %v; want %q", name, got, err, want)
		}
	}
	// Not into a folder that holds anything.
	if _, err := Extract(bytes.NewReader(b), dir, nil, nil); err == nil {
		t.Error("Extract into a non-empty folder succeeded")
	}
}

// TestFlippedByte flips each byte of the file in turn: every change of
// the manifest or of an entry's content is refused (tar's padding and
// unused header fields may change freely).
func TestFlippedByte(t *testing.T) {
	b := mustBackup(t)
	// Where each entry's content lies in the file.
	type span struct{ from, to int }
	var spans []span
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		off := len(b) - countRest(tr, b)
		spans = append(spans, span{off, off + int(hdr.Size)})
	}
	if len(spans) != len(testFiles)+3 {
		t.Fatalf("found %d entries", len(spans))
	}
	// The seal (the third entry) is the caller's to check: a changed
	// seal reads, and is handed over changed.
	seal := spans[2]
	c := bytes.Clone(b)
	c[seal.from] ^= 0x01
	if m, err := Read(bytes.NewReader(c), nil); err != nil {
		t.Fatalf("a changed seal: %v", err)
	} else if want, _ := testSeal(m.Sum); bytes.Equal(m.Seal, want) {
		t.Fatal("Read did not hand over the seal as the file has it")
	}
	spans = append(spans[:2], spans[3:]...)
	for _, s := range spans {
		for i := s.from; i < s.to; i++ {
			c := bytes.Clone(b)
			c[i] ^= 0x01
			if _, err := Read(bytes.NewReader(c), nil); err == nil {
				t.Fatalf("a byte flipped at %d (content %d..%d) was not noticed", i, s.from, s.to)
			} else if !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrFormat) {
				t.Fatalf("byte %d flipped: %v, want ErrChecksum or ErrFormat", i, err)
			}
		}
	}
}

// countRest is how many bytes of b the tar reader has not consumed yet:
// where the current entry's content starts, counted from the end.
func countRest(tr *tar.Reader, b []byte) int {
	// Read the rest through a counting copy of the underlying reader is
	// not possible from outside; find the content instead.
	content, _ := io.ReadAll(tr)
	i := bytes.Index(b, content)
	if len(content) == 0 {
		return len(b)
	}
	return len(b) - i
}

func TestTruncated(t *testing.T) {
	b := mustBackup(t)
	for n := 0; n < len(b); n += 7 {
		_, err := Read(bytes.NewReader(b[:n]), nil)
		if err == nil {
			// The end-of-archive blocks may be cut off once every entry
			// was read; then nothing is missing.
			if n < len(b)-1024 {
				t.Fatalf("a backup cut to %d of %d bytes was accepted", n, len(b))
			}
			continue
		}
		if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) {
			t.Fatalf("cut to %d bytes: %v, want ErrFormat", n, err)
		}
	}
}

// hostile builds an archive: a manifest listing entries as given, then
// the headers and contents given.
type hostileEntry struct {
	hdr     tar.Header
	content string
}

func hostile(t testing.TB, listed []Entry, ents []hostileEntry) []byte {
	t.Helper()
	m := Manifest{Format: Format, Version: Version, Entries: listed}
	body, _ := json.Marshal(m)
	sum := sha256.Sum256(body)
	line := hex.EncodeToString(sum[:]) + "\n"
	seal, _ := testSeal(sum)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name    string
		content []byte
	}{{ManifestName, body}, {SumName, []byte(line)}, {SealName, seal}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.content)), Mode: 0o600})
		tw.Write(e.content)
	}
	for _, e := range ents {
		h := e.hdr
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
			h.Size = int64(len(e.content))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.content)
	}
	tw.Close()
	return buf.Bytes()
}

func entry(name, content string) Entry {
	sum := sha256.Sum256([]byte(content))
	return Entry{Name: name, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}
}

func reg(name, content string) hostileEntry {
	return hostileEntry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600}, content}
}

var hostileCases = []struct {
	name   string
	listed []Entry
	ents   []hostileEntry
}{
	{"parent path", []Entry{entry("../x", "x")}, []hostileEntry{reg("../x", "x")}},
	{"parent inside", []Entry{entry("a/../../x", "x")}, []hostileEntry{reg("a/../../x", "x")}},
	{"absolute", []Entry{entry("/tmp/x", "x")}, []hostileEntry{reg("/tmp/x", "x")}},
	{"dot name", []Entry{entry(".x", "x")}, []hostileEntry{reg(".x", "x")}},
	{"backslash", []Entry{entry(`a\..\x`, "x")}, []hostileEntry{reg(`a\..\x`, "x")}},
	{"symlink", []Entry{entry("a", "")}, []hostileEntry{{tar.Header{Typeflag: tar.TypeSymlink, Name: "a", Linkname: "/etc"}, ""}}},
	{"hard link", []Entry{entry("a", "")}, []hostileEntry{{tar.Header{Typeflag: tar.TypeLink, Name: "a", Linkname: "/etc/passwd"}, ""}}},
	{"directory", []Entry{entry("a", "")}, []hostileEntry{{tar.Header{Typeflag: tar.TypeDir, Name: "a", Mode: 0o700}, ""}}},
	{"device", []Entry{entry("a", "")}, []hostileEntry{{tar.Header{Typeflag: tar.TypeChar, Name: "a"}, ""}}},
	{"unlisted entry", []Entry{entry("a", "x")}, []hostileEntry{reg("a", "x"), reg("b", "y")}},
	{"other name", []Entry{entry("a", "x")}, []hostileEntry{reg("b", "x")}},
	{"listed twice", []Entry{entry("a", "x"), entry("a", "x")}, []hostileEntry{reg("a", "x"), reg("a", "x")}},
	{"file and folder", []Entry{entry("a", "x"), entry("a/b", "y")}, []hostileEntry{reg("a", "x"), reg("a/b", "y")}},
	{"wrong size", []Entry{{Name: "a", Size: 5, SHA256: entry("a", "x").SHA256}}, []hostileEntry{reg("a", "x")}},
	{"missing entry", []Entry{entry("a", "x"), entry("b", "y")}, []hostileEntry{reg("a", "x")}},
	{"too deep", []Entry{entry("a/b/c/d/e", "x")}, []hostileEntry{reg("a/b/c/d/e", "x")}},
	{"wrong content", []Entry{entry("a", "x")}, []hostileEntry{reg("a", "y")}},
}

// TestHostileArchives: every archive that strays from the format is
// refused, and extracting it writes nothing outside the target folder.
func TestHostileArchives(t *testing.T) {
	for _, c := range hostileCases {
		t.Run(c.name, func(t *testing.T) {
			b := hostile(t, c.listed, c.ents)
			if _, err := Read(bytes.NewReader(b), nil); err == nil {
				t.Fatalf("Read accepted it")
			} else if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) {
				t.Errorf("Read: %v, want ErrFormat or ErrChecksum", err)
			}
			parent := t.TempDir()
			dir := filepath.Join(parent, "in")
			os.Mkdir(dir, 0o700)
			if _, err := Extract(bytes.NewReader(b), dir, nil, nil); err == nil {
				t.Fatalf("Extract accepted it")
			}
			mustOnlyHold(t, parent, "in")
		})
	}
}

// mustOnlyHold fails unless parent holds only the folder name and files
// below it.
func mustOnlyHold(t *testing.T, parent, name string) {
	t.Helper()
	ents, _ := os.ReadDir(parent)
	for _, e := range ents {
		if e.Name() != name {
			t.Errorf("%s was written outside the target folder", e.Name())
		}
	}
	filepath.WalkDir(filepath.Join(parent, name), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !d.Type().IsRegular() {
			t.Errorf("%s is not a regular file", p)
		}
		return nil
	})
}

func TestExtractAccept(t *testing.T) {
	b := mustBackup(t)
	dir := t.TempDir()
	_, err := Extract(bytes.NewReader(b), dir, func(name string) bool { return !strings.HasPrefix(name, "audit/") }, nil)
	if !errors.Is(err, ErrFormat) {
		t.Errorf("Extract with a name refused = %v, want ErrFormat", err)
	}
}

var nameCases = []struct {
	name string
	ok   bool
}{
	{"bulwark.db", true},
	{"audit/tenants/tn_1.log.checkpoints", true},
	{"", false},
	{"..", false},
	{"a/..", false},
	{"a//b", false},
	{"/a", false},
	{"a/", false},
	{".hidden", false},
	{"a b", false},
	{"a\x00b", false},
	{ManifestName, false},
	{strings.Repeat("a", 201), false},
}

func TestValidName(t *testing.T) {
	for _, c := range nameCases {
		if got := ValidName(c.name); got != c.ok {
			t.Errorf("ValidName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}

// TestExtractCheckFirst: Extract's check sees the manifest with its seal
// before any entry is written, and its refusal leaves the folder empty.
func TestExtractCheckFirst(t *testing.T) {
	b := mustBackup(t)
	dir := filepath.Join(t.TempDir(), "out")
	os.Mkdir(dir, 0o700)
	refused := errors.New("not our seal")
	var seen Manifest
	_, err := Extract(bytes.NewReader(b), dir, nil, func(m Manifest) error {
		seen = m
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Extract: %v, want the check's error", err)
	}
	if want, _ := testSeal(seen.Sum); !bytes.Equal(seen.Seal, want) || len(seen.Entries) != len(testFiles) {
		t.Errorf("check saw %+v", seen)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused backup left %d files", len(ents))
	}
}
