package audit_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/audit/audittest"
)

// fileStorage is a FileDir's folder, for the backend scenarios.
type fileStorage struct{ dir string }

func (f fileStorage) Backend(*testing.T) audit.Backend { return audit.FileDir{Path: f.dir} }

func (f fileStorage) path(t *testing.T, chain string, checkpoints bool) string {
	t.Helper()
	p, err := audit.FileDir{Path: f.dir}.LogPath(chain)
	if err != nil {
		t.Fatal(err)
	}
	if checkpoints {
		p += ".checkpoints"
	}
	return p
}

func (f fileStorage) Lines(t *testing.T, chain string, checkpoints bool) [][]byte {
	t.Helper()
	data, err := os.ReadFile(f.path(t, chain, checkpoints))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func (f fileStorage) SetLines(t *testing.T, chain string, checkpoints bool, lines [][]byte) {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(f.path(t, chain, checkpoints), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f fileStorage) Remove(t *testing.T, chain string) {
	p := f.path(t, chain, false)
	for _, ext := range []string{"", ".checkpoints", ".idx"} {
		os.Remove(p + ext)
	}
}

// TestFileDirBackend runs the scenarios every backend must pass on
// FileDir.
func TestFileDirBackend(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audittest.Storage { return fileStorage{t.TempDir()} })
}
