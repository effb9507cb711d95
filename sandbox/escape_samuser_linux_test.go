package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// Two sandboxes at once (not root, their commands share the Bulwark
// user's uid): neither can see or signal the other's processes, by pid,
// by kill(-1), or through /proc.
func TestEscapeConcurrentSandbox(t *testing.T) {
	requireSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	victim, err := Start(ctx, Spec{AllowExec: []string{"bash", "sleep"}, Timeout: time.Minute}, []string{"bash", "-c", "sleep 60 & sleep 60 & echo up; wait"})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Kill()
	if line, err := bufio.NewReader(victim.Stdout()).ReadString('\n'); line != "up\n" {
		t.Fatalf("set-up: victim said %q, %v", line, err)
	}
	// Run, not py: py checks no sandbox process is left, and the
	// victim's are, by design.
	res, err := Run(ctx, Spec{AllowExec: []string{"python3"}, Stdin: strings.NewReader(`
import os, signal
for p in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        if b"sleep" in open("/proc/%s/cmdline" % p, "rb").read():
            print("ESCAPED sees the other sandbox's process", p)
    except OSError:
        pass
print("BLOCKED nothing of the other seen")
try:
    os.kill(-1, signal.SIGKILL); print("BLOCKED kill(-1) reached only its own")
except OSError as e:
    print("BLOCKED kill(-1)", e.strerror)
for pid in range(2, 64):
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
print("BLOCKED tried pids 2-63")
`)}, []string{"python3", "-"})
	if err != nil {
		t.Fatal(err)
	}
	assertContained(t, res, 3)
	done := make(chan struct{})
	go func() { victim.Wait(); close(done) }()
	select {
	case <-done:
		t.Error("the other sandbox's command ended while the attacker ran")
	case <-time.After(300 * time.Millisecond):
	}
	victim.Kill()
	<-done
	assertNothingLeft(t)
}
