// Package interact holds the tools through which the model talks to people
// rather than to files: finish, which ends the task with its answer, and
// ask_user, which puts a question to a person and waits for the reply.
package interact

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/tool"
)

// Finish returns the finish tool: answer. Its result is Final, with the
// answer as Output.
func Finish() tool.Tool { return finish{} }

type finish struct{}

var finishSchema = lazy.Value[*tool.Schema]{New: func() *tool.Schema {
	return &tool.Schema{
		Type: "object",
		Properties: map[string]*tool.Schema{
			"answer": {Type: "string", Description: "The final answer or a summary of what was done, for the person who gave the task.", MinLength: 1},
		},
		Required: []string{"answer"},
	}
}}

func (finish) Name() string { return "finish" }
func (finish) Description() string {
	return "End the task and give the final answer. Call it once the task is done, or when it cannot be done (then say why). " +
		"Nothing runs after it, so finish files and checks first."
}
func (finish) Schema() *tool.Schema { return finishSchema.Get() }

// Effects: finish acts on nothing outside the conversation.
func (finish) Effects(json.RawMessage) (tool.Effects, error) { return tool.Effects{}, nil }

func (finish) Run(ctx context.Context, env *tool.Env, raw json.RawMessage) (tool.Result, error) {
	var args struct {
		Answer string `json:"answer"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, "finish", "the arguments do not fit finish: "+err.Error(), err)
	}
	return tool.Result{Output: args.Answer, Final: true}, nil
}

// AskUser returns the ask_user tool: question. It calls Env.Ask and returns
// the person's answer; without Env.Ask it fails with kind Unavailable.
func AskUser() tool.Tool { return askUser{} }

type askUser struct{}

var askUserSchema = lazy.Value[*tool.Schema]{New: func() *tool.Schema {
	return &tool.Schema{
		Type: "object",
		Properties: map[string]*tool.Schema{
			"question": {Type: "string", Description: "The question, complete and clear on its own.", MinLength: 1, MaxLength: 4000},
		},
		Required: []string{"question"},
	}
}}

func (askUser) Name() string { return "ask_user" }
func (askUser) Description() string {
	return "Ask the person who gave the task a question and wait for the answer. " +
		"Use it only when you cannot go on without them: for missing information, or a choice that is theirs to make. " +
		"There may be no one to ask; then you are told so and must decide yourself."
}
func (askUser) Schema() *tool.Schema { return askUserSchema.Get() }

// Effects: ask_user talks to the person who gave the task, nothing else.
func (askUser) Effects(json.RawMessage) (tool.Effects, error) { return tool.Effects{}, nil }

func (askUser) Run(ctx context.Context, env *tool.Env, raw json.RawMessage) (tool.Result, error) {
	const op = "ask_user"
	var args struct {
		Question string `json:"question"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, op, "the arguments do not fit ask_user: "+err.Error(), err)
	}
	if env == nil || env.Ask == nil {
		return tool.Result{}, bulwark.Errorf(bulwark.Unavailable, op,
			"no person is available to answer questions in this task; decide yourself, using what you know, and go on (say in your final answer what you assumed)")
	}
	answer, err := env.Ask(ctx, args.Question)
	if err != nil {
		if ctx.Err() != nil {
			return tool.Result{}, bulwark.E(bulwark.Canceled, op, "the task was canceled while waiting for an answer", err)
		}
		if bulwark.ErrorMessage(err) == "internal error" {
			return tool.Result{}, bulwark.E(bulwark.ErrorKind(err), op, "the question could not be put to a person", err)
		}
		return tool.Result{}, err
	}
	if strings.TrimSpace(answer) == "" {
		return tool.Result{Output: "the person gave an empty answer"}, nil
	}
	return tool.Result{Output: answer}, nil
}
