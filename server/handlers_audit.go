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
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Actor string    `json:"actor"`
	// ActorName is the person's email or the key's name of a "user:ID" or
	// "key:ID" actor that the tenant still has; TargetName likewise for
	// a target that is a user or key id.
	ActorName  string            `json:"actor_name,omitempty"`
	TargetName string            `json:"target_name,omitempty"`
	Action     string            `json:"action"`
	Target     string            `json:"target,omitempty"`
	Outcome    string            `json:"outcome"`
	Details    map[string]string `json:"details,omitempty"`
	Hash       string            `json:"hash"`
}

type auditResponse struct {
	Records []auditRecord `json:"records"`
	// Next, when set, is the after= of the next page (with order=desc,
	// its before=): more records may follow (a page can hold fewer than
	// limit when a filter matches few).
	Next uint64 `json:"next,omitempty"`
}

// auditFilter is what GET /api/v1/audit selects.
type auditFilter struct {
	action       string // exact, or a prefix when it ends in '*'; several, comma-separated: any of them
	actor        string
	outcome      string // ok, denied or error
	detail       string // "KEY=VALUE": the record's details hold KEY with VALUE
	since, until time.Time
	after        uint64
	before       uint64 // with desc: only records before this seq (0: from the newest)
	desc         bool   // newest first
	limit        int
}

const (
	defaultAuditPage = 100
	maxAuditPage     = 500
	// maxAuditFilter bounds the length of each filter, maxAuditActions
	// the actions of one action= list.
	maxAuditFilter  = 512
	maxAuditActions = 16
)

func parseAuditFilter(q url.Values) (auditFilter, error) {
	const op = "server.listAudit"
	f := auditFilter{action: q.Get("action"), actor: q.Get("actor"), outcome: q.Get("outcome"), detail: q.Get("detail"), limit: defaultAuditPage}
	switch f.outcome {
	case "", audit.OutcomeOK, audit.OutcomeDenied, audit.OutcomeError:
	default:
		return f, bulwark.Errorf(bulwark.Invalid, op, "outcome: ok, denied or error")
	}
	// Each filter is matched against every record scanned: one as long as
	// a URL may be (a list of thousands of actions) would cost seconds of
	// CPU a request.
	for name, v := range map[string]string{"action": f.action, "actor": f.actor, "detail": f.detail} {
		if len(v) > maxAuditFilter {
			return f, bulwark.Errorf(bulwark.Invalid, op, "%s: at most %d bytes", name, maxAuditFilter)
		}
	}
	if strings.Count(f.action, ",") >= maxAuditActions {
		return f, bulwark.Errorf(bulwark.Invalid, op, "action: at most %d actions, comma-separated", maxAuditActions)
	}
	if f.detail != "" && !strings.Contains(f.detail, "=") {
		return f, bulwark.Errorf(bulwark.Invalid, op, "detail: KEY=VALUE, as decided_by=person")
	}
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
		if f.after, err = strconv.ParseUint(v, 10, 63); err != nil {
			return f, bulwark.Errorf(bulwark.Invalid, op, "after: the seq of the last record seen")
		}
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		f.desc = true
	default:
		return f, bulwark.Errorf(bulwark.Invalid, op, "order: asc (oldest first) or desc (newest first)")
	}
	if v := q.Get("before"); v != "" {
		if f.before, err = strconv.ParseUint(v, 10, 63); err != nil || !f.desc {
			return f, bulwark.Errorf(bulwark.Invalid, op, "before: the seq of the last record seen, with order=desc")
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

// matchAction reports whether action is one of pattern's comma-separated
// actions, each exact or a prefix when it ends in '*'.
func matchAction(pattern, action string) bool {
	for p := range strings.SplitSeq(pattern, ",") {
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(action, pre) || p == action {
			return true
		}
	}
	return false
}

func (f auditFilter) match(r audit.Record) bool {
	k, v, _ := strings.Cut(f.detail, "=")
	switch {
	case f.action != "" && !matchAction(f.action, r.Action):
		return false
	case f.outcome != "" && r.Outcome != f.outcome:
		return false
	case f.detail != "" && (r.Details == nil || r.Details[k] != v):
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

// maxAuditScan bounds the records one GET /api/v1/audit reads past its
// cursor: a filter that matches little answers with fewer records and a
// next cursor rather than reading the whole chain.
const maxAuditScan = 5000

// listAudit pages through the caller's chain (its tenant's, or the system
// chain for the operator), oldest first, from the after= cursor through
// the chain's index. Sequence numbers are the chain's own.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	const op = "server.listAudit"
	if s.cfg.Audit == nil {
		return bulwark.Errorf(bulwark.Unavailable, op, "the audit log is off on this server")
	}
	f, err := parseAuditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	t := string(TenantFrom(r.Context()))
	var resp auditResponse
	if f.desc {
		resp, err = s.auditNewestFirst(r, t, f)
	} else {
		resp, err = s.auditOldestFirst(r, t, f)
	}
	if err != nil {
		return err
	}
	names, err := s.actorNames(r)
	if err != nil {
		return err
	}
	for i := range resp.Records {
		rec := &resp.Records[i]
		rec.ActorName = names[rec.Actor]
		rec.TargetName = names[rec.Target]
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// auditOldestFirst reads the page of records after f.after.
func (s *Server) auditOldestFirst(r *http.Request, t string, f auditFilter) (auditResponse, error) {
	const op = "server.listAudit"
	resp := auditResponse{Records: []auditRecord{}}
	head, _, err := s.cfg.Audit.Head(r.Context(), t)
	if err != nil {
		return resp, bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
	}
	if f.after >= head { // past the chain's end: nothing yet (and no seq to overflow)
		return resp, nil
	}
	scanned := 0
	for rec, err := range s.cfg.Audit.Read(r.Context(), t, f.after+1) {
		if err != nil {
			return resp, bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
		}
		if len(resp.Records) == f.limit {
			resp.Next = resp.Records[len(resp.Records)-1].Seq
			break
		}
		if scanned++; scanned > maxAuditScan {
			resp.Next = rec.Seq - 1
			break
		}
		if rec.TenantID != t || !f.match(rec) {
			continue
		}
		resp.Records = append(resp.Records, viewRecord(rec))
	}
	return resp, nil
}

// auditWindow is how many records auditNewestFirst reads forward at a
// time while it walks the chain back from its head.
const auditWindow = 200

// auditNewestFirst reads the page of records before f.before (the head
// when 0), newest first, in windows read forward from the index. Next is
// the seq to pass as before for the following page.
func (s *Server) auditNewestFirst(r *http.Request, t string, f auditFilter) (auditResponse, error) {
	const op = "server.listAudit"
	resp := auditResponse{Records: []auditRecord{}}
	head, _, err := s.cfg.Audit.Head(r.Context(), t)
	if err != nil {
		return resp, bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
	}
	end := head + 1 // read records below end
	if f.before > 0 && f.before < end {
		end = f.before
	}
	scanned := 0
	for end > 1 {
		start := uint64(1)
		if end > auditWindow {
			start = end - auditWindow
		}
		var window []auditRecord
		for rec, err := range s.cfg.Audit.Read(r.Context(), t, start) {
			if err != nil {
				return resp, bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
			}
			if rec.Seq >= end {
				break
			}
			scanned++
			if rec.TenantID == t && f.match(rec) {
				window = append(window, viewRecord(rec))
			}
		}
		for i := len(window) - 1; i >= 0; i-- {
			if len(resp.Records) == f.limit {
				resp.Next = resp.Records[len(resp.Records)-1].Seq
				return resp, nil
			}
			resp.Records = append(resp.Records, window[i])
		}
		end = start
		if scanned > maxAuditScan && end > 1 {
			resp.Next = end
			return resp, nil
		}
	}
	return resp, nil
}

func viewRecord(rec audit.Record) auditRecord {
	return auditRecord{Seq: rec.Seq, Time: rec.Time, Actor: rec.Actor, Action: rec.Action,
		Target: rec.Target, Outcome: rec.Outcome, Details: rec.Details, Hash: rec.Hash.String()}
}

// actorNames maps the tenant's actors and ids ("user:ID", "key:ID", and
// the bare ids) to the users' emails and the keys' names, so the audit
// page shows people and keys rather than ids.
func (s *Server) actorNames(r *http.Request) (map[string]string, error) {
	t := TenantFrom(r.Context())
	us, err := s.store.ListUsers(r.Context(), t)
	if err != nil {
		return nil, err
	}
	ks, err := s.store.ListAPIKeys(r.Context(), t)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, 2*(len(us)+len(ks)))
	for _, u := range us {
		names["user:"+u.ID], names[u.ID] = u.Email, u.Email
	}
	for _, k := range ks {
		names["key:"+k.ID], names[k.ID] = "key "+k.Name, "key "+k.Name
	}
	return names, nil
}

type verifyResponse struct {
	Intact      bool   `json:"intact"`
	Records     uint64 `json:"records"`
	Checkpoints int    `json:"checkpoints"`
	Signed      uint64 `json:"signed"`
	// Checked is how many records this verification read: those added
	// since the chain was last found intact (all of them the first time).
	Checked uint64 `json:"checked"`
	// MACsChecked: each record read had its MAC checked (the server holds
	// the signing key, so always once a verification ran).
	MACsChecked bool   `json:"macs_checked"`
	Problem     string `json:"problem,omitempty"`
}

// verifyAudit checks the caller's chain from where it was last found
// intact: its new records, their chain to the last verified one, and its
// signed checkpoints (see audit.Chains.Verify); with full=true, the whole
// chain. 'bulwark audit verify' checks every chain in full.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	const op = "server.verifyAudit"
	if s.cfg.Audit == nil {
		return bulwark.Errorf(bulwark.Unavailable, op, "the audit log is off on this server")
	}
	verify := s.cfg.Audit.Verify
	switch r.URL.Query().Get("full") {
	case "", "0", "false":
	case "1", "true":
		verify = s.cfg.Audit.VerifyFull
	default:
		return bulwark.Errorf(bulwark.Invalid, op, "full: true or false")
	}
	rep, err := verify(r.Context(), string(TenantFrom(r.Context())))
	var p *audit.Problem
	if err != nil && !errors.As(err, &p) {
		return bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
	}
	resp := verifyResponse{Intact: err == nil, Records: rep.Records, Checkpoints: rep.Checkpoints, Signed: rep.Signed, Checked: rep.Read, MACsChecked: rep.MACs}
	if p != nil {
		resp.Problem = p.Error()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
