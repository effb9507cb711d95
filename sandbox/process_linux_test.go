package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/mcptest"
	"golang.org/x/sys/unix"
)

// mustStart starts argv in a sandbox for the test's life: it is killed and
// its processes checked gone when the test ends.
func mustStart(t *testing.T, ctx context.Context, spec Spec, argv ...string) *Process {
	t.Helper()
	p, err := Start(ctx, spec, argv)
	if err != nil {
		t.Fatalf("Start(%q): %v", argv, err)
	}
	t.Cleanup(func() {
		p.Kill()
		p.Wait()
		assertNothingLeft(t)
	})
	return p
}

// lines reads a Process's stdout line by line, failing the test when a
// line does not come (the process died or hangs).
type lines struct {
	t  *testing.T
	ch chan string
}

func readLines(t *testing.T, r io.Reader) *lines {
	l := &lines{t: t, ch: make(chan string, 64)}
	go func() {
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 1<<20), 8<<20)
		for s.Scan() {
			l.ch <- s.Text()
		}
		close(l.ch)
	}()
	return l
}

func (l *lines) next() string {
	l.t.Helper()
	select {
	case s, ok := <-l.ch:
		if !ok {
			l.t.Fatal("the process's stdout ended")
		}
		return s
	case <-time.After(60 * time.Second):
		l.t.Fatal("no line from the process")
	}
	return ""
}

// A long-lived cat answers line after line, both ways, and ends when its
// stdin does.
func TestStartCatEchoes(t *testing.T) {
	requireSandbox(t)
	p := mustStart(t, context.Background(), Spec{AllowExec: []string{"cat"}}, "cat")
	out := readLines(t, p.Stdout())
	for i := range 20 {
		want := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d}`, i)
		if _, err := io.WriteString(p.Stdin(), want+"\n"); err != nil {
			t.Fatal(err)
		}
		if got := out.next(); got != want {
			t.Fatalf("line %d: got %q, want %q", i, got, want)
		}
	}
	p.Stdin().Close()
	res, err := p.Wait()
	if err != nil || res.ExitCode != 0 || res.Unsandboxed {
		t.Fatalf("Wait: %+v, %v", res, err)
	}
}

// serverEverything returns the entry script of the MCP reference server.
func serverEverything(t *testing.T) string {
	mcptest.Bin(t, "mcp-server-everything")
	return filepath.Join(mcptest.Dir(t), "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
}

// rpc sends one JSON-RPC request line and returns the response with its id
// (skipping notifications and the server's own requests).
func rpc(t *testing.T, p *Process, out *lines, id int, method string, params any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if _, err := p.Stdin().Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	for {
		line := out.next()
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON-RPC on stdout: %q", line)
		}
		if m["id"] == float64(id) && m["method"] == nil {
			if m["error"] != nil {
				t.Fatalf("%s: %v", method, m["error"])
			}
			return m
		}
	}
}

// The MCP reference server runs in the sandbox on the system's node, with
// only its folder readable besides the system, and speaks MCP on stdio.
func TestStartMCPServer(t *testing.T) {
	requireSandbox(t)
	script := serverEverything(t)
	node := mcptest.Node(t)
	p := mustStart(t, context.Background(), Spec{ReadOnly: []string{mcptest.Dir(t)}, AllowExec: []string{node}}, node, script)
	out := readLines(t, p.Stdout())
	init := rpc(t, p, out, 1, "initialize", map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "bulwark-test", "version": "0"},
	})
	result, _ := init["result"].(map[string]any)
	info, _ := result["serverInfo"].(map[string]any)
	if result["protocolVersion"] == nil || info["name"] == nil {
		t.Fatalf("initialize: %v", init)
	}
	io.WriteString(p.Stdin(), `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	list := rpc(t, p, out, 2, "tools/list", map[string]any{})
	tools, _ := list["result"].(map[string]any)["tools"].([]any)
	if len(tools) == 0 {
		t.Fatalf("tools/list: %v", list)
	}
	call := rpc(t, p, out, 3, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "through the sandbox"}})
	if !strings.Contains(fmt.Sprint(call["result"]), "through the sandbox") {
		t.Errorf("tools/call echo: %v", call)
	}
	p.Kill()
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// hostDirs makes, outside /tmp (which the sandbox has its own of), a
// folder to bind read-only and a secret beside it that must stay out.
func hostDirs(t *testing.T) (ro, secret string) {
	t.Helper()
	base, err := os.MkdirTemp("/var/tmp", "bulwark-ro-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	ro = filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ro, "data.txt"), []byte("ro-data-ok"), 0o644)
	os.WriteFile(filepath.Join(ro, "hello.sh"), []byte("#!/bin/sh\necho hello-from-ro\n"), 0o755)
	secret = filepath.Join(base, "secret.txt")
	os.WriteFile(secret, []byte("host-secret-canary"), 0o644)
	return ro, secret
}

// The attacks of the battery, from inside a process that Start keeps
// running (python3 reading its orders from stdin, as a server would):
// host files beside the read-only path and in the host's /tmp, writing to
// the read-only path, a loopback listener of the host, the host's
// environment, descriptors beyond 0-2, /proc of the init. The process
// stays alive and answering throughout.
func TestStartEscapes(t *testing.T) {
	requireSandbox(t)
	t.Setenv("BULWARK_CANARY_ENV", "host-env-canary")
	ro, secret := hostDirs(t)
	tmpSecret := filepath.Join(t.TempDir(), "tmp-secret.txt")
	os.WriteFile(tmpSecret, []byte("host-secret-canary"), 0o644)
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
			io.WriteString(c, "host-listener-canary")
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	// Held open without O_CLOEXEC by the caller, as careless code does.
	held, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	spec := Spec{ReadOnly: []string{ro}, AllowExec: []string{"python3"}, Env: []string{"MCP_TOKEN=given"}}
	p := mustStart(t, context.Background(), spec, "python3", "-u", "-c", `
import sys, os, socket, json
for line in sys.stdin:
    code = line.strip()
    out = []
    def report(ok, what):
        out.append(("ESCAPED " if ok else "BLOCKED ") + what)
    try:
        exec(json.loads(code))
    except Exception as e:
        out.append("ERROR %r" % e)
    print(json.dumps(out))
`)
	out := readLines(t, p.Stdout())
	ask := func(code string) []string {
		t.Helper()
		b, _ := json.Marshal(code)
		if _, err := p.Stdin().Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
		var got []string
		line := out.next()
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("bad answer %q", line)
		}
		for _, g := range got {
			if strings.HasPrefix(g, "ESCAPED") || strings.HasPrefix(g, "ERROR") || strings.Contains(g, "canary") {
				t.Errorf("%s", g)
			}
		}
		if testing.Verbose() {
			t.Logf("%s", got)
		}
		return got
	}
	// The read-only path is readable.
	if got := ask(fmt.Sprintf(`out.append(open(%q).read())`, filepath.Join(ro, "data.txt"))); len(got) != 1 || got[0] != "ro-data-ok" {
		t.Errorf("read-only path not readable: %v", got)
	}
	ask(fmt.Sprintf(`
for p in [%q, %q, "/proc/1/environ", "/proc/1/root/etc/shadow", "/etc/shadow"]:
    try:
        report(b"canary" in open(p, "rb").read() or True, "read " + p)
    except OSError as e:
        report(False, "read %%s: %%s" %% (p, e.strerror))
`, secret, tmpSecret))
	ask(fmt.Sprintf(`
ro = %q
for p in [ro + "/data.txt", ro + "/new.txt"]:
    try:
        with open(p, "w") as f: f.write("x")
        report(True, "write " + p)
    except OSError as e:
        report(False, "write %%s: %%s" %% (p, e.strerror))
for f, args in [(os.mkdir, (ro + "/d",)), (os.remove, (ro + "/data.txt",)), (os.chmod, (ro + "/data.txt", 0o777)),
                (os.rename, (ro + "/data.txt", ro + "/moved")), (os.symlink, ("/etc", ro + "/l")), (os.truncate, (ro + "/data.txt", 0))]:
    try:
        f(*args)
        report(True, f.__name__)
    except OSError as e:
        report(False, "%%s: %%s" %% (f.__name__, e.strerror))
`, ro))
	ask(fmt.Sprintf(`
for host in ["127.0.0.1", "10.0.2.2", "172.17.0.1"]:
    try:
        s = socket.create_connection((host, %d), timeout=2)
        report(True, "connect %%s: %%r" %% (host, s.recv(64)))
    except OSError as e:
        report(False, "connect %%s: %%s" %% (host, e.strerror or e))
`, port))
	var gitNames []string // the sandbox's own git variables (gitEnv)
	for _, e := range gitEnv {
		n, _, _ := strings.Cut(e, "=")
		gitNames = append(gitNames, n)
	}
	got := ask(fmt.Sprintf(`
keys = sorted(k for k in os.environ if k not in %q.split())
report(keys != ["HOME", "LANG", "LC_CTYPE", "MCP_TOKEN", "PATH"] and keys != ["HOME", "LANG", "MCP_TOKEN", "PATH"], "environment %%r" %% keys)
report("BULWARK_CANARY_ENV" in os.environ, "host environment variable")
out.append("token " + os.environ.get("MCP_TOKEN", ""))
`, strings.Join(gitNames, " ")))
	if !slicesContains(got, "token given") {
		t.Errorf("Spec.Env missing: %v", got)
	}
	ask(`
fds = sorted(int(n) for n in os.listdir("/proc/self/fd"))
report(len(fds) != 4 or fds[:3] != [0, 1, 2], "descriptors %r" % fds)
for fd in range(3, 1024):
    try:
        os.fstat(fd)
        if fd not in fds: report(True, "descriptor %d" % fd)
    except OSError:
        pass
`)
	ask(fmt.Sprintf(`
import subprocess
try:
    subprocess.run([%q], check=True, capture_output=True)
    report(True, "ran a script under the read-only path")
except OSError as e:
    report(False, "exec under the read-only path: %%s" %% e.strerror)
`, filepath.Join(ro, "hello.sh")))
	// Still the same process, still answering.
	if got := ask(`out.append(str(os.getppid()))`); len(got) != 1 || got[0] != "1" {
		t.Errorf("parent: %v", got)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Kill and the end of ctx end the whole tree at once, children that
// ignore SIGTERM (and left their session) too; Wait returns.
func TestStartKillEndsTree(t *testing.T) {
	requireSandbox(t)
	const tree = "trap '' TERM HUP; (trap '' TERM HUP; setsid sleep 1000 & sleep 1000) & sleep 1000 & echo ready; wait"
	spec := Spec{AllowExec: []string{"bash", "sleep", "setsid"}}
	for _, how := range []string{"kill", "ctx"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := mustStart(t, ctx, spec, "bash", "-c", tree)
			out := readLines(t, p.Stdout())
			if got := out.next(); got != "ready" {
				t.Fatalf("got %q", got)
			}
			if n := len(sandboxProcesses()); n < 4 {
				t.Fatalf("want the tree running, see %d processes", n)
			}
			if how == "kill" {
				p.Kill()
			} else {
				cancel()
			}
			res, err := p.Wait()
			if how == "ctx" && !errors.Is(err, context.Canceled) && bulwark.ErrorKind(err) != bulwark.Canceled {
				t.Errorf("Wait after cancel: %v", err)
			}
			if how == "kill" && err != nil {
				t.Errorf("Wait after Kill: %v", err)
			}
			if res == nil || res.ExitCode == 0 {
				t.Errorf("result %+v", res)
			}
			assertNothingLeft(t)
		})
	}
}

// A command that is not on AllowExec, or not there at all, is refused by
// Start itself, with the reason.
func TestStartRefused(t *testing.T) {
	requireSandbox(t)
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"python3", "-c", "1"}, "not on the sandbox's command allowlist"},
		{[]string{"/usr/bin/node", "-e", "1"}, "not on the sandbox's command allowlist"},
		{[]string{"no-such-command-here"}, "command not found"},
	} {
		_, err := Start(context.Background(), Spec{AllowExec: []string{"cat"}}, c.argv)
		if err == nil || bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start(%q): %v, want Invalid with %q", c.argv, err, c.want)
		}
	}
	assertNothingLeft(t)
}

// Under a read-only path nothing runs unless AllowExec names it by its
// absolute path: a script (with what Interpreters says it needs) and an
// ELF program. Named, they run; the rest of the folder stays noexec.
func TestReadOnlyExec(t *testing.T) {
	requireSandbox(t)
	ro, _ := hostDirs(t)
	script := filepath.Join(ro, "hello.sh")
	prog := filepath.Join(ro, "true")
	b, err := os.ReadFile("/usr/bin/true")
	if err != nil {
		t.Skip("no /usr/bin/true")
	}
	os.WriteFile(prog, b, 0o755)
	other := filepath.Join(ro, "other")
	os.WriteFile(other, b, 0o755)

	res := mustRun(t, Spec{ReadOnly: []string{ro}, AllowExec: []string{"sh"}}, script)
	if !res.NotAllowed {
		t.Errorf("script not on AllowExec ran: %+v %s", res, res.Stderr)
	}
	allow := append([]string{script, prog}, Interpreters(script)...)
	if len(allow) != 3 || allow[2] != "/bin/sh" {
		t.Fatalf("Interpreters(%s) = %q", script, allow[2:])
	}
	res = mustRun(t, Spec{ReadOnly: []string{ro}, AllowExec: allow}, script)
	if res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "hello-from-ro" {
		t.Errorf("allowed script: %+v %s", res, res.Stderr)
	}
	if res := mustRun(t, Spec{ReadOnly: []string{ro}, AllowExec: allow}, prog); res.ExitCode != 0 {
		t.Errorf("allowed program: %+v %s", res, res.Stderr)
	}
	if res := mustRun(t, Spec{ReadOnly: []string{ro}, AllowExec: allow}, other); res.ExitCode == 0 || !res.NotAllowed {
		t.Errorf("program not on AllowExec ran: %+v %s", res, res.Stderr)
	}
	// Through the dynamic loader (which every sandbox may run) a program
	// under the read-only path is only mapped, not executed: the noexec
	// mount still stops it.
	for _, ld := range loaders() {
		res := mustRun(t, Spec{ReadOnly: []string{ro}, AllowExec: allow}, ld, other)
		if res.ExitCode == 0 {
			t.Errorf("%s %s ran: %+v %s", ld, other, res, res.Stderr)
		}
	}
	// An absolute entry outside the system folders and the read-only paths
	// is refused at setup.
	if _, err := Run(context.Background(), Spec{AllowExec: []string{prog}}, []string{prog}); err == nil || bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "outside the system folders") {
		t.Errorf("AllowExec outside the read-only paths: %v", err)
	}
}

// Stdout is a stream without the output cap; stderr is capped, and the
// cap is reported.
func TestStartStreams(t *testing.T) {
	requireSandbox(t)
	spec := Spec{AllowExec: []string{"python3"}, OutputLimit: 4096}
	p := mustStart(t, context.Background(), spec, "python3", "-c", `
import sys
sys.stdout.write("o" * 300000 + "\n"); sys.stdout.flush()
sys.stderr.write("e" * 300000); sys.stderr.flush()
`)
	var errBuf strings.Builder
	errDone := make(chan struct{})
	go func() { io.Copy(&errBuf, p.Stderr()); close(errDone) }()
	out, err := io.ReadAll(p.Stdout())
	if err != nil || len(out) != 300001 {
		t.Errorf("stdout: %d bytes, %v", len(out), err)
	}
	res, err := p.Wait()
	<-errDone
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Wait: %+v %v", res, err)
	}
	if n := len(errBuf.String()) - len(strings.TrimLeft(errBuf.String(), "e")); n != 4096 || !strings.HasSuffix(errBuf.String(), truncMarker) {
		t.Errorf("stderr: %d bytes of it, %q", n, errBuf.String()[max(0, errBuf.Len()-80):])
	}
	if !slicesContains(res.LimitHit, "output") {
		t.Errorf("LimitHit %v", res.LimitHit)
	}
}

// No deadline by default (not even BULWARK_MAX_EXECUTION_TIME, which is
// Run's); Spec.Timeout, when set, ends the process.
func TestStartTimeout(t *testing.T) {
	requireSandbox(t)
	t.Setenv("BULWARK_MAX_EXECUTION_TIME", "50ms")
	p := mustStart(t, context.Background(), Spec{AllowExec: []string{"cat"}}, "cat")
	out := readLines(t, p.Stdout())
	time.Sleep(500 * time.Millisecond)
	io.WriteString(p.Stdin(), "still here\n")
	if got := out.next(); got != "still here" {
		t.Fatalf("got %q", got)
	}
	p.Kill()
	p.Wait()
	p2 := mustStart(t, context.Background(), Spec{AllowExec: []string{"cat"}, Timeout: 100 * time.Millisecond}, "cat")
	res, err := p2.Wait()
	if err != nil || !res.TimedOut {
		t.Errorf("with a timeout: %+v %v", res, err)
	}
}

// With NetProxy the process reaches its allowed domains through the
// egress proxy, which goes when the process does.
func TestStartProxy(t *testing.T) {
	requireSandbox(t)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream-ok") })}
	ul, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(ul)
	defer upstream.Close()
	spec := Spec{AllowExec: []string{"python3"}, AllowDomains: []string{"allowed.test"},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == "allowed.test:80" {
				var d net.Dialer
				return d.DialContext(ctx, network, ul.Addr().String())
			}
			return nil, errors.New("refused by the test")
		}}
	p := mustStart(t, context.Background(), spec, "python3", "-u", "-c", `
import urllib.request, sys
for line in sys.stdin:
    try:
        print(urllib.request.urlopen(line.strip(), timeout=10).read().decode())
    except Exception as e:
        print("ERR", e)
`)
	out := readLines(t, p.Stdout())
	io.WriteString(p.Stdin(), "http://allowed.test/\n")
	if got := out.next(); got != "upstream-ok" {
		t.Errorf("allowed: %q", got)
	}
	io.WriteString(p.Stdin(), "http://other.test/\n")
	if got := out.next(); !strings.HasPrefix(got, "ERR") {
		t.Errorf("other: %q", got)
	}
	dir := p.box.proxyWD
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("proxy folder: %v", err)
	}
	p.Kill()
	res, _ := p.Wait()
	if len(res.Denials) == 0 {
		t.Errorf("no denial recorded: %+v", res)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the proxy's folder outlived the process: %v", err)
	}
}

// A read-only mount does not stop connect(2) on a Unix socket file: a
// read-only path holding one (a host service's) is refused.
func TestReadOnlySocketRefused(t *testing.T) {
	requireSandbox(t)
	ro, _ := hostDirs(t)
	sub := filepath.Join(ro, "deep", "er")
	os.MkdirAll(sub, 0o755)
	sock := filepath.Join(sub, "svc.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(sock, 0o777)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "host-socket-canary")
			c.Close()
		}
	}()
	_, err = Start(context.Background(), Spec{ReadOnly: []string{ro}, AllowExec: []string{"python3"}}, []string{"python3", "-c", "1"})
	if err == nil || bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "Unix socket "+sock) {
		t.Errorf("Start with a socket under ReadOnly: %v", err)
	}
	if _, err := Run(context.Background(), Spec{ReadOnly: []string{ro}}, []string{"true"}); err == nil {
		t.Error("Run with a socket under ReadOnly: no error")
	}
	assertNothingLeft(t)
}

// The server can also be started as the script it is (node_modules/.bin
// links to a "#!/usr/bin/env node" file): the script on AllowExec by its
// absolute path, and what Interpreters says it needs.
func TestStartMCPServerScript(t *testing.T) {
	requireSandbox(t)
	bin := mcptest.Bin(t, "mcp-server-everything")
	need := Interpreters(bin)
	if len(need) != 2 || need[0] != "/usr/bin/env" || need[1] != "node" {
		t.Fatalf("Interpreters(%s) = %q", bin, need)
	}
	spec := Spec{ReadOnly: []string{mcptest.Dir(t)}, AllowExec: append([]string{bin}, need...)}
	p := mustStart(t, context.Background(), spec, bin)
	out := readLines(t, p.Stdout())
	init := rpc(t, p, out, 1, "initialize", map[string]any{
		"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "bulwark-test", "version": "0"},
	})
	if init["result"] == nil {
		t.Fatalf("initialize: %v", init)
	}
	// Without the script on AllowExec it is refused at the start.
	spec.AllowExec = need
	if _, err := Start(context.Background(), spec, []string{bin}); err == nil || !strings.Contains(err.Error(), "not on the sandbox's command allowlist") {
		t.Errorf("script not on AllowExec: %v", err)
	}
}

// A read-only path is bound with what is mounted inside it: one that holds
// (or is) a kernel file system such as proc or sysfs, which would show the
// host's, is refused.
func TestReadOnlyKernelFSRefused(t *testing.T) {
	requireSandbox(t)
	ro, _ := hostDirs(t)
	for fs, inside := range map[string]string{"proc": "self", "sysfs": "kernel"} {
		at := filepath.Join(ro, "sub", fs)
		os.MkdirAll(at, 0o755)
		if err := unix.Mount(fs, at, fs, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			t.Skipf("cannot mount %s for the test: %v", fs, err)
		}
		// Before the folder's removal (cleanups run last first).
		t.Cleanup(func() { unix.Unmount(at, unix.MNT_DETACH) })
		for _, path := range []string{ro, at, filepath.Join(at, inside)} {
			_, err := Start(context.Background(), Spec{ReadOnly: []string{path}, AllowExec: []string{"cat"}}, []string{"cat"})
			if err == nil || bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "is a "+fs+" file system") {
				t.Errorf("ReadOnly %s holding %s: %v", path, fs, err)
			}
		}
		if err := unix.Unmount(at, unix.MNT_DETACH); err != nil {
			t.Fatal(err)
		}
	}
	// A tmpfs inside is fine (and shown).
	at := filepath.Join(ro, "sub", "tmp")
	os.MkdirAll(at, 0o755)
	if err := unix.Mount("tmpfs", at, "tmpfs", 0, "size=64k,mode=0755"); err != nil {
		t.Skipf("cannot mount tmpfs for the test: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(at, unix.MNT_DETACH) })
	os.WriteFile(filepath.Join(at, "f"), []byte("on-tmpfs"), 0o644)
	res := mustRun(t, Spec{ReadOnly: []string{ro}, AllowExec: []string{"cat"}}, "cat", filepath.Join(at, "f"))
	if string(res.Stdout) != "on-tmpfs" {
		t.Errorf("tmpfs inside a read-only path: %+v %s", res, res.Stderr)
	}
}

// Run hands the command over with the configuration, before the init has
// answered it (begin, then run); an init that refuses its configuration
// must run nothing, and leave nothing behind. (The allowlist is checked by
// Run first; begin is called directly so that only the init checks it.)
func TestRefusedSetupRunsNothing(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	dir := t.TempDir()
	outside := filepath.Join(dir, "prog")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The init (another host uid) must see the program to refuse it.
	for d := dir; d != os.TempDir() && d != "/" && d != "."; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := begin(Spec{Workspace: ws, AllowExec: []string{"touch", outside}, Timeout: 20 * time.Second}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.run(context.Background(), []string{"touch", "/workspace/ran"}, stdio{})
	if err == nil || !strings.Contains(err.Error(), "setup refused") {
		t.Fatalf("run in a sandbox whose init refuses its allowlist = %+v, %v; want the init's refusal", res, err)
	}
	if _, err := os.Stat(filepath.Join(ws, "ran")); err == nil {
		t.Error("the command ran although the init refused its configuration")
	}
	assertNothingLeft(t)
}

// An init that refuses its configuration ends without reading the command
// sent ahead of its Ready; the kernel then reports a reset before the
// refusal, which must still be read (TestRefusedSetupRunsNothing failed
// now and then with "connection reset by peer").
func TestReplyReadAfterTheInitLeftACommandUnread(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	host, init := pair[0], pair[1]
	defer unix.Close(host)
	if err := send(init, &initReply{Err: "refused"}); err != nil {
		t.Fatal(err)
	}
	if err := send(host, &runRequest{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	unix.Close(init)
	var reply initReply
	if err := recvReply(host, &reply); err != nil || reply.Err != "refused" {
		t.Fatalf("recvReply = %+v, %v; want the init's refusal", reply, err)
	}
	if err := recvReply(host, &reply); err == nil {
		t.Fatal("a second read after the init ended found another reply")
	}
}
