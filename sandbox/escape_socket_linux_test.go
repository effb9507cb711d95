package sandbox

import (
	"strings"
	"testing"
)

// seccomp: socket and socketpair accept AF_UNIX, AF_INET, AF_INET6 and
// NETLINK_ROUTE only. AF_VSOCK, which no network namespace confines (on a
// VM it reaches the hypervisor's host), AF_PACKET, AF_KEY, AF_ALG,
// AF_BLUETOOTH, AF_XDP and every other family fail with EAFNOSUPPORT
// whatever the socket type, as do netlink's other protocols. Without the
// filter some of these succeed (AF_ALG, NETLINK_GENERIC, ...) and the rest
// fail with other errors (ESOCKTNOSUPPORT, EPROTONOSUPPORT), so the test
// tells the filter's answer apart.
func TestEscapeSocketFamilies(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{}, `
import errno, socket
allowed = {socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK}
types = (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET, socket.SOCK_RAW)
refused = (errno.EAFNOSUPPORT, errno.EPERM)
for family in range(0, 50):
    if family in allowed:
        continue
    ok = True
    for kind in types:
        try:
            socket.socket(family, kind).close()
            print("ESCAPED socket family", family, "type", kind)
            ok = False
        except OSError as e:
            if e.errno not in refused:
                print("ESCAPED socket family", family, "type", kind, "reached the kernel:", e.strerror)
                ok = False
    try:
        a, b = socket.socketpair(family, socket.SOCK_STREAM)
        print("ESCAPED socketpair family", family)
        ok = False
    except OSError as e:
        if e.errno not in refused:
            print("ESCAPED socketpair family", family, "reached the kernel:", e.strerror)
            ok = False
    if ok:
        print("BLOCKED family", family)
for proto in range(1, 32):
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto).close()
        print("ESCAPED netlink protocol", proto)
    except OSError as e:
        print(("BLOCKED" if e.errno in refused else "ESCAPED reached the kernel:"), "netlink protocol", proto, e.strerror)
# What programs need still works: local, IP and route sockets.
for family, kind, proto in ((socket.AF_UNIX, socket.SOCK_STREAM, 0), (socket.AF_INET, socket.SOCK_STREAM, 0),
                            (socket.AF_INET6, socket.SOCK_DGRAM, 0), (socket.AF_NETLINK, socket.SOCK_RAW, 0)):
    socket.socket(family, kind, proto).close()
    print("control ok", family)
print("control interfaces", [n for _, n in socket.if_nameindex()])
`)
	// 50 families, less the 4 allowed ones, and 31 netlink protocols.
	assertContained(t, res, 46+31)
	out := string(res.Stdout)
	if strings.Count(out, "control ok") != 4 || !strings.Contains(out, "'lo'") {
		t.Errorf("the allowed sockets do not work:\n%s\n%s", out, res.Stderr)
	}
}

// seccomp: personality takes Docker's arguments only; turning address
// space randomisation off, or READ_IMPLIES_EXEC on, fails.
func TestEscapePersonality(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{}, `
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
for flag, label in ((0x0040000, "ADDR_NO_RANDOMIZE"), (0x0400000, "READ_IMPLIES_EXEC"), (0x0200000, "MMAP_PAGE_ZERO")):
    ctypes.set_errno(0)
    r = libc.personality(flag)
    e = ctypes.get_errno()
    print(("BLOCKED" if r == -1 and e == errno.EPERM else "ESCAPED"), label, r, errno.errorcode.get(e, e))
r = libc.personality(0xffffffff)
print("control query", r)
`)
	assertContained(t, res, 3)
	if !strings.Contains(string(res.Stdout), "control query 0") {
		t.Errorf("personality query: %s %s", res.Stdout, res.Stderr)
	}
}
