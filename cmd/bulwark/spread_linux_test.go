package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark/workspace"
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

// topDirFlag reports whether folder dir carries FS_TOPDIR_FL, and whether its
// file system has inode flags at all.
func topDirFlag(t *testing.T, dir string) (on, flags bool) {
	t.Helper()
	on, flags, err := workspace.IsSpread(dir)
	if err != nil {
		t.Fatal(err)
	}
	return on, flags
}
