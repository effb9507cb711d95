package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/mcpserver"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// POST /mcp: Bulwark as an MCP server (package mcpserver), over the
// Streamable HTTP transport, for MCP clients that hold an API key.
//
// It is an API route: a bearer key only, never the session cookie (so
// no CSRF question arises: a browser cannot attach the header across
// origins), with the key's rate limits, and scope "tasks". The route
// lets any tenant role in; each tool then needs the role of the task API
// route it stands for (mcpRouteOf): a viewer's key lists and reads, a
// member's creates, cancels, messages and decides. Each tool does what
// that route's handler does, with the same checks, runtime and store
// calls and audit records, scoped to the key's tenant, so another
// tenant's task id is "not found".
//
// The transport is stateless (mcp.StreamableHTTPOptions.Stateless): each
// POST is a whole exchange, with no Mcp-Session-Id to remember, so any
// node behind a load balancer can answer any request and a restarted
// node loses nothing. Server-to-client requests (sampling, elicitation)
// need a session, and Bulwark sends none; progress notifications of a
// waiting create_task travel on the POST's own event stream. GET /mcp
// (the stream for server-initiated messages, which a stateless server
// does not have) answers 405 after the same authentication.

// mcpMaxWait bounds how long create_task with wait holds its POST open.
const mcpMaxWait = 10 * time.Minute

// mcpMaxBody bounds a request to /mcp: a task's input or a message, in
// JSON-RPC.
const mcpMaxBody = 2*MaxInputBytes + 64<<10

func (s *Server) mcpRoutes() []Route {
	const viewer = bulwark.RoleViewer
	serve := s.serveMCP(s.mcpHandler())
	return []Route{
		{Method: "POST", Pattern: "/mcp", Side: API, Role: viewer, Scope: "tasks", MaxBody: mcpMaxBody, Stream: true, Handler: serve},
		{Method: "GET", Pattern: "/mcp", Side: API, Role: viewer, Scope: "tasks", Handler: serve},
	}
}

// serveMCP serves an authenticated request to /mcp with h.
func (s *Server) serveMCP(h http.Handler) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.runtime(); err != nil {
			return err
		}
		if r.Method == http.MethodPost {
			if err := refuseBatch(r); err != nil {
				return err
			}
			// create_task with wait answers when the task ends: later
			// than the server's write timeout.
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(mcpMaxWait + WriteTimeout))
		}
		h.ServeHTTP(w, r)
		return nil
	}
}

// refuseBatch refuses a JSON-RPC batch (a JSON array), which the SDK
// takes from clients of the 2025-03-26 protocol: rate limits count
// requests, and one request must be one call, as on the task API. The
// body is read (within the route's MaxBody) and put back.
func refuseBatch(r *http.Request) error {
	const op = "server.mcp"
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return bulwark.E(bulwark.QuotaExceeded, op, "the body is too large", err)
		}
		return bulwark.E(bulwark.Invalid, op, "the body could not be read", err)
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return bulwark.E(bulwark.Invalid, op, "JSON-RPC batches are not taken: send one message per request", errBadJSON)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

// mcpHandler is the SDK's Streamable HTTP handler, stateless, making the
// MCP server of each request's principal.
func (s *Server) mcpHandler() http.Handler {
	return mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			return nil // not reached: the route authenticates first
		}
		return s.MCPServer(r, p, p.Actor())
	}, &mcp.StreamableHTTPOptions{
		Stateless: true,
		// The SDK refuses a loopback connection whose Host is not
		// loopback, against DNS rebinding of a server that trusts any
		// local caller. This one trusts no caller without a bearer key,
		// which a rebound page cannot send; and behind a TLS proxy on
		// the same host every request would look rebound.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        mcpMaxBody,
		Logger:                     s.log,
	})
}

// MCPServer returns the MCP server of principal p's tasks (see package
// mcpserver), which does what the task API does for p: r is the request
// it serves (its context holds p; audit records take its request id),
// actor names p in the audit log and to the runtime. `bulwark mcp serve`
// calls it for the local tenant's owner, with a request of its own.
func (s *Server) MCPServer(r *http.Request, p Principal, actor string) *mcp.Server {
	b := &mcpBackend{s: s, r: r.WithContext(WithPrincipal(r.Context(), p)), p: p, actor: actor}
	return mcpserver.New(b, mcpserver.Options{
		MaxWait:   mcpMaxWait,
		Lifetime:  r.Context(),
		HideSizes: s.cfg.MaskDownloads,
		Mask: func(ctx context.Context, msg string) string {
			out, masked, ok := s.maskMessage(b.r, p, msg)
			if !ok {
				return "the answer could not be masked, so it is withheld"
			}
			if masked {
				if err := s.chargeMasked(b.r, p, "mcp error"); err != nil {
					return bulwark.ErrorMessage(err)
				}
			}
			return out
		},
	})
}

// mcpBackend is mcpserver.Backend for one principal: each method is the
// work of a task API handler (handlers_tasks.go, handlers_files.go)
// without HTTP, behind the role check of that handler's route.
type mcpBackend struct {
	s     *Server
	r     *http.Request
	p     Principal
	actor string
}

var _ mcpserver.Backend = (*mcpBackend)(nil)

// mcpRouteOf names the task API route each backend method stands for:
// its role and scope are the method's.
var mcpRouteOf = lazy.Value[map[string]string]{New: func() map[string]string {
	return map[string]string{
		"CreateTask": "POST /api/v1/tasks",
		"Task":       "GET /api/v1/tasks/{id}",
		"Tasks":      "GET /api/v1/tasks",
		"Cancel":     "POST /api/v1/tasks/{id}/cancel",
		"Message":    "POST /api/v1/tasks/{id}/messages",
		"Approvals":  "GET /api/v1/tasks/{id}/approvals",
		"Decide":     "POST /api/v1/tasks/{id}/approvals/{aid}",
		"Events":     "GET /api/v1/tasks/{id}/steps",
		"Subscribe":  "GET /api/v1/tasks/{id}/events",
		"Files":      "GET /api/v1/tasks/{id}/files",
		"ReadFile":   "GET /api/v1/tasks/{id}/files/{path...}",
	}
}}

// allow checks that the principal may call the task API route that
// method stands for, and returns the runtime. A refusal is counted and
// audited as the route's would be.
func (b *mcpBackend) allow(method string) (Runtime, error) {
	rt, err := b.s.runtime()
	if err != nil {
		return nil, err
	}
	for _, route := range b.s.taskRoutes() {
		if route.String() != mcpRouteOf.Get()[method] {
			continue
		}
		if !b.p.Can(route) {
			return nil, b.s.refuse(b.r, b.p, metrics.ForbiddenRoute, "auth.forbidden",
				bulwark.Errorf(bulwark.PermissionDenied, "server.mcp", "your role does not allow this"))
		}
		return rt, nil
	}
	return nil, bulwark.Errorf(bulwark.Internal, "server.mcp", "no task route stands for %s", method)
}

func (b *mcpBackend) CreateTask(ctx context.Context, input, model string) (bulwark.Task, error) {
	const op = "server.mcp.createTask"
	rt, err := b.allow("CreateTask")
	if err != nil {
		return bulwark.Task{}, err
	}
	input, err = b.s.checkTask(b.r, op, input, model)
	if err != nil {
		return bulwark.Task{}, err
	}
	if err := b.s.checkModel(ctx, op, b.p.Tenant, model); err != nil {
		return bulwark.Task{}, err
	}
	if model, err = b.s.taskModel(ctx, b.p.Tenant, model); err != nil {
		return bulwark.Task{}, err
	}
	t, err := rt.Submit(ctx, b.p.Tenant, b.actor, bulwark.Task{Input: input, Model: model, CreatedBy: b.p.RightsUser()})
	if err != nil {
		return bulwark.Task{}, err
	}
	if err := b.audit(audit.Record{Action: "task.create", Target: t.ID,
		Details: map[string]string{"via": "mcp", "bytes": strconv.Itoa(len(t.Input))}}); err != nil {
		return bulwark.Task{}, err
	}
	return t, nil
}

// audit records rec as the principal's (with its actor), as the task
// API's handlers do.
func (b *mcpBackend) audit(rec audit.Record) error {
	if rec.Actor == "" {
		rec.Actor = b.actor
	}
	return b.s.audit(b.r, rec)
}

// shown is t masked as the task API shows it (shownTasks), or err.
func (b *mcpBackend) shown(t bulwark.Task, err error) (bulwark.Task, error) {
	if err != nil {
		return t, err
	}
	if err := b.s.shownTasks(b.r.Context(), b.p.Tenant, &t); err != nil {
		return bulwark.Task{}, err
	}
	return t, nil
}

func (b *mcpBackend) Task(ctx context.Context, id string) (bulwark.Task, error) {
	if _, err := b.allow("Task"); err != nil {
		return bulwark.Task{}, err
	}
	return b.shown(b.s.store.Task(ctx, b.p.Tenant, id))
}

func (b *mcpBackend) Tasks(ctx context.Context, status []bulwark.TaskStatus, limit int) ([]bulwark.Task, error) {
	rt, err := b.allow("Tasks")
	if err != nil {
		return nil, err
	}
	page, err := rt.Tasks(ctx, b.p.Tenant, bulwark.TaskQuery{Status: status, Limit: limit})
	if err != nil {
		return nil, err
	}
	for i := range page.Tasks {
		if page.Tasks[i], err = b.shown(page.Tasks[i], nil); err != nil {
			return nil, err
		}
	}
	return page.Tasks, nil
}

func (b *mcpBackend) Cancel(ctx context.Context, id string) (bulwark.Task, error) {
	rt, err := b.allow("Cancel")
	if err != nil {
		return bulwark.Task{}, err
	}
	if err := rt.Cancel(ctx, b.p.Tenant, b.actor, id); err != nil {
		return bulwark.Task{}, err
	}
	return b.shown(b.s.store.Task(ctx, b.p.Tenant, id))
}

func (b *mcpBackend) Message(ctx context.Context, id, text string) (bulwark.Task, bool, error) {
	const op = "server.mcp.sendMessage"
	rt, err := b.allow("Message")
	if err != nil {
		return bulwark.Task{}, false, err
	}
	text, err = guard.ValidateInput(text, MaxInputBytes)
	if err != nil {
		return bulwark.Task{}, false, bulwark.E(bulwark.Invalid, op, "text: "+bulwark.ErrorMessage(err), err)
	}
	if text, err = b.s.maskInput(b.r, text, "task message"); err != nil {
		return bulwark.Task{}, false, err
	}
	if err := b.s.mayInstruct(ctx, b.p, id); err != nil {
		return bulwark.Task{}, false, err
	}
	t, continued, err := rt.Message(ctx, b.p.Tenant, b.actor, id, text, nil)
	if err != nil {
		return bulwark.Task{}, false, err
	}
	if err := b.audit(audit.Record{Action: "task.message", Target: id, Details: map[string]string{"bytes": strconv.Itoa(len(text))}}); err != nil {
		return bulwark.Task{}, false, err
	}
	t, err = b.shown(t, nil)
	return t, continued, err
}

func (b *mcpBackend) Approvals(ctx context.Context, id string) ([]bulwark.Approval, error) {
	rt, err := b.allow("Approvals")
	if err != nil {
		return nil, err
	}
	aps, err := rt.Approvals(ctx, b.p.Tenant, id)
	if err != nil {
		return nil, err
	}
	return aps, b.s.shownApprovals(ctx, b.p.Tenant, aps)
}

func (b *mcpBackend) Decide(ctx context.Context, id, approvalID string, allow bool) error {
	rt, err := b.allow("Decide")
	if err != nil {
		return err
	}
	return rt.Decide(ctx, b.p.Tenant, b.actor, id, approvalID, allow)
}

func (b *mcpBackend) Events(ctx context.Context, id string, after int64, limit int) ([]bulwark.Event, error) {
	if _, err := b.allow("Events"); err != nil {
		return nil, err
	}
	return b.s.storedEvents(ctx, b.p.Tenant, id, after, limit)
}

func (b *mcpBackend) Subscribe(ctx context.Context, id string, after int64) (<-chan bulwark.Event, error) {
	rt, err := b.allow("Subscribe")
	if err != nil {
		return nil, err
	}
	return b.s.subscribe(ctx, rt, b.p.Tenant, id, after)
}

func (b *mcpBackend) Files(ctx context.Context, id string) ([]bulwark.Artifact, error) {
	if _, err := b.allow("Files"); err != nil {
		return nil, err
	}
	files, _, err := b.s.taskFiles(ctx, b.r, b.p, id)
	return files, err
}

func (b *mcpBackend) ReadFile(ctx context.Context, id, name string) (bulwark.Artifact, []byte, error) {
	if _, err := b.allow("ReadFile"); err != nil {
		return bulwark.Artifact{}, nil, err
	}
	a, data, err := b.s.readTaskFile(ctx, b.p.Tenant, id, name, "server.mcp.readFile") // as downloadFile
	if err != nil {
		return a, nil, err
	}
	if data, err = b.s.maskDownload(b.r, data); err != nil {
		return a, nil, err
	}
	return a, data, nil
}
