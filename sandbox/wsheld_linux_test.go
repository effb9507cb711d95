package sandbox

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// heldUsage counts a file held open with no name, once however often it
// is held, and not a file that still has one, nor one of another file
// system.
func TestHeldUsageCountsFilesWithoutAName(t *testing.T) {
	dir := t.TempDir()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	before, err := heldUsageOf(os.Getpid(), st.Dev, true)
	if err != nil {
		t.Fatal(err)
	}
	named, err := os.Create(filepath.Join(dir, "named"))
	if err != nil {
		t.Fatal(err)
	}
	defer named.Close()
	if err := unix.Fallocate(int(named.Fd()), 0, 0, 1<<20); err != nil {
		t.Skipf("fallocate: %v", err)
	}
	gone, err := os.Create(filepath.Join(dir, "gone"))
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	if err := unix.Fallocate(int(gone.Fd()), 0, 0, 2<<20); err != nil {
		t.Fatal(err)
	}
	again, err := os.Open(filepath.Join(dir, "gone"))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := os.Remove(filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	got, err := heldUsageOf(os.Getpid(), st.Dev, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.files-before.files != 1 || got.bytes-before.bytes < 2<<20 || got.bytes-before.bytes > 3<<20 {
		t.Errorf("heldUsage = %+v (before %+v), want one more file of 2 MiB", got, before)
	}
	if other, err := heldUsageOf(os.Getpid(), st.Dev+1, true); err != nil || other.files != 0 {
		t.Errorf("heldUsage of another file system = %+v, %v; want nothing", other, err)
	}
	if none, err := heldUsageOf(0, st.Dev, true); err != nil || none != (wsUsage{}) {
		t.Errorf("heldUsage of no init = %+v, %v", none, err)
	}
}
