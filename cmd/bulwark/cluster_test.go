package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/secret"
)

// clusterModel is the fake model the nodes of a cluster test share, over
// real HTTP: its answer depends only on the task's input and on how many
// tool results the conversation holds, so whichever node asks, after
// whatever restart, gets the next step of the same plan. It counts the
// requests of each input: a task run twice asks twice.
type clusterModel struct {
	mu    sync.Mutex
	asked map[string]int
	// done is, by input, the most tool results a request from each node
	// carried (nodes are told apart by their provider keys, nodeKey).
	done map[string]map[int]int
}

// nodeKey is node i's provider key: the fake model tells nodes apart by it.
func nodeKey(i int) string { return fmt.Sprintf("sk-test-node%d", i) }

// clusterPlans are the steps of each kind of task, by input prefix. Call
// ids are fixed so that the test can count each call's events.
var clusterPlans = map[string][]llmtest.ToolCall{
	// quick: one file and done.
	"quick": {
		{ID: "q1", Name: "write_file", Arguments: json.RawMessage(`{"path": "q.txt", "content": "Q"}`)},
		{ID: "q2", Name: "finish", Arguments: json.RawMessage(`{"answer": "quick done"}`)},
	},
	// long: two files, a command that writes s.txt and sleeps (its node
	// is killed then), then more files and done.
	"long": {
		{ID: "l1", Name: "write_file", Arguments: json.RawMessage(`{"path": "a.txt", "content": "A1"}`)},
		{ID: "l2", Name: "write_file", Arguments: json.RawMessage(`{"path": "b.txt", "content": "B1"}`)},
		{ID: "l3", Name: "run_shell", Arguments: json.RawMessage(`{"command": "echo S > s.txt && sleep 60"}`)},
		{ID: "l4", Name: "write_file", Arguments: json.RawMessage(`{"path": "c.txt", "content": "C1"}`)},
		{ID: "l5", Name: "read_file", Arguments: json.RawMessage(`{"path": "a.txt"}`)},
		{ID: "l6", Name: "finish", Arguments: json.RawMessage(`{"answer": "long done"}`)},
	},
	// ask: a file, a question (its node may be killed then), a file, done.
	"ask": {
		{ID: "a1", Name: "write_file", Arguments: json.RawMessage(`{"path": "a.txt", "content": "A1"}`)},
		{ID: "a2", Name: "ask_user", Arguments: json.RawMessage(`{"question": "go on?"}`)},
		{ID: "a3", Name: "write_file", Arguments: json.RawMessage(`{"path": "c.txt", "content": "C1"}`)},
		{ID: "a4", Name: "finish", Arguments: json.RawMessage(`{"answer": "ask done"}`)},
	},
}

func (m *clusterModel) turn(r *llmtest.Request) llmtest.Turn {
	input, results := "", 0
	for _, msg := range r.Messages {
		if msg.Role == llm.User && input == "" {
			input = msg.Content
		}
		if msg.Role == "tool" {
			results++
		}
	}
	node := -1
	fmt.Sscanf(r.Header.Get("Authorization"), "Bearer sk-test-node%d", &node)
	m.mu.Lock()
	m.asked[input]++
	if m.done[input] == nil {
		m.done[input] = map[int]int{}
	}
	m.done[input][node] = max(m.done[input][node], results)
	m.mu.Unlock()
	kind, _, _ := strings.Cut(input, " ")
	plan := clusterPlans[kind]
	if results >= len(plan) {
		return llmtest.Turn{Content: "nothing left to do"}
	}
	return llmtest.Turn{Content: "step", ToolCalls: []llmtest.ToolCall{plan[results]}}
}

// past returns a node that asked the model for input with at least n
// tool results, or -1.
func (m *clusterModel) past(input string, n int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for node, done := range m.done[input] {
		if done >= n {
			return node
		}
	}
	return -1
}

func (m *clusterModel) requests(input string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.asked[input]
}

// clusterNode is one `bulwark serve` of a cluster, with its own data
// folder.
type clusterNode struct {
	*served
	data string
	env  []string
}

// testCluster is nodes of `bulwark serve` on one PostgreSQL database.
type testCluster struct {
	t     *testing.T // the whole test: nodes started in a subtest outlive it
	nodes []*clusterNode
	cli   []string // the environment of CLI commands on the database
	model *clusterModel
}

// startTestCluster starts n nodes of `bulwark serve` on a fresh database,
// with one master key, a short queue lease, and the fake model.
func startTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	testfamily.Postgres.Require(t)
	dbURL := pgtest.NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "master.key")
	if _, err := secret.CreateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	cm := &clusterModel{asked: map[string]int{}, done: map[string]map[int]int{}}
	model := llmtest.NewServer(cm.turn)
	t.Cleanup(model.Close)
	common := []string{"BULWARK_DATABASE_URL=" + dbURL, "BULWARK_MASTER_KEY_FILE=" + keyFile}
	c := &testCluster{t: t, model: cm, cli: append([]string{"BULWARK_DATA=" + t.TempDir()}, common...)}
	for i := range n {
		data := t.TempDir()
		env := append([]string{"BULWARK_DATA=" + data, "BULWARK_QUEUE_LEASE=10s", "BULWARK_SANDBOX=off",
			"BULWARK_MAX_EXECUTION_TIME=120s", "BULWARK_SHARED_PROVIDER_KEYS=on", "OPENAI_API_KEY=" + nodeKey(i),
			"OPENAI_BASE_URL=" + model.URL + "/v1"}, common...)
		c.nodes = append(c.nodes, &clusterNode{served: startServe(t, env, "--model", "openai:x"), data: data, env: env})
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, n := range c.nodes {
				t.Logf("--- log of node %d:\n%s", i, n.log)
			}
		}
	})
	return c
}

// tenant creates a tenant with the CLI and returns its key.
func (c *testCluster) tenant(t *testing.T, name string) string {
	t.Helper()
	res := runBulwark(t, c.cli, "tenants", "create", name)
	if res.code != 0 {
		t.Fatalf("tenants create %s: %d %s", name, res.code, res.stderr)
	}
	return strings.TrimSpace(res.stdout)
}

// submit creates a task of input through node and returns its id.
func (c *testCluster) submit(t *testing.T, node int, key, input string) string {
	t.Helper()
	var task crashTask
	body, _ := json.Marshal(map[string]string{"input": input})
	if code := c.nodes[node].call(t, key, "POST", "/api/v1/tasks", string(body), &task); code != 201 {
		t.Fatalf("POST task on node %d = %d", node, code)
	}
	return task.ID
}

// killAndReplace ends node i with SIGKILL and starts a new node on its
// data folder.
func (c *testCluster) killAndReplace(t *testing.T, i int) {
	t.Helper()
	n := c.nodes[i]
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	// Started for the whole cluster test: a subtest's cleanup would end it.
	c.nodes[i] = &clusterNode{served: startServe(c.t, n.env, "--model", "openai:x"), data: n.data, env: n.env}
}

// runner returns the index of the node that runs the task of input:
// the one whose data folder holds the task's workspace with file in it,
// waiting for one to. A folder is sealed away when its run stops, and a
// run that asks a person stops as it parks, soon after it wrote its file:
// a poll can miss that, so a node that asked the model with the result of
// the plan's step that made file counts too.
func (c *testCluster) runner(t *testing.T, key, id, input, file string) int {
	t.Helper()
	kind, _, _ := strings.Cut(input, " ")
	step := slices.IndexFunc(clusterPlans[kind], func(c llmtest.ToolCall) bool { return strings.Contains(string(c.Arguments), file) })
	if step < 0 {
		t.Fatalf("no step of the %s plan makes %s", kind, file)
	}
	for i := 0; ; i++ {
		for j, n := range c.nodes {
			if m, _ := filepath.Glob(filepath.Join(n.data, "workspaces", "*", id, file)); len(m) > 0 {
				return j
			}
		}
		if j := c.model.past(input, step+1); j >= 0 {
			return j
		}
		if i > 3000 { // a hang guard, not a speed assertion
			st := c.nodes[0].task(t, key, id)
			t.Fatalf("no node has %s in the workspace of task %s; it is %s after %d model requests, events %+v",
				file, id, st.Status, c.model.requests(input), c.events(t, 0, key, id))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *testCluster) events(t *testing.T, node int, key, id string) []bulwark.Event {
	t.Helper()
	var out struct {
		Steps []bulwark.Event `json:"steps"`
	}
	if code := c.nodes[node].call(t, key, "GET", "/api/v1/tasks/"+id+"/steps?limit=1000", "", &out); code != 200 {
		t.Fatalf("GET steps of %s on node %d = %d", id, node, code)
	}
	return out.Steps
}

// waitEvents polls the task's events on node until ok holds.
func (c *testCluster) waitEvents(t *testing.T, node int, key, id, what string, ok func([]bulwark.Event) bool) []bulwark.Event {
	t.Helper()
	for i := 0; ; i++ {
		evs := c.events(t, node, key, id)
		if ok(evs) {
			return evs
		}
		if i > 3000 { // a hang guard, not a speed assertion
			t.Fatalf("task %s never %s; events %+v", id, what, evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitDone waits until the task is finished, asking node, and returns it.
func (c *testCluster) waitDone(t *testing.T, node int, key, id string) crashTask {
	t.Helper()
	for i := 0; ; i++ {
		st := c.nodes[node].task(t, key, id)
		switch st.Status {
		case "succeeded", "failed", "canceled":
			// Not interrupted: in a cluster a rescued task passes through it.
			return st
		}
		if i > 3000 {
			var logs strings.Builder
			for j, n := range c.nodes {
				fmt.Fprintf(&logs, "--- node %d:\n%s", j, n.log)
			}
			t.Fatalf("task %s is still %s\n%s", id, st.Status, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countEvents(evs []bulwark.Event, typ bulwark.EventType, callID string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && (callID == "" || e.CallID == callID) {
			n++
		}
	}
	return n
}

// checkOnce checks that each call of plan has one tool_call and one
// tool_result event, that there are no others, and that seqs grow.
func checkOnce(t *testing.T, id string, evs []bulwark.Event, plan []llmtest.ToolCall) {
	t.Helper()
	for _, call := range plan {
		if c, r := countEvents(evs, bulwark.EventToolCall, call.ID), countEvents(evs, bulwark.EventToolResult, call.ID); c != 1 || r != 1 {
			t.Errorf("task %s: call %s (%s) has %d tool_call and %d tool_result events, want 1 and 1", id, call.ID, call.Name, c, r)
		}
	}
	if n := countEvents(evs, bulwark.EventToolCall, ""); n != len(plan) {
		t.Errorf("task %s: %d tool_call events, want %d", id, n, len(plan))
	}
	if n := countEvents(evs, bulwark.EventTaskFinished, ""); n != 1 {
		t.Errorf("task %s: %d task_finished events, want 1", id, n)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Errorf("task %s: event %d has seq %d after %d", id, i+1, evs[i].Seq, evs[i-1].Seq)
		}
	}
}

// pgCheckpoints reports whether the PostgreSQL store keeps checkpoints:
// without them a task resumed on another node goes on without the files
// its first node wrote.
func pgCheckpoints() bool {
	_, ok := any((*postgres.DB)(nil)).(bulwark.CheckpointStore)
	return ok
}

// TestCluster runs three `bulwark serve` processes on one PostgreSQL
// database and checks what makes them one service: tasks submitted to
// any node run once, a stream of a task follows it from any node and
// resumes with Last-Event-ID, a task whose node is killed goes on
// elsewhere with no tool call run twice (a question included), and rate
// limits and the login throttle count requests to every node together.
func TestCluster(t *testing.T) {
	c := startTestCluster(t, 3)
	key := c.tenant(t, "acme")
	// Room for the test's polling; the rate-limit check uses its own tenant.
	if code := c.nodes[0].call(t, key, "PUT", "/api/v1/settings", `{"max_concurrent_tasks":8,"rate_limit":{"per_key_rps":100,"per_tenant_rps":100,"burst":200}}`, nil); code != 200 {
		t.Fatalf("PUT settings = %d", code)
	}

	for i, n := range c.nodes {
		if code := n.call(t, "", "GET", "/readyz", "", nil); code != 200 {
			t.Errorf("GET /readyz on node %d = %d, want 200", i, code)
		}
	}

	t.Run("tasks on every node run once", func(t *testing.T) {
		var ids []string
		for i := range 6 {
			ids = append(ids, c.submit(t, i%3, key, fmt.Sprintf("quick %d", i)))
		}
		for i, id := range ids {
			st := c.waitDone(t, (i+1)%3, key, id)
			if st.Status != "succeeded" || st.Answer != "quick done" {
				t.Errorf("task %s is %s with answer %q, want succeeded with quick done", id, st.Status, st.Answer)
			}
			evs := c.events(t, (i+2)%3, key, id)
			checkOnce(t, id, evs, clusterPlans["quick"])
			if n := countEvents(evs, bulwark.EventTaskStarted, ""); n != 1 {
				t.Errorf("task %s started %d times, want 1", id, n)
			}
			if n := c.model.requests(fmt.Sprintf("quick %d", i)); n != 2 {
				t.Errorf("task %s asked the model %d times, want 2", id, n)
			}
		}
	})

	crossNode := false // a message sent to a node that does not run its task reached it
	t.Run("a stream follows a task run by another node", func(t *testing.T) {
		id := c.submit(t, 0, key, "ask stream")
		run := c.runner(t, key, id, "ask stream", "a.txt")
		// Stream from the node it was submitted to when another node runs
		// it: a node must not take a task it queued for one it runs.
		other, third := (run+1)%3, (run+2)%3
		if run != 0 {
			other, third = 0, 3-run
		}
		// Read from another node until the question, then stop.
		first := sseRead(t, c.nodes[other].base, key, id, "", func(e sseEvent) bool { return e.Type == string(bulwark.EventAskUser) })
		if len(first) == 0 || first[len(first)-1].Type != string(bulwark.EventAskUser) {
			t.Fatalf("the stream from node %d (task on node %d) ended before the question: %+v", other, run, first)
		}
		// Answer once the task waits, as a person reading the question
		// would (an answer sent while the run that asked is still parking
		// the task is the runner's TestEarlyAnswersToWaitingTask), and
		// resume the stream on the third node. The answer goes to the node
		// that runs the task: see crossNodeMessage.
		for i := 0; i < 300 && c.nodes[third].task(t, key, id).Status != "waiting"; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		crossNode = c.crossNodeMessage(t, third, key, id)
		if !crossNode {
			c.answer(t, run, key, id)
		}
		last := strconv.FormatInt(first[len(first)-1].Seq, 10)
		rest := sseRead(t, c.nodes[third].base, key, id, last, func(e sseEvent) bool { return false })
		all := append(first, rest...)
		stored := c.events(t, run, key, id)
		var got, want []string
		for _, e := range all {
			if e.Type != string(bulwark.EventModelDelta) {
				got = append(got, fmt.Sprintf("%d:%s", e.Seq, e.Type))
			}
		}
		for _, e := range stored {
			want = append(want, fmt.Sprintf("%d:%s", e.Seq, e.Type))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("streamed from nodes %d and %d (task on %d):\n%s\nstored:\n%s", other, third, run, strings.Join(got, " "), strings.Join(want, " "))
		}
		if len(rest) == 0 || rest[len(rest)-1].Type != string(bulwark.EventTaskFinished) {
			t.Errorf("the resumed stream did not end with task_finished: %+v", rest)
		}
	})

	t.Run("a message sent to another node reaches the task", func(t *testing.T) {
		// Tried in the stream's test: taken (202) only if it reached
		// the task there; else refused (409).
		if !crossNode {
			t.Skip(msgNoCrossNodeMessages)
		}
	})

	t.Run("rate limits count every node", func(t *testing.T) {
		rkey := c.tenant(t, "limited")
		// A slow rate and a small burst, so that totals do not depend on
		// timing; the tenant's own bucket is left wide.
		if code := c.nodes[0].call(t, rkey, "PUT", "/api/v1/settings", `{"rate_limit":{"per_key_rps":0.001,"per_tenant_rps":100,"burst":5}}`, nil); code != 200 {
			t.Fatalf("PUT settings = %d", code)
		}
		newKey := func() string {
			var k struct {
				Token string `json:"token"`
			}
			if code := c.nodes[1].call(t, rkey, "POST", "/api/v1/keys", `{"name":"k","role":"viewer"}`, &k); code != 201 || k.Token == "" {
				t.Fatalf("POST key = %d", code)
			}
			return k.Token
		}
		count := func(k string, nodes ...int) int {
			n := 0
			for i := range 20 {
				if c.nodes[nodes[i%len(nodes)]].call(t, k, "GET", "/api/v1/me", "", nil) == 200 {
					n++
				}
			}
			return n
		}
		one := count(newKey(), 2)
		if one != 5 {
			t.Fatalf("one node let %d of 20 requests of a key through, want 5 (the burst): the test's premise is wrong", one)
		}
		if all := count(newKey(), 0, 1, 2); all != one {
			t.Errorf("a key sent 20 requests to three nodes in turn and %d went through, want %d as against one node", all, one)
		}
	})

	t.Run("failed logins on every node throttle the account", func(t *testing.T) {
		email := "ana@example.com"
		password := "correct horse battery staple 7"
		cmd := bulwarkCmd(t, c.cli, "users", "create", "--tenant", "acme", "--email", email, "--role", "member")
		cmd.Stdin = strings.NewReader(password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("users create: %v\n%s", err, out)
		}
		login := func(node int, pw string) int {
			return c.nodes[node].call(t, "", "POST", "/api/v1/login", `{"email":"`+email+`","password":"`+pw+`"}`, nil)
		}
		// One failed login on each node: on its own, no node has seen
		// more than one, which it would let pass (accountPolicy.Free is 2).
		var third time.Time // when the third failed login was answered
		for i := range 3 {
			if code := login(i, "wrong password, wrong"); code != http.StatusUnauthorized {
				t.Fatalf("failed login on node %d = %d, want 401", i, code)
			}
			third = time.Now()
		}
		// The third failure, counted once its password was checked, just
		// before the answer, makes the account wait 1 s: a login answered
		// within 1 s of that answer was checked within the wait, and must
		// be refused. (One answered later, on a machine stalled by other
		// work, may rightly pass: all three did once, with fuzzing beside.)
		checked := 0
		for i := range 3 {
			code := login(i, password)
			if time.Since(third) >= time.Second {
				t.Logf("the login on node %d was answered more than 1 s after the third failure (%d): not checked", i, code)
				continue
			}
			checked++
			if code != http.StatusTooManyRequests {
				t.Errorf("after three failed logins spread over three nodes, a login on node %d = %d, want 429", i, code)
			}
		}
		t.Logf("%d of 3 logins answered within the wait", checked)
	})

	t.Run("a task whose node is killed goes on elsewhere", func(t *testing.T) {
		id := c.submit(t, 1, key, "long kill")
		run := c.runner(t, key, id, "long kill", "s.txt") // the command runs: kill its node
		c.killAndReplace(t, run)
		watch := (run + 1) % 3
		st := c.waitDone(t, watch, key, id)
		evs := c.events(t, watch, key, id)
		if st.Status != "succeeded" || st.Answer != "long done" {
			t.Fatalf("the task is %s with answer %q, want succeeded with long done; events %+v", st.Status, st.Answer, evs)
		}
		checkOnce(t, id, evs, clusterPlans["long"])
		for _, e := range evs {
			if e.Type == bulwark.EventToolResult && e.CallID == "l3" && (!e.IsError || !strings.Contains(e.Text, "interrupted")) {
				t.Errorf("the cut-off command's result = %+v, want it reported interrupted", e)
			}
		}
		if n := countEvents(evs, bulwark.EventTaskStarted, ""); n != 2 {
			t.Errorf("%d task_started events, want 2 (the first run and the resumed one)", n)
		}
		if !pgCheckpoints() {
			t.Skip("the files of a task resumed on another node are not checked: the PostgreSQL store keeps no checkpoints yet (postgres.DB does not implement bulwark.CheckpointStore), so the new node starts without the files the killed node wrote")
		}
		for _, e := range evs {
			if e.Type == bulwark.EventToolResult && e.CallID == "l5" && !strings.Contains(e.Text, "A1") {
				t.Errorf("read_file a.txt on the new node = %q, want A1", e.Text)
			}
		}
		checkFiles(t, c.nodes[watch].served, key, id, map[string]string{"a.txt": "A1", "b.txt": "B1", "c.txt": "C1"})
	})

	t.Run("a cancel sent while a killed node's task waits for rescue ends it", func(t *testing.T) {
		id := c.submit(t, 0, key, "long cancel")
		run := c.runner(t, key, id, "long cancel", "s.txt")
		c.killAndReplace(t, run)
		// Held by no node until the queue rescues it: the cancel is
		// stored, and the run that rescues the task (a turn of its own)
		// carries it out. It was dropped as made for a turn that had
		// ended, after a 202, and the task ran to its end.
		other := (run + 1) % 3
		if code := c.nodes[other].call(t, key, "POST", "/api/v1/tasks/"+id+"/cancel", "", nil); code != 202 {
			t.Fatalf("POST cancel on node %d = %d, want 202", other, code)
		}
		st := c.waitDone(t, (other+1)%3, key, id)
		if st.Status != "canceled" {
			t.Errorf("the task is %s with answer %q, want canceled: the cancel sent while no node held it was lost", st.Status, st.Answer)
		}
	})

	t.Run("a task whose node stops goes on elsewhere", func(t *testing.T) {
		id := c.submit(t, 0, key, "long stop")
		run := c.runner(t, key, id, "long stop", "s.txt")
		// SIGTERM: the node stops gracefully, its run is cut off at the
		// command and handed back to the queue, without waiting for a
		// lease to run out.
		n := c.nodes[run]
		n.cmd.Process.Signal(syscall.SIGTERM)
		<-n.done
		c.nodes[run] = &clusterNode{served: startServe(c.t, n.env, "--model", "openai:x"), data: n.data, env: n.env}
		watch := (run + 1) % 3
		st := c.waitDone(t, watch, key, id)
		evs := c.events(t, watch, key, id)
		if st.Status != "succeeded" || st.Answer != "long done" {
			t.Fatalf("the task is %s with answer %q, want succeeded with long done; events %+v", st.Status, st.Answer, evs)
		}
		checkOnce(t, id, evs, clusterPlans["long"])
		if n := countEvents(evs, bulwark.EventTaskStarted, ""); n != 2 {
			t.Errorf("%d task_started events, want 2 (the first run and the resumed one)", n)
		}
		if !strings.Contains(n.log.String(), "stopped") {
			t.Errorf("the stopped node did not stop gracefully; its log:\n%s", n.log)
		}
	})

	t.Run("a question whose node is killed is answered on another", func(t *testing.T) {
		id := c.submit(t, 2, key, "ask kill")
		run := c.runner(t, key, id, "ask kill", "a.txt")
		c.waitEvents(t, run, key, id, "asked", func(evs []bulwark.Event) bool { return countEvents(evs, bulwark.EventAskUser, "") == 1 })
		c.killAndReplace(t, run)
		// A task waiting for a person is held by no node (its run ended
		// at its checkpoint): the answer, sent to another node, is kept
		// in the store and queues the task again; whichever node runs it
		// restores its files, asks again and takes the kept answer.
		other := (run + 1) % 3
		c.answer(t, other, key, id)
		st := c.waitDone(t, (other+1)%3, key, id)
		evs := c.events(t, other, key, id)
		if st.Status != "succeeded" || st.Answer != "ask done" {
			t.Fatalf("the task is %s with answer %q, want succeeded with ask done; events %+v", st.Status, st.Answer, evs)
		}
		checkOnce(t, id, evs, clusterPlans["ask"])
		// Two runs, each asking once: the first, and the one that took
		// the answer. When the kill landed between the question and the
		// park, the answers sent while no node held the task are the
		// rescuing run's (they were dropped as made for a turn that had
		// ended, and that run parked to ask a third time).
		asks, runs := countEvents(evs, bulwark.EventAskUser, ""), countEvents(evs, bulwark.EventTaskStarted, "")
		if asks != 2 || runs != 2 {
			var b strings.Builder
			for _, e := range evs {
				fmt.Fprintf(&b, "\n  %s %d %s step=%d tool=%s text=%q", e.Time.Format("15:04:05.000"), e.Seq, e.Type, e.Step, e.Tool, e.Text)
			}
			t.Errorf("%d ask_user events in %d runs, want one in each of 2 runs (asked; asked again by the run that took the answer, resumed or rescued); events:%s", asks, runs, b.String())
		}
		if !pgCheckpoints() {
			t.Skip("the files of a task resumed on another node are not checked: the PostgreSQL store keeps no checkpoints yet (postgres.DB does not implement bulwark.CheckpointStore)")
		}
		checkFiles(t, c.nodes[other].served, key, id, map[string]string{"a.txt": "A1", "c.txt": "C1"})
	})
}

// answer sends "yes" to the task's question through node until an
// answer follows the last question in its events: an answer sent before
// the question waits (on whatever node) is read as a message, so it is
// sent again until it is taken as the answer.
func (c *testCluster) answer(t *testing.T, node int, key, id string) {
	t.Helper()
	for i := 0; !answered(c.events(t, node, key, id)); i++ {
		if i%40 == 0 {
			if code := c.nodes[node].call(t, key, "POST", "/api/v1/tasks/"+id+"/messages", `{"text":"yes"}`, nil); code != 202 {
				t.Fatalf("POST the answer on node %d = %d", node, code)
			}
		}
		if i > 3000 {
			t.Fatalf("the answer was never taken: %+v", c.events(t, node, key, id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// msgNoCrossNodeMessages is why a message is sent to the node that runs
// its task.
const msgNoCrossNodeMessages = "a message sent to a node that does not run the task is refused (409): runner.Send reaches only tasks live on its own node; " +
	"delivering messages, cancellations and approval decisions across nodes (issue 13, point 6) is not built yet"

// crossNodeMessage sends an answer to a task through node, which does
// not run it. It reports whether the node took it; a refusal must be a
// 409, and a message taken (202) must reach the task: never a 202 for a
// message that goes nowhere.
func (c *testCluster) crossNodeMessage(t *testing.T, node int, key, id string) bool {
	t.Helper()
	switch code := c.nodes[node].call(t, key, "POST", "/api/v1/tasks/"+id+"/messages", `{"text":"yes"}`, nil); code {
	case 202:
		c.waitEvents(t, node, key, id, "got the message node "+strconv.Itoa(node)+" took (202)", answered)
		return true
	case 409:
		return false
	default:
		t.Fatalf("POST a message to a node that does not run the task = %d, want 202 or 409", code)
		return false
	}
}

// answered reports whether a user_message follows the last question.
func answered(evs []bulwark.Event) bool {
	last := -1
	for i, e := range evs {
		if e.Type == bulwark.EventAskUser {
			last = i
		}
	}
	if last < 0 {
		return false
	}
	for _, e := range evs[last+1:] {
		if e.Type == bulwark.EventUserMessage {
			return true
		}
	}
	return false
}

// checkFiles checks the task's files, listed and read through s.
func checkFiles(t *testing.T, s *served, key, id string, want map[string]string) {
	t.Helper()
	var files struct {
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	// The run that ended seals the files into the store as it closes, a
	// moment after the task's status says it ended: from another node,
	// they may not be listed yet.
	for range 100 {
		s.call(t, key, "GET", "/api/v1/tasks/"+id+"/files", "", &files)
		if len(files.Files) >= len(want) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(files.Files) != len(want) {
		t.Errorf("the task's files are %+v, want %v", files.Files, want)
	}
	for name, content := range want {
		r, _ := http.NewRequest("GET", s.base+"/api/v1/tasks/"+id+"/files/"+name, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		bufio.NewReader(resp.Body).WriteTo(b)
		resp.Body.Close()
		if b.String() != content {
			t.Errorf("%s = %q, want %q", name, b.String(), content)
		}
	}
}

// sseEvent is one event of a stream.
type sseEvent struct {
	Seq  int64
	Type string
}

// sseRead reads the task's event stream from base, after lastID when
// not empty, until the stream ends or stop returns true for an event.
func sseRead(t *testing.T, base, key, id, lastID string, stop func(sseEvent) bool) []sseEvent {
	t.Helper()
	r, _ := http.NewRequest("GET", base+"/api/v1/tasks/"+id+"/events", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	if lastID != "" {
		r.Header.Set("Last-Event-ID", lastID)
	}
	client := &http.Client{Timeout: 2 * time.Minute} // a hang guard
	resp, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET events = %d", resp.StatusCode)
	}
	var out []sseEvent
	var cur sseEvent
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.Seq, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.Type = strings.TrimPrefix(line, "event: ")
		case line == "" && cur.Type != "":
			out = append(out, cur)
			if stop(cur) {
				return out
			}
			cur = sseEvent{}
		}
	}
	return out
}
