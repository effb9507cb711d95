package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

// Bodies that do not decode, and answers in which a secret had to be
// masked, are what probing looks like: a client that sends more than
// badInputBurst of them, and then more than badInputRate a second, is
// refused (429) and audited. An honest client with a bug meets the limit
// only after many errors, each of which told it what was wrong.
const (
	badInputRate  = 0.5 // a second
	badInputBurst = 20
)

// Reasons a request counts as bad input.
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

// maskMessage masks msg, an error message for the request, with the
// redactor of the request's tenant (none for a request of no tenant). A
// mask is a security event: counted for the tenant and charged to the
// client. ok is false when the redactor cannot be had: the caller shows
// a fixed message instead.
func (s *Server) maskMessage(r *http.Request, p Principal, msg string) (out string, masked, ok bool) {
	red, err := s.red.For(r.Context(), p.Tenant)
	if err != nil {
		s.logger(r).Error("the tenant's secrets cannot be read to mask an answer", "tenant", p.Tenant, "err", err)
		return "", false, false
	}
	out = red.String(msg)
	if out == msg {
		return msg, false, true
	}
	s.sec.IncTenant(metrics.SecretMasked, string(p.Tenant))
	return out, true, true
}
