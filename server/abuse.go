package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

// Bodies that do not decode are what probing looks like: a client that
// sends more than badInputBurst of them, and then more than badInputRate
// a second, is refused (429) and audited. An honest client with a bug
// meets the limit only after many errors, each of which told it what was
// wrong. (Answers that had to mask a secret are budgeted per user and
// tenant instead: see chargeMasked.)
const (
	badInputRate  = 0.5 // a second
	badInputBurst = 20
)

// Reasons a request is refused as bad input (the audit records' reason).
const (
	badJSON      = "bad_json"
	secretMasked = "secret_masked"
)

// chargeBadInput counts one bad input of reason from the request's
// client. When the client is over its budget it returns the RateLimited
// error to answer instead, audited at most once a minute per client.
func (s *Server) chargeBadInput(r *http.Request, p Principal, reason string) error {
	if s.cfg.RateLimitOff {
		return nil
	}
	client := clientAddr(r)
	ok, wait, err := allow(r.Context(), s.badInput, "bad|"+client, badInputRate, badInputBurst)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	s.sec.IncTenant(metrics.RateLimited, string(p.Tenant))
	if s.allowSample(r, "badinput.refused|"+client) {
		s.auditRefusal(r, audit.Record{TenantID: string(p.Tenant), Actor: p.Actor(), Action: "request.bad_input_limited",
			Target: r.Method + " " + r.URL.Path, Outcome: audit.OutcomeDenied,
			Details: map[string]string{"client": client, "reason": reason}})
	}
	return rateLimited("server.badInput", "too many malformed requests from your address: slow down", max(wait, time.Second))
}

// screenBadInput charges a request whose body did not decode; it returns
// err, or the refusal that replaces it.
func (s *Server) screenBadInput(r *http.Request, p Principal, err error) error {
	if !errors.Is(err, errBadJSON) {
		return err
	}
	if lerr := s.chargeBadInput(r, p, badJSON); lerr != nil {
		return lerr
	}
	return err
}

// A caller inside a tenant can put a guess at one of its secrets where
// it comes back to them (a file, a memory, a setting, a field's name in
// an error) and see whether it comes back masked: each masked answer
// confirms a whole guess. Such answers are budgeted per user and per
// tenant, so that neither more addresses nor more keys nor more users
// multiply the guesses; and each is a security event: counted for the
// tenant, and audited as secret.masked_answer at most once a minute per
// user. Honest answers that mask (a file the agent wrote with a secret
// in it, downloaded) are few next to the budgets. They are not charged
// to the client's address: the members behind one address (an office's
// NAT, a proxy whose forwarding header is not trusted) would share its
// budget, and one of them, refused by its own budget, could go on
// spending it and have the others' masked answers refused, other
// tenants' members' included.
const (
	maskUserRate    = 0.05 // a second: three a minute once the burst is spent
	maskUserBurst   = 20
	maskTenantRate  = 0.2
	maskTenantBurst = 60
)

// chargeMasked accounts for an answer to p that had to mask a secret,
// where being what was masked ("error", "download", ...). When any
// budget is spent it returns the RateLimited error to answer instead (the
// masked answer is not sent), audited at most once a minute per user.
func (s *Server) chargeMasked(r *http.Request, p Principal, where string) error {
	s.sec.IncTenant(metrics.SecretMasked, string(p.Tenant))
	who := p.RightsUser()
	if who == "" {
		who = p.Actor()
	}
	user := string(p.Tenant) + "|" + who
	if s.allowSample(r, "masked|"+user) {
		s.audit(r, audit.Record{TenantID: string(p.Tenant), Actor: p.Actor(), Action: "secret.masked_answer",
			Target: r.Method + " " + r.URL.Path, Outcome: audit.OutcomeOK,
			Details: map[string]string{"client": clientAddr(r), "where": where}})
	}
	if s.cfg.RateLimitOff {
		return nil
	}
	for _, b := range []struct {
		scope, key string
		rate       float64
		burst      int
	}{
		{"user", "mask|user|" + user, maskUserRate, maskUserBurst},
		{"tenant", "mask|tenant|" + string(p.Tenant), maskTenantRate, maskTenantBurst},
	} {
		ok, wait, err := allow(r.Context(), s.badInput, b.key, b.rate, b.burst)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		s.sec.IncTenant(metrics.RateLimited, string(p.Tenant))
		if s.allowSample(r, "masked.refused|"+b.key) {
			s.auditRefusal(r, audit.Record{TenantID: string(p.Tenant), Actor: p.Actor(), Action: "request.bad_input_limited",
				Target: r.Method + " " + r.URL.Path, Outcome: audit.OutcomeDenied,
				Details: map[string]string{"client": clientAddr(r), "reason": secretMasked, "limit": b.scope}})
		}
		return rateLimited("server.chargeMasked", "too many answers had to mask a secret: slow down", max(wait, time.Second))
	}
	return nil
}

// maskInput masks text, a task's input or a message to one, with the
// tenant's redactor before it is stored: the agent masks both before the
// model and its events see them, and the task, its list and its schedule
// are shown to every member of the tenant, who must not read a secret's
// value there either. Text that had to be masked is charged as a masked
// answer: the task's events would confirm a guess written into it. where
// names the kind of text.
func (s *Server) maskInput(r *http.Request, text, where string) (string, error) {
	p, _ := PrincipalFrom(r.Context())
	red, err := s.red.For(r.Context(), p.Tenant)
	if err != nil {
		return "", err
	}
	out := red.String(text)
	if out == text {
		return text, nil
	}
	if err := s.chargeMasked(r, p, where); err != nil {
		return "", err
	}
	return out, nil
}

// maskMessage masks msg, an error message for the request, with the
// redactor of the request's tenant (none for a request of no tenant). A
// mask is a security event: the caller charges it (chargeMasked). ok is
// false when the redactor cannot be had: the caller shows
// a fixed message instead.
func (s *Server) maskMessage(r *http.Request, p Principal, msg string) (out string, masked, ok bool) {
	red, err := s.red.For(r.Context(), p.Tenant)
	if err != nil {
		s.logger(r).Error("the tenant's secrets cannot be read to mask an answer", "tenant", p.Tenant, "err", err)
		return "", false, false
	}
	out = red.String(msg)
	return out, out != msg, true
}
