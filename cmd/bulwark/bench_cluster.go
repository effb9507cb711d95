package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/jackc/pgx/v5"
)

const benchClusterUsage = `Usage: bulwark bench cluster [--nodes N] [--tasks T] [--steps S] [--database-url URL] [--json]

Starts real 'bulwark serve' processes of this binary on loopback ports and
submits T tasks (a replay model: S write_file steps, then finish; no
network) spread over the nodes, in three runs: one node on SQLite, one node
on PostgreSQL, and N nodes on one PostgreSQL database. For each it reports
tasks per second (from the first submit to the last task's end) and the
queue latency (from a task's submit to its first step: the median and the
95th percentile).

PostgreSQL comes from --database-url or BULWARK_DATABASE_URL: a server
where the bench may create databases. Each run gets a scratch database
there, dropped at the end; the database the URL names is only connected
to. Without a URL only the SQLite run is made.

Example:
  bulwark bench cluster --nodes 3 --database-url postgres://postgres@127.0.0.1:5432/postgres`

// clusterRun is one run of `bulwark bench cluster`.
type clusterRun struct {
	Store       string  `json:"store"` // sqlite or postgres
	Nodes       int     `json:"nodes"`
	Tasks       int     `json:"tasks"`
	Failed      int     `json:"failed"`
	TasksPerSec float64 `json:"tasks_per_sec"`
	MakespanMS  float64 `json:"makespan_ms"`
	QueueP50MS  float64 `json:"queue_p50_ms"` // submit to first step
	QueueP95MS  float64 `json:"queue_p95_ms"`
}

func benchCluster(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("bench cluster", benchClusterUsage)
	nodes := fs.Int("nodes", 3, "nodes of the multi-node run")
	tasks := fs.Int("tasks", 200, "tasks per run")
	steps := fs.Int("steps", 3, "write_file steps per task")
	dbURL := fs.String("database-url", env("BULWARK_DATABASE_URL"), "a PostgreSQL server `URL` where scratch databases may be made")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	if *nodes < 1 || *tasks < 1 || *steps < 0 {
		return fail(s, usagef("bench cluster: --nodes and --tasks must be positive"))
	}
	b, err := newClusterBench(*steps)
	if err != nil {
		return fail(s, err)
	}
	defer os.RemoveAll(b.dir)
	var runs []clusterRun
	add := func(store, url string, n int) error {
		r, err := b.run(ctx, store, url, n, *tasks)
		if err != nil {
			return err
		}
		runs = append(runs, r)
		return nil
	}
	if err := add("sqlite", "", 1); err != nil {
		return fail(s, err)
	}
	if *dbURL != "" {
		for _, n := range []int{1, *nodes} {
			url, drop, err := scratchDatabase(ctx, *dbURL)
			if err != nil {
				return fail(s, err)
			}
			err = add("postgres", url, n)
			drop()
			if err != nil {
				return fail(s, err)
			}
		}
	}
	failed := 0
	for _, r := range runs {
		failed += r.Failed
	}
	if *asJSON {
		json.NewEncoder(s.out).Encode(runs)
	} else {
		fmt.Fprintf(s.out, "cluster: %d tasks x %d steps (replay model) per run\n", *tasks, *steps)
		fmt.Fprintf(s.out, "%-9s %5s %10s %12s %14s %14s %7s\n", "store", "nodes", "tasks/s", "makespan ms", "queue p50 ms", "queue p95 ms", "failed")
		for _, r := range runs {
			fmt.Fprintf(s.out, "%-9s %5d %10.1f %12.0f %14.1f %14.1f %7d\n", r.Store, r.Nodes, r.TasksPerSec, r.MakespanMS, r.QueueP50MS, r.QueueP95MS, r.Failed)
		}
		if *dbURL == "" {
			fmt.Fprintln(s.out, "(no PostgreSQL: give --database-url or BULWARK_DATABASE_URL for the cluster runs)")
		}
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}

// clusterBench holds what the runs share: this binary, the replay script
// and the master key, in a temporary folder.
type clusterBench struct {
	bin, dir, script, key string
}

func newClusterBench(steps int) (*clusterBench, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bulwark-bench-cluster")
	if err != nil {
		return nil, err
	}
	b := &clusterBench{bin: bin, dir: dir, script: filepath.Join(dir, "script.jsonl"), key: filepath.Join(dir, "master.key")}
	var lines strings.Builder
	for i := range steps {
		fmt.Fprintf(&lines, `{"tool_calls": [{"name": "write_file", "arguments": {"path": "f%d.txt", "content": "%s"}}]}`+"\n", i, strings.Repeat("x", 64))
	}
	lines.WriteString(`{"tool_calls": [{"name": "finish", "arguments": {"answer": "done"}}]}` + "\n")
	if err := os.WriteFile(b.script, []byte(lines.String()), 0o600); err != nil {
		return nil, err
	}
	if _, err := secret.CreateKeyFile(b.key); err != nil {
		return nil, err
	}
	return b, nil
}

// benchNode is one `bulwark serve` of a run.
type benchNode struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

// run starts n nodes on the store (SQLite in one data folder when dbURL
// is empty), submits tasks spread over them and waits for their ends.
func (b *clusterBench) run(ctx context.Context, store, dbURL string, n, tasks int) (clusterRun, error) {
	r := clusterRun{Store: store, Nodes: n, Tasks: tasks}
	runDir, err := os.MkdirTemp(b.dir, store)
	if err != nil {
		return r, err
	}
	common := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + runDir, "BULWARK_RATE_LIMIT=off", "BULWARK_SANDBOX=off",
		"BULWARK_TENANT_MAX_CONCURRENT=64", "BULWARK_AUDIT=on"}
	if dbURL != "" {
		common = append(common, "BULWARK_DATABASE_URL="+dbURL, "BULWARK_MASTER_KEY_FILE="+b.key)
	}
	var nodes []*benchNode
	defer func() {
		for _, nd := range nodes {
			nd.cmd.Process.Signal(os.Interrupt)
			select {
			case <-nd.done:
			case <-time.After(10 * time.Second):
				nd.cmd.Process.Kill()
				<-nd.done
			}
		}
	}()
	data := func(i int) string {
		if dbURL == "" {
			return filepath.Join(runDir, "data") // SQLite: one node
		}
		return filepath.Join(runDir, "data"+strconv.Itoa(i))
	}
	// The tenant first: the SQLite data folder gets its master key here.
	cli := exec.CommandContext(ctx, b.bin, "tenants", "create", "bench")
	cli.Env = append(common, "BULWARK_DATA="+data(0))
	out, err := cli.Output()
	if err != nil {
		return r, fmt.Errorf("tenants create: %w", err)
	}
	key := strings.TrimSpace(string(out))
	for i := range n {
		nd, err := b.startNode(ctx, append(common, "BULWARK_DATA="+data(i)))
		if err != nil {
			return r, err
		}
		nodes = append(nodes, nd)
	}
	client := &http.Client{Timeout: time.Minute}
	call := func(base, method, path, body string, v any) error {
		rq, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		rq.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			rq.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(rq)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 300 {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if v != nil {
			return json.NewDecoder(resp.Body).Decode(v)
		}
		return nil
	}
	if err := call(nodes[0].base, "PUT", "/api/v1/settings", `{"max_concurrent_tasks":64}`, nil); err != nil {
		return r, err
	}

	// Submit from 8 clients at once, each task to the next node.
	submitted := make([]time.Time, tasks)
	ids := make([]string, tasks)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var t struct {
					ID string `json:"id"`
				}
				at := time.Now()
				if err := call(nodes[i%n].base, "POST", "/api/v1/tasks", `{"input":"bench"}`, &t); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					continue
				}
				submitted[i], ids[i] = at, t.ID
			}
		}()
	}
	for i := range tasks {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}

	// Wait for every end, asking the nodes in turn.
	left := slices.Clone(ids)
	for k := 0; len(left) > 0; k++ {
		var still []string
		for j, id := range left {
			var t struct {
				Status string `json:"status"`
			}
			if err := call(nodes[(j+k)%n].base, "GET", "/api/v1/tasks/"+id, "", &t); err != nil {
				return r, err
			}
			switch t.Status {
			case "succeeded":
			case "failed", "canceled", "interrupted":
				r.Failed++
			default:
				still = append(still, id)
			}
		}
		left = still
		if len(left) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if time.Since(start) > 10*time.Minute {
			return r, fmt.Errorf("%d tasks did not end within 10 minutes", len(left))
		}
	}
	makespan := time.Since(start)
	r.MakespanMS = ms(makespan)
	r.TasksPerSec = float64(tasks) / makespan.Seconds()

	// Queue latency: submit to the first step (task_started), by the
	// nodes' clocks, which are this machine's.
	var lat []time.Duration
	for i, id := range ids {
		var st struct {
			Steps []bulwark.Event `json:"steps"`
		}
		if err := call(nodes[i%n].base, "GET", "/api/v1/tasks/"+id+"/steps?limit=1", "", &st); err != nil {
			return r, err
		}
		if len(st.Steps) > 0 {
			lat = append(lat, st.Steps[0].Time.Sub(submitted[i]))
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.QueueP50MS = ms(lat[len(lat)/2])
		r.QueueP95MS = ms(lat[min(len(lat)-1, len(lat)*95/100)])
	}
	return r, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

var benchServingRE = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`) }}

// startNode starts `bulwark serve` with env on a free loopback port and
// waits until it serves.
func (b *clusterBench) startNode(ctx context.Context, env []string) (*benchNode, error) {
	cmd := exec.Command(b.bin, "serve", "--addr", "127.0.0.1:0", "--model", "replay:"+b.script)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	nd := &benchNode{cmd: cmd, done: make(chan struct{})}
	lines := bufio.NewScanner(stderr)
	var log strings.Builder
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := benchServingRE.Get().FindStringSubmatch(lines.Text()); m != nil {
			nd.base = m[1]
			break
		}
	}
	go func() {
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(nd.done)
	}()
	if nd.base == "" {
		<-nd.done
		return nil, fmt.Errorf("a node did not start:\n%s", log.String())
	}
	return nd, nil
}

// scratchDatabase creates a database on the server of serverURL (which
// it connects to, and leaves alone) and returns its URL and a function
// that drops it.
func scratchDatabase(ctx context.Context, serverURL string) (string, func(), error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, usagef("bench cluster: --database-url must be a postgres:// URL")
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "bulwark_bench_" + hex.EncodeToString(rnd[:])
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, bulwark.E(bulwark.Unavailable, "bench.cluster", "cannot connect to the PostgreSQL server", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, bulwark.E(bulwark.Unavailable, "bench.cluster", "cannot create a scratch database", err)
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), serverURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
