package audit

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark"
)

// TaskAuditor turns the events of one task into audit records: the start
// and end of the task, each tool call with its outcome and what it acted
// on (see DescribeCall: never the call's content), and each policy
// decision. Use its Sink method as (part of) the agent's sink.
type TaskAuditor struct {
	Log    Appender // a *Chains (records go to the tenant's chain) or a *Log
	Tenant string
	Actor  string // who started the task: a user, an API key id, "cli"
	// OnError is told when a record cannot be written (nil: ignored). A
	// security product should not go on silently: callers usually stop the
	// task or at least log it.
	OnError func(error)

	mu    sync.Mutex
	calls map[string]bulwark.Event // tool_call events waiting for their result
}

// Sink records e when it is security-relevant. It is safe for concurrent use.
func (a *TaskAuditor) Sink(e bulwark.Event) {
	r, ok := a.record(e)
	if !ok {
		return
	}
	r.TenantID, r.Actor = a.Tenant, a.Actor
	if err := a.Log.Append(context.Background(), r); err != nil && a.OnError != nil {
		a.OnError(err)
	}
}

func (a *TaskAuditor) record(e bulwark.Event) (Record, bool) {
	switch e.Type {
	case bulwark.EventTaskStarted:
		return Record{Action: "task.start", Target: e.TaskID, Outcome: OutcomeOK}, true
	case bulwark.EventTaskFinished:
		action, outcome := "task.end", OutcomeOK
		switch {
		case e.Reason == bulwark.FinishCanceled:
			action = "task.cancel"
		case !e.Reason.Success():
			outcome = OutcomeError
		}
		return Record{Action: action, Target: e.TaskID, Outcome: outcome,
			Details: map[string]string{"reason": string(e.Reason)}}, true
	case bulwark.EventToolCall:
		a.mu.Lock()
		if a.calls == nil {
			a.calls = make(map[string]bulwark.Event)
		}
		a.calls[e.CallID] = e
		a.mu.Unlock()
		return Record{}, false
	case bulwark.EventToolResult:
		a.mu.Lock()
		c := a.calls[e.CallID]
		delete(a.calls, e.CallID)
		a.mu.Unlock()
		outcome := OutcomeOK
		if e.IsError {
			outcome = OutcomeError
		}
		d := callDetails(e.Tool, e.CallID, c.Args)
		d["step"] = strconv.Itoa(e.Step)
		if c.Effects != nil {
			// What the call acts on as its tool declared it (cleaned paths,
			// programs, hosts, secret names), never the content.
			d["effects"] = shorten(effectsSummary(*c.Effects), maxEffects)
		}
		return Record{Action: "tool.call", Target: e.TaskID, Outcome: outcome, Details: d}, true
	case bulwark.EventGuard:
		// The guard's text quotes the call's target: say only which check fired.
		why := "untrusted text looked like prompt injection"
		if strings.HasPrefix(e.Text, "blocked: ") {
			why = "the call carried the task's canary token"
		}
		d := callDetails(e.Tool, e.CallID, a.pendingArgs(e.CallID))
		d["why"] = why
		return Record{Action: "guard.flag", Target: e.TaskID, Outcome: OutcomeDenied, Details: d}, true
	case bulwark.EventApproval:
		if e.Decision == "" {
			return Record{}, false // the question; the decision follows
		}
		outcome := OutcomeOK
		if e.Decision != string(bulwark.Allow) {
			outcome = OutcomeDenied
		}
		// The question quotes the call: keep only a policy rule's name.
		d := callDetails(e.Tool, e.CallID, a.pendingArgs(e.CallID))
		d["decision"] = e.Decision
		d["decided_by"] = e.DecidedBy
		if rule, ok := strings.CutPrefix(e.Text, "refused by the policy rule "); ok {
			d["rule"] = shorten(rule, maxTarget)
		}
		return Record{Action: "policy.decision", Target: e.TaskID, Outcome: outcome, Details: d}, true
	}
	return Record{}, false
}

// Pending tells the auditor the stored events of a task a run resumes:
// the calls they started and did not end await their results in this
// run, and their records name what they were, as if this run had started
// them.
func (a *TaskAuditor) Pending(history []bulwark.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range history {
		switch e.Type {
		case bulwark.EventToolCall:
			if a.calls == nil {
				a.calls = make(map[string]bulwark.Event)
			}
			a.calls[e.CallID] = e
		case bulwark.EventToolResult:
			delete(a.calls, e.CallID)
		}
	}
}

// pendingArgs returns the arguments of the call id that awaits its result.
func (a *TaskAuditor) pendingArgs(id string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[id].Args
}

// callDetails are the details of a record about a call of tool.
func callDetails(tool, id string, args []byte) map[string]string {
	d := map[string]string{"tool": tool, "call_id": id}
	if server, name, ok := strings.Cut(strings.TrimPrefix(tool, "mcp__"), "__"); ok && strings.HasPrefix(tool, "mcp__") {
		// A tool of an MCP server: which server, which of its tools.
		d["mcp_server"], d["mcp_tool"] = server, name
	}
	if args != nil {
		f := DescribeCall(tool, args)
		d["target"], d["args_sha256"], d["summary"] = f.Target, f.ArgsSHA256, f.Summary
	}
	return d
}

// maxEffects bounds the effects recorded for one call, in bytes.
const maxEffects = 2000

// effectsSummary is the account of a call's declared effects that the audit
// log keeps: the paths it reads and writes, the programs it runs (names
// only: a command's arguments can carry content), whether it runs
// something unknown, the hosts it contacts, the tools of other programs
// it calls (an MCP server's, "SERVER/TOOL") and whether their tool
// declared them destructive, and the secrets it uses.
func effectsSummary(e bulwark.Effects) string {
	var programs []string
	for _, r := range e.Runs {
		name, _, _ := strings.Cut(r, " ")
		if !slices.Contains(programs, name) {
			programs = append(programs, name)
		}
	}
	var parts []string
	add := func(verb string, list []string) {
		if len(list) > 0 {
			parts = append(parts, verb+" "+strings.Join(list, ", "))
		}
	}
	add("reads", e.Reads)
	add("writes", e.Writes)
	add("removes", e.Removes)
	add("runs", programs)
	if len(e.Dynamic) > 0 {
		parts = append(parts, "runs programs not known before it runs")
	}
	add("contacts", e.Hosts)
	add("calls", e.Calls)
	if e.Destructive {
		parts = append(parts, "declared destructive")
	}
	add("uses secrets", e.Secrets)
	return strings.Join(parts, "; ")
}
