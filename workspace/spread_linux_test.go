package workspace

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// Spread marks the folder as a top of folder trees, once and again
// (the second call changes nothing), where the file system has the
// flag (ext4, as the machines' root file system); elsewhere the test
// cannot tell and skips.
func TestSpreadMarksTheFolder(t *testing.T) {
	dir := t.TempDir()
	if on, err := spreadOf(dir); errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		t.Skipf("the file system of %s has no inode flags: %v", dir, err)
	} else if err != nil || on {
		t.Fatalf("a new folder is marked %v, %v", on, err)
	}
	for range 2 {
		if err := Spread(dir); err != nil {
			t.Fatal(err)
		}
		if on, err := spreadOf(dir); err != nil || !on {
			t.Fatalf("after Spread the folder is marked %v, %v", on, err)
		}
	}
}
