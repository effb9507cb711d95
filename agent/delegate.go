package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/delegate"
)

// Sub-agents
//
// The delegate tool runs a child agent inline, in the parent's goroutine
// (so it holds no worker of its own and cannot wait for one its parent
// holds), on the same model (a replay script is played by the whole tree,
// turn after turn as they happen), in the same workspace, with the
// parent's policy, secrets, masking and screening, and with the parent's
// tools or those it names of them. Its budget is what the parent has
// left (steps, tokens, cost, time), and what it spends is charged to the
// parent. A tainted parent's child starts tainted; a child that becomes
// tainted taints its parent when its answer comes back, and that answer,
// like any answer of a child that read outside text, is untrusted text.
// The embedding program makes the child a task of its own
// (Delegation.Start): stored with ParentID, its events in its own
// stream, its approvals put to the same person.

// DefaultMaxDepth is the deepest sub-agent level where Delegation.MaxDepth is zero.
const DefaultMaxDepth = 3

// Delegation is what a run needs to start sub-agents.
type Delegation struct {
	// Depth is the run's level: 0 for a task a person started, one more
	// for each sub-agent below it.
	Depth int
	// MaxDepth is the deepest level a sub-agent may have: a run at
	// MaxDepth is not offered delegate. Zero: DefaultMaxDepth.
	MaxDepth int
	// Start makes the child task whose run the agent is about to start:
	// it stores task (ParentID, Input, Model and Limits set by the
	// parent) and returns it as stored, with cfg (the child's Config,
	// made from the parent's) given what the embedding program owns for
	// the child: its Sink, and its Approve, Env.Ask and Inbox if they
	// are not to be the parent's. An error is shown to the parent's model.
	Start func(ctx context.Context, task bulwark.Task, cfg Config) (Child, error)

	// inherited is the taint the child starts with; report receives the
	// child's taint when it ends.
	inherited string
	report    *string
	// prov is what the parent's outside and trusted texts were when the
	// child started, and what the child's are when it ends: the sub-task
	// is the model's words, not the person's, so a target a page the
	// parent read spelled out asks in the child, and one a page the child
	// read spelled out asks in the parent (provenance.go).
	prov *provenance
}

// Child is a sub-agent ready to run.
type Child struct {
	Task   bulwark.Task
	Config Config
	// Context, when set, is the child's context: it must end when the
	// parent's does (cancelling the parent cancels its children). Nil:
	// the parent's.
	Context context.Context
	// Done, when set, is called with the child's outcome once its run is
	// over.
	Done func(Outcome)
}

func (d *Delegation) maxDepth() int {
	if d.MaxDepth > 0 {
		return d.MaxDepth
	}
	return DefaultMaxDepth
}

// canDelegate reports whether the run may start a sub-agent.
func (r *run) canDelegate() bool {
	d := r.cfg.Delegation
	return d != nil && d.Start != nil && d.Depth < d.maxDepth()
}

// startDelegation readies the run's side of delegation: delegate is
// offered only where a child can be started, the tool finds the run
// through its Env, and a child starts with its parent's taint.
func (r *run) startDelegation() {
	if !r.canDelegate() {
		r.cfg.Tools = r.cfg.Tools.Only(func(name string) bool { return name != delegate.Name })
	}
	env := *r.cfg.Env
	env.Delegate = nil
	if r.canDelegate() {
		env.Delegate = r.delegate
	}
	r.cfg.Env = &env
	if d := r.cfg.Delegation; d != nil && d.inherited != "" {
		r.taint.flagged = d.inherited
	}
	if d := r.cfg.Delegation; d != nil && d.prov != nil {
		r.prov = d.prov.clone()
	}
}

// endDelegation reports a child's taint to its parent.
func (r *run) endDelegation() {
	if d := r.cfg.Delegation; d != nil && d.report != nil {
		*d.report = r.taint.flagged
	}
	if d := r.cfg.Delegation; d != nil && d.prov != nil {
		*d.prov = r.prov.clone()
	}
}

// remaining is what the run has left of its budgets, as a child's limits;
// an error (for the model) when something is spent already.
func (r *run) remaining(ctx context.Context) (bulwark.Limits, error) {
	const op = "delegate"
	l := bulwark.Limits{
		MaxSteps:  r.limits.MaxSteps - (r.step - r.first),
		MaxTokens: r.limits.MaxTokens - (r.usage.InputTokens + r.usage.OutputTokens),
		MaxOutput: r.limits.MaxOutput,
	}
	var spent []string
	if l.MaxSteps <= 0 {
		spent = append(spent, "steps")
	}
	if l.MaxTokens <= 0 {
		spent = append(spent, "tokens")
	}
	if r.limits.MaxCost > 0 {
		if l.MaxCost = r.limits.MaxCost - r.usage.Cost; l.MaxCost <= 0 {
			spent = append(spent, "cost")
		}
	}
	l.MaxDuration = r.limits.MaxDuration
	if dl, ok := ctx.Deadline(); ok {
		if l.MaxDuration = time.Until(dl); l.MaxDuration <= 0 {
			spent = append(spent, "time")
		}
	}
	if len(spent) > 0 {
		return l, bulwark.Errorf(bulwark.QuotaExceeded, op, "no sub-agent can start: your budget of %s is spent; finish with what you have", strings.Join(spent, " and "))
	}
	return l, nil
}

// delegate runs a sub-agent on input with the named tools (none: all the
// run's) and returns its answer (Env.Delegate).
func (r *run) delegate(ctx context.Context, input string, names []string) (tool.Result, error) {
	const op = "delegate"
	if !r.canDelegate() {
		return tool.Result{}, bulwark.Errorf(bulwark.PermissionDenied, op, "sub-agents may not start sub-agents this deep; do the work yourself")
	}
	d := r.cfg.Delegation
	mine := r.cfg.Tools.Names()
	keep := func(string) bool { return true }
	if len(names) > 0 {
		chosen := map[string]bool{"finish": true} // a child ends with an answer
		for _, n := range names {
			if !slices.Contains(mine, n) {
				return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op, "there is no tool %q among yours (%s); name only your own", n, strings.Join(mine, ", "))
			}
			chosen[n] = true
		}
		keep = func(n string) bool { return chosen[n] }
	}
	// The model wrote the sub-task: it is stored and shown, so it is
	// masked like everything else the run stores.
	input = r.cfg.Mask(input)
	limits, err := r.remaining(ctx)
	if err != nil {
		return tool.Result{}, err
	}
	var childTaint string
	cfg := r.cfg
	cfg.Tools = r.cfg.Tools.Only(keep)
	cfg.Limits = limits
	cfg.Sink, cfg.Inbox, cfg.History, cfg.Resume, cfg.Checkpoint, cfg.Notifications = nil, nil, nil, nil, nil, nil
	cfg.Instructions = joinText(r.cfg.Instructions, "You are a sub-agent: another agent gave you this task. "+
		"Work on it alone and end with finish: your answer goes back to that agent.")
	cfg.Delegation = &Delegation{Depth: d.Depth + 1, MaxDepth: d.MaxDepth, Start: d.Start,
		inherited: r.taint.flagged, report: &childTaint, prov: new(r.prov.clone())}
	env := *r.cfg.Env
	env.Delegate = nil
	cfg.Env = &env
	task := bulwark.Task{Input: input, ParentID: r.task.ID, Model: r.task.Model, Limits: limits, TenantID: r.task.TenantID}
	child, err := d.Start(ctx, task, cfg)
	if err != nil {
		return tool.Result{}, err
	}
	cctx := child.Context
	if cctx == nil {
		cctx = ctx
	}
	r.notes.mu.Lock()
	callID := r.notes.callID
	r.notes.mu.Unlock()
	r.emit(bulwark.Event{Type: bulwark.EventNotice, Tool: delegate.Name, CallID: callID, Child: child.Task.ID,
		Text: "sub-agent " + child.Task.ID + " started: " + oneLine(input, 200)})
	out, err := Run(cctx, child.Config, child.Task)
	if child.Done != nil {
		child.Done(out)
	}
	if err != nil {
		return tool.Result{}, err
	}
	r.charge(out)
	// What the child read is outside text to the parent too; the
	// person's answers to the child's questions are the person's. An
	// answer made after reading outside text is untrusted text itself, so
	// that it is outside text in the parent's stored conversation too.
	relays := cfg.Delegation.prov.reads > r.prov.reads
	r.prov = cfg.Delegation.prov.clone()
	if childTaint != "" && r.taint.flagged == "" {
		why := "the answer of sub-agent " + child.Task.ID + ", which read " + childTaint
		r.taint.flagged = why
		r.emit(bulwark.Event{Type: bulwark.EventGuard, Tool: delegate.Name, CallID: callID, Child: child.Task.ID,
			Text: why + ". From now on, tools with side effects need a person's approval."})
	}
	if ctx.Err() != nil {
		// The parent stops too (canceled, or out of time).
		return tool.Result{Output: out.Answer}, context.Cause(ctx)
	}
	res := tool.Result{Output: out.Answer, Untrusted: childTaint != "" || relays}
	if out.Reason != bulwark.FinishDone {
		res.IsError = true
		res.Output = fmt.Sprintf("The sub-agent %s stopped without finishing (%s): %s", child.Task.ID, out.Reason, out.Answer)
	}
	return res, nil
}

// charge counts what a child spent as the run's own: its steps against
// the step budget, its usage against the token and cost budgets, carried
// by the run's next event so the stored events still add up.
func (r *run) charge(out Outcome) {
	r.first -= out.Steps
	r.usage.Add(out.Usage)
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.unreported == nil {
		r.unreported = &bulwark.Usage{}
	}
	r.unreported.Add(out.Usage)
}

func joinText(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n\n" + b
}
