package server

import (
	"net/http"
	"strconv"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// Memories through the API. A request reads and writes the memories of its
// tenant as its user (Principal.RightsUser): the tenant-wide ones and the
// user's own private ones; another user's private memory is NotFound, as
// another tenant's is. A new memory is private to the user unless its
// scope is "tenant" (a key the operator made, with no user, makes
// tenant-wide ones only). Text and tags are masked with the tenant's
// secrets both ways. The taint flag is shown; a person may clear it
// (tainted: false) once they have checked the memory.

// memoryRoutes is the table of the memory API.
func (s *Server) memoryRoutes() []Route {
	const (
		viewer = bulwark.RoleViewer
		member = bulwark.RoleMember
		side   = BrowserOrAPI
		body   = 2 * bulwark.MaxMemoryText
	)
	return []Route{
		{Method: "GET", Pattern: "/api/v1/memories", Side: side, Role: viewer, Scope: "tasks", Handler: s.listMemories},
		{Method: "POST", Pattern: "/api/v1/memories", Side: side, Role: member, Scope: "tasks", MaxBody: body, Handler: s.createMemory},
		{Method: "GET", Pattern: "/api/v1/memories/{id}", Side: side, Role: viewer, Scope: "tasks", Handler: s.getMemory},
		{Method: "PUT", Pattern: "/api/v1/memories/{id}", Side: side, Role: member, Scope: "tasks", MaxBody: body, Handler: s.putMemory},
		{Method: "DELETE", Pattern: "/api/v1/memories/{id}", Side: side, Role: member, Scope: "tasks", Handler: s.deleteMemory},
	}
}

// memories is the store's MemoryStore; a store without one is Unavailable.
func (s *Server) memories() (bulwark.MemoryStore, error) {
	m, ok := s.store.(bulwark.MemoryStore)
	if !ok {
		return nil, bulwark.Errorf(bulwark.Unavailable, "server.memories", "this server keeps no memories")
	}
	return m, nil
}

type memoriesResponse struct {
	Memories []bulwark.Memory `json:"memories"`
}

// maskMemories masks the tenant's secrets out of what is shown. An
// answer that had to mask one is charged to the caller (chargeMasked):
// a memory the caller wrote would confirm a guess.
func (s *Server) maskMemories(r *http.Request, ms []bulwark.Memory) error {
	p, _ := PrincipalFrom(r.Context())
	red, err := s.red.For(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	masked := false
	mask := func(text string) string {
		out := red.String(text)
		masked = masked || out != text
		return out
	}
	for i := range ms {
		ms[i].Text = mask(ms[i].Text)
		for j, t := range ms[i].Tags {
			ms[i].Tags[j] = mask(t)
		}
	}
	if masked {
		return s.chargeMasked(r, p, "memory")
	}
	return nil
}

func rightsUser(r *http.Request) string {
	p, _ := PrincipalFrom(r.Context())
	return p.RightsUser()
}

// listMemories lists the memories the caller may read, newest first, or
// with ?q= those matching the words, best first; ?limit= caps them.
func (s *Server) listMemories(w http.ResponseWriter, r *http.Request) error {
	const op = "server.listMemories"
	store, err := s.memories()
	if err != nil {
		return err
	}
	q := bulwark.MemoryQuery{Text: r.URL.Query().Get("q"), User: rightsUser(r)}
	if len(q.Text) > 1000 {
		return bulwark.Errorf(bulwark.Invalid, op, "q: at most 1000 bytes")
	}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > bulwark.MaxMemoryResults {
			return bulwark.Errorf(bulwark.Invalid, op, "limit: a number from 1 to %d", bulwark.MaxMemoryResults)
		}
		q.Limit = n
	}
	ms, err := store.FindMemories(r.Context(), TenantFrom(r.Context()), q)
	if err != nil {
		return err
	}
	if err := s.maskMemories(r, ms); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, memoriesResponse{Memories: nonNil(ms)})
	return nil
}

// visibleMemory returns memory id when the caller may read it, else NotFound.
func (s *Server) visibleMemory(r *http.Request, id string) (bulwark.MemoryStore, bulwark.Memory, error) {
	store, err := s.memories()
	if err != nil {
		return nil, bulwark.Memory{}, err
	}
	m, err := store.Memory(r.Context(), TenantFrom(r.Context()), id)
	if err == nil && !m.Visible(rightsUser(r)) {
		err = bulwark.Errorf(bulwark.NotFound, "server.memory", "no such memory")
	}
	return store, m, err
}

func (s *Server) getMemory(w http.ResponseWriter, r *http.Request) error {
	_, m, err := s.visibleMemory(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	ms := []bulwark.Memory{m}
	if err := s.maskMemories(r, ms); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ms[0])
	return nil
}

type memoryRequest struct {
	Text string   `json:"text"`
	Tags []string `json:"tags"`
	// Scope is "user" (the default: private to the caller's user) or
	// "tenant"; POST only.
	Scope string `json:"scope,omitempty"`
	// Tainted, on PUT, sets the taint flag (false: a person vouches for
	// the memory); absent keeps it.
	Tainted *bool `json:"tainted,omitempty"`
}

// masked returns req's text and tags with the tenant's secrets masked.
func (s *Server) maskedMemory(r *http.Request, req memoryRequest) (bulwark.Memory, error) {
	ms := []bulwark.Memory{{Text: req.Text, Tags: append([]string(nil), req.Tags...)}}
	err := s.maskMemories(r, ms)
	return ms[0], err
}

func (s *Server) createMemory(w http.ResponseWriter, r *http.Request) error {
	const op = "server.createMemory"
	store, err := s.memories()
	if err != nil {
		return err
	}
	var req memoryRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Tainted != nil {
		return bulwark.Errorf(bulwark.Invalid, op, "tainted: only tasks write tainted memories")
	}
	m, err := s.maskedMemory(r, req)
	if err != nil {
		return err
	}
	switch req.Scope {
	case "", "user":
		m.User = rightsUser(r)
	case "tenant":
	default:
		return bulwark.Errorf(bulwark.Invalid, op, `scope: "user" or "tenant"`)
	}
	m, err = store.AddMemory(r.Context(), TenantFrom(r.Context()), m)
	if err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "memory.create", Target: m.ID, Details: map[string]string{"scope": scopeOf(m)}}); err != nil {
		return err
	}
	ms := []bulwark.Memory{m}
	if err := s.maskMemories(r, ms); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ms[0])
	return nil
}

func scopeOf(m bulwark.Memory) string {
	if m.User == "" {
		return "tenant"
	}
	return "user"
}

func (s *Server) putMemory(w http.ResponseWriter, r *http.Request) error {
	const op = "server.putMemory"
	var req memoryRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Scope != "" {
		return bulwark.Errorf(bulwark.Invalid, op, "scope: a memory's scope is chosen when it is made")
	}
	store, old, err := s.visibleMemory(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	m, err := s.maskedMemory(r, req)
	if err != nil {
		return err
	}
	m.ID, m.Tainted = old.ID, old.Tainted
	if req.Tainted != nil {
		m.Tainted = *req.Tainted
	}
	m, err = store.UpdateMemory(r.Context(), TenantFrom(r.Context()), m)
	if err != nil {
		return err
	}
	d := map[string]string{"tainted": strconv.FormatBool(m.Tainted)}
	if old.Tainted && !m.Tainted {
		d["taint_cleared"] = "true"
	}
	if err := s.audit(r, audit.Record{Action: "memory.update", Target: m.ID, Details: d}); err != nil {
		return err
	}
	ms := []bulwark.Memory{m}
	if err := s.maskMemories(r, ms); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ms[0])
	return nil
}

func (s *Server) deleteMemory(w http.ResponseWriter, r *http.Request) error {
	store, m, err := s.visibleMemory(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := store.DeleteMemory(r.Context(), TenantFrom(r.Context()), m.ID); err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "memory.delete", Target: m.ID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
