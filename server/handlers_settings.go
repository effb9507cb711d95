package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/llm/provider"
)

// settingsResponse is a tenant's settings as GET and PUT return them: the
// model's API key is never returned, only whether it is set. Nor is the
// operator's default model: its spec is the operator's business (a
// replay script's path, a local server), so a tenant is told only that
// its tasks use it.
type settingsResponse struct {
	bulwark.Settings
	APIKeySet      bool   `json:"api_key_set"`
	EffectiveModel string `json:"effective_model"` // Model, or serverDefaultModel
	DefaultModel   bool   `json:"default_model"`   // the tenant's tasks use the server's default model
	// Defaults are what a field left empty (zero) means on this server:
	// the defaults within the operator's ceilings.
	Defaults settingsDefaults `json:"defaults"`
}

// settingsDefaults are the values a tenant's empty settings fields take.
type settingsDefaults struct {
	Limits        bulwark.Limits            `json:"limits"`
	MaxConcurrent int                       `json:"max_concurrent_tasks"`
	RateLimit     bulwark.RateLimitSettings `json:"rate_limit"`
	Policy        bulwark.Decision          `json:"policy_default"`
	// Taint is the operator's taint mode: what "taint": "" means, and the
	// weakest mode a tenant may choose.
	Taint bulwark.TaintMode `json:"taint"`
}

// defaultTenantQuota is how many tasks of a tenant run at once when its
// settings name no number (cmd/bulwark's default quota).
const defaultTenantQuota = 4

func (s *Server) settingsDefaults() settingsDefaults {
	c := s.cfg.Ceilings
	return settingsDefaults{
		Limits:        c.ClampLimits(bulwark.Limits{}),
		MaxConcurrent: c.Concurrency(0, defaultTenantQuota),
		RateLimit:     c.ClampRates(s.cfg.RateLimits),
		Policy:        bulwark.Allow,
		Taint:         bulwark.TaintMode(s.cfg.Taint.String()),
	}
}

// serverDefaultModel is what a tenant is shown for the operator's default
// model.
const serverDefaultModel = "the server's default model"

func (s *Server) settingsView(r *http.Request, st bulwark.Settings) (settingsResponse, error) {
	infos, err := s.store.ListSecrets(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return settingsResponse{}, err
	}
	if len(st.MCP) > 0 {
		red, err := s.red.For(r.Context(), TenantFrom(r.Context()))
		if err != nil {
			return settingsResponse{}, err
		}
		masked := maskMCP(red, st.MCP)
		if !bytes.Equal(masked, st.MCP) {
			// A secret set to a value the document holds: set by the
			// caller, a guess confirmed.
			p, _ := PrincipalFrom(r.Context())
			if err := s.chargeMasked(r, p, "settings"); err != nil {
				return settingsResponse{}, err
			}
		}
		st.MCP = masked
	}
	resp := settingsResponse{Settings: st, EffectiveModel: st.Model, Defaults: s.settingsDefaults()}
	if resp.EffectiveModel == "" && s.cfg.DefaultModel != "" {
		resp.EffectiveModel, resp.DefaultModel = serverDefaultModel, true
	}
	for _, i := range infos {
		if i.Name == bulwark.ModelAPIKeySecret {
			resp.APIKeySet = true
		}
	}
	return resp, nil
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) error {
	st, err := s.store.Settings(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return err
	}
	resp, err := s.settingsView(r, st)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// putSettingsRequest is the body of PUT /api/v1/settings: the whole
// settings (a field left out takes the default), and the model's API key:
// left out, it is unchanged; "" removes it.
type putSettingsRequest struct {
	Model           string                    `json:"model"`
	APIKey          *string                   `json:"api_key"`
	Policy          bulwark.Policy            `json:"policy"`
	AllowedCommands []string                  `json:"allowed_commands"`
	AllowedDomains  []string                  `json:"allowed_domains"`
	Limits          bulwark.Limits            `json:"limits"`
	MaxConcurrent   int                       `json:"max_concurrent_tasks"`
	RateLimit       bulwark.RateLimitSettings `json:"rate_limit"`
	// Taint is what taints the tenant's tasks: "" (the operator's mode),
	// or detected, source or off, no weaker than the operator's.
	Taint string `json:"taint"`
	// MCP is the tenant's MCP servers, {"mcpServers": {...}}, with
	// {{secret:NAME}} for secret values of env and headers; left out or
	// null, there are none.
	MCP json.RawMessage `json:"mcp"`
	// RequireTwoFactor and KeyMaxAgeDays left out keep their stored
	// values (as api_key does): a script that knows nothing of them must
	// not turn a requirement off by saving other settings.
	RequireTwoFactor *bool `json:"require_two_factor"`
	KeyMaxAgeDays    *int  `json:"key_max_age_days"`
}

// maxKeyAgeDays bounds key_max_age_days: ten years.
const maxKeyAgeDays = 3650

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) error {
	const op = "server.putSettings"
	t := TenantFrom(r.Context())
	var req putSettingsRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	// The operator's ceilings first, on the values as sent: a value far
	// over its ceiling is answered with the ceiling, not with the wider
	// bound of the settings' own checks. (NaN and negatives are over no
	// ceiling; the checks below refuse them.)
	if err := s.cfg.Ceilings.Check(bulwark.Settings{Limits: req.Limits, MaxConcurrent: req.MaxConcurrent, RateLimit: req.RateLimit}); err != nil {
		return err
	}
	st, err := req.settings()
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, err.Error(), nil)
	}
	if err := s.cfg.Ceilings.Check(st); err != nil { // the operator's ceilings, naming the one exceeded
		return err
	}
	if p, _ := PrincipalFrom(r.Context()); req.APIKey != nil && len(p.Scopes) > 0 && !slices.Contains(p.Scopes, "secrets") {
		return bulwark.Errorf(bulwark.PermissionDenied, op, "api_key is a secret: setting it needs a key with the secrets scope too")
	}
	if err := s.checkModel(r.Context(), op, t, st.Model); err != nil {
		return err
	}
	if check := s.cfg.CheckPolicyRule; check != nil {
		for i, r := range st.Policy.Rules {
			if err := check(r); err != nil {
				return bulwark.E(bulwark.Invalid, op, fmt.Sprintf("policy.rules[%d]: %s", i, bulwark.ErrorMessage(err)), nil)
			}
		}
	}
	mcp, err := checkMCPDoc(req.MCP)
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, err.Error(), nil)
	}
	before, err := s.store.Settings(r.Context(), t)
	if err != nil {
		return err
	}
	// A tenant's taint mode may not be weaker than the operator's. One
	// stored before the operator's was raised may stay as it is (its tasks
	// run in the stricter mode anyway), so that saving other settings
	// does not fail on it.
	if floor := bulwark.TaintMode(s.cfg.Taint.String()); st.Taint != "" && st.Taint != before.Taint && st.Taint.Weaker(floor) {
		return bulwark.Errorf(bulwark.Invalid, op,
			"taint: this server's operator taints tasks in %s mode; a tenant may choose that mode or a stricter one (%s), not %s",
			floor, strings.Join(taintModesFrom(floor), " or "), st.Taint)
	}
	if p, _ := PrincipalFrom(r.Context()); len(p.Scopes) > 0 && !slices.Contains(p.Scopes, "secrets") {
		if name := newSecretUse(storedMCP(before.MCP), mcp); name != "" {
			return bulwark.Errorf(bulwark.PermissionDenied, op, "mcp: the server %s sends secrets ({{secret:NAME}}): adding or changing it needs a key with the secrets scope too", name)
		}
	}
	if mcp.raw != nil {
		apiKey := ""
		if req.APIKey != nil {
			apiKey = *req.APIKey
		}
		if err := s.checkMCPSecrets(r, t, mcp.raw, apiKey); err != nil {
			return err
		}
		if err := s.checkMCPBindings(r.Context(), t, mcp); err != nil {
			return err
		}
		if check := s.cfg.CheckMCP; check != nil {
			if err := check(mcp.raw, st.AllowedDomains); err != nil {
				return bulwark.E(bulwark.Invalid, op, "mcp: "+strings.TrimPrefix(bulwark.ErrorMessage(err), "mcp: "), nil)
			}
		}
	}
	st.MCP = mcp.raw
	st.RequireTwoFactor, st.KeyMaxAgeDays = before.RequireTwoFactor, before.KeyMaxAgeDays
	if req.RequireTwoFactor != nil {
		st.RequireTwoFactor = *req.RequireTwoFactor
	}
	if req.KeyMaxAgeDays != nil {
		if *req.KeyMaxAgeDays < 0 || *req.KeyMaxAgeDays > maxKeyAgeDays {
			return bulwark.Errorf(bulwark.Invalid, op, "key_max_age_days: from 0 (no key is flagged) to %d", maxKeyAgeDays)
		}
		st.KeyMaxAgeDays = *req.KeyMaxAgeDays
	}
	keyChange := "unchanged"
	if req.APIKey != nil {
		defer s.red.Forget(t)
		if *req.APIKey == "" {
			keyChange = "removed"
			if err := s.store.DeleteSecret(r.Context(), t, bulwark.ModelAPIKeySecret); err != nil && bulwark.ErrorKind(err) != bulwark.NotFound {
				return err
			}
		} else {
			keyChange = "set"
			if err := s.store.SetSecret(r.Context(), t, bulwark.ModelAPIKeySecret, *req.APIKey); err != nil {
				return err
			}
		}
	}
	if st, err = s.store.PutSettings(r.Context(), t, st); err != nil {
		return err
	}
	details := map[string]string{"api_key": keyChange, "model": st.Model}
	if st.Taint != before.Taint {
		details["taint"] = fmt.Sprintf("%s -> %s", orOperator(before.Taint), orOperator(st.Taint))
	}
	if st.RequireTwoFactor != before.RequireTwoFactor {
		details["require_two_factor"] = fmt.Sprintf("%t -> %t", before.RequireTwoFactor, st.RequireTwoFactor)
	}
	if st.KeyMaxAgeDays != before.KeyMaxAgeDays {
		details["key_max_age_days"] = fmt.Sprintf("%d -> %d", before.KeyMaxAgeDays, st.KeyMaxAgeDays)
	}
	mcpAudit(storedMCP(before.MCP), mcp, details)
	if err := s.audit(r, audit.Record{Action: "settings.update", Target: string(t), Details: details}); err != nil {
		return err
	}
	resp, err := s.settingsView(r, st)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// Bounds of the settings.
const (
	maxRules       = 200
	maxListEntries = 200
	maxConcurrent  = 1000
)

// settings checks every value of the request and returns the settings, or
// an error whose text names the field and says what is wanted.
func (req *putSettingsRequest) settings() (bulwark.Settings, error) {
	st := bulwark.Settings{Model: strings.TrimSpace(req.Model), Policy: req.Policy, Limits: req.Limits,
		MaxConcurrent: req.MaxConcurrent, RateLimit: req.RateLimit}
	if req.Taint != "" {
		mode, err := bulwark.ParseTaintMode(req.Taint)
		if err != nil {
			return st, fmt.Errorf("taint: %q is not a taint mode: use detected, source or off, or leave it empty for the server's", req.Taint)
		}
		st.Taint = mode
	}
	if st.Model != "" && !validModelSpec(st.Model) {
		return st, fmt.Errorf("model: want PROVIDER:MODEL with provider openai, anthropic or ollama, such as \"openai:gpt-4o\", optionally with ?context=TOKENS (the model's context window)")
	}
	if err := checkPolicy(st.Policy); err != nil {
		return st, err
	}
	if len(req.AllowedCommands) > maxListEntries || len(req.AllowedDomains) > maxListEntries {
		return st, fmt.Errorf("allowed_commands and allowed_domains hold at most %d entries each", maxListEntries)
	}
	for i, c := range req.AllowedCommands {
		if !validCommand(c) {
			return st, fmt.Errorf("allowed_commands[%d]: not a command name (python3) or an absolute path (/usr/bin/python3)", i)
		}
		st.AllowedCommands = append(st.AllowedCommands, c)
	}
	for i, d := range req.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if !validDomain(d) {
			return st, fmt.Errorf("allowed_domains[%d]: not a host name (example.com, *.example.com for its subdomains, or * for any public host)", i)
		}
		st.AllowedDomains = append(st.AllowedDomains, d)
	}
	l := st.Limits
	switch {
	case l.MaxSteps < 0 || l.MaxSteps > 10_000:
		return st, fmt.Errorf("limits.max_steps: 0 (the default) to 10000")
	case l.MaxTokens < 0 || l.MaxTokens > 1_000_000_000:
		return st, fmt.Errorf("limits.max_tokens: 0 (the default) to 1000000000")
	case l.MaxCost < 0 || l.MaxCost > 1_000_000:
		return st, fmt.Errorf("limits.max_cost: 0 (the default) to 1000000 dollars")
	case l.MaxDuration < 0 || l.MaxDuration > 24*time.Hour:
		return st, fmt.Errorf("limits.max_duration: 0 (the default) to 24h, in nanoseconds")
	case l.MaxOutput < 0 || l.MaxOutput > 16<<20:
		return st, fmt.Errorf("limits.max_output: 0 (the default) to 16777216 bytes")
	case st.MaxConcurrent < 0 || st.MaxConcurrent > maxConcurrent:
		return st, fmt.Errorf("max_concurrent_tasks: 0 (the default) to %d", maxConcurrent)
	}
	rl := st.RateLimit
	switch {
	case !(rl.PerKey >= 0 && rl.PerKey <= 10_000):
		return st, fmt.Errorf("rate_limit.per_key_rps: 0 (the default) to 10000")
	case !(rl.PerTenant >= 0 && rl.PerTenant <= 100_000):
		return st, fmt.Errorf("rate_limit.per_tenant_rps: 0 (the default) to 100000")
	case rl.Burst < 0 || rl.Burst > 100_000:
		return st, fmt.Errorf("rate_limit.burst: 0 (the default) to 100000")
	}
	return st, nil
}

// taintModesFrom lists the modes as strict as from or stricter.
func taintModesFrom(from bulwark.TaintMode) []string {
	var out []string
	for _, m := range []bulwark.TaintMode{bulwark.TaintOff, bulwark.TaintDetected, bulwark.TaintSource} {
		if !m.Weaker(from) {
			out = append(out, string(m))
		}
	}
	return out
}

// orOperator names a tenant's taint setting for the audit log.
func orOperator(m bulwark.TaintMode) string {
	if m == "" {
		return "operator's"
	}
	return string(m)
}

func checkPolicy(p bulwark.Policy) error {
	if !validDecision(p.Default, true) {
		return fmt.Errorf("policy.default: allow, ask or deny")
	}
	if len(p.Rules) > maxRules {
		return fmt.Errorf("policy.rules: at most %d rules", maxRules)
	}
	for i, r := range p.Rules {
		switch {
		case r.Tool == "" || len(r.Tool) > 64 || strings.ContainsAny(r.Tool, " ()=") || !printable(r.Tool):
			return fmt.Errorf("policy.rules[%d].tool: a tool name such as run_shell, or * for every tool", i)
		case len(r.Pattern) > 1000 || !printable(r.Pattern):
			return fmt.Errorf("policy.rules[%d].pattern: at most 1000 printable characters", i)
		case !validDecision(r.Decision, false):
			return fmt.Errorf("policy.rules[%d].decision: allow, ask or deny", i)
		}
	}
	return nil
}

func validDecision(d bulwark.Decision, emptyOK bool) bool {
	return d == bulwark.Allow || d == bulwark.Ask || d == bulwark.Deny || emptyOK && d == ""
}

// validModelSpec accepts PROVIDER:MODEL for the providers a tenant may
// use, with the options a spec may have (?tools=text, ?context=TOKENS).
// replay:FILE is refused: it would read a file of the server's.
func validModelSpec(spec string) bool {
	if base, query, ok := strings.Cut(spec, "?"); ok {
		if query == "" || provider.CheckOptions(spec) != nil {
			return false
		}
		spec = base
	}
	kind, model, ok := strings.Cut(spec, ":")
	if !ok || model == "" || len(model) > 200 {
		return false
	}
	switch kind {
	case "openai", "anthropic", "ollama":
	default:
		return false
	}
	return !strings.ContainsFunc(model, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:/@-", r))
	})
}

func validCommand(c string) bool {
	if c == "" || len(c) > 255 || strings.Contains(c, "..") {
		return false
	}
	if strings.HasPrefix(c, "/") {
		c = strings.ReplaceAll(c[1:], "/", "")
	}
	return c != "" && !strings.ContainsFunc(c, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-", r))
	})
}

func validDomain(d string) bool {
	if d == "*" {
		return true // any public host: addresses stay refused at each dial
	}
	d = strings.TrimPrefix(d, "*.")
	if d == "" || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' ||
			strings.ContainsFunc(l, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) {
			return false
		}
	}
	last := labels[len(labels)-1]
	return strings.ContainsFunc(last, func(r rune) bool { return r < '0' || r > '9' }) // not an IP address
}
