package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

var uidRangePasswd = `root:x:0:0:root:/root:/bin/bash
alice:x:1000:1000::/home/alice:/bin/sh
below:x:1610612735:1::/:/bin/sh
first:x:1610612736:1::/:/bin/sh
last:x:1612709887:1::/:/bin/sh
above:x:1612709888:1::/:/bin/sh
broken:x
`

// A user of the password file whose uid is a sandbox's is warned of, by
// name; those around the range are not.
func TestUIDRangeWarningsPasswd(t *testing.T) {
	w := uidRangeWarnings(strings.NewReader(uidRangePasswd), t.TempDir())
	if len(w) != 1 {
		t.Fatalf("uidRangeWarnings = %q, want one warning", w)
	}
	for _, want := range []string{"user first (uid 1610612736)", "user last (uid 1612709887)"} {
		if !strings.Contains(w[0], want) {
			t.Errorf("uidRangeWarnings = %q, lacks %q", w[0], want)
		}
	}
	for _, not := range []string{"alice", "below", "above", "root"} {
		if strings.Contains(w[0], "user "+not) {
			t.Errorf("uidRangeWarnings = %q, names %s, outside the range", w[0], not)
		}
	}
	if w := uidRangeWarnings(strings.NewReader("alice:x:1000:1000::/:/bin/sh\n"), t.TempDir()); w != nil {
		t.Errorf("uidRangeWarnings with no user in the range = %q, want none", w)
	}
}

// A process of the host's user namespace that runs as a sandbox's uid
// (here one of the last slot, which no test uses) is warned of: it would
// have every capability in a sandbox whose init has that uid.
func TestUIDRangeClashesProcess(t *testing.T) {
	requireRootSandbox(t)
	uid := uint32(uidBase + 2*uidSlots - 1)
	// Not this process's child, which the check passes over (its zygote
	// and inits): a shell that starts it and ends.
	c := exec.Command("/bin/sh", "-c", `"$@" >/dev/null 2>&1 & echo $!`, "sh", "/bin/sleep", "30")
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, NoSetGroups: false}}
	out, err := c.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		var p int
		fmt.Sscan(pid, &p)
		if p > 0 {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	w := UIDRangeClashes()
	if len(w) == 0 || !strings.Contains(strings.Join(w, "\n"), fmt.Sprintf("process %s (uid %d)", pid, uid)) {
		t.Errorf("UIDRangeClashes with process %s of uid %d = %q, want it named", pid, uid, w)
	}
	// Sandboxes' own processes, in user namespaces of their own, are not.
	if w := uidRangeWarnings(nil, "/proc"); strings.Contains(strings.Join(w, "\n"), fmt.Sprintf("process %d ", os.Getpid())) {
		t.Errorf("uidRangeWarnings names this process: %q", w)
	}
}
