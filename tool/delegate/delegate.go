// Package delegate holds the delegate tool, through which an agent hands
// a sub-task to a sub-agent: a child task in the same workspace, under
// the same policy, secrets rules and taint, with a budget carved out of
// its parent's. The agent loop runs the child (tool.Env.Delegate); the
// tool only reads the arguments.
package delegate

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/tool"
)

// Name is the tool's name.
const Name = "delegate"

// Tool returns the delegate tool: task, tools?. It calls Env.Delegate and
// returns the sub-agent's final answer; without Env.Delegate it fails
// with kind Unavailable.
func Tool() tool.Tool { return delegateTool{} }

type delegateTool struct{}

var schema = lazy.Value[*tool.Schema]{New: func() *tool.Schema {
	return &tool.Schema{
		Type: "object",
		Properties: map[string]*tool.Schema{
			"task": {Type: "string", Description: "The sub-task, complete and clear on its own: the sub-agent sees nothing of your conversation.", MinLength: 1, MaxLength: 20000},
			"tools": {Type: "array", Description: "The names of the tools the sub-agent may use, from your own; omitted: all of yours.",
				Items: &tool.Schema{Type: "string", MinLength: 1, MaxLength: 200}, MaxItems: 64},
		},
		Required: []string{"task"},
	}
}}

func (delegateTool) Name() string { return Name }
func (delegateTool) Description() string {
	return "Hand a self-contained sub-task to a sub-agent that works in the same workspace with your tools (or the ones you name) " +
		"and returns its final answer. Its steps, tokens and cost come out of your own budget. " +
		"Use it for a distinct piece of work whose details you do not need to follow."
}
func (delegateTool) Schema() *tool.Schema { return schema.Get() }

// Effects: delegate itself acts on nothing; each call of the sub-agent is
// judged on its own effects by the same policy as the parent's.
func (delegateTool) Effects(json.RawMessage) (tool.Effects, error) {
	return tool.Effects{}, nil
}

// Args are the delegate tool's arguments.
type Args struct {
	Task  string   `json:"task"`
	Tools []string `json:"tools,omitempty"`
}

func (delegateTool) Run(ctx context.Context, env *tool.Env, raw json.RawMessage) (tool.Result, error) {
	const op = Name
	var a Args
	if err := json.Unmarshal(raw, &a); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, op, "the arguments do not fit delegate: "+err.Error(), err)
	}
	if strings.TrimSpace(a.Task) == "" {
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op, "the task is empty; say what the sub-agent should do")
	}
	if env.Delegate == nil {
		return tool.Result{}, bulwark.Errorf(bulwark.Unavailable, op, "this task cannot start sub-agents; do the work yourself")
	}
	return env.Delegate(ctx, a.Task, a.Tools)
}
