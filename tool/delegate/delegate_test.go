package delegate_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/delegate"
)

func TestDelegateTool(t *testing.T) {
	reg := tool.NewRegistry(delegate.Tool())
	for _, bad := range []string{`{}`, `{"task": ""}`, `{"task": "x", "tools": "read_file"}`, `{"task": "x", "extra": 1}`} {
		if _, _, err := reg.Prepare("delegate", json.RawMessage(bad)); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("Prepare(%s) = %v, want Invalid", bad, err)
		}
	}
	if _, err := reg.Call(context.Background(), &tool.Env{}, "delegate", json.RawMessage(`{"task": "x"}`)); bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("delegate without Env.Delegate = %v, want Unavailable", err)
	}
	var gotTask string
	var gotTools []string
	env := &tool.Env{Delegate: func(_ context.Context, task string, tools []string) (tool.Result, error) {
		gotTask, gotTools = task, tools
		return tool.Result{Output: "answer"}, nil
	}}
	res, err := reg.Call(context.Background(), env, "delegate", json.RawMessage(`{"task": "sub", "tools": ["read_file"]}`))
	if err != nil || res.Output != "answer" || gotTask != "sub" || !slices.Equal(gotTools, []string{"read_file"}) {
		t.Errorf("delegate = %+v, %v; Delegate got %q %v", res, err, gotTask, gotTools)
	}
}
