package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// Registry is the set of tools a task may call. Besides the tools added
// once (NewRegistry, Add), it holds groups of tools that may change while
// a task runs (SetGroup: the tools of MCP servers, whose lists change when
// a server says so). It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	tools  map[string]Tool
	order  []string
	groups map[string][]Tool // by prefix
	// base and keep make a view (Only): base's tools that keep accepts.
	base *Registry
	keep func(name string) bool

	// gen counts the changes of the set of tools (Add, SetGroup), so that
	// Specs encodes the schemas again only after one; a view has none.
	gen      atomic.Uint64
	specsMu  sync.Mutex
	specs    []llm.ToolSpec
	specsGen uint64
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.base != nil {
		panic("tool: Add on a view of a registry")
	}
	if _, dup := r.tools[t.Name()]; dup {
		panic("tool: duplicate tool " + t.Name())
	}
	r.tools[t.Name()] = t
	r.order = append(r.order, t.Name())
	r.gen.Add(1)
}

// SetGroup replaces the group of tools whose names start with prefix (a
// non-empty prefix such as "mcp__") with tools; no tools removes the group.
// Every name must start with prefix and be new: neither a tool added
// with Add nor one of another group. On an error (kind Invalid) the
// registry is unchanged. Calls already under way keep the tool they got.
func (r *Registry) SetGroup(prefix string, tools []Tool) error {
	const op = "tool.SetGroup"
	if prefix == "" {
		return bulwark.Errorf(bulwark.Invalid, op, "a tool group needs a prefix")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.base != nil {
		return bulwark.Errorf(bulwark.Internal, op, "a view of a registry has no groups of its own")
	}
	seen := make(map[string]bool, len(tools))
	for _, t := range tools {
		name := t.Name()
		switch {
		case !strings.HasPrefix(name, prefix):
			return bulwark.Errorf(bulwark.Invalid, op, "tool %q of group %q does not start with the group's prefix", name, prefix)
		case seen[name]:
			return bulwark.Errorf(bulwark.Invalid, op, "tool %q appears twice in group %q", name, prefix)
		}
		seen[name] = true
		if _, dup := r.tools[name]; dup {
			return bulwark.Errorf(bulwark.Invalid, op, "tool %q of group %q has the name of another tool", name, prefix)
		}
		for p, g := range r.groups {
			if p != prefix && slices.ContainsFunc(g, func(o Tool) bool { return o.Name() == name }) {
				return bulwark.Errorf(bulwark.Invalid, op, "tool %q of group %q is also in group %q", name, prefix, p)
			}
		}
	}
	r.gen.Add(1)
	if len(tools) == 0 {
		delete(r.groups, prefix)
		return nil
	}
	if r.groups == nil {
		r.groups = make(map[string][]Tool)
	}
	r.groups[prefix] = slices.Clone(tools)
	return nil
}

// current returns every tool in order: the added ones as added, then the
// groups by prefix, each in the order it was given. The caller holds r.mu.
func (r *Registry) current() []Tool {
	if r.base != nil {
		r.base.mu.RLock()
		defer r.base.mu.RUnlock()
		var list []Tool
		for _, t := range r.base.current() {
			if r.keep(t.Name()) {
				list = append(list, t)
			}
		}
		return list
	}
	list := make([]Tool, 0, len(r.order))
	for _, name := range r.order {
		list = append(list, r.tools[name])
	}
	prefixes := make([]string, 0, len(r.groups))
	for p := range r.groups {
		prefixes = append(prefixes, p)
	}
	slices.Sort(prefixes)
	for _, p := range prefixes {
		list = append(list, r.groups[p]...)
	}
	return list
}

// get finds the tool called name; the caller holds r.mu.
func (r *Registry) get(name string) (Tool, bool) {
	if r.base != nil {
		if !r.keep(name) {
			return nil, false
		}
		r.base.mu.RLock()
		defer r.base.mu.RUnlock()
		return r.base.get(name)
	}
	if t, ok := r.tools[name]; ok {
		return t, true
	}
	for p, g := range r.groups {
		if strings.HasPrefix(name, p) {
			for _, t := range g {
				if t.Name() == name {
					return t, true
				}
			}
		}
	}
	return nil, false
}

// Only returns a view of r holding the tools of r whose names keep
// accepts: groups that change in r (SetGroup) change in the view too.
// A view is read-only: Add panics and SetGroup fails.
func (r *Registry) Only(keep func(name string) bool) *Registry {
	return &Registry{base: r, keep: keep}
}

// Get returns the tool called name.
func (r *Registry) Get(name string) (Tool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.get(name)
}

// Names returns the tool names: those added, in the order they were added,
// then those of the groups (see SetGroup).
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var names []string
	for _, t := range r.current() {
		names = append(names, t.Name())
	}
	return names
}

// Specs describes every tool to the model, in the order of Names. The
// schemas are encoded once after each change of the set of tools and the
// encodings shared by the specs returned until the next: a caller must not
// change a spec's Parameters in place, and a tool's Schema must not change
// while it is registered (the agent loop asks for the specs every turn).
func (r *Registry) Specs() []llm.ToolSpec {
	if r.base != nil {
		// A view's specs are its base's that it keeps, in the same order
		// (current), so it keeps no encodings of its own: an agent's run
		// makes a view of a registry shared by many runs.
		return slices.DeleteFunc(r.base.Specs(), func(s llm.ToolSpec) bool { return !r.keep(s.Name) })
	}
	gen := r.gen.Load()
	r.specsMu.Lock()
	if r.specs != nil && r.specsGen == gen {
		specs := slices.Clone(r.specs)
		r.specsMu.Unlock()
		return specs
	}
	r.specsMu.Unlock()

	r.mu.RLock()
	tools := r.current()
	r.mu.RUnlock()
	specs := make([]llm.ToolSpec, 0, len(tools))
	for _, t := range tools {
		params, err := json.Marshal(t.Schema())
		if err != nil {
			panic(fmt.Sprintf("tool: schema of %s: %v", t.Name(), err))
		}
		specs = append(specs, llm.ToolSpec{Name: t.Name(), Description: t.Description(), Parameters: params})
	}
	// Kept only when the set did not change meanwhile: these specs may
	// describe the set before the change.
	if r.gen.Load() == gen {
		r.specsMu.Lock()
		r.specs, r.specsGen = specs, gen
		r.specsMu.Unlock()
	}
	return slices.Clone(specs)
}

// Prepare finds the tool called name and checks args against its schema,
// without running it, so that a policy can judge the call first. An unknown
// tool or invalid arguments come back as an error of kind bulwark.Invalid
// whose message tells the model what to fix.
func (r *Registry) Prepare(name string, args json.RawMessage) (Tool, json.RawMessage, error) {
	const op = "tool.Prepare"
	t, ok := r.Get(name)
	if !ok {
		return nil, nil, bulwark.Errorf(bulwark.Invalid, op,
			"there is no tool %q; the tools are: %s", name, strings.Join(r.Names(), ", "))
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
