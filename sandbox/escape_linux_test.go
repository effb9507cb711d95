package sandbox

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Each test below is one attack. Its comment names the protection that
// contains it.

// Mount namespace, the tmpfs root and the selected /etc: the host's files
// are not there to read.
func TestEscapeReadHostFiles(t *testing.T) {
	requireSandbox(t)
	secret := filepath.Join(t.TempDir(), "host-secret.txt")
	os.WriteFile(secret, []byte("host-secret-canary"), 0o644)
	res := py(t, Spec{}, fmt.Sprintf(`
for p in ["/etc/shadow", "/etc/gshadow", "/root/.bashrc", %q, "/proc/1/root/etc/shadow",
          "/proc/self/root/etc/shadow", "/proc/1/environ", "/proc/1/mem", "/proc/kcore"]:
    try:
        open(p, "rb").read(16)
        print("ESCAPED read", p)
    except OSError as e:
        print("BLOCKED", p, e.strerror)
`, secret))
	assertContained(t, res, 9)
	if strings.Contains(string(res.Stdout), "host-secret-canary") {
		t.Errorf("host file leaked: %s", res.Stdout)
	}
}

// Read-only binds, the read-only root and Landlock: nothing outside the
// workspace and /tmp can be written.
func TestEscapeWriteSystemFolders(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{}, `
import os
for p in ["/usr/evil", "/usr/bin/evil", "/etc/evil", "/evil", "/dev/evil", "/proc/evil", "/etc/passwd", "/proc/sys/kernel/hostname",
          "/proc/self/attr/current", "/proc/sysrq-trigger", "/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/pids.max"]:
    try:
        with open(p, "w") as f: f.write("x")
        print("ESCAPED write", p)
    except OSError as e:
        print("BLOCKED", p, e.strerror)
try:
    os.mkdir("/usr/lib/evil"); print("ESCAPED mkdir")
except OSError as e:
    print("BLOCKED mkdir", e.strerror)
for d in ("/tmp", "/workspace", "/dev/shm"):
    try:
        os.mknod(d + "/null2", 0o20666, os.makedev(1, 3)); print("ESCAPED mknod", d)
    except OSError as e:
        print("BLOCKED mknod", d, e.strerror)
`)
	assertContained(t, res, 16)
}

// Symlinks resolve inside the sandbox's own tree: a link the host or the
// command makes points at the sandbox's (absent) files, never the host's.
func TestEscapeSymlinks(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("host-secret-canary"), 0o644)
	os.Symlink(secret, filepath.Join(ws, "planted"))
	os.Symlink("/etc/shadow", filepath.Join(ws, "shadow"))
	res := py(t, Spec{Workspace: ws}, `
import os
os.symlink("/proc/1/root", "/workspace/initroot")
os.symlink("../../../../../../etc/shadow", "/workspace/dotdot")
for p in ["/workspace/planted", "/workspace/shadow", "/workspace/initroot/etc/shadow", "/workspace/dotdot"]:
    try:
        print("ESCAPED", p, open(p).read())
    except OSError as e:
        print("BLOCKED", p, e.strerror)
`)
	assertContained(t, res, 4)
	if strings.Contains(string(res.Stdout), "canary") {
		t.Errorf("host file leaked through a symlink: %s", res.Stdout)
	}
}

// The pid namespace: host processes are neither visible nor reachable.
func TestEscapeHostProcesses(t *testing.T) {
	requireSandbox(t)
	victim := exec.Command("sleep", "600")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { victim.Process.Kill(); victim.Wait() }()
	res := py(t, Spec{}, fmt.Sprintf(`
import os, signal
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("BLOCKED few processes" if len(pids) < 8 else "ESCAPED sees %%d processes" %% len(pids))
for p in pids:
    try:
        if b"sleep" in open("/proc/%%s/cmdline" %% p, "rb").read() or b".test" in open("/proc/%%s/cmdline" %% p, "rb").read():
            print("ESCAPED sees host process", p)
    except OSError:
        pass
for sig in (signal.SIGKILL, signal.SIGTERM):
    try:
        os.kill(%d, sig); print("ESCAPED kill")
    except OSError as e:
        print("BLOCKED kill", e.strerror)
try:
    os.kill(1, signal.SIGTERM); print("ESCAPED signalled the init")
except OSError as e:
    print("BLOCKED signal init", e.strerror)
`, victim.Process.Pid))
	assertContained(t, res, 4)
	if err := victim.Process.Signal(unix.Signal(0)); err != nil {
		t.Errorf("the host process died: %v", err)
	}
}

// The clean environment: no host variable, key or BULWARK_* setting
// reaches the command, not even through /proc.
func TestEscapeHostEnvironment(t *testing.T) {
	requireSandbox(t)
	t.Setenv("BULWARK_TEST_CANARY", "env-canary-1")
	t.Setenv("OPENAI_API_KEY", "sk-env-canary-2")
	res := mustRun(t, Spec{AllowExec: []string{"bash", "cat", "env"}}, "bash", "-c", "env; cat /proc/self/environ; cat /proc/1/environ; cat /proc/*/environ; true")
	for _, canary := range []string{"env-canary-1", "env-canary-2", "BULWARK_", "OPENAI"} {
		if strings.Contains(string(res.Stdout)+string(res.Stderr), canary) {
			t.Errorf("host environment leaked (%s): %s", canary, res.Stdout)
		}
	}
	got := strings.FieldsFunc(string(res.Stdout), func(r rune) bool { return r == '\n' || r == 0 })
	for _, kv := range got {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "LANG", k == "PWD", k == "SHLVL", k == "_":
		case slices.Contains(gitEnv, kv): // the sandbox's own, as given
		default:
			t.Errorf("unexpected variable %q in the sandbox", kv)
		}
	}
}

// The selected /etc leaves out /etc/environment: pam_env's system-wide
// variables (where hosts keep proxy credentials and API keys) are the
// host's environment, which no sandboxed program reads.
func TestEscapeHostEnvironmentFile(t *testing.T) {
	requireSandbox(t)
	if _, err := os.Stat("/etc/environment"); err != nil {
		t.Skip("the host has no /etc/environment")
	}
	res := mustRun(t, Spec{AllowExec: []string{"bash"}}, "bash", "-c",
		"if [ -e /etc/environment ]; then echo ESCAPED /etc/environment is there; else echo BLOCKED; fi")
	assertContained(t, res, 1)
}

// The TLS folders of /etc are bound for their certificates; the folders
// of private keys in them are not: an empty folder lies over each. Files
// and groups guard those keys on the host, and not root, the command runs
// as the host's user (with its groups when there are no subordinate ids),
// who may be the one they are kept for (bulwark serve --tls-key).
func TestEscapeHostPrivateKeys(t *testing.T) {
	requireSandbox(t)
	var dirs []string
	for _, d := range []string{"/etc/ssl/private", "/etc/pki/tls/private", "/etc/pki/CA/private"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		t.Skip("the host has no private key folder in /etc")
	}
	res := py(t, Spec{}, fmt.Sprintf(`
import os
for d in [%s]:
    try:
        names = os.listdir(d)
        print("BLOCKED" if names == [] else "ESCAPED", d, names)
    except FileNotFoundError:
        print("BLOCKED", d, "absent")
    except OSError as e:
        print("ESCAPED the host's folder is there:", d, e.strerror)
print("control certs", len(os.listdir("/etc/ssl/certs")) > 0 if os.path.isdir("/etc/ssl/certs") else "none")
`, pyStrings(dirs)))
	assertContained(t, res, len(dirs))
	if strings.Contains(string(res.Stdout), "control certs False") {
		t.Errorf("the certificates are gone: %s", res.Stdout)
	}
}

// Capabilities, no_new_privs, seccomp mode and the uid: the command runs
// as uid 1000, an unprivileged host uid, with nothing to gain.
func TestSandboxCredentials(t *testing.T) {
	requireSandbox(t)
	res := mustRun(t, Spec{AllowExec: []string{"cat"}}, "cat", "/proc/self/status", "/proc/self/uid_map")
	out := string(res.Stdout)
	for _, want := range []string{"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
		"CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2", "Uid:\t1000\t1000\t1000\t1000"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		// Not root, the command is the host's user (TestRootlessIDs).
		if f := strings.Fields(line); len(f) == 3 && f[0] == "1000" && (f[1] == "0" || f[1] == "1000") && rootless() == nil {
			t.Errorf("sandbox uid maps to a privileged or shared host uid: %q", line)
		}
	}
}

// seccomp: every denied system call fails with EPERM (clone3 with ENOSYS,
// so libc falls back to clone, whose namespace flags are denied too).
func TestEscapeDeniedSyscalls(t *testing.T) {
	requireSandbox(t)
	calls := map[string]uintptr{
		"ptrace": unix.SYS_PTRACE, "process_vm_readv": unix.SYS_PROCESS_VM_READV,
		"process_vm_writev": unix.SYS_PROCESS_VM_WRITEV, "keyctl": unix.SYS_KEYCTL,
		"add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY, "bpf": unix.SYS_BPF,
		"perf_event_open": unix.SYS_PERF_EVENT_OPEN, "userfaultfd": unix.SYS_USERFAULTFD,
		"io_uring_setup": unix.SYS_IO_URING_SETUP, "io_uring_enter": unix.SYS_IO_URING_ENTER,
		"io_uring_register": unix.SYS_IO_URING_REGISTER, "mount": unix.SYS_MOUNT,
		"umount2": unix.SYS_UMOUNT2, "pivot_root": unix.SYS_PIVOT_ROOT, "chroot": unix.SYS_CHROOT,
		"unshare": unix.SYS_UNSHARE, "setns": unix.SYS_SETNS,
		"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT, "name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT,
		"kexec_load": unix.SYS_KEXEC_LOAD, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD,
		"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE,
		"delete_module": unix.SYS_DELETE_MODULE, "reboot": unix.SYS_REBOOT, "swapon": unix.SYS_SWAPON,
		"swapoff": unix.SYS_SWAPOFF, "acct": unix.SYS_ACCT, "clock_settime": unix.SYS_CLOCK_SETTIME,
		"clock_adjtime": unix.SYS_CLOCK_ADJTIME, "settimeofday": unix.SYS_SETTIMEOFDAY,
		"fsopen": unix.SYS_FSOPEN, "open_tree": unix.SYS_OPEN_TREE, "move_mount": unix.SYS_MOVE_MOUNT,
		"adjtimex": unix.SYS_ADJTIMEX, "get_mempolicy": unix.SYS_GET_MEMPOLICY, "statmount": unix.SYS_STATMOUNT,
		"listmount": unix.SYS_LISTMOUNT, "sethostname": unix.SYS_SETHOSTNAME, "kcmp": unix.SYS_KCMP,
		"pidfd_getfd": unix.SYS_PIDFD_GETFD, "mount_setattr": unix.SYS_MOUNT_SETATTR,
	}
	var table strings.Builder
	for name, nr := range calls {
		fmt.Fprintf(&table, "    %q: %d,\n", name, nr)
	}
	// Arguments are chosen so that, without the filter, most calls would
	// succeed (ptrace TRACEME, keyctl, unshare of a user namespace) or fail
	// with another errno than EPERM.
	res := py(t, Spec{}, fmt.Sprintf(`
import ctypes, errno, os, fcntl, termios
libc = ctypes.CDLL(None, use_errno=True)
calls = {
%s}
args = {"ptrace": (0, 0, 0, 0), "keyctl": (0, -3, 0, 0), "unshare": (0x10000000,), "bpf": (0, 0, 0),
        "userfaultfd": (0,), "io_uring_setup": (1, 0), "setns": (0, 0), "name_to_handle_at": (-100, b"/", 0, 0, 0)}
ctypes.set_errno(0)
r = libc.syscall(%d, 0, 0)
e = ctypes.get_errno()
print(("BLOCKED" if r == -1 and e == errno.ENOSYS else "ESCAPED"), "clone3", r, errno.errorcode.get(e, e))
for flag, label in ((0x10000000, "CLONE_NEWUSER"), (0x20000, "CLONE_NEWNS"), (0x40000000, "CLONE_NEWNET"), (0x20000000, "CLONE_NEWPID")):
    ctypes.set_errno(0)
    r = libc.syscall(%d, flag | 17, 0, 0, 0, 0)
    if r == 0:
        os._exit(0)
    e = ctypes.get_errno()
    print(("BLOCKED" if r == -1 and e == errno.EPERM else "ESCAPED"), "clone", label, r, errno.errorcode.get(e, e))
for req, label in ((termios.TIOCSTI, "TIOCSTI"), (0x541C, "TIOCLINUX"), (termios.TIOCSTI | (1 << 32), "TIOCSTI high bits"), (0x5423, "TIOCSETD")):
    try:
        libc.ioctl.argtypes = None
        ctypes.set_errno(0)
        r = libc.syscall(16, 0, ctypes.c_ulong(req), ctypes.c_char_p(b"x"))
        e = ctypes.get_errno()
        print(("BLOCKED" if r == -1 and e == errno.EPERM else "ESCAPED"), label, r, errno.errorcode.get(e, e))
    except Exception as ex:
        print("ESCAPED", label, ex)
# ptrace(PTRACE_TRACEME) would succeed without the filter and leave this
# process stopped on its next signal: it goes last.
for name, nr in sorted(calls.items(), key=lambda kv: (kv[0] == "ptrace", kv[0])):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *args.get(name, (0, 0, 0, 0, 0)))
    e = ctypes.get_errno()
    print(("BLOCKED" if r == -1 and e == errno.EPERM else "ESCAPED"), name, r, errno.errorcode.get(e, e))
`, table.String(), unix.SYS_CLONE3, unix.SYS_CLONE))
	assertContained(t, res, len(calls)+1+4+4)
}

// The network namespace: nothing of the host's network, loopback services
// and abstract Unix sockets included, and no route out.
func TestEscapeNetwork(t *testing.T) {
	requireSandbox(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host-service-canary"))
			c.Close()
		}
	}()
	abstract := fmt.Sprintf("@bulwark-test-%d", os.Getpid())
	al, err := net.Listen("unix", abstract)
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	port := l.Addr().(*net.TCPAddr).Port
	res := py(t, Spec{}, fmt.Sprintf(`
import socket
for host, port in [("127.0.0.1", %d), ("127.0.0.1", 5432), ("127.0.0.1", 6379), ("169.254.169.254", 80),
                   ("1.1.1.1", 443), ("8.8.8.8", 53), ("10.0.0.1", 22)]:
    try:
        s = socket.create_connection((host, port), timeout=3)
        print("ESCAPED connected", host, port, s.recv(64))
    except OSError as e:
        print("BLOCKED", host, port, e)
try:
    socket.getaddrinfo("example.com", 443)
    print("ESCAPED resolved a name")
except OSError as e:
    print("BLOCKED dns", e)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0%s")
    print("ESCAPED abstract socket")
except OSError as e:
    print("BLOCKED abstract", e)
`, port, abstract[1:]))
	assertContained(t, res, 9)
}

// Landlock and the noexec mounts: a program off the allowlist does not run,
// however it is started.
func TestEscapeAllowlist(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "script.sh"), []byte("#!/bin/bash\ncat /etc/hostname && echo ESCAPED script\n"), 0o755)
	script := `
echo control-ok
cat /etc/hostname && echo ESCAPED by name || echo BLOCKED by name
/usr/bin/cat /etc/hostname && echo ESCAPED by path || echo BLOCKED by path
/bin/cat /etc/hostname && echo ESCAPED by bin path || echo BLOCKED by bin path
bash /workspace/script.sh || echo BLOCKED from a script
/workspace/script.sh || echo BLOCKED script exec
bash -c 'cat /etc/hostname' && echo ESCAPED bash -c || echo BLOCKED bash -c
/lib64/ld-linux-x86-64.so.2 /usr/bin/cat /etc/hostname && echo ESCAPED ld.so || echo BLOCKED ld.so
python3 - <<'EOF'
import os, shutil, stat, subprocess
def attempt(label, argv):
    # A program that starts at all has escaped, whatever its exit status;
    # through ld.so, only a mapping failure counts as blocked.
    try:
        r = subprocess.run(argv, capture_output=True)
        blocked = argv[0].startswith("/lib64/ld-") and r.returncode == 127 and b"failed to map" in r.stderr
        print("BLOCKED" if blocked else "ESCAPED", label, r.returncode, r.stderr[:80])
    except OSError as e:
        print("BLOCKED", label, e.strerror)
attempt("python execv", ["/usr/bin/cat", "/etc/hostname"])
for d in ("/workspace", "/tmp", "/dev/shm"):
    shutil.copy("/usr/bin/cat", d + "/mycat")
    os.chmod(d + "/mycat", 0o755)
    attempt("copy in " + d, [d + "/mycat", "/etc/hostname"])
    attempt("ld.so copy in " + d, ["/lib64/ld-linux-x86-64.so.2", d + "/mycat", "/etc/hostname"])
# A program outside the bin folders, on an executable mount: Landlock alone.
found = None
for root, dirs, files in os.walk("/usr/lib"):
    for f in files:
        p = os.path.join(root, f)
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 and not f.endswith(".so") and ".so." not in f and open(p, "rb").read(4) == b"\x7fELF":
                found = p
                break
        except OSError:
            pass
    if found:
        break
if found:
    attempt("lib program " + found, [found, "--version"])
else:
    print("BLOCKED no lib program to try")
EOF
`
	res := mustRun(t, Spec{Workspace: ws, AllowExec: []string{"bash", "python3"}}, "bash", "-c", script)
	if !strings.Contains(string(res.Stdout), "control-ok") {
		t.Fatalf("the allowed bash did not run: %s %s", res.Stdout, res.Stderr)
	}
	assertContained(t, res, 15)
}

// Namespaces again, from the inside: unshare and mount fail even where the
// program asks for them with the system's own tools.
func TestEscapeNestedNamespaces(t *testing.T) {
	requireSandbox(t)
	res := mustRun(t, Spec{AllowExec: []string{"bash", "unshare", "mount"}}, "bash", "-c",
		"unshare -Ur true && echo ESCAPED unshare || echo BLOCKED unshare; "+
			"mount -t tmpfs none /tmp && echo ESCAPED mount || echo BLOCKED mount")
	assertContained(t, res, 2)
}

// The deadline kills the whole tree, however busy.
func TestLimitTimeout(t *testing.T) {
	requireSandbox(t)
	res := mustRun(t, Spec{Timeout: time.Second, AllowExec: []string{"bash"}}, "bash", "-c", "while :; do :; done")
	if !res.TimedOut {
		t.Errorf("spin: TimedOut = false, exit %d", res.ExitCode)
	}
}

// The pids cgroup and RLIMIT_NPROC hold a fork bomb; nothing survives.
// Each copy stays a while, so the bomb reaches the limit however the
// scheduler runs it.
func TestLimitForkBomb(t *testing.T) {
	requireSandbox(t)
	res := mustRun(t, Spec{Pids: 64, Timeout: 3 * time.Second, AllowExec: []string{"bash", "sleep"}}, "bash", "-c", ":(){ :|:& sleep 1; };:; wait")
	if !res.hit("pids") {
		t.Errorf("fork bomb: LimitHit = %v, TimedOut = %v", res.LimitHit, res.TimedOut)
	}
}

// The memory cgroup, without swap, stops a memory bomb.
func TestLimitMemory(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{Memory: 96 << 20}, "a = bytearray(512 << 20)\nprint('ESCAPED allocated')")
	if !res.hit("memory") || res.ExitCode == 0 {
		t.Errorf("memory bomb: exit %d, LimitHit %v, stdout %s", res.ExitCode, res.LimitHit, res.Stdout)
	}
}

// The sized tmpfs caps /tmp (and /dev/shm).
func TestLimitTmpDisk(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{TmpSize: 8 << 20}, `
for p in ("/tmp/fill", "/dev/shm/fill"):
    try:
        with open(p, "wb") as f:
            for i in range(64):
                f.write(b"x" * (1 << 20))
        print("ESCAPED filled", p)
    except OSError as e:
        print("BLOCKED", p, e.strerror)
`)
	assertContained(t, res, 2)
}

// Output is capped per stream, with a marker.
func TestLimitOutputFlood(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{OutputLimit: 64 << 10}, "import sys\nfor i in range(4096): sys.stdout.write('y' * 1023 + '\\n')")
	if len(res.Stdout) > 64<<10+len(truncMarker) || !strings.HasSuffix(string(res.Stdout), truncMarker) || !res.hit("output") {
		t.Errorf("flood: %d bytes out, LimitHit %v", len(res.Stdout), res.LimitHit)
	}
}

// The pid namespace: a double-forked setsid daemon dies with the sandbox
// (mustRun checks that no sandbox process is left on the host).
func TestLimitDaemonDies(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{}, `
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
print("daemon started")
`)
	if !strings.Contains(string(res.Stdout), "daemon started") {
		t.Errorf("daemon: %s %s", res.Stdout, res.Stderr)
	}
}

// The host's shared memory, its abstract unix sockets (bound to the host's
// network namespace) and Bulwark's own files under /run are out of reach.
func TestEscapeHostIPC(t *testing.T) {
	requireSandbox(t)
	shm := fmt.Sprintf("/dev/shm/bulwark-test-%d", os.Getpid())
	if err := os.WriteFile(shm, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(shm)
	abstract := fmt.Sprintf("@bulwark-test-%d", os.Getpid())
	l, err := net.Listen("unix", abstract)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host"))
			c.Close()
		}
	}()
	res := py(t, Spec{}, fmt.Sprintf(`
import os, socket
print("ESCAPED shm" if os.path.exists(%q) else "BLOCKED shm")
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0" + %q); print("ESCAPED abstract socket", s.recv(4))
except OSError as e:
    print("BLOCKED abstract socket", e.strerror)
for p in ("/run/bulwark", "/var/run/docker.sock", "/run/docker.sock", "/tmp/.X11-unix"):
    print("ESCAPED sees" if os.path.exists(p) else "BLOCKED", p)
`, shm, abstract[1:]))
	assertContained(t, res, 6)
}

// A command runs with RLIMIT_RTPRIO and RLIMIT_NICE at 0 and cannot take
// a real-time policy or raise its priority, whatever limits the host
// had. (This host's are 0 already; the initproc test checks the pinning.)
func TestSchedulingPinned(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{}, `
import os, resource
print('rtprio', resource.getrlimit(resource.RLIMIT_RTPRIO))
print('nice', resource.getrlimit(resource.RLIMIT_NICE))
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    print('ESCAPED fifo')
except OSError as e:
    print('BLOCKED fifo', e.errno)
try:
    os.nice(-1)
    print('ESCAPED nice')
except OSError as e:
    print('BLOCKED nice', e.errno)
`)
	out := string(res.Stdout)
	if !strings.Contains(out, "rtprio (0, 0)") || !strings.Contains(out, "nice (0, 0)") {
		t.Errorf("limits inside the sandbox: %q (stderr %q); want RLIMIT_RTPRIO and RLIMIT_NICE at (0, 0)", out, res.Stderr)
	}
	assertContained(t, res, 2)
}
