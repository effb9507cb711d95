package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool"
)

// outputDir is the workspace folder where oversized tool output is saved.
const outputDir = ".bulwark/outputs"

// callTool carries out one tool call and appends its result to the
// conversation. done reports that the task ended (finish, loop, canceled).
func (r *run) callTool(ctx context.Context, env *tool.Env, call llm.ToolCall) (out Outcome, done bool) {
	return r.callToolOnce(ctx, env, call, false)
}

// callToolOnce is callTool; again marks a call whose tool_call event is
// stored already (a call resumed after a restart), which is not sent again.
func (r *run) callToolOnce(ctx context.Context, env *tool.Env, call llm.ToolCall, again bool) (out Outcome, done bool) {
	// A call that carried the canary (withhold.go) is shown with its
	// arguments withheld, and blocked. It is not compared for loop
	// detection (its placeholder is every withheld call's): maxLeaks ends
	// a model that keeps leaking.
	leak := withheld(call)
	if leak {
		r.lastCall, r.repeats = "", 0
	} else if key := canonical(call); key == r.lastCall {
		r.repeats++
	} else {
		r.lastCall, r.repeats = key, 1
	}
	if r.repeats >= stopRepeats {
		msg := fmt.Sprintf("the model made the same %s call %d times in a row", call.Name, r.repeats)
		r.emit(bulwark.Event{Type: bulwark.EventError, Text: msg})
		r.answer(call, "Not run: "+msg+".", true)
		return r.end(bulwark.FinishLoop, msg), true
	}

	var p prepared
	var err error
	if !leak {
		p, err = r.prepare(call)
	}
	ev := bulwark.Event{Type: bulwark.EventToolCall, Tool: call.Name, CallID: call.ID, Args: call.Arguments}
	if err == nil && !leak {
		ev.Effects = &p.effects
	}
	if !again {
		r.emit(ev)
	}
	if leak {
		if err = r.canaryBlocked(call); r.leaks >= maxLeaks {
			return r.leakedCalls(call), true
		}
	}
	var res tool.Result
	r.reached, r.liveLeak = nil, false
	if err == nil {
		res, err = r.run(ctx, env, call, p)
	}
	target := p.effects.Display
	if err != nil {
		if out, stopped := r.stopped(ctx); stopped {
			if res.Output != "" {
				// What the call did before the stop (a command's output so
				// far) stays in the task's steps, which the model reads
				// when the task goes on: marked and screened as any
				// untrusted result.
				text := r.cfg.Mask(res.Output)
				if r.liveLeak || r.taint.canary.In(text) {
					text = WithheldResult
				} else if untrusted(res) {
					text = r.screen(call, target, r.hostsOf(p), text)
				}
				r.checkpoint()
				r.emit(bulwark.Event{Type: bulwark.EventToolResult, Tool: call.Name, CallID: call.ID, Text: text, IsError: true})
			}
			r.answer(call, "Not finished: the task was stopped.", true)
			return out, true
		}
		res = tool.Result{Output: r.cfg.Mask(bulwark.ErrorMessage(err)), IsError: true, Untrusted: tool.FromOutside(err)}
	}
	if res.Final {
		answer := r.cfg.Mask(res.Output)
		r.checkpoint()
		r.emit(bulwark.Event{Type: bulwark.EventToolResult, Tool: call.Name, CallID: call.ID, Text: answer})
		r.answer(call, "The task is finished.", false)
		return r.end(bulwark.FinishDone, answer), true
	}
	r.noteWrites(p.effects, res.IsError)
	text := r.fit(ctx, env, call, r.cfg.Mask(res.Output))
	if r.liveLeak || r.taint.canary.In(text) {
		// The result, or the output as it streamed, carried the token.
		return r.leakedResult(call), true
	}
	if untrusted(res) {
		text = r.screen(call, target, r.hostsOf(p), text)
	}
	r.taintBy(call, res.Taint)
	r.checkpoint()
	r.emit(bulwark.Event{Type: bulwark.EventToolResult, Tool: call.Name, CallID: call.ID, Text: text, IsError: res.IsError})
	r.answer(call, text, res.IsError)
	if r.noteLeaked() {
		return r.leaked(&noteLeak, 0), true
	}
	if r.repeats == warnRepeats {
		r.notice(ctx, fmt.Sprintf("You have made this exact %s call %d times in a row and its result will not change. Do something different; one more repeat ends the task.", call.Name, r.repeats))
	}
	return Outcome{}, false
}

// hostsOf returns the hosts the call p reached: those it declared and
// those it found on its way (r.reached).
func (r *run) hostsOf(p prepared) []string {
	return append(slices.Clip(p.effects.Hosts), r.reached...)
}

// prepared is a call checked against its tool's schema, with the effects
// its tool declares for it.
type prepared struct {
	tool    tool.Tool
	args    json.RawMessage
	effects tool.Effects
}

// prepare checks call against its schema and finds its effects.
func (r *run) prepare(call llm.ToolCall) (prepared, error) {
	t, args, err := r.cfg.Tools.Prepare(call.Name, call.Arguments)
	if err != nil {
		return prepared{}, err
	}
	e, err := tool.EffectsOf(t, args)
	if err != nil {
		return prepared{}, err
	}
	return prepared{tool: t, args: args, effects: e}, nil
}

// run checks a prepared call against the policy and the task's taint,
// asks a person when they say so, and runs it. Every check reads the
// effects the tool declared, never the arguments as spelled. A call that
// carried the canary never comes here: its arguments were withheld
// (withhold.go) before anyone saw them, a person asked for approval too.
func (r *run) run(ctx context.Context, env *tool.Env, call llm.ToolCall, p prepared) (tool.Result, error) {
	const op = "agent.policy"
	v, why := r.verdict(tool.PolicyCall(p.tool, p.args, p.effects), p.effects)
	switch v.Decision {
	case bulwark.Allow:
	case bulwark.Ask:
		ok, err := r.approve(ctx, bulwark.Approval{
			ID: bulwark.NewID("ap_"), TaskID: r.task.ID, Tool: call.Name, Target: approvalTarget(p.effects),
			Args: p.args, Rule: v.Rule, Reason: why,
		}, call)
		if err != nil {
			return tool.Result{}, err
		}
		if !ok {
			return tool.Result{}, bulwark.Errorf(bulwark.PermissionDenied, op,
				"a person refused this %s call; do not retry it, choose another way or finish and explain", call.Name)
		}
	default:
		r.emit(bulwark.Event{Type: bulwark.EventApproval, Tool: call.Name, CallID: call.ID, Args: p.args,
			Decision: string(bulwark.Deny), DecidedBy: bulwark.DecidedByPolicy, Text: "refused by the policy rule " + v.Rule})
		return tool.Result{}, bulwark.Errorf(bulwark.PermissionDenied, op,
			"the policy refuses this %s call (rule %s); do not retry it, choose another way", call.Name, v.Rule)
	}
	args, err := r.withSecrets(call.Name, p.args)
	if err != nil {
		return tool.Result{}, err
	}
	r.sent.add(call, p.effects)
	r.running = &p.effects
	r.calling(call.Name, call.ID)
	defer func() { r.running = nil; r.calling("", "") }()
	ctx, stopOutput := r.withLiveOutput(ctx, call.Name, call.ID)
	defer stopOutput()
	if !bytes.Equal(args, p.args) { // secrets put in: the tool may want the call as written
		ctx = tool.WithModelArgs(ctx, p.args)
	}
	return p.tool.Run(ctx, env, args)
}

// checkFound judges effects a running call of t found (a redirect's URL) by
// the policy and the taint, as run judges declared ones. Only what both
// allow goes on: there is no person to ask in the middle of a call, so an
// ask is a refusal that tells the model how to have it asked.
//
// A call that carries a secret follows nothing to another host, nor to
// plain http: the value it carries (in a URL's query, say) would go along.
func (r *run) checkFound(_ context.Context, t tool.Tool, e tool.Effects) error {
	if c := r.running; c != nil && len(c.Secrets) > 0 {
		for i, h := range e.Hosts {
			plain := i < len(e.URLs) && strings.HasPrefix(e.URLs[i], "http://")
			if plain || !slices.Contains(c.Hosts, h) {
				return bulwark.Errorf(bulwark.PermissionDenied, "agent.secrets",
					"%s carries the secret %s and was sent on to %s; a call with a secret follows no redirect to another host or to plain http",
					t.Name(), strings.Join(c.Secrets, ", "), oneLine(e.Display, 200))
			}
		}
	}
	r.reached = append(r.reached, e.Hosts...)
	v, _ := r.verdict(tool.PolicyCall(t, nil, e), e)
	switch v.Decision {
	case bulwark.Allow:
		return nil
	case bulwark.Ask:
		return bulwark.Errorf(bulwark.PermissionDenied, "agent.policy",
			"%s reached %s, which needs a person's approval (rule %s); call %s on it directly so that it can be asked",
			t.Name(), oneLine(e.Display, 200), v.Rule, t.Name())
	}
	return bulwark.Errorf(bulwark.PermissionDenied, "agent.policy",
		"%s reached %s, which the policy refuses (rule %s); do not retry it", t.Name(), oneLine(e.Display, 200), v.Rule)
}

// verdict is the policy's decision on a call with effects e, made
// stricter where the call is destructive or the task tainted, and why it
// was ("" where the policy decided alone).
func (r *run) verdict(c bulwark.Call, e tool.Effects) (bulwark.Verdict, string) {
	v, why := destructiveVerdict(r.cfg.Policy.Decide(c), e)
	v, tainted := r.taintVerdict(v, e)
	if tainted != "" {
		return v, tainted
	}
	v, echoed := r.provenanceVerdict(v, e)
	if echoed != "" {
		why = echoed
	}
	return v, why
}

// destructiveVerdict turns allow into ask for a call whose tool declares
// that it may destroy or overwrite data (Effects.Destructive, MCP's
// destructiveHint), unless a rule naming the tool allowed it: neither the
// default nor a rule for every tool ("*") is an explicit allow.
func destructiveVerdict(v bulwark.Verdict, e tool.Effects) (bulwark.Verdict, string) {
	if !e.Destructive || v.Decision != bulwark.Allow || explicitRule(v.Rule) {
		return v, ""
	}
	return bulwark.Verdict{Decision: bulwark.Ask, Rule: "destructive"},
		"its tool declares that it may destroy or overwrite data; a policy rule naming the tool can allow it"
}

// explicitRule reports whether the rule of a verdict names a tool (or an
// MCP server's tools), rather than being the default or a rule for "*".
func explicitRule(rule string) bool {
	return rule != "default" && rule != "" && !strings.HasPrefix(rule, "*")
}

// approvalTarget is what a person is asked about: what the call will do
// as its tool shows it (the command line as written, the cleaned path),
// and what cannot be known before it runs.
func approvalTarget(e tool.Effects) string {
	t := e.Display
	if len(e.Dynamic) > 0 {
		t += " (what it runs cannot all be known before it runs: " + strings.Join(e.Dynamic, "; ") + ")"
	}
	return t
}

// withSecrets puts the values of the secrets that args name in place of
// their placeholders, for the tools allowed to use secrets, as
// Config.SecretArgs decides when it is set.
func (r *run) withSecrets(name string, args json.RawMessage) (json.RawMessage, error) {
	if !bytes.Contains(args, []byte("{{secret:")) {
		return args, nil
	}
	if !slices.Contains(r.cfg.SecretTools, name) {
		return nil, bulwark.Errorf(bulwark.PermissionDenied, "agent.secrets",
			"%s may not use secrets; only %s may, through {{secret:NAME}}", name, orNone(r.cfg.SecretTools))
	}
	if r.cfg.SecretArgs != nil {
		return r.cfg.SecretArgs(name, args)
	}
	return secret.Substitute(args, r.cfg.Secrets)
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "no tool"
	}
	return strings.Join(names, " and ")
}

// approve puts a call to a person and reports the decision as events.
func (r *run) approve(ctx context.Context, a bulwark.Approval, call llm.ToolCall) (bool, error) {
	question := fmt.Sprintf("Allow %s: %s?", a.Tool, a.Target)
	if a.Target == "" {
		question = fmt.Sprintf("Allow %s %s?", a.Tool, string(a.Args))
	}
	if a.Reason != "" {
		question += " (" + a.Reason + ")"
	}
	if r.cfg.Asking != nil && r.cfg.Approve != nil {
		r.cfg.Asking(ctx, a)
	}
	r.emit(bulwark.Event{Type: bulwark.EventApproval, Tool: a.Tool, CallID: call.ID, Args: a.Args, Text: question})
	ok := false
	if r.cfg.Approve != nil {
		var err error
		if ok, err = r.cfg.Approve(ctx, a); err != nil {
			return false, err
		}
	}
	d := bulwark.Deny
	if ok {
		d = bulwark.Allow
	}
	r.emit(bulwark.Event{Type: bulwark.EventApproval, Tool: a.Tool, CallID: call.ID, Decision: string(d), DecidedBy: bulwark.DecidedByPerson, Text: question})
	return ok, nil
}

// answer appends the result of call to the conversation.
func (r *run) answer(call llm.ToolCall, text string, isError bool) {
	r.msgs = append(r.msgs, llm.Message{Role: llm.ToolRole, ToolCallID: call.ID, ToolName: call.Name, Content: text, IsError: isError})
}

// skipCalls answers calls that were not run because the task ended first.
func (r *run) skipCalls(calls []llm.ToolCall) {
	for _, c := range calls {
		r.answer(c, "Not run: the task ended before this call.", true)
	}
}

// fit returns output cut to the output limit. When it is cut, the whole
// output is saved to a workspace file and the model is told where.
func (r *run) fit(_ context.Context, env *tool.Env, call llm.ToolCall, output string) string {
	max := r.maxOutput()
	if len(output) <= max {
		return output
	}
	cut := validUTF8Prefix(output, max)
	if env.Workspace == nil {
		return fmt.Sprintf("%s\n[output cut: %d of %d bytes shown]", cut, len(cut), len(output))
	}
	name := path.Join(outputDir, fmt.Sprintf("step-%d-%s.txt", r.step, safeID(call.ID)))
	if err := env.Workspace.WriteFile(name, []byte(output)); err != nil {
		return fmt.Sprintf("%s\n[output cut: %d of %d bytes shown; saving the rest failed: %s]", cut, len(cut), len(output), bulwark.ErrorMessage(err))
	}
	return fmt.Sprintf("%s\n[output cut: %d of %d bytes shown; the whole output is in the workspace file %q: read it with read_file and offset/limit]", cut, len(cut), len(output), name)
}

// validUTF8Prefix returns at most n bytes of s, not splitting a UTF-8 sequence.
func validUTF8Prefix(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// safeID keeps the characters of a call id that are safe in a file name.
func safeID(id string) string {
	b := make([]byte, 0, len(id))
	for i := 0; i < len(id) && len(b) < 40; i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "call"
	}
	return string(b)
}
