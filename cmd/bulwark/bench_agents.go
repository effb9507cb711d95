package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/llm/transport"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// agentsReport is what `bulwark bench agents` measured.
type agentsReport struct {
	Tasks       int     `json:"tasks"`
	FlushEvents bool    `json:"flush_events"`
	Steps       int     `json:"steps"`
	LatencyMS   float64 `json:"latency_ms"`
	MakespanMS  float64 `json:"makespan_ms"`
	// When the fake server had received the first request of every task,
	// from the start: the part of the makespan the start takes (goroutines,
	// a connection dialled and accepted per task, the first request).
	FirstTurnsMS float64 `json:"first_turns_ms"`
	IdealMS      float64 `json:"ideal_ms"`
	Ratio        float64 `json:"ratio"` // makespan / ideal
	StepsPerSec  float64 `json:"steps_per_sec"`
	StdTransport bool    `json:"std_transport,omitempty"`
	// Where the fake model server ran: "process" (a process of its own,
	// this binary re-executed; "process-pinned" when on a CPU of its own)
	// or "in-process" (in the agents' process, as before session 31).
	ModelServer string `json:"model_server"`
	// CPU the agents' process spent during the run (user + system), the
	// in-process server's included.
	CPUMS float64 `json:"cpu_ms"`
	// CPU per model turn of the agents and the fake server together, in
	// either mode (comparable with the figures before session 31, when the
	// server was always in-process): on a shared machine a steadier
	// measure than the makespan. AgentsCPUPerTurnUS is the agents'
	// process's alone (the same in-process).
	CPUPerTurnUS       float64 `json:"cpu_per_turn_us"`
	AgentsCPUPerTurnUS float64 `json:"agents_cpu_per_turn_us"`
	// The agents' process's CPU split into user and system (kernel) time,
	// and the minor page faults it took (first touches of memory): on a
	// VM where the kernel's entries are dear, these say how much of the
	// CPU the machine, not the code, costs (BENCHMARKS.md, sixth pass).
	UserCPUMS   float64 `json:"user_cpu_ms"`
	SysCPUMS    float64 `json:"sys_cpu_ms"`
	MinorFaults int64   `json:"minor_faults"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"` // the agents' process's
	BaseRSSMiB  float64 `json:"base_rss_mib"`
	// Memory per task of the agents and the fake server together, in
	// either mode: (peak RSS - RSS before the tasks) / tasks, the server
	// process's (peak - when ready) added. AgentsKBPerTask is the agents'
	// process's alone.
	KBPerTask       float64 `json:"kb_per_task"`
	AgentsKBPerTask float64 `json:"agents_kb_per_task"`
	// The server process's CPU, faults and memory from when it was ready
	// (before the run) to the end; absent in-process.
	ServerCPUMS       float64 `json:"server_cpu_ms,omitempty"`
	ServerMinorFaults int64   `json:"server_minor_faults,omitempty"`
	ServerPeakRSSMiB  float64 `json:"server_peak_rss_mib,omitempty"`
	ServerBaseRSSMiB  float64 `json:"server_base_rss_mib,omitempty"`
	Failed            int     `json:"failed"`
	GOMAXPROCS        int     `json:"gomaxprocs"`
	// How the makespan builds up, from each task's first tool call of
	// each step: FirstStepMS is the median time from the start to the
	// first step's (its model turn, with the start's spread); StepMS and
	// StepP90MS are the median and 90th percentile of the time from one
	// step's to the next's, per step (the model's latency plus the turn's
	// own time, queueing included: the ideal is the latency).
	FirstStepMS  float64   `json:"first_step_ms"`
	StepMS       []float64 `json:"step_ms"`
	StepP90MS    []float64 `json:"step_p90_ms"`
	ModelCalls   int       `json:"model_calls"`
	ToolCallsRun int64     `json:"tool_calls"`
}

// benchAgents runs N agents at once against a fake model server (in a
// process of its own, or in this one), each making S file-tool steps with
// the server answering every turn after the given latency. The ideal
// makespan is S x latency: time spent beyond it is the platform's overhead.
func benchAgents(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("bench agents", `Usage: bulwark bench agents [--tasks N] [--steps S] [--latency D] [--server process|in-process] [--pin-server=false] [--flush-events] [--std-transport] [--json]

Runs N agents at once against a fake model that answers every turn after
the given latency; each makes S file-tool steps. The fake model runs in a
process of its own (this binary, started before the run and ended after
it), as a real model server would, pinned to the last CPU, or with
--server in-process in the agents' process. The report compares the makespan with the ideal (S x
latency) and shows the CPU per model turn and the memory per task.

Example:
  bulwark bench agents --tasks 200 --steps 5 --latency 50ms`)
	tasks := fs.Int("tasks", 1000, "agents run at once")
	steps := fs.Int("steps", 10, "file-tool steps per agent")
	latency := newDurationFlag(fs, "latency", 100*time.Millisecond, "model latency per turn")
	server := fs.String("server", "process", "where the fake model runs: `process` (its own) or in-process")
	pin := fs.Bool("pin-server", true, "run the fake model's process on the last CPU alone, the agents on all (--pin-server=false: where the scheduler puts it)")
	flushEvents := fs.Bool("flush-events", false, "the fake server writes and flushes every SSE event on its own, instead of each reply in one write")
	stdTransport := fs.Bool("std-transport", false, "the agents reach the model through net/http's transport instead of the lean one adapters use for plain-HTTP servers")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE`")
	memProfile := fs.String("memprofile", "", "write a heap profile taken halfway through the ideal makespan to `FILE`")
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
	if *tasks <= 0 || *steps <= 0 || *latency < 0 {
		fmt.Fprintln(s.err, "bulwark: --tasks and --steps must be positive")
		return exitUsage
	}
	if *server != "process" && *server != "in-process" {
		fmt.Fprintln(s.err, "bulwark: --server is process or in-process")
		return exitUsage
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return fail(s, err)
		}
		defer f.Close()
		runtime.MemProfileRate = 4096 // finer than the default, for a few KB per task
		half := time.Duration(*steps) * *latency / 2
		t := time.AfterFunc(half, func() {
			runtime.GC() // the profile shows the heap as of the last collection
			pprof.Lookup("heap").WriteTo(f, 0)
		})
		defer t.Stop()
	}
	rep, err := runAgentsBench(ctx, agentsBench{
		tasks: *tasks, steps: *steps, latency: *latency, flushEvents: *flushEvents, stdTransport: *stdTransport,
		inProcess: *server == "in-process", pin: *pin && *server == "process", stderr: s.err,
	})
	if err != nil {
		return fail(s, err)
	}
	if *asJSON {
		json.NewEncoder(s.out).Encode(rep)
		return exitOK
	}
	fmt.Fprintf(s.out, "agents: %d tasks x %d steps, model latency %s, GOMAXPROCS %d\n", rep.Tasks, rep.Steps, *latency, rep.GOMAXPROCS)
	fmt.Fprintf(s.out, "makespan  %8.0f ms   ideal %6.0f ms   ratio %.3f\n", rep.MakespanMS, rep.IdealMS, rep.Ratio)
	fmt.Fprintf(s.out, "steps/s   %8.0f      model calls %d, tool calls %d, failed tasks %d\n", rep.StepsPerSec, rep.ModelCalls, rep.ToolCallsRun, rep.Failed)
	fmt.Fprintf(s.out, "CPU       %8.0f us per model turn, the fake server's included (model server: %s)\n", rep.CPUPerTurnUS, rep.ModelServer)
	fmt.Fprintf(s.out, "agents    %8.0f ms: %.0f ms user, %.0f ms system, %d minor page faults; %.0f us per turn\n", rep.CPUMS, rep.UserCPUMS, rep.SysCPUMS, rep.MinorFaults, rep.AgentsCPUPerTurnUS)
	if !strings.HasPrefix(rep.ModelServer, "in-") {
		fmt.Fprintf(s.out, "server    %8.0f ms, %d minor page faults, peak RSS %.1f MiB (when ready %.1f MiB)\n", rep.ServerCPUMS, rep.ServerMinorFaults, rep.ServerPeakRSSMiB, rep.ServerBaseRSSMiB)
	}
	fmt.Fprintf(s.out, "memory    %8.1f KB per task, the fake server's included; agents %.1f (peak RSS %.1f MiB, before the tasks %.1f MiB)\n", rep.KBPerTask, rep.AgentsKBPerTask, rep.PeakRSSMiB, rep.BaseRSSMiB)
	fmt.Fprintf(s.out, "steps     first at %.0f ms (median); then, per step, median %s ms, 90th percentile %s ms\n", rep.FirstStepMS, msList(rep.StepMS), msList(rep.StepP90MS))
	if rep.Failed > 0 {
		return exitFailed
	}
	return exitOK
}

// agentsBench is what a bench agents run is given.
type agentsBench struct {
	tasks, steps              int
	latency                   time.Duration
	flushEvents, stdTransport bool
	// The fake model server in this process, or in a process of its own
	// running bin (this binary when ""), on a CPU of its own with pin (if
	// there are two or more); its stderr goes to stderr.
	inProcess bool
	pin       bool
	bin       string
	stderr    io.Writer
	// started, if set, is told the server process's id (tests).
	started func(pid int)
}

func runAgentsBench(ctx context.Context, b agentsBench) (*agentsReport, error) {
	n, steps, latency := b.tasks, b.steps, b.latency
	// The fake server is llmtest's loop server (lean with --flush-events)
	// and its turns are prepared (newBenchModel): the client side, what is measured, is the
	// same transport and adapter as in a deployment; only the model's side
	// is made cheap. In a process of its own (the default), as a real
	// model server is, its CPU still shares the cores but not the agents'
	// runtime (scheduler, GC, heap); it is reported apart.
	var start atomic.Pointer[time.Time]
	var firstTurns atomic.Int64 // ns from start when the n-th request arrived (in-process)
	var url string
	var inproc *llmtest.Server
	var proc *modelServerProc
	if b.inProcess {
		inproc = newBenchModel(n, steps, latency, b.flushEvents, false, func() { firstTurns.Store(int64(time.Since(*start.Load()))) })
		defer inproc.Close()
		url = inproc.URL
	} else {
		bin := b.bin
		if bin == "" {
			var err error
			if bin, err = os.Executable(); err != nil {
				return nil, err
			}
		}
		stderr := b.stderr
		if stderr == nil {
			stderr = io.Discard
		}
		var err error
		if proc, err = startModelServer(ctx, bin, n, steps, latency, b.flushEvents, b.pin, stderr); err != nil {
			return nil, err
		}
		defer proc.close()
		if b.started != nil {
			b.started(proc.Pid())
		}
		url = proc.URL
	}

	// The transport adapters use by default, with room for every agent's
	// connection: Lean (the fake model is plain HTTP on loopback), or
	// net/http's own with --std-transport.
	std := transport.StdTransport()
	std.MaxIdleConns = n + 16
	std.MaxIdleConnsPerHost = n + 16
	client := &http.Client{Transport: transport.NewLean(std)}
	if b.stdTransport {
		client = &http.Client{Transport: std}
	}
	vars := map[string]string{"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": url + "/v1"}
	model, err := provider.OpenWith("openai:bench", func(k string) string { return vars[k] }, provider.Options{Client: client})
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "bulwark-bench-agents")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	workspace.Spread(root) // as the runner spreads a tenant's workspaces; where the file system cannot, nothing changes
	tools := tool.NewRegistry(append(files.Tools(), interact.Finish())...)

	// Open every workspace first so that the run measures the agents only.
	spaces := make([]*workspace.Workspace, n)
	for i := range spaces {
		if spaces[i], err = workspace.Open(filepath.Join(root, strconv.Itoa(i))); err != nil {
			return nil, err
		}
		defer spaces[i].Close()
	}
	// When each task's steps made their first tool call, from the start;
	// each written by its task's run alone. Made before the base RSS.
	stepAt := make([][]time.Duration, n)
	for i := range stepAt {
		stepAt[i] = make([]time.Duration, steps)
	}
	runtime.GC()
	base := procStatusKB("VmRSS")

	var failed, toolCalls atomic.Int64
	var wg sync.WaitGroup
	use0 := processUsage()
	t0 := time.Now()
	start.Store(&t0)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := agent.Config{
				Model:  model,
				Tools:  tools,
				Env:    &tool.Env{Workspace: spaces[i]},
				Limits: bulwark.Limits{MaxSteps: steps + 1},
				Sink: func(e bulwark.Event) {
					if e.Type == bulwark.EventToolCall {
						toolCalls.Add(1)
						if k := e.Step - 1; k >= 0 && k < steps && stepAt[i][k] == 0 {
							stepAt[i][k] = time.Since(t0)
						}
					}
				},
			}
			out, err := agent.Run(ctx, cfg, bulwark.Task{ID: "t_" + strconv.Itoa(i), Input: "write the files"})
			if err != nil || out.Reason != bulwark.FinishDone {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	makespan := time.Since(t0)
	use := processUsage().since(use0)
	cpu := use.user + use.sys
	peak := procStatusKB("VmHWM")
	var st modelServerStats
	mode := "in-process"
	if proc != nil {
		var err error
		if st, err = proc.stop(); err != nil {
			return nil, err
		}
		mode = "process"
		if proc.pinned {
			mode = "process-pinned"
		}
		if st.NthAtUnixNS > 0 {
			firstTurns.Store(st.NthAtUnixNS - t0.UnixNano())
		}
	} else {
		st.Count = inproc.Count()
	}
	serverCPU := time.Duration(st.UserNS + st.SysNS)
	serverKB := st.PeakRSSKB - st.BaseRSSKB

	ideal := time.Duration(steps) * latency
	rep := &agentsReport{
		Tasks: n, Steps: steps, FlushEvents: b.flushEvents, StdTransport: b.stdTransport, ModelServer: mode,
		LatencyMS:    ms(latency),
		MakespanMS:   ms(makespan),
		FirstTurnsMS: ms(time.Duration(firstTurns.Load())),
		IdealMS:      ms(ideal),
		StepsPerSec:  float64(n*steps) / makespan.Seconds(),
		CPUMS:        ms(cpu),
		UserCPUMS:    ms(use.user),
		SysCPUMS:     ms(use.sys),
		MinorFaults:  use.minflt,
		PeakRSSMiB:   float64(peak) / 1024,
		BaseRSSMiB:   float64(base) / 1024,
		KBPerTask:    float64(peak-base+serverKB) / float64(n),
		Failed:       int(failed.Load()),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		ModelCalls:   st.Count,
		ToolCallsRun: toolCalls.Load(),

		AgentsKBPerTask:   float64(peak-base) / float64(n),
		ServerCPUMS:       ms(serverCPU),
		ServerMinorFaults: st.MinorFaults,
		ServerPeakRSSMiB:  float64(st.PeakRSSKB) / 1024,
		ServerBaseRSSMiB:  float64(st.BaseRSSKB) / 1024,
	}
	rep.FirstStepMS, rep.StepMS, rep.StepP90MS = stepTimes(stepAt)
	if rep.ModelCalls > 0 {
		rep.CPUPerTurnUS = float64(cpu+serverCPU) / float64(time.Microsecond) / float64(rep.ModelCalls)
		rep.AgentsCPUPerTurnUS = float64(cpu) / float64(time.Microsecond) / float64(rep.ModelCalls)
	}
	if ideal > 0 {
		rep.Ratio = float64(makespan) / float64(ideal)
	}
	return rep, nil
}

// msList writes durations in ms, rounded, separated by spaces.
func msList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, " ")
}

// stepTimes sums up when the tasks' steps made their first tool call
// (agentsReport.FirstStepMS, StepMS, StepP90MS); a step a task did not
// reach counts for none.
func stepTimes(at [][]time.Duration) (first float64, med, p90 []float64) {
	if len(at) == 0 || len(at[0]) == 0 {
		return 0, nil, nil
	}
	quantile := func(ds []time.Duration, q float64) float64 {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ms(ds[int(q*float64(len(ds)-1))])
	}
	var firsts []time.Duration
	for _, t := range at {
		if t[0] > 0 {
			firsts = append(firsts, t[0])
		}
	}
	first = quantile(firsts, 0.5)
	for k := 1; k < len(at[0]); k++ {
		var gaps []time.Duration
		for _, t := range at {
			if t[k-1] > 0 && t[k] > 0 {
				gaps = append(gaps, t[k]-t[k-1])
			}
		}
		med, p90 = append(med, quantile(gaps, 0.5)), append(p90, quantile(gaps, 0.9))
	}
	return first, med, p90
}

// benchHandler answers turn k of a conversation (k tool results so far)
// with a write_file call; the last of the steps turns also calls finish.
// The turns are made once: the handler's CPU counts against the run.
func benchHandler(steps int, latency time.Duration, q llmtest.Quirk) llmtest.Handler {
	turns := make([]llmtest.Turn, steps)
	for k := range turns {
		args, _ := json.Marshal(map[string]string{"path": fmt.Sprintf("step-%d.txt", k), "content": strings.Repeat("x", 64)})
		t := llmtest.Turn{Delay: latency, Quirks: q, Content: "Writing the next file.", ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: args}}}
		if k == steps-1 {
			t.ToolCalls = append(t.ToolCalls, llmtest.ToolCall{Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)})
		}
		turns[k] = llmtest.Prepare(t) // made once, reused with the request number and time put in
	}
	notObject := llmtest.Turn{Status: 400, Body: `{"error":{"message":"bench: the body is not a JSON object","type":"invalid_request_error"}}`}
	return func(r *llmtest.Request) llmtest.Turn {
		body := bytes.TrimSpace(r.Body)
		if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
			return notObject
		}
		return turns[min(countToolResults(body), steps-1)]
	}
}

// countToolResults counts the tool results in a chat completion request's body
// without decoding it: the "tool_call_id" keys, which each tool result
// message has once (the same key in a string's text is escaped, `\"`,
// and not counted). The search goes from underscore to underscore, a byte
// rare in the body: bytes.Count for `"role":"tool"`, whose first byte is
// in JSON everywhere, took 6 times as long, an eighth of the fake
// server's CPU.
func countToolResults(body []byte) int {
	const before, after = `"tool`, `call_id":`
	n := 0
	for i := 0; i < len(body); i++ {
		k := bytes.IndexByte(body[i:], '_')
		if k < 0 {
			break
		}
		i += k
		if i >= len(before) && string(body[i-len(before):i]) == before && bytes.HasPrefix(body[i+1:], []byte(after)) {
			n++
		}
	}
	return n
}

// rusage is what getrusage says this process has used: user and system
// CPU time and minor page faults.
type rusage struct {
	user, sys time.Duration
	minflt    int64
}

func processUsage() rusage {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return rusage{}
	}
	return rusage{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Minflt}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	u := processUsage()
	return u.user + u.sys
}

// since is u less the earlier u0.
func (u rusage) since(u0 rusage) rusage {
	return rusage{u.user - u0.user, u.sys - u0.sys, u.minflt - u0.minflt}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procStatusKB reads a "kB" field of /proc/self/status (0 where there is none).
func procStatusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
