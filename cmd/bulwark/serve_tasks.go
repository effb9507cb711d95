package main

import (
	"context"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/workspace"
)

// taskStore is what preparing a server task reads: settings and secrets.
type taskStore interface {
	Settings(ctx context.Context, tenant bulwark.TenantID) (bulwark.Settings, error)
	SecretValues(ctx context.Context, tenant bulwark.TenantID) (map[string]string, error)
}

// providerKeyVars are the variables a provider adapter reads its API key
// from; a tenant's MODEL_API_KEY secret stands in for all of them.
var providerKeyVars = map[string]bool{"OPENAI_API_KEY": true, "ANTHROPIC_API_KEY": true}

// prepareTask builds the Setup of a server task from its tenant's settings:
// the model (the task's, else the tenant's, else the operator's default),
// the tenant's provider key, policy, limits, command and domain allowlists,
// and its secrets for {{secret:NAME}}. A tenant may not pick a replay
// script (a file on the server) unless it is the operator's default.
func prepareTask(store taskStore, defaultModel string) func(context.Context, bulwark.Task, *workspace.Workspace) (*runner.Setup, error) {
	return func(ctx context.Context, t bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
		const op = "serve.prepareTask"
		tenant := bulwark.TenantID(t.TenantID)
		st, err := store.Settings(ctx, tenant)
		if err != nil {
			return nil, err
		}
		spec := firstOf(t.Model, st.Model, defaultModel)
		if spec == "" {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "no model is configured: set one in the settings or name one in the task")
		}
		if strings.HasPrefix(spec, "replay:") && spec != defaultModel {
			return nil, bulwark.Errorf(bulwark.PermissionDenied, op, "replay models read files on the server; only the operator's default model may be one")
		}
		values, err := store.SecretValues(ctx, tenant)
		if err != nil {
			return nil, err
		}
		apiKey := values[bulwark.ModelAPIKeySecret]
		delete(values, bulwark.ModelAPIKeySecret) // the provider's key is not for tools
		model, err := provider.Open(spec, func(k string) string {
			if providerKeyVars[k] && apiKey != "" {
				return apiKey
			}
			return env(k)
		})
		if err != nil {
			return nil, err
		}

		red := secret.NewRedactor()
		for name, v := range values {
			red.Add(name, v)
			redactor.Add(name, v) // the process's logs mask them too
		}
		if apiKey != "" {
			red.Add(bulwark.ModelAPIKeySecret, apiKey)
			redactor.Add(bulwark.ModelAPIKeySecret, apiKey)
		}
		tools, err := taskTools(st.AllowedDomains)
		if err != nil {
			return nil, err
		}
		sb := newTaskSandbox(sandbox.Spec{Workspace: ws.Path(), AllowExec: st.AllowedCommands, AllowDomains: st.AllowedDomains})
		return &runner.Setup{
			Model:       model,
			Tools:       tools,
			Exec:        sb.exec,
			Policy:      st.Policy,
			Limits:      mergeLimits(t.Limits, st.Limits),
			Secrets:     values,
			SecretTools: sandbox.SplitList(envOr("BULWARK_SECRET_TOOLS", "run_shell,run_code")),
			Mask:        red.String,
			MaskStream: func() (func(string) string, func() string) {
				s := red.NewStream()
				return s.Push, s.Flush
			},
			Close: sb.Close,
		}, nil
	}
}

// mergeLimits takes each budget from the task where it sets one, else from
// the tenant, and never lets a task exceed a budget the tenant set.
func mergeLimits(task, tenant bulwark.Limits) bulwark.Limits {
	pick := func(t, c int) int {
		if t > 0 && (c == 0 || t < c) {
			return t
		}
		return c
	}
	out := bulwark.Limits{
		MaxSteps:    pick(task.MaxSteps, tenant.MaxSteps),
		MaxTokens:   pick(task.MaxTokens, tenant.MaxTokens),
		MaxOutput:   pick(task.MaxOutput, tenant.MaxOutput),
		MaxDuration: tenant.MaxDuration,
		MaxCost:     tenant.MaxCost,
	}
	if task.MaxDuration > 0 && (tenant.MaxDuration == 0 || task.MaxDuration < tenant.MaxDuration) {
		out.MaxDuration = task.MaxDuration
	}
	if task.MaxCost > 0 && (tenant.MaxCost == 0 || task.MaxCost < tenant.MaxCost) {
		out.MaxCost = task.MaxCost
	}
	return out
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
