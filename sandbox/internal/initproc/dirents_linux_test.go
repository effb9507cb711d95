package initproc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Dirents lists every entry of a folder with its type and inode, long
// names and many entries (more than one getdents call) included.
func TestDirents(t *testing.T) {
	dir := t.TempDir()
	want := map[string]uint8{"sub": unix.DT_DIR, "link": unix.DT_LNK}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		name := strings.Repeat("f", 1+i%200) + "-" + string(rune('a'+i%26)) + "-" + strconv.Itoa(i)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = unix.DT_REG
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	got := map[string]uint8{}
	inos := map[string]uint64{}
	if err := Dirents(fd, func(name []byte, typ uint8, ino uint64) {
		got[string(name)] = typ
		inos[string(name)] = ino
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["."]; !ok {
		t.Error(`"." not listed`)
	}
	for name, typ := range want {
		if g, ok := got[name]; !ok || (g != typ && g != unix.DT_UNKNOWN) {
			t.Fatalf("%s: type %d, listed %v; want %d", name, g, ok, typ)
		}
	}
	if len(got) != len(want)+2 {
		t.Errorf("%d entries, want %d and . and ..", len(got), len(want))
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "sub"), &st); err != nil || st.Ino != inos["sub"] {
		t.Errorf("sub's inode %d, stat says %d (%v)", inos["sub"], st.Ino, err)
	}
}
