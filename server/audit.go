package server

import (
	"context"
	"net/http"
	"time"

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
	s.maskRecord(r, &rec, d)
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
// request is refused anyway. Refusals of requests from nobody known
// (bad credentials, failed logins) cost nothing to send, so they are
// counted: one record per kind, tenant (where the account named is
// known) and client each minute, with the count.
func (s *Server) auditRefusal(r *http.Request, rec audit.Record) {
	if _, known := PrincipalFrom(r.Context()); !known && s.unauth != nil {
		if rec.Outcome == "" {
			rec.Outcome = audit.OutcomeDenied
		}
		s.unauth.Add(clientAddr(r), rec)
		return
	}
	s.audit(r, rec)
}

// auditCheckpointEvery is how often the chains that grew get a signed
// checkpoint while the server runs (each also gets one every 1000 records
// and when it is closed): records older than this cannot be cut off the
// end of a chain unnoticed.
const auditCheckpointEvery = time.Minute

// runAudit writes the counted refusals of each minute as it ends and signs
// checkpoints of the chains that grew, until ctx ends; then it writes the
// counts left.
func (s *Server) runAudit(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.unauth.Run(ctx); close(done) }()
	t := time.NewTicker(auditCheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
			if err := s.cfg.Audit.Checkpoint(ctx); err != nil {
				s.sec.Inc(metrics.AuditFailure)
				s.log.Error("audit checkpoint not signed", "err", err)
			}
		}
	}
}

// FlushAudit writes the counted refusals of unauthenticated requests now,
// rather than when their minute ends. ListenAndServe does it when it
// stops; tests that serve Handler themselves call it before reading the
// log.
func (s *Server) FlushAudit(ctx context.Context) {
	if s.unauth != nil {
		s.unauth.Flush(ctx, true)
	}
}

// maskRecord masks the target and details of rec (d is its copy of the
// details) with the secrets of rec's tenant and no other's: a tenant's
// auditors read these records, and a mask naming another tenant's secret
// would tell them its value. When the tenant's secrets cannot be read,
// the details are withheld.
func (s *Server) maskRecord(r *http.Request, rec *audit.Record, d map[string]string) {
	red, err := s.red.For(r.Context(), bulwark.TenantID(rec.TenantID))
	if err != nil {
		s.logger(r).Error("the tenant's secrets cannot be read to mask an audit record", "action", rec.Action, "err", err)
		clear(d)
		d["details"] = "withheld: the tenant's secrets could not be read to mask them"
		return
	}
	rec.Target = red.String(rec.Target)
	for k, v := range d {
		d[k] = red.String(v)
	}
}
