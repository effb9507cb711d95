package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// run's own workspaces are made in a folder the file system spreads
// (workspace.Spread), as the runner's tenant folders are, where it can
// (ext4, the machines' root file system); the task's own workspace is not.
func TestRunWorkspacesSpread(t *testing.T) {
	cmd := bulwarkCmd(t, nil, "run", "--model", "replay:"+example(t), "task")
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	dir := filepath.Join(cmd.Dir, "bulwark-data", "workspaces")
	on, ok := topDirFlag(t, dir)
	if !ok {
		t.Skipf("the file system of %s has no inode flags", dir)
	}
	if !on {
		t.Errorf("run's workspaces folder %s is not spread", dir)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil || len(tasks) != 1 {
		t.Fatalf("workspaces = %v, %v; want the task's", tasks, err)
	}
	if on, _ := topDirFlag(t, filepath.Join(dir, tasks[0].Name())); on {
		t.Errorf("the task's own workspace is spread: only the folder of workspaces should be")
	}
}

// topDirFlag reports whether folder dir carries FS_TOPDIR_FL, and whether
// its file system has inode flags at all.
func topDirFlag(t *testing.T, dir string) (on, flags bool) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		return false, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return v&0x00020000 != 0, true
}
