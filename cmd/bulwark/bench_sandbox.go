package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark/sandbox"
)

// benchMode is one way of running a command that the sandbox bench times.
type benchMode struct {
	name string
	run  func(ctx context.Context, argv []string) error
	// settle, when set, runs after each timed run, untimed.
	settle func()
}

// Modes whose figures the JSON also gives side by side (coldRun).
const (
	coldMode        = "sandbox.Run (cold, API)"
	coldNoSpareMode = "sandbox.Run (cold, API, no spare init)"
)

// spareSettle is how long the bench waits after a cold Run that took the
// process's spare init, for the next spare to be made (the zygote's fork
// and the init's runtime start, about 8 ms here): so that the next timed
// run, bwrap's too, does not share the CPUs with it, and the next cold
// Run finds one ready.
const spareSettle = 25 * time.Millisecond

// hidingMode is the mode of the pool whose commands find paths hidden.
const hidingMode = "sandbox.Pool (warm, 2 paths hidden)"

// benchRow is the result of one mode on one command.
type benchRow struct {
	Command string  `json:"command"`
	Mode    string  `json:"mode"`
	Runs    int     `json:"runs"`
	Median  float64 `json:"median_ms"`
	P95     float64 `json:"p95_ms"`
	VsBwrap float64 `json:"ratio_to_bwrap,omitempty"` // median / bwrap's median
}

// benchSandbox times, in one interleaved run, a plain exec, `bulwark sandbox
// exec` (a cold sandbox, the CLI process included), sandbox.Run (cold, in
// process, with the process's spare init and without one), a warm Pool (and with --hide one hiding two paths) and
// bubblewrap with equivalent binds, for /bin/true and python3 -c pass.
func benchSandbox(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("bench sandbox", `Usage: bulwark bench sandbox [--runs N] [--json] [--hide]

Times, interleaved, a plain exec, bulwark sandbox exec, sandbox.Run (with
a spare init started ahead, and without one), a warm pool (and with --hide one whose commands find two paths hidden) and
bubblewrap, for /bin/true and python3 (needs the sandbox's
requirements and bwrap).

Example:
  bulwark bench sandbox --runs 20`)
	runs := fs.Int("runs", 40, "runs per mode and command")
	asJSON := fs.Bool("json", false, "print JSON")
	hide := fs.Bool("hide", false, "also time a warm pool whose commands find two paths hidden (Spec.Hide); the two pools' rows then take turns")
	trace := fs.Bool("trace", false, "also trace --runs cold sandbox.Run of /bin/true and print each phase's median end")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if *runs < 2 {
		return fail(s, usagef("bench sandbox: --runs must be at least 2"))
	}
	if r := sandbox.Check(); !r.OK() {
		return fail(s, fmt.Errorf("%s", r.Problem()))
	}
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		return fail(s, fmt.Errorf("bench sandbox: bwrap not found (apt-get install bubblewrap)"))
	}
	self, err := os.Executable()
	if err != nil {
		return fail(s, err)
	}
	ws, err := os.MkdirTemp("", "bulwark-bench-")
	if err != nil {
		return fail(s, err)
	}
	defer os.RemoveAll(ws)
	allow := []string{"true", "python3"}
	spec := sandbox.Spec{Workspace: ws, AllowExec: allow, Timeout: 30 * time.Second}
	// The cold Run without a spare init, timed beside the one with it.
	noSpare := spec
	noSpare.FreshInit = true
	// The pools start fresh inits: their refills would take the spare
	// that the cold Run is timed with.
	pool, err := sandbox.NewPool(noSpare, 2)
	if err != nil {
		return fail(s, err)
	}
	defer pool.Close()
	var hiding *sandbox.Pool
	if *hide {
		// A second pool whose commands find files hidden, as a task's
		// are under deny rules naming files (a folder and a file to
		// cover, and the folder above the file pinned).
		for _, f := range []string{"secrets/k", "prod.env", "src/main.py"} {
			p := ws + "/" + f
			os.MkdirAll(p[:strings.LastIndexByte(p, '/')], 0o755)
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				return fail(s, err)
			}
		}
		hideSpec := noSpare
		hideSpec.Hide = []string{"secrets/*", "*.env"}
		if hiding, err = sandbox.NewPool(hideSpec, 2); err != nil {
			return fail(s, err)
		}
		defer hiding.Close()
	}

	check := func(res *sandbox.Result, err error) error {
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
		}
		return nil
	}
	bwrapArgs := []string{"--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
		"--setenv", "PATH", "/usr/bin:/bin", "--ro-bind", "/usr", "/usr"}
	for _, l := range []string{"/bin", "/lib", "/lib64", "/sbin"} {
		if t, err := os.Readlink(l); err == nil {
			bwrapArgs = append(bwrapArgs, "--symlink", t, l)
		} else if _, err := os.Stat(l); err == nil {
			bwrapArgs = append(bwrapArgs, "--ro-bind", l, l)
		}
	}
	for _, f := range []string{"/etc/ld.so.cache", "/etc/nsswitch.conf", "/etc/localtime", "/etc/ssl", "/etc/alternatives"} {
		bwrapArgs = append(bwrapArgs, "--ro-bind-try", f, f)
	}
	bwrapArgs = append(bwrapArgs, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
		"--bind", ws, "/workspace", "--chdir", "/workspace", "--")

	modes := []benchMode{
		{name: "plain exec", run: func(ctx context.Context, argv []string) error {
			return exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
		}},
		{name: "bwrap", run: func(ctx context.Context, argv []string) error {
			return exec.CommandContext(ctx, bwrap, append(slices.Clone(bwrapArgs), argv...)...).Run()
		}},
		{name: "bulwark sandbox exec (cold, CLI)", run: func(ctx context.Context, argv []string) error {
			c := exec.CommandContext(ctx, self, append([]string{"sandbox", "exec", "--workspace", ws, "--allow-exec", strings.Join(allow, ","), "--"}, argv...)...)
			c.Env = []string{}
			// Not root, the CLI needs the delegated cgroup as this process has it.
			for _, k := range []string{sandbox.CgroupVar, sandbox.LimitsVar} {
				if v, ok := os.LookupEnv(k); ok {
					c.Env = append(c.Env, k+"="+v)
				}
			}
			return c.Run()
		}},
		{name: coldNoSpareMode, run: func(ctx context.Context, argv []string) error {
			return check(sandbox.Run(ctx, noSpare, argv))
		}},
		{name: coldMode, run: func(ctx context.Context, argv []string) error {
			return check(sandbox.Run(ctx, spec, argv))
		}, settle: func() { time.Sleep(spareSettle) }},
		{name: "sandbox.Pool (warm)", run: func(ctx context.Context, argv []string) error {
			return check(pool.Run(ctx, argv, nil))
		}},
	}
	if hiding != nil {
		modes = append(modes, benchMode{name: hidingMode, run: func(ctx context.Context, argv []string) error {
			return check(hiding.Run(ctx, argv, nil))
		}})
	}
	commands := [][]string{{"/bin/true"}, {"python3", "-c", "pass"}}
	times := map[string][]float64{}
	key := func(c []string, m string) string { return strings.Join(c, " ") + "\x00" + m }
	for i := 0; i < *runs; i++ {
		// With --hide, the two pools' rows (the last two) swap places
		// every other round: the second one's Run competes with the
		// refill the first one's starts as it returns, and so each
		// does as often.
		order := modes
		if hiding != nil && i%2 == 1 {
			order = slices.Clone(modes)
			n := len(order)
			order[n-2], order[n-1] = order[n-1], order[n-2]
		}
		for _, c := range commands {
			for _, m := range order {
				argv := c
				if m.name == "plain exec" || m.name == "bwrap" {
					if p, err := exec.LookPath(c[0]); err == nil {
						argv = append([]string{p}, c[1:]...)
					}
				}
				if (m.name == "plain exec" || m.name == "bwrap") && c[0] == "python3" {
					// The system's python3, the one the sandboxes run.
					argv = append([]string{"/usr/bin/python3"}, c[1:]...)
				}
				start := time.Now()
				if err := m.run(ctx, argv); err != nil {
					return fail(s, fmt.Errorf("bench sandbox: %s %q: %v", m.name, c, err))
				}
				times[key(c, m.name)] = append(times[key(c, m.name)], float64(time.Since(start).Microseconds())/1000)
				if m.settle != nil {
					m.settle()
				}
			}
		}
	}
	var rows []benchRow
	for _, c := range commands {
		bw := quantile(times[key(c, "bwrap")], 0.5)
		for _, m := range modes {
			t := times[key(c, m.name)]
			r := benchRow{Command: strings.Join(c, " "), Mode: m.name, Runs: len(t), Median: quantile(t, 0.5), P95: quantile(t, 0.95)}
			if bw > 0 {
				r.VsBwrap = r.Median / bw
			}
			rows = append(rows, r)
		}
	}
	var phases []benchPhase
	spared := 0
	if *trace {
		if phases, spared, err = tracePhases(ctx, spec, *runs); err != nil {
			return fail(s, fmt.Errorf("bench sandbox: trace: %v", err))
		}
	}
	if *asJSON {
		out := map[string]any{
			"machine": machine(), "init": sandbox.Check().Init, "runs": *runs, "results": rows, "phases": phases,
			"cold_run": coldRunOf(rows),
		}
		if *trace {
			out["traced_runs_spared"] = spared
		}
		json.NewEncoder(s.out).Encode(out)
		return exitOK
	}
	fmt.Fprintf(s.out, "sandbox bench: %d interleaved runs per mode, %s\ninit: %s\n\n", *runs, machine(), sandbox.Check().Init)
	fmt.Fprintf(s.out, "| command | mode | median ms | p95 ms | median / bwrap |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(s.out, "| `%s` | %s | %.2f | %.2f | %.2f |\n", r.Command, r.Mode, r.Median, r.P95, r.VsBwrap)
	}
	if len(phases) > 0 {
		fmt.Fprintf(s.out, "\ncold sandbox.Run of /bin/true, %d traced runs (%d of them with a spare init): median end of each phase, ms after sandbox.Run was called\n\n", *runs, spared)
		fmt.Fprintf(s.out, "| phase ended | median ms | + ms |\n|---|---|---|\n")
		prev := 0.0
		for _, p := range phases {
			fmt.Fprintf(s.out, "| %s | %.2f | %.2f |\n", p.Name, p.Median, p.Median-prev)
			prev = p.Median
		}
	}
	return exitOK
}

// coldRun puts side by side the cold sandbox.Run of /bin/true with the
// process's spare init and without one (Spec.FreshInit): where no spare
// is made (not root, cgroup v2, the zygote off) both start their own.
type coldRun struct {
	Median        float64 `json:"run_ms"`
	VsBwrap       float64 `json:"ratio_to_bwrap"`
	NoSpareMedian float64 `json:"run_nospare_ms"`
	NoSpareVs     float64 `json:"nospare_ratio_to_bwrap"`
}

func coldRunOf(rows []benchRow) coldRun {
	var c coldRun
	for _, r := range rows {
		if r.Command != "/bin/true" {
			continue
		}
		switch r.Mode {
		case coldMode:
			c.Median, c.VsBwrap = r.Median, r.VsBwrap
		case coldNoSpareMode:
			c.NoSpareMedian, c.NoSpareVs = r.Median, r.VsBwrap
		}
	}
	return c
}

// quantile returns the q-th quantile (nearest rank) of xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s", runtime.NumCPU(), cpu, kernel, runtime.Version())
}

// benchPhase is the median end of one traced phase, in ms after the trace's
// first phase.
type benchPhase struct {
	Name   string  `json:"name"`
	Median float64 `json:"median_ms"`
}

// tracePhases runs /bin/true in runs cold sandboxes with a Trace and
// returns the median end of each phase, in order of those medians, and
// how many of the runs took a spare init.
func tracePhases(ctx context.Context, spec sandbox.Spec, runs int) ([]benchPhase, int, error) {
	at := map[string][]float64{}
	spared := 0
	for i := 0; i < runs; i++ {
		spec.Trace = &sandbox.Trace{}
		start := sandbox.Monotonic()
		if _, err := sandbox.Run(ctx, spec, []string{"/bin/true"}); err != nil {
			return nil, 0, err
		}
		time.Sleep(spareSettle)
		for _, p := range spec.Trace.Phases() {
			at[p.Name] = append(at[p.Name], ms(p.At-start))
			if strings.HasPrefix(p.Name, sandbox.SparePhase) {
				spared++
			}
		}
	}
	var out []benchPhase
	for name, ts := range at {
		out = append(out, benchPhase{Name: name, Median: quantile(ts, 0.5)})
	}
	slices.SortFunc(out, func(a, b benchPhase) int {
		switch {
		case a.Median < b.Median:
			return -1
		case a.Median > b.Median:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, spared, nil
}
