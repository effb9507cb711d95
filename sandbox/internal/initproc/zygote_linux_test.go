package initproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// testZygote is a zygote run from this test binary (whose init function
// serves as one when argv[0] says so), with this end of its socket.
type testZygote struct {
	cmd  *exec.Cmd
	ctrl int
}

// startTestZygote starts a zygote; the test stops it.
func startTestZygote(t testing.TB) *testZygote {
	t.Helper()
	z, err := newTestZygote()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.stop)
	return z
}

// newTestZygote starts a zygote for the caller to stop.
func newTestZygote() (*testZygote, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	child := os.NewFile(uintptr(pair[1]), "zygote")
	defer child.Close()
	c := &exec.Cmd{Path: os.Args[0], Args: []string{ZygoteArg}, Env: []string{}, ExtraFiles: []*os.File{child}}
	if err := c.Start(); err != nil {
		unix.Close(pair[0])
		return nil, err
	}
	// A zygote that hangs fails the test rather than stalling it.
	unix.SetsockoptTimeval(pair[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 20})
	return &testZygote{cmd: c, ctrl: pair[0]}, nil
}

func (z *testZygote) stop() {
	if z.ctrl >= 0 {
		unix.Close(z.ctrl)
		z.ctrl = -1
		z.cmd.Wait()
	}
}

// ask sends one packet with fds and reads the zygote's answer: ok false
// when the zygote closed its end instead (it ends on a packet it cannot
// read). An answer that carries a pid or a descriptor fails the test:
// the zygote forked.
func (z *testZygote) ask(t testing.TB, packet []byte, fds ...int) (rep Spawned, ok bool) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(z.ctrl, packet, oob, nil, 0); err != nil {
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			return rep, false
		}
		t.Fatalf("send %q: %v", packet, err)
	}
	got, err := Recv(z.ctrl, &rep)
	CloseAll(got)
	if errors.Is(err, os.ErrClosed) || errors.Is(err, unix.ECONNRESET) {
		return rep, false
	}
	if err != nil {
		t.Fatalf("the zygote's answer to %q: %v", packet, err)
	}
	if rep.Pid != 0 || len(got) != 0 || rep.Err == "" {
		t.Fatalf("the zygote answered %q (%d descriptors) with %+v, %d descriptors: it forked", packet, len(fds), rep, len(got))
	}
	return rep, true
}

// encoded is v as the host sends it.
func encoded(t testing.TB, m Message) []byte {
	t.Helper()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(pair[:])
	if err := Send(pair[0], m); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxMsg)
	n, err := unix.Read(pair[1], buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// children lists the processes whose parent is this one, but for the
// zygotes zs: the zygote forks its inits with CLONE_PARENT, so an init
// would be one.
func children(t testing.TB, zs ...*testZygote) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+2:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) && !slices.ContainsFunc(zs, func(z *testZygote) bool { return z.cmd.Process.Pid == pid }) {
			out = append(out, pid)
		}
	}
	return out
}

// openFdsOf counts the descriptors of process pid.
func openFdsOf(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// The zygote forks only for a well-formed request with exactly the
// descriptors it announces. Anything else is refused with a reason (and
// the descriptors that came with it closed) or ends the zygote; it never
// yields an init. Only the host holds the zygote's socket: this is its
// defence against a host bug, not against a sandbox.
func TestZygoteRefusesMalformedRequests(t *testing.T) {
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	spawn := encoded(t, &Spawn{InitUID: 1 << 30, CmdUID: 1<<30 + 1})
	withCgroup := encoded(t, &Spawn{InitUID: 1 << 30, CmdUID: 1<<30 + 1, CgroupFD: true})
	refused := []struct {
		what   string
		packet []byte
		fds    []int
	}{
		{"no descriptor", spawn, nil},
		{"two descriptors, no group announced", spawn, []int{null, null}},
		{"a group announced, one descriptor", withCgroup, []int{null}},
		{"a group announced, three descriptors", withCgroup, []int{null, null, null}},
	}
	z := startTestZygote(t)
	zs := []*testZygote{z}
	before := children(t, zs...)
	z.ask(t, spawn) // the zygote is running (its runtime has opened what it opens)
	fds := openFdsOf(t, z.cmd.Process.Pid)
	for _, r := range refused {
		rep, ok := z.ask(t, r.packet, r.fds...)
		if !ok {
			t.Fatalf("%s: the zygote ended instead of refusing", r.what)
		}
		if !strings.Contains(rep.Err, "descriptors") {
			t.Errorf("%s: refused with %q, want the descriptors named", r.what, rep.Err)
		}
	}
	if n := openFdsOf(t, z.cmd.Process.Pid); n != fds {
		t.Errorf("the zygote holds %d descriptors after the refusals, %d before", n, fds)
	}
	ended := []struct {
		what   string
		packet []byte
	}{
		{"not a request", []byte("\x00\xffgarbage")},
		{"larger than a request can be", bytes.Repeat([]byte("x"), 4097)},
	}
	for _, e := range ended {
		z := startTestZygote(t)
		zs = append(zs, z)
		if rep, ok := z.ask(t, e.packet, null); ok {
			t.Logf("%s: refused with %q", e.what, rep.Err)
		}
	}
	if after := children(t, zs...); len(after) > len(before) {
		t.Errorf("the zygotes forked: children of this process %v, %v before", after, before)
	}
}

// FuzzZygoteRequest sends the zygote any packet, with no descriptor: it
// answers with a refusal or ends, and never forks.
func FuzzZygoteRequest(f *testing.F) {
	f.Add(encoded(f, &Spawn{InitUID: 1 << 30, CmdUID: 1<<30 + 1}))
	f.Add(encoded(f, &Spawn{InitUID: 0, CmdUID: 0, CgroupFD: true}))
	f.Add([]byte{})
	f.Add([]byte("{}"))
	f.Add([]byte{5, 0xff})
	var z *testZygote
	f.Cleanup(func() {
		if z != nil {
			z.stop()
		}
	})
	f.Fuzz(func(t *testing.T, packet []byte) {
		if z == nil {
			var err error
			if z, err = newTestZygote(); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := z.ask(t, packet); !ok {
			z.stop()
			z = nil
		}
	})
}
