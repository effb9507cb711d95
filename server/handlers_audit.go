package server

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// auditRecord is an audit record as the API shows it.
type auditRecord struct {
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Target  string            `json:"target,omitempty"`
	Outcome string            `json:"outcome"`
	Details map[string]string `json:"details,omitempty"`
	Hash    string            `json:"hash"`
}

type auditResponse struct {
	Records []auditRecord `json:"records"`
	// Next, when set, is the after= of the next page.
	Next uint64 `json:"next,omitempty"`
}

// auditFilter is what GET /api/v1/audit selects.
type auditFilter struct {
	action       string // exact, or a prefix when it ends in '*'
	actor        string
	since, until time.Time
	after        uint64
	limit        int
}

const (
	defaultAuditPage = 100
	maxAuditPage     = 500
)

func parseAuditFilter(q url.Values) (auditFilter, error) {
	const op = "server.listAudit"
	f := auditFilter{action: q.Get("action"), actor: q.Get("actor"), limit: defaultAuditPage}
	var err error
	if v := q.Get("since"); v != "" {
		if f.since, err = time.Parse(time.RFC3339, v); err != nil {
			return f, bulwark.Errorf(bulwark.Invalid, op, "since: a time such as 2025-01-02T15:04:05Z")
		}
	}
	if v := q.Get("until"); v != "" {
		if f.until, err = time.Parse(time.RFC3339, v); err != nil {
			return f, bulwark.Errorf(bulwark.Invalid, op, "until: a time such as 2025-01-02T15:04:05Z")
		}
	}
	if v := q.Get("after"); v != "" {
		if f.after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return f, bulwark.Errorf(bulwark.Invalid, op, "after: the seq of the last record seen")
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditPage {
			return f, bulwark.Errorf(bulwark.Invalid, op, "limit: 1 to %d", maxAuditPage)
		}
		f.limit = n
	}
	return f, nil
}

func (f auditFilter) match(r audit.Record) bool {
	switch {
	case f.action != "" && !strings.HasSuffix(f.action, "*") && r.Action != f.action:
		return false
	case strings.HasSuffix(f.action, "*") && !strings.HasPrefix(r.Action, strings.TrimSuffix(f.action, "*")):
		return false
	case f.actor != "" && r.Actor != f.actor:
		return false
	case !f.since.IsZero() && r.Time.Before(f.since):
		return false
	case !f.until.IsZero() && !r.Time.Before(f.until):
		return false
	}
	return true
}

// listAudit pages through the tenant's audit records, oldest first.
// Records of other tenants and of no tenant are never shown.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	const op = "server.listAudit"
	if s.cfg.AuditStore == nil {
		return bulwark.Errorf(bulwark.Unavailable, op, "the audit log is off on this server")
	}
	f, err := parseAuditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	t := string(TenantFrom(r.Context()))
	resp := auditResponse{Records: []auditRecord{}}
	for rec, err := range s.cfg.AuditStore.Read(r.Context(), f.after+1) {
		if err != nil {
			return bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
		}
		if rec.TenantID != t || !f.match(rec) {
			continue
		}
		if len(resp.Records) == f.limit {
			resp.Next = resp.Records[len(resp.Records)-1].Seq
			break
		}
		resp.Records = append(resp.Records, auditRecord{Seq: rec.Seq, Time: rec.Time, Actor: rec.Actor, Action: rec.Action,
			Target: rec.Target, Outcome: rec.Outcome, Details: rec.Details, Hash: rec.Hash.String()})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type verifyResponse struct {
	Intact      bool   `json:"intact"`
	Records     uint64 `json:"records"`
	Checkpoints int    `json:"checkpoints"`
	Signed      uint64 `json:"signed"`
	Problem     string `json:"problem,omitempty"`
}

// verifyAudit checks the whole log's chain and signed checkpoints (the log
// is one chain for every tenant).
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	const op = "server.verifyAudit"
	if s.cfg.AuditStore == nil || s.cfg.AuditKey == nil {
		return bulwark.Errorf(bulwark.Unavailable, op, "the audit log is off on this server")
	}
	rep, err := audit.Verify(r.Context(), s.cfg.AuditStore, s.cfg.AuditKey)
	var p *audit.Problem
	if err != nil && !errors.As(err, &p) {
		return bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
	}
	resp := verifyResponse{Intact: err == nil, Records: rep.Records, Checkpoints: rep.Checkpoints, Signed: rep.Signed}
	if p != nil {
		resp.Problem = p.Error()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
