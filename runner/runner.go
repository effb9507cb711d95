// Package runner is the task runtime of `bulwark serve`: it queues the
// tasks of every tenant on an in-process worker pool with a concurrency
// quota per tenant, runs each through the agent loop, stores every step
// before anyone sees it, fans the steps out to live subscribers (resumable
// from any step), and carries a person's messages, answers, approvals and
// cancellations to the running task. It knows nothing of HTTP: the server
// calls its methods, tenant first, and an id of another tenant is NotFound.
package runner

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Store is what the runtime needs of the store.
type Store interface {
	bulwark.TaskStore
	bulwark.TaskQuerier
	// UnfinishedTasks returns the tasks of every tenant that had not ended.
	UnfinishedTasks(ctx context.Context) ([]bulwark.Task, error)
}

// Setup is what one task runs with: its model, tools and limits, as the
// tenant's settings make them. Close releases what Setup holds (a sandbox
// pool); it may be nil.
type Setup struct {
	Model        llm.Model
	Tools        *tool.Registry
	Exec         func(ctx context.Context, cmd []string) (*tool.ExecResult, error)
	Policy       bulwark.Policy
	Limits       bulwark.Limits
	Instructions string
	Secrets      map[string]string
	SecretTools  []string
	Mask         func(string) string
	MaskStream   func() (push func(string) string, flush func() string)
	Close        func()
}

// Config wires a Runtime.
type Config struct {
	Store Store
	Audit *audit.Log // nil: no audit records
	// Dir holds the task workspaces: Dir/TENANT/TASK.
	Dir string
	// Prepare builds the Setup of a task about to start, in its workspace.
	Prepare func(ctx context.Context, t bulwark.Task, ws *workspace.Workspace) (*Setup, error)
	// Workers is the most tasks running at once over all tenants (default 64).
	Workers int
	// Quota is the most tasks of one tenant running at once (default 4).
	Quota func(bulwark.TenantID) int
	// Artifacts keeps the files of tasks whose run has stopped, sealed;
	// nil leaves them in the workspace folders. See files.go.
	Artifacts bulwark.ArtifactStore
	// MaxFileSize caps the files read, written and kept, in bytes; 0
	// means workspace.DefaultMaxFileSize.
	MaxFileSize int64
}

// Runtime runs tasks. Its methods are safe for concurrent use.
type Runtime struct {
	cfg   Config
	sched *sched
	ctx   context.Context // the runtime's life; canceled by Shutdown with errShutdown
	stop  context.CancelCauseFunc

	mu    sync.Mutex
	tasks map[key]*live
}

type key struct {
	tenant bulwark.TenantID
	id     string
}

// New returns a Runtime; call Start before submitting.
func New(cfg Config) *Runtime {
	if cfg.Workers <= 0 {
		cfg.Workers = 64
	}
	if cfg.Quota == nil {
		cfg.Quota = func(bulwark.TenantID) int { return 4 }
	}
	ctx, stop := context.WithCancelCause(context.Background())
	return &Runtime{cfg: cfg, sched: newSched(cfg.Workers, cfg.Quota), ctx: ctx, stop: stop, tasks: map[key]*live{}}
}

// Start deals with the tasks a previous process left unfinished: a task
// that had not started is queued again; one that was running when the
// process stopped is marked interrupted, its stored steps intact.
func (rt *Runtime) Start(ctx context.Context) error {
	ts, err := rt.cfg.Store.UnfinishedTasks(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		switch t.Status {
		case bulwark.TaskQueued:
			rt.enqueue(t, "restart")
		case bulwark.TaskRunning, bulwark.TaskWaiting:
			if err := rt.cfg.Store.SetTaskStatus(ctx, bulwark.TenantID(t.TenantID), t.ID, bulwark.TaskInterrupted); err != nil {
				return err
			}
			rt.auditf(bulwark.TenantID(t.TenantID), "system", "task.interrupted", t.ID, audit.OutcomeError, nil)
		}
	}
	rt.sweep(ctx)
	return nil
}

// Tasks returns a page of the tenant's tasks, newest first.
func (rt *Runtime) Tasks(ctx context.Context, tenant bulwark.TenantID, q bulwark.TaskQuery) (bulwark.TaskPage, error) {
	return rt.cfg.Store.QueryTasks(ctx, tenant, q)
}

// Submit stores a new task of tenant, queued, and queues it. actor names
// who asked (a user or API key id) for the audit log.
func (rt *Runtime) Submit(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) (bulwark.Task, error) {
	t.Status = bulwark.TaskQueued
	t, err := rt.cfg.Store.CreateTask(ctx, tenant, t)
	if err != nil {
		return t, err
	}
	if err := rt.enqueue(t, actor); err != nil {
		return t, err
	}
	return t, nil
}

func (rt *Runtime) enqueue(t bulwark.Task, actor string) error {
	tenant := bulwark.TenantID(t.TenantID)
	l := newLive(t)
	rt.mu.Lock()
	rt.tasks[key{tenant, t.ID}] = l
	rt.mu.Unlock()
	if !rt.sched.submit(&job{tenant: tenant, id: t.ID, run: func() { rt.run(l, actor) }}) {
		rt.forget(tenant, t.ID)
		return bulwark.Errorf(bulwark.Unavailable, "runner.Submit", "the server is shutting down; the task is queued and starts after the restart")
	}
	return nil
}

func (rt *Runtime) forget(tenant bulwark.TenantID, id string) {
	rt.mu.Lock()
	delete(rt.tasks, key{tenant, id})
	rt.mu.Unlock()
}

// live returns the live state of a task of tenant, or nil when it is not
// queued or running in this process.
func (rt *Runtime) live(tenant bulwark.TenantID, id string) *live {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.tasks[key{tenant, id}]
}

// errShutdown is the cause of the cancellation of tasks stopped by Shutdown.
var errShutdown = errors.New("the server is shutting down")

// run runs one task to its end.
func (rt *Runtime) run(l *live, actor string) {
	t := l.task
	tenant := bulwark.TenantID(t.TenantID)
	defer rt.forget(tenant, t.ID)
	defer l.hub.close()
	defer rt.seal(l) // after the workspace and the sandbox are closed

	ctx, cancel := context.WithCancelCause(rt.ctx)
	defer cancel(nil)
	l.mu.Lock()
	l.cancel = cancel
	canceled := l.canceled
	l.mu.Unlock()
	if canceled {
		cancel(errCanceled)
	}

	rec := bulwark.NewRecorder(ctx, rt.cfg.Store, tenant, t.ID)
	sinks := []agent.Sink{func(e bulwark.Event) {
		rec.Record(e) // committed before it is published
		if err := rec.Err(); err != nil {
			slog.Error("task step not stored; stopping the task", "task", t.ID, "err", err)
			cancel(err)
			return
		}
		l.hub.publish(e)
	}}
	sinks = append(sinks, metrics.CountEvent)
	if rt.cfg.Audit != nil {
		a := &audit.TaskAuditor{Log: rt.cfg.Audit, Tenant: string(tenant), Actor: actor, OnError: func(err error) {
			slog.Error("audit record not written; stopping the task", "task", t.ID, "err", err)
			cancel(err)
		}}
		sinks = append(sinks, a.Sink)
	}
	tee := agent.Tee(sinks...)
	sink := func(e bulwark.Event) {
		if e.Type == bulwark.EventTaskFinished && errors.Is(context.Cause(ctx), errShutdown) {
			// Stopped by a shutdown, not by its end: it stays resumable.
			if err := rt.cfg.Store.SetTaskStatus(context.WithoutCancel(ctx), tenant, t.ID, bulwark.TaskInterrupted); err != nil {
				slog.Error("marking a task interrupted", "task", t.ID, "err", err)
			}
			rt.auditf(tenant, "system", "task.interrupted", t.ID, audit.OutcomeError, nil)
			return
		}
		tee(e)
	}

	ws, err := workspace.Open(rt.workspaceDir(tenant, t.ID))
	if err != nil {
		rt.failBeforeStart(sink, t, err)
		return
	}
	defer ws.Close()
	ws.MaxFileSize = rt.cfg.MaxFileSize
	setup, err := rt.cfg.Prepare(ctx, t, ws)
	if err != nil {
		rt.failBeforeStart(sink, t, err)
		return
	}
	if setup.Close != nil {
		defer setup.Close()
	}
	cfg := agent.Config{
		Model:        setup.Model,
		Tools:        setup.Tools,
		Env:          &tool.Env{Workspace: ws, Ask: l.ask, Exec: setup.Exec},
		Limits:       setup.Limits,
		Sink:         sink,
		Inbox:        l.inbox,
		Instructions: setup.Instructions,
		Policy:       setup.Policy,
		Approve:      rt.approver(ctx, l, tenant),
		Mask:         setup.Mask,
		MaskStream:   setup.MaskStream,
		Secrets:      setup.Secrets,
		SecretTools:  setup.SecretTools,
	}
	if _, err := agent.Run(ctx, cfg, t); err != nil {
		rt.failBeforeStart(sink, t, err)
	}
}

// errCanceled is the cause of a cancellation a person asked for.
var errCanceled = errors.New("canceled by a person")

// approver registers approvals on the live task and marks it waiting
// meanwhile.
func (rt *Runtime) approver(ctx context.Context, l *live, tenant bulwark.TenantID) func(context.Context, bulwark.Approval) (bool, error) {
	return func(ctx context.Context, a bulwark.Approval) (bool, error) {
		store := rt.cfg.Store
		if err := store.SetTaskStatus(context.WithoutCancel(ctx), tenant, a.TaskID, bulwark.TaskWaiting); err != nil {
			slog.Warn("marking a task waiting", "task", a.TaskID, "err", err)
		}
		ok, err := l.approve(ctx, a)
		if err == nil {
			store.SetTaskStatus(context.WithoutCancel(ctx), tenant, a.TaskID, bulwark.TaskRunning)
		}
		return ok, err
	}
}

// failBeforeStart ends a task that could not run, with the reason as its
// only steps.
func (rt *Runtime) failBeforeStart(sink agent.Sink, t bulwark.Task, err error) {
	msg := bulwark.ErrorMessage(err)
	slog.Error("task could not run", "task", t.ID, "err", err)
	now := time.Now()
	sink(bulwark.Event{Seq: 1, TaskID: t.ID, Time: now, Type: bulwark.EventError, Text: msg})
	sink(bulwark.Event{Seq: 2, TaskID: t.ID, Time: now, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishError, Text: msg})
}

func (rt *Runtime) workspaceDir(tenant bulwark.TenantID, id string) string {
	return filepath.Join(rt.cfg.Dir, string(tenant), id)
}

func (rt *Runtime) auditf(tenant bulwark.TenantID, actor, action, target, outcome string, details map[string]string) {
	if rt.cfg.Audit == nil {
		return
	}
	err := rt.cfg.Audit.Append(context.Background(), audit.Record{TenantID: string(tenant), Actor: actor, Action: action, Target: target, Outcome: outcome, Details: details})
	if err != nil {
		slog.Error("audit record not written", "action", action, "err", err)
	}
}
