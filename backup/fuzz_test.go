package backup

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds the reader arbitrary files: it never panics, it hands
// out only valid names, and extracting never writes outside the target
// folder nor anything but regular files and folders. (Memory is bounded
// by construction: the manifest is read whole up to 1 MiB, content is
// streamed.)
func FuzzRead(f *testing.F) {
	f.Add(mustBackup(f))
	for _, c := range hostileCases {
		f.Add(hostile(f, c.listed, c.ents))
	}
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		Read(bytes.NewReader(data), func(e Entry, c io.Reader) error {
			if !ValidName(e.Name) {
				t.Fatalf("Read handed out the name %q", e.Name)
			}
			_, err := io.Copy(io.Discard, c)
			return err
		})
		parent, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		dir := filepath.Join(parent, "in")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		Extract(bytes.NewReader(data), dir, nil, nil)
		mustOnlyHold(t, parent, "in")
	})
}
