package mcpclient

// Tests against the reference server @modelcontextprotocol/server-everything
// (tools/mcp, installed by .ci/mcp-peers.sh): over Streamable HTTP and the
// old SSE transport on a loopback port, as a trusted server, and over stdio
// through a StartFunc that runs it unsandboxed (the sandboxed StartFunc is
// taskenv's, tested there).

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/mcptest"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// everythingHTTP starts server-everything with transport ("streamableHttp"
// or "sse") on a free loopback port and returns its base URL.
func everythingHTTP(t *testing.T, transport string) string {
	t.Helper()
	bin := mcptest.Bin(t, "mcp-server-everything")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, transport)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for range 300 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server-everything %s did not listen on %s", transport, addr)
	return ""
}

// execStart runs a stdio server as a plain child process (tests only: the
// real StartFunc sandboxes it).
func execStart(t *testing.T) StartFunc {
	return func(ctx context.Context, p Process) (io.ReadWriteCloser, error) {
		cmd := exec.CommandContext(ctx, p.Argv[0], p.Argv[1:]...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, p.Env...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return &procPipe{cmd: cmd, w: stdin, r: stdout}, nil
	}
}

type procPipe struct {
	cmd  *exec.Cmd
	w    io.WriteCloser
	r    io.ReadCloser
	once sync.Once
}

func (p *procPipe) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *procPipe) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *procPipe) Close() error {
	p.once.Do(func() {
		p.w.Close()
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	return nil
}

// recorder collects a session's logs and progress.
type recorder struct {
	mu       sync.Mutex
	logs     []string
	progress []string
}

func (r *recorder) options(o Options) Options {
	o.OnLog = func(server, level, text string) {
		r.mu.Lock()
		r.logs = append(r.logs, server+" ["+level+"] "+text)
		r.mu.Unlock()
	}
	o.OnProgress = func(server, tool string, p, total float64, msg string) {
		r.mu.Lock()
		r.progress = append(r.progress, fmt.Sprintf("%s %s %g/%g", server, tool, p, total))
		r.mu.Unlock()
	}
	o.Roots = []string{"file:///workspace"}
	o.StartTimeout = 60 * time.Second
	return o
}

func (r *recorder) has(list *[]string, part string) func() bool {
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return strings.Contains(strings.Join(*list, "\n"), part)
	}
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("logs %q, progress %q", r.logs, r.progress)
}

// exerciseEverything runs the checks every transport must pass.
func exerciseEverything(t *testing.T, cfg Config, o Options) *tool.Registry {
	rec := &recorder{}
	s := mustConnect(t, cfg, rec.options(o))
	r := registry(t, s)
	changed := make(chan struct{}, 10)
	s.OnToolsChanged(func() {
		if err := r.SetGroup("mcp__", s.Tools()); err != nil {
			t.Error(err)
		}
		changed <- struct{}{}
	})
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	env := &tool.Env{Workspace: ws}

	res, err := call(t, r, env, "mcp__every__echo", `{"message":"hi there"}`)
	if err != nil || res.Output != "Echo: hi there" || !res.Untrusted {
		t.Fatalf("echo = %+v, %v", res, err)
	}

	_, err = call(t, r, env, "mcp__every__get-sum", `{"a":"one","b":2}`)
	if err == nil || !strings.Contains(err.Error(), "invalid arguments for mcp__every__get-sum") {
		t.Errorf("get-sum with a string = %v, want refused before the call", err)
	}
	res, err = call(t, r, env, "mcp__every__get-sum", `{"a":1,"b":2}`)
	if err != nil || !strings.Contains(res.Output, "3") {
		t.Errorf("get-sum = %+v, %v", res, err)
	}

	res, err = call(t, r, env, "mcp__every__get-structured-content", `{"location":"Chicago"}`)
	if err != nil || !strings.Contains(res.Output, "temperature") {
		t.Errorf("get-structured-content = %+v, %v", res, err)
	}

	res, err = call(t, r, env, "mcp__every__get-tiny-image", `{}`)
	if err != nil || !strings.Contains(res.Output, `image (image/png`) || !strings.Contains(res.Output, `saved to the workspace file ".bulwark/outputs/mcp-every-get-tiny-image-`) {
		t.Errorf("get-tiny-image = %+v, %v", res, err)
	}
	if strings.Contains(res.Output, "iVBOR") {
		t.Errorf("the image's base64 reached the output: %q", res.Output)
	}
	saved, _ := filepath.Glob(filepath.Join(dir, ".bulwark", "outputs", "mcp-every-get-tiny-image-*.png"))
	if len(saved) != 1 {
		t.Errorf("saved images: %v", saved)
	} else if data, _ := os.ReadFile(saved[0]); !strings.HasPrefix(string(data), "\x89PNG") {
		t.Errorf("the saved image is not a PNG: %q", data[:min(8, len(data))])
	}

	res, err = call(t, r, env, "mcp__every__get-resource-links", `{"count":2}`)
	if err != nil || strings.Count(res.Output, "[resource link: ") != 2 {
		t.Errorf("get-resource-links = %+v, %v", res, err)
	}

	// The server registers get-roots-list after initialization and says
	// its tool list changed.
	deadline := time.After(30 * time.Second)
	for {
		if _, ok := r.Get("mcp__every__get-roots-list"); ok {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("get-roots-list never appeared: %v", r.Names())
		}
	}
	res, err = call(t, r, env, "mcp__every__get-roots-list", `{}`)
	if err != nil || !strings.Contains(res.Output, "file:///workspace") {
		t.Errorf("get-roots-list = %+v, %v", res, err)
	}

	res, err = call(t, r, env, "mcp__every__trigger-long-running-operation", `{"duration":0.4,"steps":2}`)
	if err != nil || !strings.Contains(res.Output, "completed") {
		t.Errorf("trigger-long-running-operation = %+v, %v", res, err)
	}
	waitFor(t, rec.has(&rec.progress, "every trigger-long-running-operation 2/2"), rec.String)

	if _, err := call(t, r, env, "mcp__every__toggle-simulated-logging", `{}`); err != nil {
		t.Fatal(err)
	}
	simulated := func() bool { return rec.has(&rec.logs, "-level message")() || rec.has(&rec.logs, "level-message")() }
	for i := 0; i < 400 && !simulated(); i++ { // one every 5 s, at a random level (debug is not sent)
		time.Sleep(100 * time.Millisecond)
	}
	if !simulated() {
		t.Errorf("no log message arrived: %s", rec)
	}

	// Effects follow the annotations.
	for name, want := range map[string]string{
		"mcp__every__echo":                     "calls:[] idempotent:true",
		"mcp__every__toggle-simulated-logging": "calls:[every/toggle-simulated-logging] idempotent:false",
	} {
		tl, _ := r.Get(name)
		e, err := tl.Effects([]byte(`{"message":"x"}`))
		if got := fmt.Sprintf("calls:%v idempotent:%v", e.Calls, e.Idempotent); err != nil || got != want {
			t.Errorf("%s effects = %s, %v; want %s", name, got, err, want)
		}
	}
	return r
}

func TestEverythingStreamableHTTP(t *testing.T) {
	base := everythingHTTP(t, "streamableHttp")
	exerciseEverything(t, trustedConfig(t, "every", base+"/mcp", nil), Options{})
}

func TestEverythingSSEFallback(t *testing.T) {
	base := everythingHTTP(t, "sse")
	exerciseEverything(t, trustedConfig(t, "every", base+"/sse", nil), Options{})
}

func TestEverythingStdio(t *testing.T) {
	bin := mcptest.Bin(t, "mcp-server-everything")
	node := mcptest.Node(t)
	cfg := Config{Servers: []Server{{Name: "every", Command: node, Args: []string{bin}, Env: map[string]string{"CANARY": "{{secret:C}}"}}}}
	r := exerciseEverything(t, cfg, Options{Start: execStart(t), Secrets: map[string]string{"C": "canary-value-42"}})
	// The process got the secret's value; the model gets the placeholder.
	res, err := call(t, r, nil, "mcp__every__get-env", `{}`)
	if err != nil || !strings.Contains(res.Output, `"CANARY": "{{secret:C}}"`) || strings.Contains(res.Output, "canary-value-42") {
		t.Errorf("get-env = %+v, %v; want CANARY filled in the process and masked in the output", res, err)
	}
}

// TestEverythingUntrustedLoopback: a tenant's URL on loopback is refused,
// even under a name on the allowlist.
func TestEverythingUntrustedLoopback(t *testing.T) {
	base := everythingHTTP(t, "streamableHttp")
	port := base[strings.LastIndex(base, ":")+1:]
	for _, u := range []string{base + "/mcp", "http://localhost:" + port + "/mcp"} {
		cfg, err := Parse([]byte(`{"mcpServers":{"every":{"url":"`+u+`"}}}`), false)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Connect(context.Background(), cfg, Options{AllowDomains: []string{"localhost"}, StartTimeout: 20 * time.Second})
		if err == nil {
			s.Close()
			t.Errorf("a tenant's server at %s was connected", u)
		} else if !strings.Contains(err.Error(), `"every"`) {
			t.Errorf("Connect(%s) = %v, want the server named", u, err)
		}
	}
}
