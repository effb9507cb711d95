package workspace

import "testing"

// Spread marks the folder as a top of folder trees, once and again
// (the second call changes nothing), where the file system has the
// flag (ext4, as the machines' root file system); elsewhere the test
// cannot tell and skips.
func TestSpreadMarksTheFolder(t *testing.T) {
	dir := t.TempDir()
	if on, flags, err := IsSpread(dir); err != nil || on {
		t.Fatalf("a new folder is marked %v, %v", on, err)
	} else if !flags {
		t.Skipf("the file system of %s has no inode flags", dir)
	}
	for range 2 {
		if err := Spread(dir); err != nil {
			t.Fatal(err)
		}
		if on, _, err := IsSpread(dir); err != nil || !on {
			t.Fatalf("after Spread the folder is marked %v, %v", on, err)
		}
	}
}
