package initstamp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	want := "sources " + hex.EncodeToString(h.Sum(nil)) + "\ngo go1.99\ngoarch amd64\nbuild " + fmt.Sprintf("%q", BuildFlags) + "\n"
	got, err := Of(fsys, []string{"p"}, "go1.99", "amd64")
	if err != nil || got != want {
		t.Errorf("Of = %q, %v; want %q", got, err, want)
	}
}

// The init is also built from the folders after the first (its prefault
// package, with an assembly file): a change to any of their files makes
// another stamp, and their files are named by path, so that a file moved
// from one folder to another does too.
func TestOfMoreFolders(t *testing.T) {
	fsys := fstest.MapFS{
		"p/a.go":      {Data: []byte("package p\n")},
		"q/b.go":      {Data: []byte("package q\n")},
		"q/b_amd64.s": {Data: []byte("TEXT ·b(SB),0,$0\n")},
		"q/b_test.go": {Data: []byte("package q // not counted\n")},
	}
	h := sha256.New()
	for _, f := range []string{"p/a.go", "q/b.go", "q/b_amd64.s"} {
		b := fsys[f].Data
		name := f
		if strings.HasPrefix(f, "p/") {
			name = strings.TrimPrefix(f, "p/")
		}
		h.Write([]byte(name + " " + strconv.Itoa(len(b)) + "\n"))
		h.Write(b)
	}
	want := "sources " + hex.EncodeToString(h.Sum(nil)) + "\ngo go1.99\ngoarch amd64\nbuild " + fmt.Sprintf("%q", BuildFlags) + "\n"
	got, err := Of(fsys, []string{"p", "q"}, "go1.99", "amd64")
	if err != nil || got != want {
		t.Fatalf("Of = %q, %v; want %q", got, err, want)
	}
	for _, f := range []string{"q/b.go", "q/b_amd64.s"} {
		changed := fstest.MapFS{}
		for k, v := range fsys {
			changed[k] = v
		}
		changed[f] = &fstest.MapFile{Data: append([]byte("// changed\n"), fsys[f].Data...)}
		if other, _ := Of(changed, []string{"p", "q"}, "go1.99", "amd64"); other == got {
			t.Errorf("a change to %s left the stamp as it was", f)
		}
	}
	if _, err := Of(fstest.MapFS{"p/a.go": fsys["p/a.go"]}, []string{"p", "q"}, "go1.99", "amd64"); err == nil {
		t.Error("Of of a folder without Go files did not fail")
	}
}

// The build flags are in the stamp: an init built with another prefault
// heap (or any other flag) is stale to a binary that would build it
// otherwise, and is cached under another name.
func TestOfBuildFlags(t *testing.T) {
	fsys := fstest.MapFS{"p/a.go": {Data: []byte("package p\n")}}
	before, err := Of(fsys, []string{"p"}, "go1.99", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	saved := BuildFlags
	t.Cleanup(func() { BuildFlags = saved })
	BuildFlags = []string{"-trimpath", strings.Replace(saved[1], "heapKiB=512", "heapKiB=1024", 1)}
	if BuildFlags[1] == saved[1] {
		t.Fatalf("the flags %q no longer set the heap: update this test", saved)
	}
	if after, _ := Of(fsys, []string{"p"}, "go1.99", "amd64"); after == before {
		t.Errorf("another prefault heap left the stamp as it was: %q", after)
	}
}
