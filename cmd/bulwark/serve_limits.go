package main

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/sandbox"
)

// tenantLimits are the operator's bounds on tenants: ceilings on what
// their settings may ask for, and whether and how much they may use the
// operator's own provider keys.
type tenantLimits struct {
	ceilings bulwark.Ceilings
	shared   sharedKeys
	// local says which tenants may use the operator's local model server
	// (ollama:MODEL at the server's OLLAMA_HOST): BULWARK_SHARED_LOCAL_MODELS,
	// or where shared keys are allowed. Its tokens and cost are not counted.
	local sharedKeys
}

// sharedKeys says which tenants may use the operator's OPENAI_API_KEY and
// ANTHROPIC_API_KEY, and their budget on them each UTC day.
type sharedKeys struct {
	all     bool            // BULWARK_SHARED_PROVIDER_KEYS=on
	tenants map[string]bool // or these tenants, by name or id
	tokens  int             // BULWARK_SHARED_KEY_DAILY_TOKENS
	cost    float64         // BULWARK_SHARED_KEY_DAILY_COST
}

// Defaults of the daily budget of a tenant on the shared keys.
const (
	defaultSharedKeyTokens = 1_000_000
	defaultSharedKeyCost   = 10.0
)

// readTenantLimits reads the ceilings (BULWARK_TENANT_MAX_*) and the
// shared key rules (BULWARK_SHARED_*) from the environment. Unset
// variables take the secure defaults; a value that does not parse is an
// error, so that a typo does not silently lift a ceiling.
func readTenantLimits() (tenantLimits, error) {
	var l tenantLimits
	c := &l.ceilings
	for _, v := range []struct {
		name string
		to   *int
	}{
		{"BULWARK_TENANT_MAX_CONCURRENT", &c.MaxConcurrent},
		{"BULWARK_TENANT_MAX_BURST", &c.MaxBurst},
		{"BULWARK_TENANT_MAX_STEPS", &c.MaxSteps},
		{"BULWARK_TENANT_MAX_TOKENS", &c.MaxTokens},
		{"BULWARK_SHARED_KEY_DAILY_TOKENS", &l.shared.tokens},
	} {
		if err := envPositiveInt(v.name, v.to); err != nil {
			return l, err
		}
	}
	for _, v := range []struct {
		name string
		to   *float64
	}{
		{"BULWARK_TENANT_MAX_RATE", &c.MaxRate},
		{"BULWARK_TENANT_MAX_COST", &c.MaxCost},
		{"BULWARK_SHARED_KEY_DAILY_COST", &l.shared.cost},
	} {
		if err := envPositiveFloat(v.name, v.to); err != nil {
			return l, err
		}
	}
	if s := env("BULWARK_TENANT_MAX_OUTPUT"); s != "" {
		n, err := sandbox.ParseSize(s)
		if err != nil || n <= 0 || n > math.MaxInt32 {
			return l, usagef("BULWARK_TENANT_MAX_OUTPUT=%q: want a size such as 1MiB", s)
		}
		c.MaxOutput = int(n)
	}
	if env("BULWARK_TENANT_MAX_DURATION") != "" {
		d, err := envDuration("BULWARK_TENANT_MAX_DURATION", 0)
		if err != nil {
			return l, err
		}
		c.MaxDuration = d
	}
	l.ceilings = l.ceilings.WithDefaults()
	if l.shared.tokens == 0 {
		l.shared.tokens = defaultSharedKeyTokens
	}
	if l.shared.cost == 0 {
		l.shared.cost = defaultSharedKeyCost
	}
	l.shared.all, l.shared.tenants = shareList(env("BULWARK_SHARED_PROVIDER_KEYS"))
	l.local.all, l.local.tenants = shareList(env("BULWARK_SHARED_LOCAL_MODELS"))
	return l, nil
}

// shareList reads a BULWARK_SHARED_* variable: off (the default), on, or
// a comma-separated list of tenant names or ids.
func shareList(v string) (all bool, tenants map[string]bool) {
	switch v = strings.TrimSpace(v); strings.ToLower(v) {
	case "", "off", "false":
		return false, nil
	case "on", "true":
		return true, nil
	}
	tenants = map[string]bool{}
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tenants[t] = true
		}
	}
	return false, tenants
}

func envPositiveInt(name string, to *int) error {
	s := env(name)
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n <= 0 {
		return usagef("%s=%q: want a whole number above 0", name, s)
	}
	*to = n
	return nil
}

func envPositiveFloat(name string, to *float64) error {
	s := env(name)
	if s == "" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return usagef("%s=%q: want a number above 0", name, s)
	}
	*to = f
	return nil
}

// keyStore is what choosing a task's provider key reads.
type keyStore interface {
	Tenant(ctx context.Context, id bulwark.TenantID) (bulwark.Tenant, error)
	bulwark.UsageStore
}

// allows reports whether tenant may use the operator's provider keys.
func (k sharedKeys) allows(ctx context.Context, store keyStore, tenant bulwark.TenantID) (bool, error) {
	if k.all || k.tenants[string(tenant)] {
		return true, nil
	}
	if len(k.tenants) == 0 {
		return false, nil
	}
	t, err := store.Tenant(ctx, tenant)
	if err != nil {
		return false, err
	}
	return k.tenants[t.Name], nil
}

// checkLocalModel refuses a tenant's task on the operator's local model
// server (ollama:MODEL: the server's OLLAMA_HOST, its machine and GPU)
// unless the operator shares local models, or its provider keys, with the
// tenant. bulwark run, the operator's own, is not a tenant's and is not
// checked.
func (l tenantLimits) checkLocalModel(ctx context.Context, store keyStore, tenant bulwark.TenantID, spec string) error {
	if kind, _, _ := strings.Cut(strings.TrimSpace(spec), ":"); kind != "ollama" {
		return nil
	}
	for _, k := range []sharedKeys{l.local, l.shared} {
		ok, err := k.allows(ctx, store, tenant)
		if ok || err != nil {
			return err
		}
	}
	return bulwark.Errorf(bulwark.PermissionDenied, "serve.checkLocalModel",
		"ollama models run on the server's own model server, which is not shared with this tenant; ask the operator to share local models, or use openai or anthropic with the tenant's own key in Secrets")
}

// modelKey chooses the API key of a task's model, whose provider reads it
// from keyVar ("" for providers that need none: ollama, replay). The
// tenant's own key (own) comes first; else the operator's (in the
// server's environment) where the operator lets this tenant use it, with
// the daily budget that meters it; else an error that tells the tenant
// what to do. A tenant never falls back to the operator's key silently.
func (l tenantLimits) modelKey(ctx context.Context, store keyStore, tenant bulwark.TenantID, keyVar, own string) (string, *provider.DailyBudget, error) {
	const op = "serve.modelKey"
	if keyVar == "" || own != "" {
		return own, nil, nil
	}
	ok, err := l.shared.allows(ctx, store, tenant)
	if err != nil {
		return "", nil, err
	}
	key := strings.TrimSpace(env(keyVar))
	switch {
	case !ok:
		return "", nil, bulwark.Errorf(bulwark.PermissionDenied, op,
			"this tenant has no %s; set one in Secrets, or ask the operator to allow shared keys", keyVar)
	case key == "":
		return "", nil, bulwark.Errorf(bulwark.PermissionDenied, op,
			"this tenant has no %s and the server has none to share; set one in Secrets", keyVar)
	}
	b := &provider.DailyBudget{Store: store, Tenant: tenant, Tokens: l.shared.tokens, Cost: l.shared.cost, KeyVar: keyVar}
	if err := b.Check(ctx); err != nil {
		return "", nil, err
	}
	return key, b, nil
}
