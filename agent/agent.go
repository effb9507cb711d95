// Package agent is Bulwark's agent loop: it gives a task to a model, carries
// out the tool calls the model makes, feeds the results back, and repeats
// until the model calls finish or a budget runs out. Everything it does is an
// Event, delivered in order to the caller's sink. It knows nothing of HTTP,
// SQL or terminals: the embedding program supplies the model, the tools, the
// workspace and where events go.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
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
	// MaskStream returns a masker for one streamed model reply: push takes
	// each piece and returns what is safe to show so far (holding back the
	// start of a possible secret split across pieces); flush returns the
	// rest. Nil streams pieces through Mask.
	MaskStream func() (push func(string) string, flush func() string)
	// Secrets are the values that {{secret:NAME}} placeholders in tool
	// arguments stand for. They are put in at execution time only, for the
	// tools named in SecretTools; the model is told the names, never the
	// values. Mask must hide these values.
	Secrets     map[string]string
	SecretTools []string
	// Screen scores untrusted text (fetched pages, files, command output)
	// for prompt injection; nil means guard.Score. Text it flags taints the
	// task: from then on, calls with side effects that the policy allows
	// need a person's approval.
	Screen func(text string) guard.Result
	// Approve asks a person about a call the policy marked ask and returns
	// true to run it. Nil refuses every such call, since no one can answer.
	Approve func(ctx context.Context, a bulwark.Approval) (bool, error)
	// Now returns the time stamped on events; nil means time.Now.
	Now func() time.Time
}

// Outcome is how a task ended.
type Outcome struct {
	Reason FinishReason
	Answer string // the final answer when Reason is done, else why it stopped
	Steps  int    // model turns taken
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

// Run runs task to its end. It returns an error only when cfg is unusable;
// every way a task can end, failures included, is an Outcome, and is the
// last event sent to the sink (task_finished).
func Run(ctx context.Context, cfg Config, task bulwark.Task) (Outcome, error) {
	if cfg.Model == nil || cfg.Tools == nil {
		return Outcome{}, bulwark.Errorf(bulwark.Invalid, "agent.Run", "a model and tools are required")
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
	r := &run{cfg: cfg, task: task, limits: cfg.Limits.WithDefaults(), taint: taint{canary: guard.NewCanary()}}
	ctx, cancel := context.WithTimeoutCause(ctx, r.limits.MaxDuration, errTimeout)
	defer cancel()
	out := r.loop(ctx)
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
	usage  bulwark.Usage
	msgs   []llm.Message

	lastCall string // canonical form of the previous tool call
	repeats  int    // how many times in a row lastCall was made

	taint taint
}

func (r *run) emit(e bulwark.Event) {
	if e.Type != bulwark.EventModelDelta { // deltas are masked by their stream
		e.Text = r.cfg.Mask(e.Text)
	}
	if len(e.Args) > 0 {
		e.Args = []byte(r.cfg.Mask(string(e.Args)))
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
	return Outcome{Reason: reason, Answer: text, Steps: r.step, Usage: r.usage}
}

func (r *run) loop(ctx context.Context) Outcome {
	r.emit(bulwark.Event{Type: bulwark.EventTaskStarted, Text: r.task.Input})
	specs := r.cfg.Tools.Specs()
	r.msgs = []llm.Message{
		{Role: llm.System, Content: systemPrompt(r.cfg.Tools.Names(), r.cfg.Instructions, secretNames(r.cfg.Secrets), r.cfg.SecretTools,
			guard.SystemNotice, r.taint.canary.Instruction())},
		{Role: llm.User, Content: r.cfg.Mask(r.task.Input)},
	}
	env := r.toolEnv()
	textOnly := 0
	for {
		if out, over := r.overBudget(ctx); over {
			return out
		}
		r.readInbox()
		r.step++
		push, flush := r.deltaMasker()
		resp, err := r.cfg.Model.Stream(ctx, llm.Request{Messages: r.msgs, Tools: specs}, func(s string) {
			if s = push(s); s != "" {
				r.emit(bulwark.Event{Type: bulwark.EventModelDelta, Text: s})
			}
		})
		if rest := flush(); rest != "" {
			r.emit(bulwark.Event{Type: bulwark.EventModelDelta, Text: rest})
		}
		if err != nil {
			if out, stopped := r.stopped(ctx); stopped {
				return out
			}
			msg := bulwark.ErrorMessage(err)
			r.emit(bulwark.Event{Type: bulwark.EventError, Text: msg})
			return r.end(bulwark.FinishError, msg)
		}
		r.usage.Add(resp.Usage)
		reply := resp.Message
		reply.Role = llm.Assistant
		r.msgs = append(r.msgs, reply)
		if reply.Content != "" {
			r.emit(bulwark.Event{Type: bulwark.EventModelText, Text: reply.Content, Usage: &resp.Usage})
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
	switch {
	case r.step >= r.limits.MaxSteps:
		return r.end(bulwark.FinishMaxSteps, fmt.Sprintf("the step budget (%d) ran out before the task was finished", r.limits.MaxSteps)), true
	case r.usage.InputTokens+r.usage.OutputTokens >= r.limits.MaxTokens:
		return r.end(bulwark.FinishMaxTokens, fmt.Sprintf("the token budget (%d) ran out before the task was finished", r.limits.MaxTokens)), true
	case r.limits.MaxCost > 0 && r.usage.Cost >= r.limits.MaxCost:
		return r.end(bulwark.FinishMaxCost, fmt.Sprintf("the cost budget ($%.2f) ran out before the task was finished", r.limits.MaxCost)), true
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
		return r.cfg.MaskStream()
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
			r.msgs = append(r.msgs, llm.Message{Role: llm.User, Content: "Message from the user while you work: " + r.cfg.Mask(text)})
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
			}
			return a, err
		}
	}
	return &env
}

// canonical is the form of a call compared for loop detection: the name and
// the arguments re-encoded with sorted keys, so spacing and key order do not
// hide a repeat.
func canonical(call llm.ToolCall) string {
	var v any
	if err := json.Unmarshal(call.Arguments, &v); err != nil {
		return call.Name + "\x00" + string(call.Arguments)
	}
	b, _ := json.Marshal(v)
	return call.Name + "\x00" + string(b)
}
