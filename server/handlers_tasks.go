package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/limits"
	"github.com/bulwark-agents/bulwark/llm/provider"
)

// The task API: /api/v1/tasks and what hangs under it. Every handler
// reads the caller's tenant from the request and passes it to the
// runtime or the store, so another tenant's id is NotFound (404).

// MaxInputBytes caps a task's input and a message to a task, in bytes.
const MaxInputBytes = 100 << 10

// Caps on the budgets a task may ask for; the tenant's own limits may be
// lower (the runtime takes the smaller).
const (
	maxTaskSteps    = 1000
	maxTaskTokens   = 100_000_000
	maxTaskCost     = 10_000.0 // US dollars
	maxTaskOutput   = 1 << 20
	maxTaskDuration = 24 * 3600 * 1e9 // 24h in nanoseconds
)

// taskState is the task routes' state: what streams must end at
// shutdown and the Agent Protocol's step cursors.
type taskState struct {
	cfg       *Config
	closing   chan struct{} // closed when the HTTP server shuts down
	closeOnce sync.Once

	steps limits.Cursors
}

func newTaskState(cfg *Config, steps limits.Cursors) *taskState {
	return &taskState{cfg: cfg, closing: make(chan struct{}), steps: steps}
}

// closeStreams ends the event streams and the Agent Protocol's waiting
// steps: the HTTP server is shutting down.
func (ts *taskState) closeStreams() { ts.closeOnce.Do(func() { close(ts.closing) }) }

// taskRoutes is the table of the task API.
func (s *Server) taskRoutes() []Route {
	const (
		viewer = bulwark.RoleViewer
		member = bulwark.RoleMember
		side   = BrowserOrAPI
	)
	return []Route{
		{Method: "POST", Pattern: "/api/v1/tasks", Side: side, Role: member, Scope: "tasks", MaxBody: 2 * MaxInputBytes, Handler: s.createTask},
		{Method: "GET", Pattern: "/api/v1/tasks", Side: side, Role: viewer, Scope: "tasks", Handler: s.listTasks},
		{Method: "GET", Pattern: "/api/v1/tasks/{id}", Side: side, Role: viewer, Scope: "tasks", Handler: s.getTask},
		{Method: "POST", Pattern: "/api/v1/tasks/{id}/cancel", Side: side, Role: member, Scope: "tasks", Handler: s.cancelTask},
		{Method: "POST", Pattern: "/api/v1/tasks/{id}/messages", Side: side, Role: member, Scope: "tasks", MaxBody: 2 * MaxInputBytes, Handler: s.sendMessage},
		{Method: "POST", Pattern: "/api/v1/tasks/{id}/resume", Side: side, Role: member, Scope: "tasks", Handler: s.resumeTask},
		{Method: "GET", Pattern: "/api/v1/tasks/{id}/steps", Side: side, Role: viewer, Scope: "tasks", Handler: s.listSteps},
		{Method: "GET", Pattern: "/api/v1/tasks/{id}/events", Side: side, Role: viewer, Scope: "tasks", Stream: true, Handler: s.streamEvents},
		{Method: "GET", Pattern: "/api/v1/tasks/{id}/approvals", Side: side, Role: viewer, Scope: "tasks", Handler: s.listApprovals},
		{Method: "POST", Pattern: "/api/v1/tasks/{id}/approvals/{aid}", Side: side, Role: member, Scope: "tasks", Handler: s.decideApproval},
		{Method: "GET", Pattern: "/api/v1/tasks/{id}/files", Side: side, Role: viewer, Scope: "tasks", Handler: s.listFiles},
		{Method: "GET", Pattern: "/api/v1/tasks/{id}/files/{path...}", Side: side, Role: viewer, Scope: "tasks", Handler: s.downloadFile},
		{Method: "PUT", Pattern: "/api/v1/tasks/{id}/files/{path...}", Side: side, Role: member, Scope: "tasks", MaxBody: s.maxUploadBody(), Handler: s.uploadFile},
	}
}

// runtime returns the task runtime, or Unavailable when the server has
// none.
func (s *Server) runtime() (Runtime, error) {
	if s.cfg.Runtime == nil {
		return nil, bulwark.Errorf(bulwark.Unavailable, "server", "this server does not run tasks")
	}
	return s.cfg.Runtime, nil
}

// createTaskRequest is the body of POST /api/v1/tasks.
type createTaskRequest struct {
	Input  string         `json:"input"`
	Model  string         `json:"model,omitempty"`
	Limits *limitsRequest `json:"limits,omitempty"`
}

// limitsRequest is a task's budgets as a client sends them: like
// bulwark.Limits, with max_duration as nanoseconds or a string ("10m").
type limitsRequest struct {
	MaxSteps    int          `json:"max_steps"`
	MaxTokens   int          `json:"max_tokens"`
	MaxCost     float64      `json:"max_cost"`
	MaxDuration flexDuration `json:"max_duration"`
	MaxOutput   int          `json:"max_output"`
}

// check returns l's limits, or why they cannot be: over the operator's
// ceilings (refused, naming the ceiling, as in the settings) or outside
// what any task may ask for. A task's, a schedule's and a new turn's
// limits are all checked here.
func (l *limitsRequest) check(op string, c bulwark.Ceilings) (bulwark.Limits, error) {
	var out bulwark.Limits
	if l == nil {
		return out, nil
	}
	if err := c.Check(bulwark.Settings{Limits: bulwark.Limits{MaxSteps: l.MaxSteps, MaxTokens: l.MaxTokens,
		MaxCost: l.MaxCost, MaxDuration: l.MaxDuration.Duration(), MaxOutput: l.MaxOutput}}); err != nil {
		return out, err
	}
	bad := func(field string, limit any) error {
		return bulwark.Errorf(bulwark.Invalid, op, "limits.%s must be between 0 and %v", field, limit)
	}
	switch {
	case l.MaxSteps < 0 || l.MaxSteps > maxTaskSteps:
		return out, bad("max_steps", maxTaskSteps)
	case l.MaxTokens < 0 || l.MaxTokens > maxTaskTokens:
		return out, bad("max_tokens", maxTaskTokens)
	case !(l.MaxCost >= 0 && l.MaxCost <= maxTaskCost): // NaN fails too
		return out, bad("max_cost", maxTaskCost)
	case l.MaxDuration < 0 || l.MaxDuration > maxTaskDuration:
		return out, bad("max_duration", "24h")
	case l.MaxOutput < 0 || l.MaxOutput > maxTaskOutput:
		return out, bad("max_output", maxTaskOutput)
	}
	return bulwark.Limits{MaxSteps: l.MaxSteps, MaxTokens: l.MaxTokens, MaxCost: l.MaxCost,
		MaxDuration: l.MaxDuration.Duration(), MaxOutput: l.MaxOutput}, nil
}

// taskView is a task as the API shows it: with its place in the queue
// while it waits there, and the model it runs with.
type taskView struct {
	bulwark.Task
	Position int `json:"position,omitempty"`
	// EffectiveModel is the model the task runs with: its own (a task
	// started without one takes the tenant's model, taskModel), else, as
	// the settings say it, the server's default model, whose spec is the
	// operator's business (DefaultModel is then true).
	EffectiveModel string `json:"effective_model"`
	DefaultModel   bool   `json:"default_model,omitempty"`
	// Children are the sub-agent tasks its delegate calls started, oldest
	// first (GET /api/v1/tasks/{id} only; the list filters by parent).
	Children []taskLink `json:"children,omitempty"`
}

// taskLink names a sub-agent task: GET /api/v1/tasks/{id} has the rest.
type taskLink struct {
	ID     string             `json:"id"`
	Status bulwark.TaskStatus `json:"status"`
	Input  string             `json:"input"`
}

// taskModel is the model a new task of tenant runs with when it names
// asked (maybe none): asked, else the tenant's model from its settings,
// kept with the task so that its conversation keeps its model; "" for the
// server's default model.
func (s *Server) taskModel(ctx context.Context, tenant bulwark.TenantID, asked string) (string, error) {
	if asked != "" {
		return asked, nil
	}
	st, err := s.store.Settings(ctx, tenant)
	if err != nil {
		return "", err
	}
	return st.Model, nil
}

// checkModel refuses a model spec the tenant may not use on this server
// (Config.CheckModel) as an invalid model field; "" is the default, and
// always allowed.
func (s *Server) checkModel(ctx context.Context, op string, tenant bulwark.TenantID, spec string) error {
	if spec == "" || s.cfg.CheckModel == nil {
		return nil
	}
	if err := s.cfg.CheckModel(ctx, tenant, spec); err != nil {
		if k := bulwark.ErrorKind(err); k == bulwark.Unavailable || k == bulwark.Internal {
			return err
		}
		return bulwark.E(bulwark.Invalid, op, "model: "+bulwark.ErrorMessage(err), err)
	}
	return nil
}

// view is t as the task API shows it, its texts masked (shownTasks).
func (s *Server) view(ctx context.Context, rt Runtime, t bulwark.Task) (taskView, error) {
	if err := s.shownTasks(ctx, TenantFrom(ctx), &t); err != nil {
		return taskView{}, err
	}
	return s.viewOf(rt, t), nil
}

// viewOf is t as the task API shows it, t already masked.
func (s *Server) viewOf(rt Runtime, t bulwark.Task) taskView {
	v := taskView{Task: t, EffectiveModel: t.Model}
	if t.Model == "" && s.cfg.DefaultModel != "" {
		v.EffectiveModel, v.DefaultModel = serverDefaultModel, true
	}
	if t.Status == bulwark.TaskQueued {
		v.Position = rt.Position(bulwark.TenantID(t.TenantID), t.ID)
	}
	return v
}

// checkTask validates a new task's input and model, and returns the
// input as it is to be stored: masked (maskInput).
func (s *Server) checkTask(r *http.Request, op, input, model string) (string, error) {
	input, err := guard.ValidateInput(input, MaxInputBytes)
	if err != nil {
		return "", bulwark.E(bulwark.Invalid, op, "input: "+bulwark.ErrorMessage(err), err)
	}
	if err := checkModelSpec(op, model, s.cfg.DefaultModel); err != nil {
		return "", err
	}
	return s.maskInput(r, input, "task input")
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) error {
	const op = "server.createTask"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	var req createTaskRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	input, err := s.checkTask(r, op, req.Input, req.Model)
	if err != nil {
		return err
	}
	limits, err := req.Limits.check(op, s.cfg.Ceilings)
	if err != nil {
		return err
	}
	p, _ := PrincipalFrom(r.Context())
	if err := s.checkModel(r.Context(), op, p.Tenant, req.Model); err != nil {
		return err
	}
	model, err := s.taskModel(r.Context(), p.Tenant, req.Model)
	if err != nil {
		return err
	}
	t, err := rt.Submit(r.Context(), p.Tenant, p.Actor(), bulwark.Task{Input: input, Model: model, Limits: limits, CreatedBy: p.RightsUser()})
	if err != nil {
		return err
	}
	if err := s.auditTaskCreate(r, t, "api"); err != nil {
		return err
	}
	v, err := s.view(r.Context(), rt, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// auditTaskCreate records who submitted task t, through which API: its
// size, never its input.
func (s *Server) auditTaskCreate(r *http.Request, t bulwark.Task, via string) error {
	return s.audit(r, audit.Record{Action: "task.create", Target: t.ID,
		Details: map[string]string{"via": via, "bytes": strconv.Itoa(len(t.Input))}})
}

// checkModelSpec checks a model spec a client names: PROVIDER:MODEL with
// a known provider, and no replay script unless it is the operator's
// default (a replay spec names a file on the server).
func checkModelSpec(op, spec, defaultModel string) error {
	if spec == "" {
		return nil
	}
	base, query, _ := strings.Cut(spec, "?")
	kind, name, ok := strings.Cut(base, ":")
	switch {
	case len(spec) > 200 || !printable(spec) || !ok || strings.TrimSpace(name) == "":
		return bulwark.Errorf(bulwark.Invalid, op, "model: want PROVIDER:MODEL, such as openai:gpt-4o")
	case query != "" && provider.CheckOptions(spec) != nil:
		return bulwark.Errorf(bulwark.Invalid, op, "model: the options are ?tools=text or ?tools=native and ?context=TOKENS (from %d to %d)", provider.MinContextWindow, provider.MaxContextWindow)
	}
	switch kind {
	case "openai", "anthropic", "ollama":
		return nil
	case "replay":
		if spec == defaultModel {
			return nil
		}
		return bulwark.Errorf(bulwark.PermissionDenied, op, "model: replay models read files on the server; only the operator's default model may be one")
	}
	return bulwark.Errorf(bulwark.Invalid, op, "model: unknown provider; want openai, anthropic or ollama")
}

// taskList is the answer of GET /api/v1/tasks: a page, and the cursor of
// the next one when there is one.
type taskList struct {
	Tasks      []taskView `json:"tasks"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// listTasks answers GET /api/v1/tasks?limit=N&cursor=C&status=S[,S...].
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	const op = "server.listTasks"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := intParam(op, q.Get("limit"), "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	tq := bulwark.TaskQuery{Limit: limit}
	for _, v := range q["status"] {
		for st := range strings.SplitSeq(v, ",") {
			if !knownStatus(bulwark.TaskStatus(st)) {
				return bulwark.Errorf(bulwark.Invalid, op, "status: want queued, running, waiting, succeeded, failed, canceled or interrupted")
			}
			tq.Status = append(tq.Status, bulwark.TaskStatus(st))
		}
	}
	if p := q.Get("parent"); p != "" {
		// Another tenant's task is not found, as for every route.
		if _, err := s.store.Task(r.Context(), TenantFrom(r.Context()), p); err != nil {
			return err
		}
		tq.Parent = p
	}
	if c := q.Get("cursor"); c != "" {
		if tq.Before, err = decodeCursor(c); err != nil {
			return bulwark.E(bulwark.Invalid, op, "cursor: pass back the next_cursor of a previous page", err)
		}
	}
	page, err := rt.Tasks(r.Context(), TenantFrom(r.Context()), tq)
	if err != nil {
		return err
	}
	out := taskList{Tasks: make([]taskView, 0, len(page.Tasks))}
	for _, t := range page.Tasks {
		v, err := s.view(r.Context(), rt, t)
		if err != nil {
			return err
		}
		out.Tasks = append(out.Tasks, v)
	}
	if page.More && len(page.Tasks) > 0 {
		last := page.Tasks[len(page.Tasks)-1]
		out.NextCursor = encodeCursor(bulwark.TaskCursor{Created: last.Created, ID: last.ID})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func knownStatus(s bulwark.TaskStatus) bool {
	switch s {
	case bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting, bulwark.TaskSucceeded,
		bulwark.TaskFailed, bulwark.TaskCanceled, bulwark.TaskInterrupted:
		return true
	}
	return false
}

// encodeCursor writes a place in the task list as an opaque string.
func encodeCursor(c bulwark.TaskCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Created.UnixNano(), 10) + "." + c.ID))
}

func decodeCursor(s string) (*bulwark.TaskCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	at, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" || len(id) > 128 || !printable(id) {
		return nil, bulwark.Errorf(bulwark.Invalid, "server.decodeCursor", "a damaged cursor")
	}
	return &bulwark.TaskCursor{Created: unixNano(n), ID: id}, nil
}

// intParam reads an integer query parameter between lo and hi; def when
// it is absent.
func intParam(op, v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, bulwark.Errorf(bulwark.Invalid, op, "%s: want a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// maxChildren is how many of a task's sub-agent tasks its view lists.
const maxChildren = 200

// taskWithChildren reads a task and at most limit of its children, newest
// first: in one query where the store can (bulwark.TaskFamilyReader).
func (s *Server) taskWithChildren(ctx context.Context, rt Runtime, tenant bulwark.TenantID, id string, limit int) (bulwark.Task, []bulwark.Task, error) {
	if fr, ok := s.store.(bulwark.TaskFamilyReader); ok {
		return fr.TaskWithChildren(ctx, tenant, id, limit)
	}
	t, err := s.store.Task(ctx, tenant, id)
	if err != nil {
		return t, nil, err
	}
	kids, err := rt.Tasks(ctx, tenant, bulwark.TaskQuery{Parent: t.ID, Limit: limit})
	return t, kids.Tasks, err
}

// getTask answers a task with its children. Where the store keeps task
// versions (bulwark.TaskVersioner), the answer is kept, and served again
// while the task's version read before it is still the store's.
func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	ctx := r.Context()
	tenant, id := TenantFrom(ctx), r.PathValue("id")
	// The answer is masked with the tenant's secrets as they are now
	// (shownTasks): one kept is served again only while they are the
	// same, by the same redactor.
	red, err := s.red.For(ctx, tenant)
	if err != nil {
		return err
	}
	var version uint64
	keep := false
	if s.views != nil {
		v, stable, err := s.store.(bulwark.TaskVersioner).TaskVersion(ctx, tenant, id)
		if err != nil {
			return err
		}
		if stable {
			if body := s.views.get(tenant, id, v, red); body != nil {
				writeJSONBytes(w, http.StatusOK, body)
				return nil
			}
		}
		version, keep = v, stable
	}
	t, kids, err := s.taskWithChildren(ctx, rt, tenant, id, maxChildren)
	if err != nil {
		return err
	}
	t.Mask(red.String)
	v := s.viewOf(rt, t)
	for i := len(kids) - 1; i >= 0; i-- { // oldest first
		k := kids[i]
		v.Children = append(v.Children, taskLink{ID: k.ID, Status: k.Status, Input: red.String(k.Input)})
	}
	body, err := encodeJSON(v)
	if err != nil {
		return bulwark.E(bulwark.Internal, "server.getTask", "the task cannot be shown", err)
	}
	if keep && t.Status != bulwark.TaskQueued { // a queued task's position moves without it
		s.views.put(tenant, id, version, red, body)
	}
	writeJSONBytes(w, http.StatusOK, body)
	return nil
}

// cancelTask asks a task to stop: at once when queued, at its next safe
// point when running. It answers 202 with the task as it is now.
func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	p, _ := PrincipalFrom(r.Context())
	id := r.PathValue("id")
	if err := rt.Cancel(r.Context(), p.Tenant, p.Actor(), id); err != nil {
		return err
	}
	t, err := s.store.Task(r.Context(), p.Tenant, id)
	if err != nil {
		return err
	}
	v, err := s.view(r.Context(), rt, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}

// messageRequest is the body of POST /api/v1/tasks/{id}/messages. Limits
// are the budget of the new turn a message to a stopped task opens.
type messageRequest struct {
	Text   string         `json:"text"`
	Limits *limitsRequest `json:"limits,omitempty"`
}

// messageAnswer is the answer of POST /api/v1/tasks/{id}/messages:
// status "delivered" (into the running turn) or "continued" (a new turn
// of a task that had stopped), and the task as it is now.
type messageAnswer struct {
	Status string   `json:"status"`
	Task   taskView `json:"task"`
}

// sendMessage delivers a person's message to a task: to a queued, running
// or waiting one, the answer to its question if it asked one, else a
// message it reads before its next step; to one that has stopped
// (succeeded, failed, canceled or interrupted), the start of a new turn
// of its conversation, in the same workspace, with the task's limits or
// the message's as the turn's budget. The audit log records that a
// message was sent, not its text.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request) error {
	const op = "server.sendMessage"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	var req messageRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	text, err := guard.ValidateInput(req.Text, MaxInputBytes)
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, "text: "+bulwark.ErrorMessage(err), err)
	}
	if text, err = s.maskInput(r, text, "task message"); err != nil {
		return err
	}
	var limits *bulwark.Limits
	if req.Limits != nil {
		l, err := req.Limits.check(op, s.cfg.Ceilings)
		if err != nil {
			return err
		}
		limits = &l
	}
	p, _ := PrincipalFrom(r.Context())
	id := r.PathValue("id")
	if err := s.mayInstruct(r.Context(), p, id); err != nil {
		return err
	}
	t, continued, err := rt.Message(r.Context(), p.Tenant, p.Actor(), id, text, limits)
	if err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "task.message", Target: id, Details: map[string]string{"bytes": strconv.Itoa(len(text))}}); err != nil {
		return err
	}
	status := "delivered"
	if continued {
		status = "continued"
	}
	v, err := s.view(r.Context(), rt, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, messageAnswer{Status: status, Task: v})
	return nil
}

// mayInstruct refuses p a message to, or the resumption of, task id of
// its tenant that another user started: a task's turns run with the
// rights of the user who started it (their private memories first), so
// whoever steers it would act with those rights. A task no user started
// (a key that carries no user's rights made it) may be steered by anyone
// its routes allow. Approving, denying and canceling stay open to the
// team.
func (s *Server) mayInstruct(ctx context.Context, p Principal, id string) error {
	t, err := s.store.Task(ctx, p.Tenant, id)
	if err != nil {
		return err
	}
	if t.CreatedBy != "" && t.CreatedBy != p.RightsUser() {
		return bulwark.Errorf(bulwark.PermissionDenied, "server.mayInstruct",
			"only the person who started this task can send it messages, answer it or resume it: it runs with their rights, "+
				"their private memories included. Start a task of your own, or ask them")
	}
	return nil
}

// resumeTask continues a task that a restart interrupted, from where it
// stopped. It answers 202 with the task, queued.
func (s *Server) resumeTask(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	p, _ := PrincipalFrom(r.Context())
	if err := s.mayInstruct(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	t, err := rt.Resume(r.Context(), p.Tenant, p.Actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.view(r.Context(), rt, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}

// stepList is the answer of GET /api/v1/tasks/{id}/steps.
type stepList struct {
	Steps []bulwark.Event `json:"steps"`
	// NextAfter is the after of the next page, when this one is full.
	NextAfter int64 `json:"next_after,omitempty"`
}

// listSteps answers GET /api/v1/tasks/{id}/steps?after=SEQ&limit=N: the
// stored events of a task after seq SEQ, in order.
func (s *Server) listSteps(w http.ResponseWriter, r *http.Request) error {
	const op = "server.listSteps"
	q := r.URL.Query()
	limit, err := intParam(op, q.Get("limit"), "limit", 200, 1, 1000)
	if err != nil {
		return err
	}
	after, err := seqParam(op, q.Get("after"))
	if err != nil {
		return err
	}
	evs, err := s.storedEvents(r.Context(), TenantFrom(r.Context()), r.PathValue("id"), after, limit)
	if err != nil {
		return err
	}
	out := stepList{Steps: nonNil(evs)}
	if len(evs) == limit {
		out.NextAfter = evs[len(evs)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// seqParam reads an event seq ("after", Last-Event-ID): 0 when absent.
func seqParam(op, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, bulwark.Errorf(bulwark.Invalid, op, "after: want the seq of an event, a whole number from 0")
	}
	return n, nil
}

type approvalList struct {
	Approvals []bulwark.Approval `json:"approvals"`
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	aps, err := rt.Approvals(r.Context(), TenantFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.shownApprovals(r.Context(), TenantFrom(r.Context()), aps); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, approvalList{Approvals: nonNil(aps)})
	return nil
}

// decisionRequest is the body of POST /api/v1/tasks/{id}/approvals/{aid}.
type decisionRequest struct {
	Decision string `json:"decision"`
}

// decideApproval answers an approval: allow runs the call, deny refuses
// it. The runtime audits the decision.
func (s *Server) decideApproval(w http.ResponseWriter, r *http.Request) error {
	const op = "server.decideApproval"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Decision != "allow" && req.Decision != "deny" {
		return bulwark.Errorf(bulwark.Invalid, op, "decision: want \"allow\" or \"deny\"")
	}
	p, _ := PrincipalFrom(r.Context())
	aid := r.PathValue("aid")
	if err := rt.Decide(r.Context(), p.Tenant, p.Actor(), r.PathValue("id"), aid, req.Decision == "allow"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": aid, "decision": req.Decision})
	return nil
}

// flexDuration is a duration in JSON: nanoseconds, as bulwark.Limits
// writes it, or a string such as "10m".
type flexDuration int64

func (d *flexDuration) UnmarshalJSON(b []byte) error {
	wrong := &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[time.Duration]()}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return wrong
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return wrong
		}
		*d = flexDuration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
		return wrong
	}
	*d = flexDuration(int64(f))
	return nil
}

// Duration returns d as a time.Duration.
func (d flexDuration) Duration() time.Duration { return time.Duration(d) }

func unixNano(n int64) time.Time { return time.Unix(0, n).UTC() }
