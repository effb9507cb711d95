package audit

import (
	"context"
	"strconv"
	"sync"

	"github.com/bulwark-agents/bulwark"
)

// TaskAuditor turns the events of one task into audit records: the start
// and end of the task, each tool call with its arguments and outcome, and
// each policy decision. Use its Sink method as (part of) the agent's sink.
// Arguments are masked by the Log's redactor before they are stored.
type TaskAuditor struct {
	Log    *Log
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
		return Record{Action: "tool.call", Target: e.TaskID, Outcome: outcome, Details: map[string]string{
			"tool": e.Tool, "call_id": e.CallID, "args": string(c.Args), "step": strconv.Itoa(e.Step),
		}}, true
	case bulwark.EventGuard:
		return Record{Action: "guard.flag", Target: e.TaskID, Outcome: OutcomeDenied, Details: map[string]string{
			"tool": e.Tool, "call_id": e.CallID, "why": e.Text,
		}}, true
	case bulwark.EventApproval:
		if e.Decision == "" {
			return Record{}, false // the question; the decision follows
		}
		outcome := OutcomeOK
		if e.Decision != string(bulwark.Allow) {
			outcome = OutcomeDenied
		}
		return Record{Action: "policy.decision", Target: e.TaskID, Outcome: outcome, Details: map[string]string{
			"tool": e.Tool, "call_id": e.CallID, "decision": e.Decision, "why": e.Text,
		}}, true
	}
	return Record{}, false
}
