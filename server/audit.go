package server

import (
	"context"
	"net/http"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

// audit appends rec to the audit log, with the tenant and actor of the
// request's principal where rec names none and the request id in its
// details. An audit failure is counted and logged, and returned as an
// Unavailable error: the caller reports the change as made but not
// audited.
func (s *Server) audit(r *http.Request, rec audit.Record) error {
	if s.cfg.Audit == nil {
		return nil
	}
	if p, ok := PrincipalFrom(r.Context()); ok {
		if rec.TenantID == "" {
			rec.TenantID = string(p.Tenant)
		}
		if rec.Actor == "" {
			rec.Actor = p.Actor()
		}
	}
	if rec.Outcome == "" {
		rec.Outcome = audit.OutcomeOK
	}
	d := make(map[string]string, len(rec.Details)+1)
	for k, v := range rec.Details {
		d[k] = v
	}
	d["request_id"] = RequestID(r.Context())
	rec.Details = d
	if err := s.cfg.Audit.Append(context.WithoutCancel(r.Context()), rec); err != nil {
		s.sec.Inc(metrics.AuditFailure)
		s.logger(r).Error("audit record not written", "action", rec.Action, "err", err)
		return bulwark.E(bulwark.Unavailable, "server.audit", "the change was made, but its audit record could not be written", err)
	}
	return nil
}

// auditRefusal records a refusal; a failure is only logged, since the
// request is refused anyway.
func (s *Server) auditRefusal(r *http.Request, rec audit.Record) {
	s.audit(r, rec)
}
