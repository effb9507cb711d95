package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The init closes what its caller left open and marks the rest
// close-on-exec before the command starts: a file and a socket that the
// calling process opened without O_CLOEXEC, the init's control socket and
// anything else past fd 2 are out of the command's reach.
func TestEscapeInheritedDescriptors(t *testing.T) {
	requireSandbox(t)
	secret := filepath.Join(t.TempDir(), "held-open.txt")
	if err := os.WriteFile(secret, []byte("fd-canary-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Opened the way careless code does: no O_CLOEXEC, no SOCK_CLOEXEC.
	file, err := syscall.Open(secret, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(file)
	sock, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(sock)
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])
	syscall.Write(pair[0], []byte("fd-canary-socket"))

	res := py(t, Spec{}, fmt.Sprintf(`
import os
held = {%d: "file", %d: "socket", %d: "socket pair", %d: "socket pair"}
found = []
for fd in range(3, 4096):
    try:
        os.fstat(fd)
    except OSError:
        continue
    found.append(fd)
    try:
        os.set_blocking(fd, False)
        data = os.read(fd, 64)
    except OSError as e:
        data = e.strerror
    print("ESCAPED fd", fd, held.get(fd, "left by the init"), os.readlink("/proc/self/fd/%%d" %% fd), data)
for fd, what in held.items():
    if fd not in found:
        print("BLOCKED", what, "fd", fd)
print("BLOCKED control socket fd 3" if 3 not in found else "ESCAPED control socket")
# The listing opens one descriptor of its own: 0, 1, 2 and that one.
names = sorted(int(n) for n in os.listdir("/proc/self/fd"))
print(("BLOCKED" if len(names) == 4 and names[:3] == [0, 1, 2] else "ESCAPED"), "listing", names)
`, file, sock, pair[0], pair[1]))
	assertContained(t, res, 6)
	for _, canary := range []string{"fd-canary-file", "fd-canary-socket"} {
		if strings.Contains(string(res.Stdout), canary) {
			t.Errorf("the command read a descriptor the caller held (%s): %s", canary, res.Stdout)
		}
	}
}
