package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// settingsResponse is a tenant's settings as GET and PUT return them: the
// model's API key is never returned, only whether it is set.
type settingsResponse struct {
	bulwark.Settings
	APIKeySet      bool   `json:"api_key_set"`
	EffectiveModel string `json:"effective_model"` // Model, or the server's default
}

func (s *Server) settingsView(r *http.Request, st bulwark.Settings) (settingsResponse, error) {
	infos, err := s.store.ListSecrets(r.Context(), TenantFrom(r.Context()))
	if err != nil {
		return settingsResponse{}, err
	}
	resp := settingsResponse{Settings: st, EffectiveModel: st.Model}
	if resp.EffectiveModel == "" {
		resp.EffectiveModel = s.cfg.DefaultModel
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
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request) error {
	const op = "server.putSettings"
	t := TenantFrom(r.Context())
	var req putSettingsRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	st, err := req.settings()
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, err.Error(), nil)
	}
	keyChange := "unchanged"
	if req.APIKey != nil {
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
			s.red.Add(redactLabel(t, bulwark.ModelAPIKeySecret), *req.APIKey)
		}
	}
	if st, err = s.store.PutSettings(r.Context(), t, st); err != nil {
		return err
	}
	s.settings.forget(t)
	if err := s.audit(r, audit.Record{Action: "settings.update", Target: string(t), Details: map[string]string{"api_key": keyChange, "model": st.Model}}); err != nil {
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
	if st.Model != "" && !validModelSpec(st.Model) {
		return st, fmt.Errorf("model: want PROVIDER:MODEL with provider openai, anthropic or ollama, such as \"openai:gpt-4o\"")
	}
	if err := checkPolicy(st.Policy); err != nil {
		return st, err
	}
	if len(req.AllowedCommands) > maxListEntries || len(req.AllowedDomains) > maxListEntries {
		return st, fmt.Errorf("allowed_commands and allowed_domains hold at most %d entries each", maxListEntries)
	}
	for _, c := range req.AllowedCommands {
		if !validCommand(c) {
			return st, fmt.Errorf("allowed_commands: %q is not a command name (python3) or an absolute path (/usr/bin/python3)", clip(c))
		}
		st.AllowedCommands = append(st.AllowedCommands, c)
	}
	for _, d := range req.AllowedDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if !validDomain(d) {
			return st, fmt.Errorf("allowed_domains: %q is not a host name (example.com, or *.example.com for its subdomains)", clip(d))
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
// use. replay:FILE is refused: it would read a file of the server's.
func validModelSpec(spec string) bool {
	provider, model, ok := strings.Cut(spec, ":")
	if !ok || model == "" || len(model) > 200 {
		return false
	}
	switch provider {
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

// clip shortens a value quoted back in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
