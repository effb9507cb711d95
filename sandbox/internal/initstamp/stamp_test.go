package initstamp

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// The stamp is the sha256 of each Go file (tests left out), sorted by
// name, as "name length\n" then its bytes: the generator wrote the stamps
// of the inits embedded so far this way, and a process that computed it
// otherwise would take each of them for stale. One file is larger than
// the buffer Of reads through.
func TestOfFormat(t *testing.T) {
	big := strings.Repeat("// a long comment line of the init's sources\n", 1000)
	fsys := fstest.MapFS{
		"p/b.go":      {Data: []byte("package p\n")},
		"p/a.go":      {Data: []byte("package p\n" + big)},
		"p/a_test.go": {Data: []byte("package p // not counted\n")},
		"p/notes.txt": {Data: []byte("not Go\n")},
	}
	h := sha256.New()
	for _, f := range []string{"a.go", "b.go"} {
		b := fsys["p/"+f].Data
		h.Write([]byte(f + " " + strconv.Itoa(len(b)) + "\n"))
		h.Write(b)
	}
	want := "sources " + hex.EncodeToString(h.Sum(nil)) + "\ngo go1.99\ngoarch amd64\n"
	got, err := Of(fsys, "p", "go1.99", "amd64")
	if err != nil || got != want {
		t.Errorf("Of = %q, %v; want %q", got, err, want)
	}
}
