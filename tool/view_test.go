package tool

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestOnly: a view holds only the tools it keeps, follows its registry's
// groups as they change, and cannot be added to.
func TestOnly(t *testing.T) {
	r := NewRegistry(named{name: "read_file"}, named{name: "run_shell"}, named{name: "finish"})
	v := r.Only(func(n string) bool { return n != "run_shell" })
	if got, want := v.Names(), []string{"read_file", "finish"}; !slices.Equal(got, want) {
		t.Errorf("view Names = %v, want %v", got, want)
	}
	if _, ok := v.Get("run_shell"); ok {
		t.Error("the view finds a tool it does not keep")
	}
	if _, err := v.Call(context.Background(), &Env{}, "run_shell", nil); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("calling a tool the view does not keep = %v, want Invalid", err)
	}
	if err := r.SetGroup("mcp__", []Tool{named{name: "mcp__s__x"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Get("mcp__s__x"); !ok {
		t.Error("the view does not follow its registry's groups")
	}
	vv := v.Only(func(n string) bool { return n == "finish" || n == "run_shell" })
	if got := vv.Names(); !slices.Equal(got, []string{"finish"}) {
		t.Errorf("a view of a view = %v, want [finish]: never more than its base", got)
	}
	if err := v.SetGroup("mcp__", nil); err == nil {
		t.Error("SetGroup on a view succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Error("Add on a view did not panic")
		}
	}()
	v.Add(named{name: "write_file"})
}
