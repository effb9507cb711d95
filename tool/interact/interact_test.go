package interact

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
)

var reg = tool.NewRegistry(Finish(), AskUser())

func TestFinish(t *testing.T) {
	res, err := reg.Call(context.Background(), &tool.Env{}, "finish", json.RawMessage(`{"answer":"42"}`))
	if err != nil || !res.Final || res.Output != "42" {
		t.Errorf("finish(42) = %+v, %v, want a final result with output 42", res, err)
	}
}

var interactErrors = []struct {
	name, args string
	ask        func(context.Context, string) (string, error)
	kind       bulwark.Kind
	msg        string
}{
	{"finish", `{}`, nil, bulwark.Invalid, `missing required field "answer"`},
	{"finish", `{"answer":""}`, nil, bulwark.Invalid, `field "answer": must not be empty`},
	{"finish", `{"answer":7}`, nil, bulwark.Invalid, `field "answer": want a string, got the number 7`},
	{"finish", `{"answer":"x","result":"y"}`, nil, bulwark.Invalid, `unknown field "result"; the fields are: answer`},
	{"ask_user", `{"question":"which?"}`, nil, bulwark.Unavailable, "no person is available to answer"},
	{"ask_user", `{"q":"which?"}`, nil, bulwark.Invalid, `unknown field "q"; the fields are: question`},
	{"ask_user", `{"question":"which?"}`, func(context.Context, string) (string, error) {
		return "", bulwark.Errorf(bulwark.Conflict, "test", "the task was closed")
	}, bulwark.Conflict, "the task was closed"},
	{"ask_user", `{"question":"which?"}`, func(context.Context, string) (string, error) {
		return "", errors.New("db: connection refused")
	}, bulwark.Other, "the question could not be put to a person"},
}

func TestInteractErrors(t *testing.T) {
	for _, tt := range interactErrors {
		_, err := reg.Call(context.Background(), &tool.Env{Ask: tt.ask}, tt.name, json.RawMessage(tt.args))
		if err == nil {
			t.Errorf("%s(%s) succeeded, want an error", tt.name, tt.args)
			continue
		}
		if k := bulwark.ErrorKind(err); k != tt.kind {
			t.Errorf("%s(%s): kind %v, want %v", tt.name, tt.args, k, tt.kind)
		}
		if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
			t.Errorf("%s(%s) = %q, want it to contain %q", tt.name, tt.args, msg, tt.msg)
		}
	}
}

func TestAskUser(t *testing.T) {
	var asked string
	env := &tool.Env{Ask: func(ctx context.Context, q string) (string, error) {
		asked = q
		return "blue", nil
	}}
	res, err := reg.Call(context.Background(), env, "ask_user", json.RawMessage(`{"question":"which colour?"}`))
	if err != nil || res.Output != "blue" || res.Final {
		t.Errorf("ask_user = %+v, %v, want output %q", res, err, "blue")
	}
	if asked != "which colour?" {
		t.Errorf("Ask got %q, want %q", asked, "which colour?")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env.Ask = func(ctx context.Context, q string) (string, error) { return "", ctx.Err() }
	if _, err := reg.Call(ctx, env, "ask_user", json.RawMessage(`{"question":"x"}`)); bulwark.ErrorKind(err) != bulwark.Canceled {
		t.Errorf("ask_user after cancel = %v, want kind Canceled", err)
	}
}
