// Package mcpserver offers Bulwark's tasks to MCP clients (Claude Desktop,
// Cursor, any agent that speaks the Model Context Protocol): tools to
// create, follow, steer and cancel tasks and to answer their approvals,
// and each task's transcript and files as resources. It knows nothing of
// HTTP, stores or tenants: it calls a Backend, one tenant's task
// operations as its caller may use them, which the server (POST /mcp)
// and the CLI (bulwark mcp serve) implement over the same code paths as
// their own task commands, so validation, roles, quotas, audit and tenant
// scoping are theirs.
package mcpserver

import (
	"context"
	"errors"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Backend is one tenant's task operations, as one caller may use them.
// Every method scopes what it does to that tenant: an id of another
// tenant's task is a NotFound error, as for an id that does not exist. A
// method the caller's role does not allow returns PermissionDenied.
// Errors carry a message for the caller (bulwark.ErrorMessage); Internal
// and unkinded errors are shown as "internal error".
type Backend interface {
	// CreateTask stores a new task, queued; model "" takes the tenant's
	// or the server's default.
	CreateTask(ctx context.Context, input, model string) (bulwark.Task, error)
	Task(ctx context.Context, id string) (bulwark.Task, error)
	// Tasks returns the newest tasks first, at most limit, of the given
	// statuses (none: all).
	Tasks(ctx context.Context, status []bulwark.TaskStatus, limit int) ([]bulwark.Task, error)
	// Cancel asks a task to stop and returns it as it is now.
	Cancel(ctx context.Context, id string) (bulwark.Task, error)
	// Message delivers a person's message to a task: into its running
	// turn, or as a new turn of one that stopped (continued).
	Message(ctx context.Context, id, text string) (t bulwark.Task, continued bool, err error)
	Approvals(ctx context.Context, id string) ([]bulwark.Approval, error)
	Decide(ctx context.Context, id, approvalID string, allow bool) error
	// Events returns the stored events of a task after seq after, at most
	// limit (0: all).
	Events(ctx context.Context, id string, after int64, limit int) ([]bulwark.Event, error)
	// Subscribe streams a task's events after seq after, stored then
	// live; the channel closes when the task's turn ends, ctx ends or the
	// subscriber falls behind.
	Subscribe(ctx context.Context, id string, after int64) (<-chan bulwark.Event, error)
	Files(ctx context.Context, id string) ([]bulwark.Artifact, error)
	ReadFile(ctx context.Context, id, path string) (bulwark.Artifact, []byte, error)
}

// Options tune New. The zero value is usable.
type Options struct {
	// Mask masks the messages of errors shown to the client with the
	// tenant's secrets, as the HTTP API masks its error answers; nil
	// masks nothing. Answers and events are masked where they are
	// stored.
	Mask func(ctx context.Context, text string) string
	// MaxWait bounds how long create_task with wait: true waits before it
	// answers with the task still running; 0 means DefaultMaxWait.
	MaxWait time.Duration
	// Heartbeat is how often a waiting create_task sends a progress
	// notification when the task shows nothing new; 0 means 10 s.
	Heartbeat time.Duration
	// Lifetime, if set, is the context of the connection the server
	// answers on (an HTTP request's, in the stateless transport): a
	// create_task waiting for its task stops waiting when it ends, as the
	// SDK lets a request's handler run on after its client went away.
	Lifetime context.Context
	// HideSizes leaves the sizes out of the files resource: the backend
	// masks the files it reads, so the size of a file as stored, less
	// the length of what reading it gives, would tell the length of a
	// masked secret.
	HideSizes bool
	// Version is the server version reported to clients.
	Version string
}

// DefaultMaxWait is how long create_task waits for a task by default.
const DefaultMaxWait = 10 * time.Minute

// New returns an MCP server of b's tasks. Serve it over stdio
// (mcp.StdioTransport) or Streamable HTTP (mcp.NewStreamableHTTPHandler).
func New(b Backend, o Options) *mcp.Server {
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "bulwark", Title: "Bulwark", Version: o.Version}, &mcp.ServerOptions{
		Instructions: instructions,
		// No logging capability: Bulwark sends no log messages to clients.
		Capabilities: &mcp.ServerCapabilities{},
	})
	h := &handlers{b: b, o: o}
	h.addTools(s)
	h.addResources(s)
	if o.Mask != nil {
		s.AddReceivingMiddleware(h.maskToolErrors)
	}
	return s
}

// maskToolErrors masks the text of every tool error, the SDK's own
// (arguments that do not fit the schema, which may quote them) as well
// as the handlers'.
func (h *handlers) maskToolErrors(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		res, err := next(ctx, method, req)
		if r, ok := res.(*mcp.CallToolResult); ok && r != nil && r.IsError {
			for _, c := range r.Content {
				if tc, ok := c.(*mcp.TextContent); ok {
					tc.Text = h.o.Mask(ctx, tc.Text)
				}
			}
		}
		return res, err
	}
}

const instructions = `Bulwark runs AI agent tasks in a sandbox, under its operator's policy. ` +
	`create_task starts one (wait: true returns when it ends, or when it waits for an approval or an answer); ` +
	`get_task shows its status and answer; an approval is answered with decide_approval, a question with send_message. ` +
	`A task's transcript and files are resources: bulwark://tasks/{id}/transcript, bulwark://tasks/{id}/files and bulwark://tasks/{id}/files/{path}.`

// handlers serves the tools and resources of one server.
type handlers struct {
	b Backend
	o Options
}

// userError turns err into the error the client sees: its message for
// the caller, masked, never its cause. Unkinded and internal errors say
// only "internal error".
func (h *handlers) userError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var wire *jsonrpc.Error
	if errors.As(err, &wire) {
		return wire
	}
	k := bulwark.ErrorKind(err)
	if k == bulwark.Other || k == bulwark.Internal {
		return errors.New("internal error")
	}
	if k == bulwark.Canceled && ctx.Err() != nil {
		return errors.New("canceled: the request ended")
	}
	msg := bulwark.ErrorMessage(err)
	if h.o.Mask != nil {
		msg = h.o.Mask(ctx, msg)
	}
	return errors.New(kindLabel(k) + ": " + msg)
}

// kindLabel is the short name of an error kind the client reads first.
func kindLabel(k bulwark.Kind) string {
	switch k {
	case bulwark.Invalid:
		return "invalid"
	case bulwark.NotFound:
		return "not found"
	case bulwark.PermissionDenied:
		return "permission denied"
	case bulwark.Unauthenticated:
		return "unauthenticated"
	case bulwark.Conflict:
		return "conflict"
	case bulwark.RateLimited:
		return "rate limited"
	case bulwark.QuotaExceeded:
		return "quota exceeded"
	case bulwark.Unavailable:
		return "unavailable"
	case bulwark.Canceled:
		return "canceled"
	}
	return "error"
}
