package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// benchAgentsCases are the ways bench agents is run in the tests: the
// fake server in-process, streamed or buffered, through the lean
// transport or net/http's; and in a process of its own (the built
// binary), pinned or not.
var benchAgentsCases = []struct {
	name            string
	flush, std      bool
	inProcess, pin  bool
	wantModelServer string
}{
	{"in-process", false, false, true, false, "in-process"},
	{"in-process flushed", true, false, true, false, "in-process"},
	{"in-process std transport", false, true, true, false, "in-process"},
	{"process", false, false, false, false, "process"},
	{"process pinned", false, false, false, true, "process-pinned"},
}

// The agents bench runs every task to its end with the lean fake server
// and prepared turns, however it is run: every step's tool call runs and
// every task finishes, and the report says where the server ran and, in
// a process of its own, what it spent.
func TestBenchAgentsRuns(t *testing.T) {
	for _, c := range benchAgentsCases {
		if c.pin && runtime.NumCPU() < 2 {
			c.wantModelServer = "process" // no CPU to pin it apart on
		}
		rep, err := runAgentsBench(t.Context(), agentsBench{
			tasks: 20, steps: 4, latency: time.Millisecond, flushEvents: c.flush, stdTransport: c.std,
			inProcess: c.inProcess, pin: c.pin, bin: binary, stderr: os.Stderr,
		})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// 4 write_file calls and finish per task, one model call per step.
		if rep.Failed != 0 || rep.ModelCalls != 20*4 || rep.ToolCallsRun != 20*5 || rep.FirstTurnsMS <= 0 {
			t.Errorf("%s: %+v", c.name, rep)
		}
		// The CPU is the user and system time of the run, each counted.
		// The kernel splits a process's CPU between user and system by
		// its ticks, so a short run may show all of it in one of them:
		// their sum is what must be more than nothing.
		if rep.CPUMS <= 0 || rep.UserCPUMS < 0 || rep.SysCPUMS < 0 || math.Abs(rep.UserCPUMS+rep.SysCPUMS-rep.CPUMS) > 1e-6 || rep.MinorFaults < 0 {
			t.Errorf("%s: CPU %v ms is not user %v + system %v ms, or %d faults", c.name, rep.CPUMS, rep.UserCPUMS, rep.SysCPUMS, rep.MinorFaults)
		}
		// Every step is timed, and none comes sooner than the model's
		// latency after the one before.
		if rep.FirstStepMS < 1 || len(rep.StepMS) != 3 || len(rep.StepP90MS) != 3 {
			t.Errorf("%s: steps timed %v, then %v, %v; want the first and 3 more", c.name, rep.FirstStepMS, rep.StepMS, rep.StepP90MS)
		}
		for k := range rep.StepMS {
			if rep.StepMS[k] < 1 || rep.StepP90MS[k] < rep.StepMS[k] {
				t.Errorf("%s: step %d took %v ms (median), %v (90th percentile); want at least the 1 ms latency, ordered", c.name, k+2, rep.StepMS[k], rep.StepP90MS[k])
			}
		}
		// The per-turn CPU and per-task memory are the agents' and the
		// server's together; the agents' own are apart.
		agentsUS := rep.CPUMS * 1000 / float64(rep.ModelCalls)
		if math.Abs(rep.AgentsCPUPerTurnUS-agentsUS) > 1e-6 || math.Abs(rep.CPUPerTurnUS-(rep.CPUMS+rep.ServerCPUMS)*1000/float64(rep.ModelCalls)) > 1e-6 {
			t.Errorf("%s: CPU per turn %v us (agents %v), want (%v + %v ms) / %d turns", c.name, rep.CPUPerTurnUS, rep.AgentsCPUPerTurnUS, rep.CPUMS, rep.ServerCPUMS, rep.ModelCalls)
		}
		serverKB := (rep.ServerPeakRSSMiB - rep.ServerBaseRSSMiB) * 1024 / 20
		if math.Abs(rep.KBPerTask-rep.AgentsKBPerTask-serverKB) > 1e-6 {
			t.Errorf("%s: %v KB per task, want the agents' %v + the server's %v", c.name, rep.KBPerTask, rep.AgentsKBPerTask, serverKB)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatal(err)
		}
		if fields["model_server"] != c.wantModelServer {
			t.Errorf("%s: model_server %v, want %q", c.name, fields["model_server"], c.wantModelServer)
		}
		for _, k := range []string{"cpu_per_turn_us", "agents_cpu_per_turn_us", "kb_per_task", "agents_kb_per_task"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("%s: the JSON has no %s: %s", c.name, k, b)
			}
		}
		// The server's own figures, in a process of its own only.
		for _, k := range []string{"server_cpu_ms", "server_peak_rss_mib", "server_base_rss_mib", "server_minor_faults"} {
			v, ok := fields[k].(float64)
			if c.inProcess && ok {
				t.Errorf("%s: the JSON has %s %v, want none in-process", c.name, k, v)
			}
			if !c.inProcess && (!ok || v <= 0) {
				t.Errorf("%s: the JSON has %s %v, want it above 0: %s", c.name, k, fields[k], b)
			}
		}
	}
}

// The model server process is gone (ended and reaped) when the bench
// returns, whether the run went well, its context was canceled before
// the run (as by Ctrl-C), or the run failed after the server started.
func TestBenchAgentsServerProcessEnds(t *testing.T) {
	for _, c := range []struct {
		name    string
		cancel  bool   // cancel the run's context once the server has started
		tmp     string // TMPDIR, where the workspaces' folder is made
		wantErr bool
	}{
		{"done", false, "", false},
		{"canceled", true, "", false},
		{"no workspaces", false, filepath.Join(t.TempDir(), "missing"), true},
	} {
		if c.tmp != "" {
			t.Setenv("TMPDIR", c.tmp)
		}
		ctx, cancel := t.Context(), func() {}
		if c.cancel {
			ctx, cancel = context.WithCancel(ctx)
		}
		var pid int
		rep, err := runAgentsBench(ctx, agentsBench{
			tasks: 5, steps: 2, latency: time.Millisecond, bin: binary, stderr: os.Stderr,
			started: func(p int) { pid = p; cancel() },
		})
		if (err != nil) != c.wantErr {
			t.Errorf("%s: error %v, want one: %v", c.name, err, c.wantErr)
		}
		if c.cancel && (err != nil || rep.Failed != 5) {
			t.Errorf("%s: %v, report %+v; want the 5 tasks failed", c.name, err, rep)
		}
		if pid == 0 {
			t.Fatalf("%s: no server process started", c.name)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s: the server process %d is still there (kill 0: %v)", c.name, pid, err)
		}
		assertNoModelServerChild(t, c.name)
	}
	// A server that never says it is ready: an error, and nothing left.
	_, err := runAgentsBench(t.Context(), agentsBench{tasks: 5, steps: 2, bin: "/bin/true"})
	if err == nil || !strings.Contains(err.Error(), "did not start") {
		t.Errorf("a server that exits at once: %v, want it did not start", err)
	}
	assertNoModelServerChild(t, "a server that exits at once")
}

// assertNoModelServerChild fails the test if this process has a child,
// running or not yet reaped, that is a model server process (or a zombie,
// whose command line is gone).
func assertNoModelServerChild(t *testing.T, what string) {
	t.Helper()
	for _, pid := range childrenOf(t, os.Getpid()) {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if len(cmdline) == 0 || strings.Contains(string(cmdline), modelServerCmd) {
			t.Errorf("%s: child %d (%q) is left", what, pid, cmdline)
		}
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err == nil && strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(pid)+"\n") {
			kids = append(kids, p)
		}
	}
	return kids
}

// The model server process dies with the bench: on SIGINT the bench ends
// the run and stops it; killed outright, the bench takes it along
// (Pdeathsig). The bench runs with a model latency of an hour, so that the
// run is in flight when the signal comes.
func TestBenchAgentsServerDiesWithTheBench(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		tmp := t.TempDir()
		cmd := bulwarkCmd(t, []string{"TMPDIR=" + tmp}, "bench", "agents", "--tasks", "3", "--steps", "2", "--latency", "1h")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The workspaces are made once the server is ready.
		var server int
		for deadline := time.Now().Add(30 * time.Second); server == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if m, _ := filepath.Glob(filepath.Join(tmp, "bulwark-bench-agents*", "2")); len(m) == 0 {
				continue
			}
			for _, p := range childrenOf(t, cmd.Process.Pid) {
				if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline"); strings.Contains(string(cmdline), modelServerCmd) {
					server = p
				}
			}
		}
		if server == 0 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v: the bench started no model server process", sig)
		}
		cmd.Process.Signal(sig)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || sig == syscall.SIGINT && ee.ExitCode() != exitFailed {
			t.Errorf("%v: the bench ended with %v, want it failed", sig, err)
		}
		// Gone, or a zombie its new parent has not reaped.
		gone := false
		for deadline := time.Now().Add(30 * time.Second); !gone && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			stat, err := os.ReadFile("/proc/" + strconv.Itoa(server) + "/stat")
			gone = err != nil || strings.Contains(string(stat), ") Z ")
		}
		if !gone {
			syscall.Kill(server, syscall.SIGKILL)
			t.Errorf("%v: the model server process %d outlived the bench", sig, server)
		}
	}
}

// The fake model answers turn k of a conversation (k tool results so far)
// from the raw body: the tool results are counted by their tool_call_id
// keys, not by the same text inside a message's content (escaped), and a
// body that is not a JSON object is refused.
func TestBenchHandlerTurns(t *testing.T) {
	h := benchHandler(3, 0, llmtest.Buffered)
	msg := func(role, content, extra string) string {
		c, _ := json.Marshal(content)
		return `{"role":"` + role + `","content":` + string(c) + extra + `}`
	}
	result := func(i int) string {
		return msg("tool", "created", `,"tool_call_id":"call_`+strconv.Itoa(i)+`"`)
	}
	tricky := msg("user", `say "tool_call_id": and "role":"tool"`, "")
	for _, c := range []struct {
		body string
		want int // the turn's index; -1 refused
	}{
		{`{"model":"m","messages":[` + tricky + `]}`, 0},
		{`{"model":"m","messages":[` + tricky + `,` + result(1) + `]}`, 1},
		{`{"model":"m","messages":[` + tricky + `,` + result(1) + `,` + result(2) + `]}` + "\n", 2},
		{`{"model":"m","messages":[` + result(1) + `,` + result(2) + `,` + result(3) + `,` + result(4) + `]}`, 2}, // past the last: the last
		{`[{"role":"tool"}]`, -1},
		{``, -1},
		{`{"model":"m"`, -1},
	} {
		turn := h(&llmtest.Request{Body: []byte(c.body)})
		switch {
		case c.want < 0:
			if turn.Status != 400 {
				t.Errorf("%.60s: turn %+v, want it refused with 400", c.body, turn)
			}
		case turn.Status != 0 || len(turn.ToolCalls) == 0 || !strings.Contains(string(turn.ToolCalls[0].Arguments), "step-"+strconv.Itoa(c.want)+".txt"):
			t.Errorf("%.60s: turn %+v, want turn %d", c.body, turn, c.want)
		}
	}
}

// The bench's processes make room in their tables of descriptors before
// the run (package fdtable): the bench for manyFDs (as serve does), the
// model server for its tasks' connections, before it says it is ready.
// Grown during the run instead, each growth held up the process's opens
// for an RCU grace period.
func TestBenchAgentsFDTablesReserved(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bench := bulwarkCmd(t, []string{"TMPDIR=" + tmp}, "bench", "agents", "--tasks", "3", "--steps", "2", "--latency", "1h")
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		bench.Process.Kill()
		bench.Wait()
	}()
	// It reserves in a goroutine of its own from the start: give it time.
	want, got := min(manyFDs, int(lim.Max)), 0
	for deadline := time.Now().Add(10 * time.Second); got < want && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = procFDSize(t, bench.Process.Pid)
	}
	if got < want {
		t.Errorf("the bench: FDSize %d, want at least %d", got, want)
	}

	// The model server, run as the bench runs it: room for 1,000 tasks
	// when it says it is ready, before any has connected.
	server := bulwarkCmd(t, nil, "bench", modelServerCmd, "--tasks", "1000")
	stdin, err := server.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		server.Wait()
	}()
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatalf("the model server did not say it was ready: %v", err)
	}
	if got, want := procFDSize(t, server.Process.Pid), min(1000+64, int(lim.Max)); got < want {
		t.Errorf("the model server: FDSize %d when ready, want at least %d", got, want)
	}
}

// procFDSize is the size of process pid's table of descriptors.
func procFDSize(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "FDSize:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Skip("no FDSize in /proc/PID/status")
	return 0
}
