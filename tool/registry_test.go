package tool

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// named is a tool that only has a name (and a raw schema, if given).
type named struct {
	name   string
	schema *Schema
}

func (n named) Name() string        { return n.name }
func (n named) Description() string { return "test tool " + n.name }
func (n named) Schema() *Schema {
	if n.schema != nil {
		return n.schema
	}
	return &Schema{Type: "object"}
}
func (n named) Run(context.Context, *Env, json.RawMessage) (Result, error) {
	return Result{Output: n.name}, nil
}
func (n named) Effects(json.RawMessage) (Effects, error) { return Effects{}, nil }

func TestSetGroup(t *testing.T) {
	r := NewRegistry(named{name: "read_file"}, named{name: "finish"})
	if err := r.SetGroup("mcp__", []Tool{named{name: "mcp__b__x"}, named{name: "mcp__a__y"}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"read_file", "finish", "mcp__b__x", "mcp__a__y"}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if specs := r.Specs(); len(specs) != 4 || specs[2].Name != "mcp__b__x" {
		t.Errorf("Specs = %v", specs)
	}
	if _, ok := r.Get("mcp__a__y"); !ok {
		t.Error("Get does not find a group's tool")
	}
	// Replacing the group drops what is gone.
	if err := r.SetGroup("mcp__", []Tool{named{name: "mcp__a__z"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get("mcp__a__y"); ok {
		t.Error("a replaced tool is still found")
	}
	if _, _, err := r.Prepare("mcp__a__y", nil); bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "mcp__a__z") {
		t.Errorf("Prepare of a removed tool = %v", err)
	}
	for _, bad := range [][]Tool{
		{named{name: "other"}},                         // outside the prefix
		{named{name: "mcp__a"}, named{name: "mcp__a"}}, // twice
	} {
		if err := r.SetGroup("mcp__", bad); err == nil {
			t.Errorf("SetGroup(%v) succeeded", bad)
		}
	}
	if err := r.SetGroup("read", []Tool{named{name: "read_file"}}); err == nil {
		t.Error("a group took the name of an added tool")
	}
	if got := r.Names(); !slices.Equal(got, []string{"read_file", "finish", "mcp__a__z"}) {
		t.Errorf("after refused SetGroups, Names = %v", got)
	}
	if err := r.SetGroup("mcp__", nil); err != nil || len(r.Names()) != 2 {
		t.Errorf("emptying the group: %v, %v", err, r.Names())
	}
}

func TestSetGroupConcurrent(t *testing.T) {
	r := NewRegistry(named{name: "finish"})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				name := "mcp__s__" + string(rune('a'+(i+j)%26))
				r.SetGroup("mcp__", []Tool{named{name: name}})
				r.Specs()
				r.Get(name)
				r.Prepare(name, nil)
			}
		})
	}
	wg.Wait()
}

func TestRawSchema(t *testing.T) {
	s, err := RawSchema(json.RawMessage(`{"type":"object","properties":{"a":{"type":"number"},"tags":{"type":"array","items":{"type":"string"}}},"required":["a"],"additionalProperties":false}`))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(s)
	if !strings.Contains(string(data), `"tags":{"type":"array","items":{"type":"string"}}`) {
		t.Errorf("MarshalJSON = %s, want the raw schema", data)
	}
	r := NewRegistry(named{name: "raw", schema: s})
	for _, tt := range []struct{ args, want string }{
		{`{"a":1}`, ""},
		{`{"a":1,"tags":["x"]}`, ""},
		{`{}`, "do not match the tool's schema"},
		{`{"a":"1"}`, "do not match"},
		{`{"a":1,"tags":[1]}`, "do not match"},
		{`{"a":1,"b":2}`, "do not match"},
		{`{"a":1,"a":2}`, "more than once"},
		{`{"a":1} {}`, "data after"},
		{`[]`, "must be a JSON object"},
	} {
		_, _, err := r.Prepare("raw", json.RawMessage(tt.args))
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Prepare(raw, %s) = %v, want %q", tt.args, err, tt.want)
		}
	}
	for _, bad := range []string{`{"type":"string"}`, `[1]`, `{"$ref":"https://example.com/schema.json"}`} {
		if _, err := RawSchema(json.RawMessage(bad)); err == nil {
			t.Errorf("RawSchema(%s) succeeded", bad)
		}
	}
	if _, err := RawSchema(json.RawMessage(`{"description":"` + strings.Repeat("x", MaxRawSchema) + `"}`)); err == nil {
		t.Error("an oversized schema was taken")
	}
}

func TestCutOutput(t *testing.T) {
	if got := CutOutput("héllo", 2); got != "h\n[bulwark: output cut at 1 of 6 bytes]" {
		t.Errorf("CutOutput = %q", got)
	}
	if got := CutOutput("short", 10); got != "short" {
		t.Errorf("CutOutput = %q", got)
	}
}

// TestSpecsFollowChanges checks that the specs, kept between calls, follow
// every change of the set of tools, in a view as in its base.
func TestSpecsFollowChanges(t *testing.T) {
	r := NewRegistry(named{name: "read_file"})
	view := r.Only(func(name string) bool { return name != "mcp__a__hidden" })
	names := func(specs []llm.ToolSpec) []string {
		var out []string
		for _, s := range specs {
			out = append(out, s.Name)
		}
		return out
	}
	check := func(want ...string) {
		t.Helper()
		for range 2 { // the second from what was kept
			if got := names(r.Specs()); !slices.Equal(got, want) {
				t.Fatalf("Specs = %v, want %v", got, want)
			}
			wantView := slices.DeleteFunc(slices.Clone(want), func(n string) bool { return n == "mcp__a__hidden" })
			if got := names(view.Specs()); !slices.Equal(got, wantView) {
				t.Fatalf("view's Specs = %v, want %v", got, wantView)
			}
		}
	}
	check("read_file")
	r.Add(named{name: "finish"})
	check("read_file", "finish")
	if err := r.SetGroup("mcp__", []Tool{named{name: "mcp__a__x"}, named{name: "mcp__a__hidden"}}); err != nil {
		t.Fatal(err)
	}
	check("read_file", "finish", "mcp__a__x", "mcp__a__hidden")
	if err := r.SetGroup("mcp__", nil); err != nil {
		t.Fatal(err)
	}
	check("read_file", "finish")
}
