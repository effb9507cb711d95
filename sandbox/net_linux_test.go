package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// With NetProxy, code in the sandbox reaches allowlisted domains through the
// host's proxy (HTTP_PROXY points at the in-sandbox forwarder) and nothing
// else: other domains and private addresses are refused and reported.
func TestProxyFromSandbox(t *testing.T) {
	requireSandbox(t)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream-ok") })}
	ul, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(ul)
	defer upstream.Close()
	real := &egress.Dialer{}
	var mu sync.Mutex
	var events []egress.Event
	spec := Spec{
		AllowDomains: []string{"allowed.test", "metadata.test"},
		// The test's own dialer: allowed.test is the local server; every
		// other name goes through the production dialer and its checks.
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == "allowed.test:80" {
				var d net.Dialer
				return d.DialContext(ctx, network, ul.Addr().String())
			}
			if addr == "metadata.test:80" {
				return real.DialContext(ctx, network, "169.254.169.254:80")
			}
			return real.DialContext(ctx, network, addr)
		},
		OnEgress: func(e egress.Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
	}
	res := py(t, spec, `
import os, urllib.request, urllib.error, socket
print("proxy", os.environ.get("HTTP_PROXY"))
def get(url):
    try:
        return urllib.request.urlopen(url, timeout=10).read().decode()
    except urllib.error.HTTPError as e:
        return "HTTP %d" % e.code
    except Exception as e:
        return "ERR %s" % e
print("allowed:", get("http://allowed.test/"))
print("other:", get("http://example.com/"))
print("metadata:", get("http://metadata.test/latest/meta-data/"))
print("ip:", get("http://169.254.169.254/latest/meta-data/"))
try:
    socket.create_connection(("1.1.1.1", 443), timeout=3)
    print("direct: connected")
except OSError as e:
    print("direct: refused", e)
`)
	out := string(res.Stdout)
	for _, want := range []string{"allowed: upstream-ok", "other: HTTP 403", "metadata: HTTP 502", "ip: HTTP 403", "direct: refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("proxy from the sandbox: want %q in:\n%s\n%s", want, out, res.Stderr)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var allowed, refused int
	for _, e := range events {
		if e.Allowed {
			allowed++
		} else {
			refused++
		}
	}
	if allowed != 1 || refused != 3 || len(res.Denials) != 3 {
		t.Errorf("events: %d allowed, %d refused, %d denials, want 1, 3, 3: %+v", allowed, refused, len(res.Denials), events)
	}
}

// A Pool serves each command from a fresh prepared sandbox: nothing a
// command leaves in /tmp or its processes reaches the next one.
func TestPool(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	p, err := NewPool(Spec{Workspace: ws, AllowExec: []string{"bash", "cat"}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 4; i++ {
		res, err := p.Run(context.Background(), []string{"bash", "-c", "cat /tmp/mark 2>/dev/null && echo LEAKED; echo x > /tmp/mark; echo n >> /workspace/count; cat"}, strings.NewReader("in\n"))
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 || strings.Contains(string(res.Stdout), "LEAKED") || !strings.Contains(string(res.Stdout), "in") {
			t.Errorf("pool run %d: exit %d, stdout %q, stderr %q", i, res.ExitCode, res.Stdout, res.Stderr)
		}
	}
	if b, _ := readFile(ws + "/count"); strings.Count(b, "n") != 4 {
		t.Errorf("workspace count = %q, want 4 lines", b)
	}
	p.Close()
	assertNothingLeft(t)
}

// A Pool's RunOutput hands the command's output over as it comes, from a
// real sandbox, and the Result still holds it all.
func TestPoolRunOutputStreams(t *testing.T) {
	requireSandbox(t)
	p, err := NewPool(Spec{AllowExec: []string{"bash", "cat"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	checkStreamed(t, func(stdin io.Reader, out Output) (*Result, error) {
		return p.RunOutput(context.Background(), []string{"bash", "-c", streamingCommand}, stdin, out)
	})
}

// The host holds a sandbox's mount and network namespaces while the
// sandbox lives (so that freeing them is not part of the init's exit) and
// lets them go with the sandbox: no descriptor of them stays in the host.
func TestNamespacesHeldOnlyWhileTheSandboxLives(t *testing.T) {
	requireSandbox(t)
	b, err := start(Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, fd := range b.held {
		l, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		held = append(held, l)
	}
	var want []string
	for _, ns := range []string{"mnt", "net"} {
		own, _ := os.Readlink("/proc/self/ns/" + ns)
		sandbox, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", b.pid, ns))
		if sandbox == "" || sandbox == own {
			b.cleanup()
			t.Fatalf("set-up: the sandbox's %s namespace is %q, the host's %q", ns, sandbox, own)
		}
		want = append(want, sandbox)
	}
	if !slices.Equal(held, want) {
		b.cleanup()
		t.Fatalf("the host holds %q, want the sandbox's namespaces %q", held, want)
	}
	if _, err := b.run(context.Background(), []string{"true"}, stdio{}); err != nil {
		t.Fatal(err)
	}
	b.cleanup()
	// The spare init its end asked for holds namespaces of its own, whose
	// numbers the kernel may give again as soon as these are freed (CI saw
	// the ended sandbox's mnt number open: a spare's): ended first.
	spares.drop()
	// They are closed in the background: give it a moment.
	for _, ns := range want {
		for i := 0; ; i++ {
			if fds := fdsOn(ns); len(fds) == 0 {
				break
			} else if i == 200 {
				t.Fatalf("the ended sandbox's namespace %s is still open in the host: fds %v", ns, fds)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// fdsOn lists this process's descriptors whose link reads target.
func fdsOn(target string) []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l == target {
			out = append(out, e.Name())
		}
	}
	return out
}
