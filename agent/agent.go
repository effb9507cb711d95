// Package agent is Bulwark's agent loop: it gives a task to a model, carries
// out the tool calls the model makes, feeds the results back, and repeats
// until the model calls finish or a budget runs out. Everything it does is an
// Event, delivered in order to the caller's sink. It knows nothing of HTTP,
// SQL or terminals: the embedding program supplies the model, the tools, the
// workspace and where events go.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/internal/flatjson"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/tool"
)

// Sink receives the events of one task, in order, from the loop's goroutine.
// It must not block for long: a slow sink slows the agent.
type Sink func(bulwark.Event)

// Tee returns a sink that hands each event to every non-nil sink, in order.
func Tee(sinks ...Sink) Sink {
	return func(e bulwark.Event) {
		for _, s := range sinks {
			if s != nil {
				s(e)
			}
		}
	}
}

// Config is what one run of the loop needs.
type Config struct {
	Model  llm.Model
	Tools  *tool.Registry
	Env    *tool.Env      // passed to every tool; Env.Workspace is needed for oversized output
	Limits bulwark.Limits // zero fields take bulwark.DefaultLimits
	Sink   Sink           // may be nil
	// Inbox carries messages a person sends into the running task; each is
	// read before the next model call. May be nil.
	Inbox <-chan string
	// Instructions are added to the system prompt (tenant or operator policy).
	Instructions string
	// Policy decides before each call whether it runs, waits for a person,
	// or is refused. The zero Policy allows everything.
	Policy bulwark.Policy
	// Mask hides secret values in text: every event, every tool result and
	// the task input pass through it before anyone (the sink, the model)
	// sees them. Nil masks nothing.
	Mask func(string) string
	// MaskStream returns a masker for one streamed text: a model reply, or
	// a stream of a running command's output. Nil streams pieces through
	// Mask, and streams no command output while it runs (see
	// live_output.go).
	MaskStream func() StreamMasker
	// Secrets are the values that {{secret:NAME}} placeholders in tool
	// arguments stand for. They are put in at execution time only, for the
	// tools named in SecretTools; the model is told the names, never the
	// values. Mask must hide these values.
	Secrets     map[string]string
	SecretTools []string
	// SecretArgs, when set, puts secrets into the arguments of a call to a
	// tool of SecretTools instead of substituting every placeholder: it
	// decides per tool and secret (a secret bound to hosts stays a
	// placeholder in sandboxed code, for the egress proxy to put in), and
	// its error (a refusal meant for the model) fails the call.
	SecretArgs func(tool string, args json.RawMessage) (json.RawMessage, error)
	// Screen scores untrusted text (fetched pages, files, command output)
	// for prompt injection; nil means guard.Score. Text it flags taints the
	// task (unless Taint is off): from then on, calls with side effects
	// that the policy allows need a person's approval.
	Screen func(text string) guard.Result
	// Taint says what taints the task (see bulwark.TaintMode): text the
	// guard flags (TaintDetected, the zero value), any untrusted text the
	// model sees (TaintSource), or nothing (TaintOff; a canary leak still
	// blocks its call).
	Taint bulwark.TaintMode
	// Spotlight says how untrusted text is set apart for the model:
	// markers with a random id (guard.SpotlightDelimit, the zero value),
	// or markers and a datamark between its words (SpotlightDatamark).
	Spotlight guard.SpotlightMode
	// Approve asks a person about a call the policy marked ask and returns
	// true to run it. Nil refuses every such call, since no one can answer.
	Approve func(ctx context.Context, a bulwark.Approval) (bool, error)
	// Asking, when set, is told of the approval a that Approve is about
	// to be asked, before a's event is emitted: whoever sees the event
	// then finds the approval waiting, and may decide it at once.
	Asking func(ctx context.Context, a bulwark.Approval)
	// Now returns the time stamped on events; nil means time.Now.
	Now func() time.Time
	// History holds the stored events of the task's earlier turns when
	// this run continues its conversation (see history.go); none starts
	// the task. The person's message that opens the new turn is its last
	// user_message; without one after the last turn, an interrupted turn
	// resumes. Limits apply to this turn alone: its steps, tokens, cost
	// and time are counted afresh.
	History []bulwark.Event
	// Resume, with History, goes on with the turn a restart interrupted
	// rather than a new one: its steps, tokens, cost and time count on from
	// what the checkpoint says the turn had spent, and its taint holds.
	// Calls of the last stored reply that have no stored result are not
	// run again (see resume.go). Nil: a new turn.
	Resume *bulwark.Checkpoint
	// Notifications, when set, is called as the run starts with a function
	// that puts events from outside the loop into the task's stream: the
	// log messages and progress notifications of the task's MCP servers
	// (EventMCPLog, EventToolProgress; other types are dropped). They are
	// masked and numbered like the loop's own (see notify.go). The function
	// it returns is called as the run ends; send does nothing after it.
	Notifications func(send func(bulwark.Event)) (stop func())
	// Checkpoint is called after each completed step (a model reply; the
	// result of a tool call), before the event that records it is sent to
	// the sink, with the step's Seq (that event's), Step, Spent and Taint
	// filled in. The caller adds the workspace and commits it (see
	// bulwark.CheckpointStore); it must not block for long. May be nil.
	Checkpoint func(bulwark.Checkpoint)
	// Delegation lets the task start sub-agents with the delegate tool
	// (see delegate.go); nil: it cannot, and delegate is not offered.
	Delegation *Delegation
}

// Outcome is how a task ended.
type Outcome struct {
	Reason FinishReason
	Answer string // the final answer when Reason is done, else why it stopped
	Steps  int    // model turns taken in this run (a continued task: in this turn)
	Usage  bulwark.Usage
}

// FinishReason is bulwark.FinishReason, repeated here for readers of this package.
type FinishReason = bulwark.FinishReason

// Repeats of the same call: the model is warned at warnRepeats and the task
// ends at stopRepeats.
const (
	warnRepeats = 3
	stopRepeats = 4
	// maxTextOnly is how many replies in a row without a tool call end the task.
	maxTextOnly = 3
)

var errTimeout = errors.New("the task's time budget ran out")

// withheldError stands in for the message of a model's error that carried
// the task's canary token (withhold.go): an error a provider's server
// sent, which quotes what it was sent or what the model wrote.
const withheldError = "the model's provider failed with an error that carried the task's confidential canary token, so its message is not kept"

// growStackFrame is the frame growStack holds: more than a stack of 8 KiB
// leaves free at a task's start, less than one of 16 KiB does.
const growStackFrame = 8 << 10

// growStack grows the goroutine's stack to 16 KiB at once, at the task's
// start. A new goroutine's stack starts small (2 KiB, or the average the
// last collection saw) and a task's reaches 9.5 to 10 KiB (dialling the
// model, running a tool), so it grew three times, 2 to 4 to 8 to 16 KiB,
// the last two deep in a model or tool call: each growth copies the stack
// and walks every frame on it to move its pointers, 6 to 8 % of the CPU of
// a thousand tasks' start (BENCHMARKS.md, session 35, first). Grown here,
// with a frame or two on it, the copy and the walk are short, and the
// stack is the size it would have reached (a sub-agent's Run, deeper in
// its parent's goroutine, grows it to 32 KiB, which its calls reach too).
//
//go:noinline
func growStack() {
	var b [growStackFrame]byte
	keepFrame(b[:])
}

// keepFrame keeps growStack's frame: given to a call, it is not optimized
// away.
//
//go:noinline
func keepFrame([]byte) {}

// redactLog is what the task's model requests log (the transport's retry
// warnings, which quote the provider's errors) passes through
// (llm.WithLogRedact): a line that carries the canary, in any encoding,
// is withheld. The transport redacts only a plain token: it does not know
// the task's.
func (r *run) redactLog(s string) string {
	if r.taint.canary.In(s) {
		return "[withheld: " + withheldError + "]"
	}
	return s
}

// Run runs task to its end. It returns an error only when cfg is unusable;
// every way a task can end, failures included, is an Outcome, and is the
// last event sent to the sink (task_finished).
func Run(ctx context.Context, cfg Config, task bulwark.Task) (Outcome, error) {
	growStack()
	if cfg.Model == nil || cfg.Tools == nil {
		return Outcome{}, bulwark.Errorf(bulwark.Invalid, "agent.Run", "a model and tools are required")
	}
	if _, err := bulwark.ParseTaintMode(string(cfg.Taint)); err != nil {
		return Outcome{}, err
	}
	if _, err := guard.ParseSpotlightMode(string(cfg.Spotlight)); err != nil {
		return Outcome{}, err
	}
	if cfg.Env == nil {
		cfg.Env = &tool.Env{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Mask == nil {
		cfg.Mask = func(s string) string { return s }
	}
	if cfg.Screen == nil {
		cfg.Screen = guard.Score
	}
	r := &run{cfg: cfg, task: task, limits: cfg.Limits.WithDefaults(), taint: taint{canary: guard.NewCanary()},
		spot: guard.NewSpotlight(cfg.Spotlight), started: time.Now()}
	r.startDelegation()
	r.window.Window = llm.ContextWindow(cfg.Model)
	budget := r.limits.MaxDuration
	if cfg.Resume != nil && len(cfg.History) > 0 {
		r.spentBefore = cfg.Resume.Spent.Elapsed
		budget -= r.spentBefore
	}
	ctx, cancel := context.WithTimeoutCause(ctx, budget, errTimeout)
	defer cancel()
	out := r.loop(ctx)
	if r.stopNotes != nil {
		r.stopNotes()
	}
	r.endDelegation()
	r.emit(bulwark.Event{Type: bulwark.EventTaskFinished, Reason: out.Reason, Text: out.Answer, Usage: &out.Usage})
	return out, nil
}

// run is the state of one task's loop.
type run struct {
	cfg    Config
	task   bulwark.Task
	limits bulwark.Limits
	seq    int64
	step   int
	first  int // the last step of the turns before this one
	usage  bulwark.Usage
	// encoded keeps the adapter's encoding of the conversation between
	// turns, so that each turn encodes only its new messages.
	encoded llm.Cache
	// running is the declared effects of the call that runs now, for the
	// effects it finds while it runs (checkFound).
	running *tool.Effects
	// reached are the hosts the running call reached that it did not
	// declare (where a fetch was redirected): the page that taints the
	// task came from them too.
	reached []string
	// unreported is the usage of the last model reply not yet carried by
	// an event (a reply of tool calls alone).
	unreported *bulwark.Usage
	msgs       []llm.Message
	window     windowState // the model's context window (compact.go)

	lastCall string // canonical form of the previous tool call
	repeats  int    // how many times in a row lastCall was made
	leaks    int    // calls blocked for carrying the canary (withhold.go)
	// sent are the last calls of earlier replies that reached beyond the
	// task (withhold.go, sentCalls).
	sent sentCalls
	// liveLeak: the live output of the call that ran last carried the
	// canary (live_output.go); its result is withheld.
	liveLeak bool
	stream   replyStream // the text of the reply being read, as it streams (withhold.go)

	taint     taint
	prov      provenance      // what outside text spelled out (provenance.go)
	wrote     map[string]bool // files this run's file tools wrote (provenance.go)
	spot      guard.Spotlight // how untrusted text is marked for the model
	notes     notes
	project   project // the workspace's AGENTS.md (project.go)
	stopNotes func()

	started     time.Time     // when this run began (real time)
	spentBefore time.Duration // the time the resumed turn had run before

	// emitMu serializes emit: a running call's live output is sent from
	// other goroutines (live_output.go).
	emitMu sync.Mutex
}

func (r *run) emit(e bulwark.Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if e.Type.Live() {
		// A live piece's text is masked by its stream (a value may
		// span pieces); the rest of the event here, as any other's.
		text := e.Text
		e.Text = ""
		e.Mask(r.cfg.Mask)
		e.Text = text
	} else {
		e.Mask(r.cfg.Mask)
	}
	if r.unreported != nil && e.Usage == nil && !e.Type.Live() && e.Type != bulwark.EventTaskFinished {
		e.Usage, r.unreported = r.unreported, nil
	}
	r.seq++
	e.Seq = r.seq
	e.TaskID = r.task.ID
	e.Time = r.cfg.Now()
	if e.Step == 0 {
		e.Step = r.step
	}
	if r.cfg.Sink != nil {
		r.cfg.Sink(e)
	}
}

func (r *run) end(reason FinishReason, text string) Outcome {
	return Outcome{Reason: reason, Answer: text, Steps: r.step - r.first, Usage: r.usage}
}

func (r *run) loop(ctx context.Context) Outcome {
	ctx = llm.WithLogRedact(ctx, r.redactLog)
	r.project = r.readProject()
	// The instructions were checked for secret values when they were
	// saved (a tenant's, a skill's description); a secret set since may
	// have a value they hold.
	instructions := r.cfg.Mask(r.cfg.Instructions)
	r.prov.addTrusted(instructions)
	r.prov.addTrusted(r.project.prompt)
	if r.cfg.Env != nil && r.cfg.Env.Workspace != nil {
		r.prov.read = r.cfg.Env.Workspace.ReadFile
	}
	r.msgs = []llm.Message{
		{Role: llm.System, Content: systemPrompt(r.cfg.Tools.Names(), instructions, secretNames(r.cfg.Secrets), r.cfg.SecretTools,
			r.spot.Notice(), r.taint.canary.Instruction(), r.project.prompt)},
	}
	if len(r.cfg.History) == 0 {
		r.emit(bulwark.Event{Type: bulwark.EventTaskStarted, Text: r.task.Input})
		r.applyProject(r.project)
		r.msgs = append(r.msgs, llm.Message{Role: llm.User, Content: r.cfg.Mask(r.task.Input), Pinned: true})
		if d := r.cfg.Delegation; d == nil || d.prov == nil {
			r.prov.addTrusted(r.task.Input) // a sub-task is the model's words (Delegation.prov)
		}
	}
	// Notifications from outside follow the task's start.
	r.stopNotes = r.startNotifications()
	env := r.toolEnv()
	if len(r.cfg.History) > 0 {
		if out, done := r.continueTurn(ctx, env); done {
			return out
		}
	}
	textOnly := 0
	for {
		if out, over := r.overBudget(ctx); over {
			return out
		}
		r.readInbox()
		r.step++
		// The tools are read again each turn: an MCP server may have
		// changed its list since the last.
		stream := r.newReplyStream()
		resp, err := r.callModel(ctx, stream.piece)
		var reply llm.Message
		leaked := false
		if err == nil {
			reply = resp.Message
			reply.Role = llm.Assistant
			leaked = r.withholdLeaks(&reply, stream)
		}
		stream.end()
		if err == nil && !leaked && stream.leaked && !slices.ContainsFunc(reply.ToolCalls, withheld) {
			// The text streamed carried the token though neither the
			// reply's text nor a call of it (written as text, ?tools=text)
			// does: the adapter corrected the model, asking again within
			// the reply. What the model wrote counts.
			reply.Content, leaked = WithheldText, true
		}
		if err != nil {
			if stop := (*stopRun)(nil); errors.As(err, &stop) {
				if stop.leak != nil {
					return r.leaked(stop.leak, 0) // a summary leaked
				}
				return stop.out // compacting spent a budget
			}
			if out, stopped := r.stopped(ctx); stopped {
				return out
			}
			msg := bulwark.ErrorMessage(err)
			if stream.canary().In(msg) {
				// The provider's own words are quoted in its errors: a
				// server that echoes the prompt would carry the token into
				// the task's error, its events and its answer.
				msg = withheldError
			}
			r.emit(bulwark.Event{Type: bulwark.EventError, Text: msg})
			return r.end(bulwark.FinishError, msg)
		}
		r.usage.Add(resp.Usage)
		r.msgs = append(r.msgs, reply)
		r.checkpoint()
		if reply.Content != "" {
			r.emit(bulwark.Event{Type: bulwark.EventModelText, Text: reply.Content, Usage: &resp.Usage})
		} else {
			// A reply of tool calls alone: its usage goes on the next
			// event, so that the events' usage adds up to the task's.
			u := resp.Usage
			r.unreported = &u
		}
		if leaked {
			return r.leakedText(reply)
		}
		if len(reply.ToolCalls) == 0 {
			textOnly++
			if textOnly >= maxTextOnly {
				msg := fmt.Sprintf("the model replied %d times in a row without calling a tool", textOnly)
				r.emit(bulwark.Event{Type: bulwark.EventError, Text: msg})
				return r.end(bulwark.FinishError, msg)
			}
			r.notice(ctx, "You replied without calling a tool. If the task is complete, call finish with your answer; otherwise continue with a tool call.")
			continue
		}
		textOnly = 0
		for i, call := range reply.ToolCalls {
			out, done := r.callTool(ctx, env, call)
			if done {
				// Answer the calls the model made after the last one run, so
				// a conversation that is resumed later stays well-formed.
				r.skipCalls(reply.ToolCalls[i+1:])
				return out
			}
		}
	}
}

// overBudget reports whether the task must stop before the next model call.
func (r *run) overBudget(ctx context.Context) (Outcome, bool) {
	if out, stopped := r.stopped(ctx); stopped {
		return out, true
	}
	if r.noteLeaked() {
		return r.leaked(&noteLeak, 0), true
	}
	switch {
	case r.step-r.first >= r.limits.MaxSteps:
		return r.end(bulwark.FinishMaxSteps, fmt.Sprintf("the step budget (%d) ran out before the task was finished", r.limits.MaxSteps)), true
	case r.usage.InputTokens+r.usage.OutputTokens >= r.limits.MaxTokens:
		return r.end(bulwark.FinishMaxTokens, fmt.Sprintf("the token budget (%d) ran out before the task was finished", r.limits.MaxTokens)), true
	case r.limits.MaxCost > 0 && r.usage.Cost >= r.limits.MaxCost:
		return r.end(bulwark.FinishMaxCost, fmt.Sprintf("the cost budget ($%.2f) ran out before the task was finished", r.limits.MaxCost)), true
	}
	return Outcome{}, false
}

// continueTurn opens a new turn of a stored conversation: the model's
// messages rebuilt from the earlier turns (the person's message that
// opened this turn is stored among them), and a notice when the turn
// resumes one a restart interrupted. A resumed turn first answers the
// calls that were cut off (resumeCalls); done reports that one of them
// ended the task.
func (r *run) continueTurn(ctx context.Context, env *tool.Env) (Outcome, bool) {
	h := rebuild(r.cfg.History)
	for _, m := range h.msgs {
		m.Content = r.cfg.Mask(m.Content) // stored events are masked; a message is not yet
		r.msgs = append(r.msgs, m)
		switch src, marked := guard.MarkedSource(m.Content); {
		case m.Role == llm.User && m.Pinned:
			// The task and the person's messages; a notice (which may
			// quote a sub-task the model wrote) is not the person's.
			r.prov.addTrusted(m.Content)
		case m.Role == llm.ToolRole && marked:
			// Stored as the model saw it: datamarked, maybe, with a mark
			// an earlier run drew.
			r.prov.addOutside(src, outsideText(m.ToolName, guard.UndatamarkAny(m.Content)))
		}
	}
	r.seq, r.step, r.first = h.seq, h.step, h.step
	r.taint.flagged = h.flagged
	if r.taint.flagged == "" && r.cfg.Taint != bulwark.TaintOff {
		// What the guard found while taint was off taints the task now
		// that it is on.
		r.taint.flagged = h.found
	}
	reread := ""
	if r.taint.flagged == "" && r.cfg.Taint == bulwark.TaintSource && h.read != "" {
		// The model reads again the outside text an earlier turn read in
		// a weaker mode: in source mode that taints the task.
		reread = fmt.Sprintf("text from %s that an earlier turn of the task read (guard score %.2f; with BULWARK_TAINT=source any text from outside taints the task)",
			h.read, r.cfg.Screen(h.readText).Score)
		r.taint.flagged, r.taint.bySource = reread, true
	}
	if c := r.cfg.Resume; c != nil {
		r.resumeFrom(*c)
	}
	r.emit(bulwark.Event{Type: bulwark.EventTaskStarted})
	if reread != "" {
		r.emit(bulwark.Event{Type: bulwark.EventGuard, Text: reread + taintSuffix})
	}
	r.applyProject(r.project)
	if h.interrupted {
		if out, leaked := r.resumeLeak(h, r.cfg.History); leaked {
			return out, true
		}
	}
	if out, done := r.resumeCalls(ctx, env, h.pending); done {
		return out, true
	}
	for _, m := range h.trailing {
		m.Content = r.cfg.Mask(m.Content)
		r.msgs = append(r.msgs, m)
	}
	if h.interrupted && (r.cfg.Resume == nil || r.cfg.Resume.Waiting == nil) {
		// A turn that ended to wait for a person (Checkpoint.Waiting) was
		// not cut off: the answer it waited for follows, nothing else.
		r.notice(context.Background(), resumeNotice)
	}
	return Outcome{}, false
}

// stopped reports whether ctx has ended the task: cancellation or the wall
// time budget.
func (r *run) stopped(ctx context.Context) (Outcome, bool) {
	if ctx.Err() == nil {
		return Outcome{}, false
	}
	if errors.Is(context.Cause(ctx), errTimeout) {
		return r.end(bulwark.FinishTimeout, fmt.Sprintf("the time budget (%s) ran out before the task was finished", r.limits.MaxDuration)), true
	}
	return r.end(bulwark.FinishCanceled, "the task was canceled"), true
}

// deltaMasker returns the masker for one streamed reply.
func (r *run) deltaMasker() (push func(string) string, flush func() string) {
	if r.cfg.MaskStream != nil {
		m := r.cfg.MaskStream()
		return m.Push, m.Flush
	}
	return r.cfg.Mask, func() string { return "" }
}

// readInbox moves the messages a person sent into the conversation.
func (r *run) readInbox() {
	for {
		select {
		case text, ok := <-r.cfg.Inbox:
			if !ok {
				r.cfg.Inbox = nil
				return
			}
			r.emit(bulwark.Event{Type: bulwark.EventUserMessage, Text: text})
			r.msgs = append(r.msgs, llm.Message{Role: llm.User, Content: "Message from the user while you work: " + r.cfg.Mask(text), Pinned: true})
			r.prov.addTrusted(text)
		default:
			return
		}
	}
}

// notice tells the model something about its own behaviour, and the sink too.
func (r *run) notice(_ context.Context, text string) {
	r.emit(bulwark.Event{Type: bulwark.EventNotice, Text: text})
	r.msgs = append(r.msgs, llm.Message{Role: llm.User, Content: text})
}

// toolEnv wraps the embedding program's Env so that questions to a person
// are events too.
func (r *run) toolEnv() *tool.Env {
	env := *r.cfg.Env
	if ask := env.Ask; ask != nil {
		env.Ask = func(ctx context.Context, q string) (string, error) {
			r.emit(bulwark.Event{Type: bulwark.EventAskUser, Text: q})
			a, err := ask(ctx, q)
			if err == nil {
				r.emit(bulwark.Event{Type: bulwark.EventUserMessage, Text: a})
				r.prov.addTrusted(a)
			}
			return a, err
		}
	}
	env.CheckEffects = r.checkFound
	env.Tainted = func() string { return r.taint.flagged }
	if r.cfg.Taint != bulwark.TaintOff {
		env.FromOutside = r.prov.fromOutside
	}
	return &env
}

// canonical is the form of a call compared for loop detection: the name and
// the arguments re-encoded with sorted keys, so spacing and key order do not
// hide a repeat.
func canonical(call llm.ToolCall) string {
	if s, ok := canonicalFlat(call.Name, call.Arguments); ok {
		return s
	}
	var v any
	if err := json.Unmarshal(call.Arguments, &v); err != nil {
		return call.Name + "\x00" + string(call.Arguments)
	}
	b, _ := json.Marshal(v)
	return call.Name + "\x00" + string(b)
}

// canonicalFlat is canonical for the commonest arguments, an object of
// string values, without decoding them into a map and encoding that
// again (a tenth of a turn's CPU in bench agents went there). It
// handles only what it can write exactly as json.Marshal would: an
// object with no repeated key whose keys and values have no escapes and
// no byte that Marshal escapes or replaces (control characters, '<',
// '>', '&', U+2028, U+2029, invalid UTF-8); ok is false for anything
// else, which canonical decodes. FuzzCanonicalFlat holds it to the
// decoding.
func canonicalFlat(name string, args []byte) (string, bool) {
	var stack [8]flatjson.Pair
	pairs, ok := flatjson.Pairs(args, stack[:0])
	if !ok {
		return "", false
	}
	for _, p := range pairs {
		if !marshalsAsIs(p.Key) || !marshalsAsIs(p.Value) {
			return "", false
		}
	}
	slices.SortFunc(pairs, func(a, b flatjson.Pair) int { return bytes.Compare(a.Key, b.Key) })
	n := len(name) + 3
	for _, p := range pairs {
		n += len(p.Key) + len(p.Value) + 6
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(name)
	b.WriteString("\x00{")
	for j, p := range pairs {
		if j > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.Write(p.Key)
		b.WriteString(`":"`)
		b.Write(p.Value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), true
}

// marshalsAsIs reports whether json.Marshal writes s, the content of a
// plain JSON string (flatjson), back byte for byte: none of '<', '>', '&'
// (escaped as HTML) and no U+2028 or U+2029.
func marshalsAsIs(s []byte) bool {
	return !bytes.ContainsAny(s, "<>&\u2028\u2029")
}
