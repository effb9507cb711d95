package audit

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

const (
	fileCanary = "CANARY-file-Zq81-content"
	cmdCanary  = "CANARY-cmd-Pw37-argument"
)

var describeTests = []struct {
	tool, args  string
	target      string
	summaryHas  []string
	summaryNone []string
}{
	{"write_file", `{"path":"./src/../notes.txt","content":"` + fileCanary + `"}`, "notes.txt",
		[]string{"path=notes.txt", "content=<24 bytes>"}, []string{fileCanary}},
	{"run_shell", `{"command":"echo ` + cmdCanary + ` > out.txt"}`, "echo",
		[]string{"running echo"}, []string{cmdCanary, "out.txt"}},
	{"run_shell", `{"command":"cat <<EOF\n` + cmdCanary + `\nEOF"}`, "cat", nil, []string{cmdCanary}},
	{"run_code", `{"language":"python","code":"print('` + cmdCanary + `')"}`, "",
		[]string{"language=python", "code=<"}, []string{cmdCanary}},
	{"fetch_url", `{"url":"https://user:` + cmdCanary + `@example.com:8443/p/` + fileCanary + `?q=1"}`, "https://example.com:8443",
		nil, []string{cmdCanary, fileCanary}},
	{"read_file", `{"path":"a.txt","offset":10,"limit":5}`, "a.txt", []string{"limit=5", "offset=10"}, nil},
	{"mcp__x__y", `{"` + cmdCanary + `":"v","ok":true}`, "", []string{"?=<1 bytes>", "ok=true"}, []string{cmdCanary}},
	{"finish", `{"answer":"` + fileCanary + `"}`, "", []string{"answer=<24 bytes>"}, []string{fileCanary}},
	{"write_file", `not json ` + fileCanary, "", []string{"not a JSON object"}, []string{fileCanary}},
	// Values the model chose under names that once were shown.
	{"mcp__x__y", `{"name":"CANARY-name-Zq81","id":"CANARY-id-Zq81"}`, "", []string{"name=<16 bytes>", "id=<14 bytes>"}, []string{"CANARY"}},
	{"run_code", `{"language":"CANARY-lang-Zq81","code":"x"}`, "", []string{"language=<16 bytes>"}, []string{"CANARY"}},
	{"mcp__x__y", `{"account":41111111111111111}`, "", []string{"account=<17 bytes>"}, []string{"41111111111111111"}},
}

func TestDescribeCallKeepsNoContent(t *testing.T) {
	for _, tt := range describeTests {
		f := DescribeCall(tt.tool, json.RawMessage(tt.args))
		if f.Target != tt.target {
			t.Errorf("DescribeCall(%s, %s).Target = %q, want %q", tt.tool, tt.args, f.Target, tt.target)
		}
		if len(f.ArgsSHA256) != 64 {
			t.Errorf("DescribeCall(%s, %s).ArgsSHA256 = %q", tt.tool, tt.args, f.ArgsSHA256)
		}
		for _, s := range tt.summaryHas {
			if !strings.Contains(f.Summary, s) {
				t.Errorf("DescribeCall(%s, %s).Summary = %q, want it to hold %q", tt.tool, tt.args, f.Summary, s)
			}
		}
		all := f.Target + " " + f.Summary
		for _, s := range tt.summaryNone {
			if strings.Contains(all, s) {
				t.Errorf("DescribeCall(%s, %s) = %+v holds %q", tt.tool, tt.args, f, s)
			}
		}
	}
	long := DescribeCall("write_file", json.RawMessage(`{"path":"`+strings.Repeat("d/", 200)+`x"}`))
	if len(long.Target) > maxTarget || len(long.Summary) > maxSummary {
		t.Errorf("a long path gives a target of %d bytes and a summary of %d", len(long.Target), len(long.Summary))
	}
}

// TestTaskAuditorRecordsNoContent plays the events of a task that writes a
// canary into a file, runs a command with another, is asked about and
// flagged on its calls: no record holds either canary, in clear, base64 or
// hex.
func TestTaskAuditorRecordsNoContent(t *testing.T) {
	ctx := context.Background()
	dir := NewMemoryDir()
	c, err := OpenChains(ctx, dir, Options{SigningKey: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	a := &TaskAuditor{Log: c, Tenant: "tn_a", Actor: "key_1"}
	write := json.RawMessage(`{"path":"out.txt","content":"` + fileCanary + `"}`)
	shell := json.RawMessage(`{"command":"printf ` + cmdCanary + ` | wc -c"}`)
	for _, e := range []bulwark.Event{
		{Type: bulwark.EventTaskStarted, TaskID: "task_1", Text: fileCanary},
		{Type: bulwark.EventToolCall, TaskID: "task_1", Tool: "write_file", CallID: "c1", Args: write},
		{Type: bulwark.EventToolResult, TaskID: "task_1", Tool: "write_file", CallID: "c1", Text: "wrote " + fileCanary},
		{Type: bulwark.EventToolCall, TaskID: "task_1", Tool: "run_shell", CallID: "c2", Args: shell},
		{Type: bulwark.EventApproval, TaskID: "task_1", Tool: "run_shell", CallID: "c2", Args: shell, Text: "Allow run_shell: printf " + cmdCanary + "?"},
		{Type: bulwark.EventApproval, TaskID: "task_1", Tool: "run_shell", CallID: "c2", Decision: "allow", Text: "Allow run_shell: printf " + cmdCanary + "?"},
		{Type: bulwark.EventGuard, TaskID: "task_1", Tool: "run_shell", CallID: "c2", Text: "text from run_shell: printf " + cmdCanary + " looks like prompt injection"},
		{Type: bulwark.EventToolResult, TaskID: "task_1", Tool: "run_shell", CallID: "c2", Text: cmdCanary},
		{Type: bulwark.EventTaskFinished, TaskID: "task_1", Reason: bulwark.FinishDone, Text: fileCanary},
	} {
		e.Time = time.Now()
		a.Sink(e)
	}
	c.Close()
	var calls int
	for _, line := range dir.Store("tn_a").Lines {
		for _, v := range []string{fileCanary, cmdCanary} {
			for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v))} {
				if strings.Contains(string(line), form) {
					t.Errorf("audit record holds %q: %s", form, line)
				}
			}
		}
		r, _ := DecodeRecord(line)
		if r.Action == "tool.call" {
			calls++
			if r.Details["target"] == "" || len(r.Details["args_sha256"]) != 64 {
				t.Errorf("tool.call record lacks its target or hash: %v", r.Details)
			}
		}
	}
	if calls != 2 {
		t.Errorf("%d tool.call records, want 2", calls)
	}
}

func TestAggregatorCountsPerClientAndWindow(t *testing.T) {
	ctx := context.Background()
	dir := NewMemoryDir()
	c, err := OpenChains(ctx, dir, Options{SigningKey: testKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now := time.Date(2026, 1, 1, 10, 0, 5, 0, time.UTC)
	agg := NewAggregator(c, time.Minute, func() time.Time { return now }, func(err error) { t.Error(err) })
	fail := func(client, email string) {
		agg.Add(client, Record{Actor: "anonymous", Action: "auth.login_failed", Target: email, Outcome: OutcomeDenied})
	}
	for i := range 300 {
		fail("192.0.2.1", "a@example.com")
		if i%3 == 0 {
			fail("192.0.2.2", "b"+string(rune('a'+i%26))+"@example.com")
		}
	}
	agg.Flush(ctx, false)
	if n := len(dir.Store(SystemChain).Lines); n != 0 {
		t.Errorf("%d records written before the minute ended", n)
	}
	now = now.Add(time.Minute)
	fail("192.0.2.1", "a@example.com") // the next minute's
	agg.Flush(ctx, false)
	got := map[string]Record{}
	for r, err := range c.Read(ctx, SystemChain, 0) {
		if err != nil {
			t.Fatal(err)
		}
		got[r.Details["client"]] = r
	}
	if len(got) != 2 || got["192.0.2.1"].Details["count"] != "300" || got["192.0.2.2"].Details["count"] != "100" {
		t.Errorf("aggregated records = %v, want one of count 300 for .1 and one of 100 for .2", got)
	}
	if got["192.0.2.2"].Details["targets"] != "26" {
		t.Errorf("distinct targets of .2 = %q, want 26", got["192.0.2.2"].Details["targets"])
	}
	agg.Flush(ctx, true) // shutdown: the current minute too
	if n, _, _ := c.Head(ctx, SystemChain); n != 3 {
		t.Errorf("system chain holds %d records after the last flush, want 3", n)
	}
}
