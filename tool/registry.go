package tool

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// Registry is the set of tools a task may call.
type Registry struct {
	tools map[string]Tool
	order []string
}

// NewRegistry returns a registry holding tools. It panics on a duplicate name,
// which is a programming error.
func NewRegistry(tools ...Tool) *Registry {
	r := &Registry{tools: make(map[string]Tool)}
	for _, t := range tools {
		r.Add(t)
	}
	return r
}

// Add adds t, replacing nothing: a duplicate name panics.
func (r *Registry) Add(t Tool) {
	if _, dup := r.tools[t.Name()]; dup {
		panic("tool: duplicate tool " + t.Name())
	}
	r.tools[t.Name()] = t
	r.order = append(r.order, t.Name())
}

// Get returns the tool called name.
func (r *Registry) Get(name string) (Tool, bool) {
	t, ok := r.tools[name]
	return t, ok
}

// Names returns the tool names in the order they were added.
func (r *Registry) Names() []string { return slices.Clone(r.order) }

// Specs describes every tool to the model, in the order they were added.
func (r *Registry) Specs() []llm.ToolSpec {
	specs := make([]llm.ToolSpec, 0, len(r.order))
	for _, name := range r.order {
		t := r.tools[name]
		params, err := json.Marshal(t.Schema())
		if err != nil {
			panic("tool: schema of " + name + ": " + err.Error())
		}
		specs = append(specs, llm.ToolSpec{Name: name, Description: t.Description(), Parameters: params})
	}
	return specs
}

// Prepare finds the tool called name and checks args against its schema,
// without running it, so that a policy can judge the call first. An unknown
// tool or invalid arguments come back as an error of kind bulwark.Invalid
// whose message tells the model what to fix.
func (r *Registry) Prepare(name string, args json.RawMessage) (Tool, json.RawMessage, error) {
	const op = "tool.Prepare"
	t, ok := r.tools[name]
	if !ok {
		return nil, nil, bulwark.Errorf(bulwark.Invalid, op,
			"there is no tool %q; the tools are: %s", name, strings.Join(r.order, ", "))
	}
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	if err := t.Schema().Validate(args); err != nil {
		return nil, nil, bulwark.E(bulwark.Invalid, op,
			"invalid arguments for "+name+": "+bulwark.ErrorMessage(err), err)
	}
	return t, args, nil
}

// Call prepares the call of the tool called name and runs it.
func (r *Registry) Call(ctx context.Context, env *Env, name string, args json.RawMessage) (Result, error) {
	t, args, err := r.Prepare(name, args)
	if err != nil {
		return Result{}, err
	}
	return t.Run(ctx, env, args)
}
