package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark/internal/fdtable"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// modelServerCmd is the hidden benchmark `bulwark bench agents` runs its
// fake model server under in a process of its own: this binary re-executed,
// not a separate build. It is left out of the benchmarks' list.
const modelServerCmd = "agents-model-server"

// modelServerReady is what the model server process writes on its stdout,
// one JSON line, once it listens.
type modelServerReady struct {
	URL string `json:"url"`
}

// modelServerStats is what the model server process writes on its stdout,
// one JSON line, when its stdin ends: what it served and spent from the
// moment it was ready.
type modelServerStats struct {
	Count int `json:"count"`
	// When the n-th request arrived (wall clock, Unix ns; 0 if it did not).
	NthAtUnixNS int64 `json:"nth_at_unix_ns"`
	UserNS      int64 `json:"user_ns"`
	SysNS       int64 `json:"sys_ns"`
	MinorFaults int64 `json:"minor_faults"`
	BaseRSSKB   int64 `json:"base_rss_kb"` // when ready
	PeakRSSKB   int64 `json:"peak_rss_kb"`
}

// serveBenchModel is the model server process: the same fake server and
// prepared turns as in-process, on a loopback port it announces on
// stdout; it serves until its stdin ends (the bench is done, or died), then
// writes what it spent and exits.
func serveBenchModel(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("bench "+modelServerCmd, "Usage: bulwark bench "+modelServerCmd+" (internal: the fake model of bench agents)")
	tasks := fs.Int("tasks", 1000, "")
	steps := fs.Int("steps", 10, "")
	latency := newDurationFlag(fs, "latency", 100*time.Millisecond, "")
	flushEvents := fs.Bool("flush-events", false, "")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if *tasks <= 0 || *steps <= 0 || *latency < 0 {
		return fail(s, usagef("bench %s: --tasks and --steps must be positive", modelServerCmd))
	}
	if !*flushEvents {
		// The loop server holds a P of its own (llmtest.NewLoopServer): a
		// second one runs the rest (this goroutine, the one reading
		// stdin), pinned to one CPU or not.
		runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	}
	// Room for every task's connection before the run, as a model server
	// that has served for a while has: grown as the run's connections
	// came, the table of descriptors grew twice on the way to 1,000 (from
	// 256 slots), each growth holding up the accepts for an RCU grace
	// period (package fdtable). A failure leaves the table to grow then.
	fdtable.Reserve(*tasks + 64)
	var nthAt atomic.Int64
	srv := newBenchModel(*tasks, *steps, *latency, *flushEvents, true, func() { nthAt.Store(time.Now().UnixNano()) })
	defer srv.Close()
	runtime.GC()
	base := procStatusKB("VmRSS")
	use0 := processUsage()
	if err := json.NewEncoder(s.out).Encode(modelServerReady{URL: srv.URL}); err != nil {
		return fail(s, err)
	}
	// Until stdin ends: the bench closes it when done, and the kernel
	// does when the bench dies. A signal (the context) ends it too.
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, s.in)
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
		return exitFailed
	}
	use := processUsage().since(use0)
	st := modelServerStats{
		Count: srv.Count(), NthAtUnixNS: nthAt.Load(),
		UserNS: int64(use.user), SysNS: int64(use.sys), MinorFaults: use.minflt,
		BaseRSSKB: base, PeakRSSKB: procStatusKB("VmHWM"),
	}
	if err := json.NewEncoder(s.out).Encode(st); err != nil {
		return fail(s, err)
	}
	return exitOK
}

// newBenchModel starts the fake model of bench agents, answering each
// turn after latency with a prepared turn (made once), recording and
// parsing nothing (the handler counts tool results in the raw body). nth
// is called when the n-th request arrives. By default it is llmtest's
// loop server, which sends each reply in one write and spends as little
// CPU per request as it can (one thread on epoll: one read and one write
// a request, nothing allocated), since its CPU, which a deployment does
// not pay, shares the machine with the agents; flushEvents uses the lean
// server (a goroutine per connection) writing and flushing every SSE
// event on its own. alone says the server is its process's only work (see
// llmtest.NewLoopServer's holdP).
func newBenchModel(n, steps int, latency time.Duration, flushEvents, alone bool, nth func()) *llmtest.Server {
	q := llmtest.Buffered
	if flushEvents {
		q = 0
	}
	h := benchHandler(steps, latency, q)
	counted := func(r *llmtest.Request) llmtest.Turn {
		if r.N == n {
			nth()
		}
		return h(r)
	}
	if !flushEvents {
		return llmtest.NewLoopServer(counted, alone)
	}
	srv := llmtest.NewLeanServer(counted)
	srv.SetRecording(false)
	srv.SetParsing(false)
	return srv
}

// modelServerProc is the model server process of a bench run, started by
// startModelServer: stop it for its figures, and close it in any case.
type modelServerProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan []byte // its stdout's lines; closed at EOF
	URL   string
	// pinned says whether it runs on a CPU of its own.
	pinned bool
}

// startModelServer starts bin as the model server process and waits until
// it listens. The process is killed if this process dies (Pdeathsig, and
// its stdin ends), and it has a process group of its own, so that a
// Ctrl-C reaches this process only, which then ends the run and stops it.
// With pin, it runs on the last CPU alone (its runtime then uses one), if
// there are two or more.
func startModelServer(ctx context.Context, bin string, n, steps int, latency time.Duration, flushEvents, pin bool, stderr io.Writer) (*modelServerProc, error) {
	args := []string{"bench", modelServerCmd, "--tasks", strconv.Itoa(n), "--steps", strconv.Itoa(steps), "--latency", latency.String()}
	if flushEvents {
		args = append(args, "--flush-events")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = modelServerAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	pinned := false
	if pin {
		pinned, err = startPinned(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start the model server: %w", err)
	}
	p := &modelServerProc{cmd: cmd, stdin: stdin, lines: make(chan []byte, 2), pinned: pinned}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(p.lines)
	}()
	var ready modelServerReady
	if err := p.readLine(ctx, 10*time.Second, &ready); err != nil {
		p.close()
		return nil, fmt.Errorf("the model server did not start: %w", err)
	}
	p.URL = ready.URL
	return p, nil
}

// Pid is the model server's process id.
func (p *modelServerProc) Pid() int { return p.cmd.Process.Pid }

// readLine decodes the process's next stdout line into v.
func (p *modelServerProc) readLine(ctx context.Context, timeout time.Duration, v any) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line, ok := <-p.lines:
		if !ok {
			return errors.New("it exited")
		}
		return json.Unmarshal(line, v)
	case <-t.C:
		return fmt.Errorf("no answer in %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop ends the process's stdin and reads what it spent. It does not
// reap the process: close does.
func (p *modelServerProc) stop() (modelServerStats, error) {
	var st modelServerStats
	p.stdin.Close()
	err := p.readLine(context.Background(), 10*time.Second, &st)
	if err != nil {
		err = fmt.Errorf("the model server's figures: %w", err)
	}
	return st, err
}

// close kills the process, if it still runs, and reaps it.
func (p *modelServerProc) close() {
	p.stdin.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}
