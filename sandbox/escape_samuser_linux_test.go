package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Not root, the command runs as the Bulwark user itself, who owns the data
// folder: only the mount namespace and Landlock keep it out. A folder of
// the host's user beside the workspace (as the data folder is) can be
// neither written nor read, by its path, through the init's /proc entries,
// or through a symlink the command leaves in the workspace.
func TestEscapeFolderOfTheHostsUser(t *testing.T) {
	requireSandbox(t)
	parent := t.TempDir()
	data := filepath.Join(parent, "data")
	ws := filepath.Join(parent, "ws")
	for _, d := range []string{data, ws} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(data, "store.db")
	if err := os.WriteFile(secret, []byte("data-folder-canary"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := py(t, Spec{Workspace: ws}, fmt.Sprintf(`
import os
data, secret = %q, %q
for p in [secret, "/workspace/../data/store.db", "/proc/1/cwd/store.db", "/proc/1/root" + secret, "/proc/self/root" + secret]:
    try:
        open(p, "rb").read(); print("ESCAPED read", p)
    except OSError as e:
        print("BLOCKED read", p, e.strerror)
    try:
        with open(p, "w") as f: f.write("x")
        print("ESCAPED write", p)
    except OSError as e:
        print("BLOCKED write", p, e.strerror)
try:
    os.mkdir(data + "/new"); print("ESCAPED mkdir")
except OSError as e:
    print("BLOCKED mkdir", e.strerror)
os.symlink(data, "/workspace/to-data")
try:
    with open("/workspace/to-data/store.db", "w") as f: f.write("x")
    print("ESCAPED write through a symlink")
except OSError as e:
    print("BLOCKED symlink", e.strerror)
`, data, secret))
	assertContained(t, res, 12)
	if b, err := os.ReadFile(secret); err != nil || string(b) != "data-folder-canary" {
		t.Errorf("the host folder's file is now %q (%v)", b, err)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 1 {
		t.Errorf("the host folder holds %d entries, want its one file", len(ents))
	}
}
