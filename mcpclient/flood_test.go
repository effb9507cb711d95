package mcpclient

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodPipe is a hostile stdio MCP server in-process: it answers the
// handshake, then writes log notifications of about 6 MB each (under
// maxServerMessage) for as long as the pipe is open.
type floodPipe struct {
	cr *io.PipeReader // the client reads the server's stdout
	sw *io.PipeWriter
	sr *io.PipeReader // the server reads the client's writes
	cw *io.PipeWriter
	mu sync.Mutex

	sent    int       // notifications written whole
	stopped time.Time // when a write failed: the client closed the pipe
}

func (p *floodPipe) Read(b []byte) (int, error)  { return p.cr.Read(b) }
func (p *floodPipe) Write(b []byte) (int, error) { return p.cw.Write(b) }
func (p *floodPipe) Close() error {
	p.cw.Close()
	p.cr.Close()
	p.sw.CloseWithError(io.ErrClosedPipe)
	return nil
}

func (p *floodPipe) send(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := io.WriteString(p.sw, s)
	return err
}

func (p *floodPipe) serve() {
	note := `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":[` +
		strings.Repeat("0,", 3<<20) + `0]}}` + "\n"
	sc := bufio.NewScanner(p.sr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				ProtocolVersion string `json:"protocolVersion"`
			} `json:"params"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		reply := func(result string) { p.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":` + result + "}\n") }
		switch m.Method {
		case "initialize":
			reply(`{"protocolVersion":"` + m.Params.ProtocolVersion + `","capabilities":{"tools":{},"logging":{}},"serverInfo":{"name":"flood","version":"1"}}`)
		case "notifications/initialized":
			go func() {
				for p.send(note) == nil {
					p.mu.Lock()
					p.sent++
					p.mu.Unlock()
				}
				p.mu.Lock()
				p.stopped = time.Now()
				p.mu.Unlock()
			}()
		case "tools/list":
			reply(`{"tools":[{"name":"noop","inputSchema":{"type":"object"}}]}`)
		default:
			if len(m.ID) > 0 {
				reply(`{}`)
			}
		}
	}
}

// A stdio server that streams large log notifications cannot grow the
// host's heap faster than the host reads its output (serverBytesPerSecond),
// and its process ends as soon as its session is closed: the SDK queued
// them without bound (1.5 GB of heap after 30 s), and Close waited for the
// queue before it ended the process (a red team).
func TestLogFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("floods for seconds")
	}
	cfg := Config{Servers: []Server{{Name: "flood", Command: "x"}}}
	var p *floodPipe
	start := func(ctx context.Context, _ Process) (io.ReadWriteCloser, error) {
		p = &floodPipe{}
		p.cr, p.sw = io.Pipe()
		p.sr, p.cw = io.Pipe()
		go p.serve()
		return p, nil
	}
	s, err := Connect(context.Background(), cfg, Options{Start: start, OnLog: func(server, level, text string) {}})
	if err != nil {
		t.Fatal(err)
	}
	const flood = 6 * time.Second
	p.mu.Lock()
	first := p.sent
	p.mu.Unlock()
	var peak uint64
	for range int(flood / (250 * time.Millisecond)) {
		time.Sleep(250 * time.Millisecond)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	p.mu.Lock()
	sent := p.sent - first
	p.mu.Unlock()
	// At most the burst and a second's worth for each second, in 6 MB
	// notifications: a few, not dozens.
	if most := (serverBurst + int(flood/time.Second)*serverBytesPerSecond) / (6 << 20); sent > most+1 {
		t.Errorf("the server wrote %d notifications of 6 MB in %s, want at most %d: its output was read as fast as it wrote", sent, flood, most+1)
	}
	closed := make(chan struct{})
	closing := time.Now()
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Errorf("Close has not returned after a minute")
	}
	// The process is ended first; the notifications queued are handled
	// after.
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped.IsZero() || stopped.Sub(closing) > 2*time.Second {
		t.Errorf("the server could write until %v after Close began (%v), want its pipe closed at once", stopped.Sub(closing), stopped)
	}
	t.Logf("%d notifications in %s, heap peak %d MB", sent, flood, peak>>20)
	if peak > 1<<30 {
		t.Errorf("the host's heap reached %d MB from one server's notifications", peak>>20)
	}
}

// A remote server's answers and event streams are read at most at
// serverBytesPerSecond, all together, as a stdio server's output is.
func TestRemoteServerThrottled(t *testing.T) {
	chunk := []byte("data: " + strings.Repeat("0", 64<<10) + "\n\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	hc, err := (&Session{}).httpClient(Server{Name: "remote", URL: srv.URL, Trusted: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	total := 0
	for range 2 { // two streams share the budget
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		go func() {
			n, _ := io.Copy(io.Discard, resp.Body)
			mu.Lock()
			total += int(n)
			mu.Unlock()
		}()
	}
	<-ctx.Done()
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if most := serverBurst + 3*serverBytesPerSecond; total > most {
		t.Errorf("read %d MB from a remote server in 2 s, want at most %d MB", total>>20, most>>20)
	}
}
