package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawHeader is a USTAR header block made by hand, for what tar.Writer
// will not write (a PAX header with GNU sparse records).
func rawHeader(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000600\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typ
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func pad(b []byte) []byte {
	if n := len(b) % 512; n != 0 {
		b = append(b, make([]byte, 512-n)...)
	}
	return b
}

func paxRecord(k, v string) string {
	r := " " + k + "=" + v + "\n"
	n := len(r)
	for {
		s := fmt.Sprintf("%d%s", n, r)
		if len(s) == n {
			return s
		}
		n = len(s)
	}
}

// sparseBomb is a backup whose one entry is a PAX (1.0) sparse file: a
// few blocks in the archive that the tar reader expands to realSize
// bytes of zeros. The manifest gives the expanded size and its true
// SHA-256, so only the refusal of sparse entries stops it.
func sparseBomb(t testing.TB, realSize int64) []byte {
	t.Helper()
	sum := sha256.New()
	zero := make([]byte, 1<<16)
	for n := realSize; n > 0; n -= int64(len(zero)) {
		sum.Write(zero[:min(n, int64(len(zero)))])
	}
	e := Entry{Name: "bulwark.db", Size: realSize, SHA256: hex.EncodeToString(sum.Sum(nil))}
	m := Manifest{Format: Format, Version: Version, Entries: []Entry{e}}
	body, _ := json.Marshal(m)
	msum := sha256.Sum256(body)
	line := hex.EncodeToString(msum[:]) + "\n"
	seal, _ := testSeal(msum)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name    string
		content []byte
	}{{ManifestName, body}, {SumName, []byte(line)}, {SealName, seal}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: int64(len(f.content)), Mode: 0o600})
		tw.Write(f.content)
	}
	tw.Flush()
	pax := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", e.Name) + paxRecord("GNU.sparse.realsize", fmt.Sprint(realSize))
	buf.Write(rawHeader("PaxHeaders/bulwark.db", tar.TypeXHeader, int64(len(pax))))
	buf.Write(pad([]byte(pax)))
	// One data fragment of 0 bytes at the end: the rest is a hole.
	sparseMap := pad([]byte(fmt.Sprintf("1\n%d\n0\n", realSize)))
	buf.Write(rawHeader("GNUSparseFile.0/bulwark.db", tar.TypeReg, int64(len(sparseMap))))
	buf.Write(sparseMap)
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

// TestSparseBomb: a sparse entry (a tar bomb: a few KiB that expand to
// any size of zeros) is refused before its content is read, so neither
// verify nor restore writes or hashes what the archive does not hold.
func TestSparseBomb(t *testing.T) {
	const size = 4 << 20
	b := sparseBomb(t, size)
	if len(b) > 8<<10 {
		t.Fatalf("the bomb is %d bytes", len(b))
	}
	_, err := Read(bytes.NewReader(b), nil)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("Read of a sparse entry: %v, want a refusal naming it", err)
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "in")
	os.Mkdir(dir, 0o700)
	if _, err := Extract(bytes.NewReader(b), dir, nil, nil); err == nil {
		t.Fatal("Extract accepted a sparse entry")
	}
	if fi, err := os.Stat(filepath.Join(dir, "bulwark.db")); err == nil {
		t.Errorf("Extract wrote %d bytes of a sparse entry", fi.Size())
	}
}
