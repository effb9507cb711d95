package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/server"
	"github.com/bulwark-agents/bulwark/sqlite"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// apiReport is what `bulwark bench api` measured.
type apiReport struct {
	Clients int     `json:"clients"`
	Seconds float64 `json:"seconds"` // per measured run
	BareRPS float64 `json:"bare_rps"`
	FullRPS float64 `json:"full_rps"`
	Ratio   float64 `json:"ratio"` // full / bare
	// BareCPU and FullCPU are the CPU time of this whole process (load
	// generator, server, runtime) per answered request, in microseconds;
	// CPURatio is BareCPU / FullCPU: the ratio of throughputs on cores
	// that nothing else uses, which the throughputs above show only on
	// a quiet machine.
	BareCPU    float64 `json:"bare_cpu_us_per_req"`
	FullCPU    float64 `json:"full_cpu_us_per_req"`
	CPURatio   float64 `json:"cpu_ratio"`
	SSEClients int     `json:"sse_clients"`
	SSEEvents  int     `json:"sse_events"` // events of the task each client saw
	// SSEEventsPerSec is events delivered over all clients per second,
	// from the task's start until the last client saw its end.
	SSEEventsPerSec float64 `json:"sse_events_per_sec"`
	SSELastMS       float64 `json:"sse_last_ms"` // the task's start to the last client seeing task_finished
	SSETaskMS       float64 `json:"sse_task_ms"` // the task's start to its end in the store
	GOMAXPROCS      int     `json:"gomaxprocs"`
}

// benchAPI measures the HTTP API in process, over loopback: GET
// /api/v1/tasks/{id} through the whole middleware (request id, security
// headers, API key authentication, tenant scoping, the rate-limit check,
// the store) against a bare handler answering the same bytes, with many
// keep-alive clients; then the fan-out of one task's Server-Sent Events to
// many subscribers.
func benchAPI(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("bench api", `Usage: bulwark bench api [--clients N] [--duration D] [--sse-clients N] [--sse-turns N] [--json]

Measures the HTTP API in process over loopback: GET /api/v1/tasks/{id}
through the whole middleware against a bare handler, then the fan-out of
one task's events to many subscribers.

Example:
  bulwark bench api --clients 32 --duration 5s`)
	clients := fs.Int("clients", 64, "keep-alive clients sending requests at once")
	dur := newDurationFlag(fs, "duration", 3*time.Second, "length of each measured run")
	sseClients := fs.Int("sse-clients", 200, "subscribers of the task's events")
	sseTurns := fs.Int("sse-turns", 200, "model turns of the streamed task (about 4 events each)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fail(s, err)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *clients <= 0 || *dur <= 0 || *sseClients <= 0 || *sseTurns <= 0 {
		fmt.Fprintln(s.err, "bulwark: the counts and the duration must be positive")
		return exitUsage
	}
	rep, err := runAPIBench(ctx, *clients, *dur, *sseClients, *sseTurns)
	if err != nil {
		return fail(s, err)
	}
	if *asJSON {
		json.NewEncoder(s.out).Encode(rep)
		return exitOK
	}
	fmt.Fprintf(s.out, "GET /api/v1/tasks/{id}, %d keep-alive clients, %s runs, GOMAXPROCS %d\n", rep.Clients, *dur, rep.GOMAXPROCS)
	fmt.Fprintf(s.out, "  bare handler   %9.0f req/s\n", rep.BareRPS)
	fmt.Fprintf(s.out, "  full stack     %9.0f req/s  (%.2f of bare)\n", rep.FullRPS, rep.Ratio)
	fmt.Fprintf(s.out, "  CPU per request: bare %.0f µs, full stack %.0f µs (%.2f)\n", rep.BareCPU, rep.FullCPU, rep.CPURatio)
	fmt.Fprintf(s.out, "SSE fan-out: %d subscribers, %d events each\n", rep.SSEClients, rep.SSEEvents)
	fmt.Fprintf(s.out, "  %.0f events/s delivered; the last subscriber saw the end %.0f ms after the start (the task took %.0f ms)\n",
		rep.SSEEventsPerSec, rep.SSELastMS, rep.SSETaskMS)
	return exitOK
}

// apiBench is the server under test and what drives it.
type apiBench struct {
	db      *sqlite.DB
	rt      *runner.Runtime
	tenant  bulwark.TenantID
	key     string
	release chan struct{} // starts the streamed task
}

func runAPIBench(ctx context.Context, clients int, dur time.Duration, sseClients, sseTurns int) (*apiReport, error) {
	dir, err := os.MkdirTemp("", "bulwark-bench-api")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b, srv, closeAll, err := newAPIBench(ctx, dir, sseTurns)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	full, stopFull, err := serveLoopback(srv.Handler())
	if err != nil {
		return nil, err
	}
	defer stopFull()

	task, err := b.rt.Submit(ctx, b.tenant, "bench", bulwark.Task{Input: "get"})
	if err != nil {
		return nil, err
	}
	path := "/api/v1/tasks/" + task.ID
	body, err := fetch(http.DefaultClient, full+path, b.key)
	if err != nil {
		return nil, err
	}
	bare, stopBare, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}))
	if err != nil {
		return nil, err
	}
	defer stopBare()

	rep := &apiReport{Clients: clients, Seconds: dur.Seconds(), SSEClients: sseClients, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	load(bare+path, b.key, clients, dur/5) // warm up both
	load(full+path, b.key, clients, dur/5)
	var bareN, fullN int64
	var bareCPU, fullCPU time.Duration
	for range 2 { // alternate, so that neither gets the quieter moment
		cpu0 := processCPU()
		n, err := load(bare+path, b.key, clients, dur)
		if err != nil {
			return nil, err
		}
		cpu1 := processCPU()
		rep.BareRPS += float64(n) / dur.Seconds() / 2
		bareN, bareCPU = bareN+n, bareCPU+cpu1-cpu0
		if n, err = load(full+path, b.key, clients, dur); err != nil {
			return nil, err
		}
		rep.FullRPS += float64(n) / dur.Seconds() / 2
		fullN, fullCPU = fullN+n, fullCPU+processCPU()-cpu1
	}
	rep.Ratio = rep.FullRPS / rep.BareRPS
	rep.BareCPU = float64(bareCPU.Microseconds()) / float64(max(bareN, 1))
	rep.FullCPU = float64(fullCPU.Microseconds()) / float64(max(fullN, 1))
	rep.CPURatio = rep.BareCPU / rep.FullCPU
	if err := b.fanOut(ctx, full, sseClients, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// newAPIBench builds a store with one tenant and key, a runtime whose
// model is the in-process fake model server, and a server whose rate
// limits are raised out of the way (the check still runs).
func newAPIBench(ctx context.Context, dir string, sseTurns int) (*apiBench, *server.Server, func(), error) {
	kr, err := secret.CreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "bulwark.db"), Keys: kr})
	if err != nil {
		return nil, nil, nil, err
	}
	t, err := db.CreateTenant(ctx, "bench")
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	key, _, err := server.IssueKey(ctx, db, t.ID, server.KeySpec{Name: "bench", Role: bulwark.RoleOwner, CreatedBy: "bench"})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	_, signing, _ := ed25519.GenerateKey(nil)
	alog, err := audit.OpenChains(ctx, audit.NewMemoryDir(), audit.Options{SigningKey: signing})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	b := &apiBench{db: db, tenant: t.ID, key: key, release: make(chan struct{})}
	model := llmtest.NewServer(fanOutModel(b.release, sseTurns))
	vars := map[string]string{"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": model.URL + "/v1"}
	b.rt = runner.New(runner.Config{
		Store: db, Audit: alog, Artifacts: db, Dir: filepath.Join(dir, "workspaces"),
		Prepare: func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
			m, err := provider.Open("openai:bench", func(k string) string { return vars[k] })
			if err != nil {
				return nil, err
			}
			return &runner.Setup{Model: m, Tools: tool.NewRegistry(append(files.Tools(), interact.Finish())...),
				Limits: bulwark.Limits{MaxSteps: sseTurns + 10}}, nil
		},
	})
	if err := b.rt.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	srv, err := server.New(server.Config{
		Store: db, Audit: alog, Runtime: b.rt,
		RateLimits: bulwark.RateLimitSettings{PerKey: 1e9, PerTenant: 1e9, Burst: 1 << 30},
		Ceilings:   bulwark.Ceilings{MaxRate: 1e9, MaxBurst: 1 << 30},
		// One key from one address subscribes sseClients times: raise the
		// per-key and per-address caps out of the way (the check still runs).
		StreamLimits: server.StreamLimits{PerKey: 1 << 20, PerClient: 1 << 20, Total: 1 << 20},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	closeAll := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.rt.Shutdown(sctx)
		model.Close()
		alog.Close()
		db.Close()
	}
	return b, srv, closeAll, nil
}

// fanOutModel finishes the "get" task at once; the streamed task waits
// for release, then makes turns quick turns writing a file each.
func fanOutModel(release chan struct{}, turns int) llmtest.Handler {
	return func(r *llmtest.Request) llmtest.Turn {
		done := 0
		for _, m := range r.Messages {
			if m.Role == "tool" {
				done++
			}
		}
		if len(r.Messages) > 1 && r.Messages[1].Content == "stream" && done < turns {
			if done == 0 {
				<-release
			}
			args, _ := json.Marshal(map[string]string{"path": fmt.Sprintf("t%d.txt", done), "content": "x"})
			return llmtest.Turn{Content: fmt.Sprintf("turn %d", done+1), ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: args}}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)}}}
	}
}

// fanOut subscribes n clients to one task's events through the full
// stack, starts the task, and times the delivery.
func (b *apiBench) fanOut(ctx context.Context, base string, n int, rep *apiReport) error {
	task, err := b.rt.Submit(ctx, b.tenant, "bench", bulwark.Task{Input: "stream"})
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
	var connected, wg sync.WaitGroup
	var delivered atomic.Int64
	lastSeen := make([]time.Duration, n)
	errs := make(chan error, n)
	var start time.Time
	started := make(chan struct{})
	connected.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/tasks/"+task.ID+"/events", nil)
			r.Header.Set("Authorization", "Bearer "+b.key)
			resp, err := client.Do(r)
			if err != nil {
				connected.Done()
				errs <- err
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			sc.Scan() // "retry:": subscribed
			connected.Done()
			for sc.Scan() {
				line := sc.Bytes()
				if bytes.HasPrefix(line, []byte("id: ")) {
					delivered.Add(1)
				}
				if bytes.Equal(line, []byte("event: task_finished")) {
					<-started
					lastSeen[i] = time.Since(start)
					return
				}
			}
			errs <- errors.New("an event stream ended before the task did")
		}()
	}
	connected.Wait()
	start = time.Now()
	close(started)
	close(b.release)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for _, d := range lastSeen {
		rep.SSELastMS = max(rep.SSELastMS, ms(d))
	}
	evs, err := b.db.Events(ctx, b.tenant, task.ID, 0, 0)
	if err == nil && len(evs) > 0 {
		rep.SSETaskMS = ms(evs[len(evs)-1].Time.Sub(start))
	}
	rep.SSEEvents = int(delivered.Load()) / n
	rep.SSEEventsPerSec = float64(delivered.Load()) / (rep.SSELastMS / 1000)
	return nil
}

// serveLoopback serves h on a free loopback port; stop closes it.
func serveLoopback(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() { hs.Close() }, nil
}

func fetch(c *http.Client, url, key string) ([]byte, error) {
	r, _ := http.NewRequest("GET", url, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return body, err
}

// load sends GETs of url from clients keep-alive connections for d and
// returns how many were answered 200.
func load(url, key string, clients int, d time.Duration) (int64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var n atomic.Int64
	var failed atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := http.NewRequest("GET", url, nil)
			r.Header.Set("Authorization", "Bearer "+key)
			for time.Now().Before(deadline) {
				resp, err := c.Do(r)
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Store(fmt.Errorf("GET %s: %d", url, resp.StatusCode))
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return n.Load(), nil
}
