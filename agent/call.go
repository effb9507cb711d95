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
	key := canonical(call)
	if key == r.lastCall {
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

	r.emit(bulwark.Event{Type: bulwark.EventToolCall, Tool: call.Name, CallID: call.ID, Args: call.Arguments})
	res, target, err := r.run(ctx, env, call)
	if err != nil {
		if out, stopped := r.stopped(ctx); stopped {
			r.answer(call, "Not finished: the task was stopped.", true)
			return out, true
		}
		res = tool.Result{Output: r.cfg.Mask(bulwark.ErrorMessage(err)), IsError: true}
	}
	if res.Final {
		answer := r.cfg.Mask(res.Output)
		r.emit(bulwark.Event{Type: bulwark.EventToolResult, Tool: call.Name, CallID: call.ID, Text: answer})
		r.answer(call, "The task is finished.", false)
		return r.end(bulwark.FinishDone, answer), true
	}
	text := r.fit(ctx, env, call, r.cfg.Mask(res.Output))
	if untrusted(res) {
		text = r.screen(call, target, text)
	}
	r.emit(bulwark.Event{Type: bulwark.EventToolResult, Tool: call.Name, CallID: call.ID, Text: text, IsError: res.IsError})
	r.answer(call, text, res.IsError)
	if r.repeats == warnRepeats {
		r.notice(ctx, fmt.Sprintf("You have made this exact %s call %d times in a row and its result will not change. Do something different; one more repeat ends the task.", call.Name, r.repeats))
	}
	return Outcome{}, false
}

// run checks call against its schema and the policy, asks a person when the
// policy says so, and runs it.
// It returns the result and the call's target (what it acts on).
func (r *run) run(ctx context.Context, env *tool.Env, call llm.ToolCall) (tool.Result, string, error) {
	const op = "agent.policy"
	t, args, err := r.cfg.Tools.Prepare(call.Name, call.Arguments)
	if err != nil {
		return tool.Result{}, "", err
	}
	target := tool.Target(t, args)
	if err := r.checkCanary(call); err != nil {
		return tool.Result{}, target, err
	}
	v, why := r.taintVerdict(r.cfg.Policy.Decide(call.Name, target), call.Name, target, args)
	switch v.Decision {
	case bulwark.Allow:
	case bulwark.Ask:
		ok, err := r.approve(ctx, bulwark.Approval{
			ID: bulwark.NewID("ap_"), TaskID: r.task.ID, Tool: call.Name, Target: target, Args: args, Rule: v.Rule, Reason: why,
		}, call)
		if err != nil {
			return tool.Result{}, target, err
		}
		if !ok {
			return tool.Result{}, target, bulwark.Errorf(bulwark.PermissionDenied, op,
				"a person refused this %s call; do not retry it, choose another way or finish and explain", call.Name)
		}
	default:
		r.emit(bulwark.Event{Type: bulwark.EventApproval, Tool: call.Name, CallID: call.ID, Args: args,
			Decision: string(bulwark.Deny), Text: "refused by the policy rule " + v.Rule})
		return tool.Result{}, target, bulwark.Errorf(bulwark.PermissionDenied, op,
			"the policy refuses this %s call (rule %s); do not retry it, choose another way", call.Name, v.Rule)
	}
	if args, err = r.withSecrets(call.Name, args); err != nil {
		return tool.Result{}, target, err
	}
	res, err := t.Run(ctx, env, args)
	return res, target, err
}

// withSecrets puts the values of the secrets that args name in place of
// their placeholders, for the tools allowed to use secrets.
func (r *run) withSecrets(name string, args json.RawMessage) (json.RawMessage, error) {
	if !bytes.Contains(args, []byte("{{secret:")) {
		return args, nil
	}
	if !slices.Contains(r.cfg.SecretTools, name) {
		return nil, bulwark.Errorf(bulwark.PermissionDenied, "agent.secrets",
			"%s may not use secrets; only %s may, through {{secret:NAME}}", name, orNone(r.cfg.SecretTools))
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
	r.emit(bulwark.Event{Type: bulwark.EventApproval, Tool: a.Tool, CallID: call.ID, Decision: string(d), Text: question})
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
	max := r.limits.MaxOutput
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
