package main

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/internal/secretwatch"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/skill"
	"github.com/bulwark-agents/bulwark/taskenv"
	"github.com/bulwark-agents/bulwark/workspace"
)

// taskStore is what preparing a server task reads: settings and secrets,
// and the tenant and its use of shared provider keys.
type taskStore interface {
	Settings(ctx context.Context, tenant bulwark.TenantID) (bulwark.Settings, error)
	Secrets(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.Secret, error) // also a running task's reread
	Skills(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.StoredSkill, error)
	keyStore
}

// providerKeyVars are the variables a provider adapter reads its API key
// from; they are never read from the server's environment for a tenant
// unless tenantLimits.modelKey chose the operator's key.
var providerKeyVars = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{"OPENAI_API_KEY": true, "ANTHROPIC_API_KEY": true}
}}

// prepareTask builds the Setup of a server task from its tenant's settings:
// the model (the task's, else the tenant's, else the operator's default),
// its provider key (the tenant's own: its secret named as the provider's
// variable, OPENAI_API_KEY, else MODEL_API_KEY; the operator's only where
// lim allows, within the daily budget), policy, limits (within lim's
// ceilings), command and domain allowlists, and its secrets for
// {{secret:NAME}}. A tenant may not pick a replay script (a file on the
// server) unless it is the operator's default.
//
// The rest is taskenv.New's, as for bulwark run (inSandbox is the
// operator's BULWARK_SECRETS_IN_SANDBOX opt-in): the commands the task's
// sandbox ran and its connections (secrets put in or refused included) go
// to auditLog. The task's MCP servers are the operator's (servers, from
// BULWARK_MCP_CONFIG) and those of the tenant's settings; one that does
// not start fails the task, saying which and why. Its skills are the
// operator's (opSkills, from BULWARK_SKILLS_DIR) and the tenant's stored
// ones; the operator's wins a name both have. Its taint mode is the
// stricter of the operator's (inj, BULWARK_TAINT) and its tenant's
// settings'; its spotlight the operator's.
func prepareTask(store taskStore, defaultModel string, lim tenantLimits, inSandbox bool, auditLog *audit.Chains, servers mcpclient.Config, opSkills []*skill.Skill, inj injectionSettings) func(context.Context, bulwark.Task, *workspace.Workspace) (*runner.Setup, error) {
	// A secret added while a task runs is masked by it from then on
	// (taskenv.Options.Watch): one watcher of the store's version for
	// every task of the server.
	av, _ := store.(bulwark.AuthVersioner)
	watch := secretwatch.New(av, 0)
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
		seen := watch.Version(ctx) // before the secrets are read
		all, err := store.Secrets(ctx, tenant)
		if err != nil {
			return nil, err
		}
		var apiKey string
		all = slices.DeleteFunc(all, func(s bulwark.Secret) bool {
			if s.Name == bulwark.ModelAPIKeySecret {
				apiKey = s.Value // the provider's key is not for tools
				return true
			}
			return false
		})
		values := map[string]string{}
		for _, sec := range all {
			values[sec.Name] = sec.Value
		}
		if err := lim.checkLocalModel(ctx, store, tenant, spec); err != nil {
			return nil, err
		}
		keyVar := provider.KeyVar(spec)
		own := apiKey
		if keyVar != "" && values[keyVar] != "" {
			own = values[keyVar]
		}
		key, budget, err := lim.modelKey(ctx, store, tenant, keyVar, own)
		if err != nil {
			return nil, err
		}
		model, err := provider.Open(spec, func(k string) string {
			if providerKeyVars.Get()[k] {
				return key
			}
			return env(k)
		})
		if err != nil {
			return nil, err
		}
		if budget != nil {
			model = budget.Wrap(model)
		}

		masked := map[string]string{}
		if apiKey != "" {
			masked[bulwark.ModelAPIKeySecret] = apiKey
		}
		if key != apiKey {
			maps.Copy(masked, modelKeyMasked(keyVar, key, values))
		}
		mcp, err := tenantMCP(servers, st)
		if err != nil {
			return nil, err
		}
		search, err := searchOptions()
		if err != nil {
			return nil, err
		}
		skills, err := tenantSkills(ctx, store, tenant, opSkills)
		if err != nil {
			return nil, err
		}
		te, err := taskenv.New(ctx, taskenv.Options{
			Tenant: t.TenantID, TaskID: t.ID, User: t.CreatedBy, Model: model, Workspace: ws,
			Secrets: all, Masked: masked, InSandbox: inSandbox, SecretTools: secretTools(),
			FetchDomains: st.AllowedDomains, FetchDial: fetchDial,
			Sandbox: sandboxOptions(st.AllowedCommands, st.AllowedDomains),
			Policy:  st.Policy, Limits: lim.ceilings.ClampLimits(mergeLimits(t.Limits, st.Limits)),
			Audit: auditor(auditLog),
			// The process's log redactor masks them too while the task
			// runs, under labels of the task (operator's logs only).
			LogMask: redactor, LogPrefix: t.TenantID + "." + t.ID + ".",
			MCP: mcp, MCPDial: mcpDial, Search: search, Memory: memoryOf(store), Skills: skills,
			Taint: inj.forTenant(st.Taint), Spotlight: inj.spotlight,
			Watch: watch.Watch, SecretsSeen: seen, Reread: func(ctx context.Context) ([]bulwark.Secret, error) {
				return store.Secrets(ctx, tenant)
			},
		})
		if err != nil {
			return nil, err
		}
		return te.Setup(), nil
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

// memoryOf is the memory store of a store that keeps memories (both
// backends do), else nil: the task then has no memory tools.
func memoryOf(s any) bulwark.MemoryStore {
	m, _ := s.(bulwark.MemoryStore)
	return m
}

// modelKeyMasked returns the values a task's redactor masks for the key
// its model is called with, when that key is not already one of the
// tenant's secret values (which are masked under their own names): the
// operator's shared key, or the one bulwark run read from its
// environment. A model server that quotes the key it was sent (in an
// error, a reply) shows it to the task's events, its answer and every
// member who can read them; the transport masks what its errors quote,
// the redactor everything else, in every form it finds. Never nil.
func modelKeyMasked(keyVar, key string, values map[string]string) map[string]string {
	masked := map[string]string{}
	for _, v := range values {
		if v == key {
			return masked
		}
	}
	if key != "" {
		masked[cmp.Or(keyVar, "model_api_key")] = key
	}
	return masked
}
