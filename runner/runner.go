// Package runner is the task runtime of `bulwark serve`: it queues the
// tasks of every tenant on an in-process worker pool, with a concurrency
// quota per tenant and a fair share of the workers for each, runs each
// through the agent loop, stores every step before anyone sees it, fans
// the steps out to live subscribers (resumable from any step), and
// carries a person's messages, answers, approvals and cancellations to
// the running task. It knows nothing of HTTP: the server calls its
// methods, tenant first, and an id of another tenant is NotFound.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/notify"
	"github.com/bulwark-agents/bulwark/queue"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Store is what the runtime needs of the store.
type Store interface {
	bulwark.TaskStore
	bulwark.TaskQuerier
	// UnfinishedTasks returns the tasks of every tenant that had not ended.
	UnfinishedTasks(ctx context.Context) ([]bulwark.Task, error)
	// LastEventSeq returns the Seq of a task's last stored event (0: it
	// has none); an unknown task is NotFound. A message is the answer to
	// a question only when sent after the question's event was stored.
	LastEventSeq(ctx context.Context, tenant bulwark.TenantID, id string) (int64, error)
	// ContinueTask queues a stopped task again for a new turn of its
	// conversation (see sqlite.DB.ContinueTask); limits, when not nil,
	// replace its limits. A task not stopped is Conflict.
	ContinueTask(ctx context.Context, tenant bulwark.TenantID, id string, limits *bulwark.Limits) (bulwark.Task, error)
	// ResumeTask is ContinueTask of a task interrupted in turn turn, as
	// the caller read it; else bulwark.ErrTurnMoved, and nothing changes.
	ResumeTask(ctx context.Context, tenant bulwark.TenantID, id string, turn int) (bulwark.Task, error)
	// EndInterrupted stores events, the last a task_finished, for a task
	// interrupted in turn turn, as the caller read it, in one transaction;
	// else bulwark.ErrTurnMoved, and nothing is stored.
	EndInterrupted(ctx context.Context, tenant bulwark.TenantID, id string, turn int, events []bulwark.Event) error
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
	SecretArgs   func(tool string, args json.RawMessage) (json.RawMessage, error) // see agent.Config
	Mask         func(string) string
	MaskStream   func() agent.StreamMasker
	// Notifications puts the task's MCP servers' events into its stream
	// (see agent.Config); nil: none.
	Notifications func(send func(bulwark.Event)) (stop func())
	// Taint and Spotlight are the task's taint and spotlight modes (see
	// agent.Config); zero: detected, delimit.
	Taint     bulwark.TaintMode
	Spotlight guard.SpotlightMode
	// Uploading, if set, is told the workspace path of a file a person
	// uploads while the task runs, before it is written (see
	// Runtime.PutFile): taskenv stops there the task's MCP servers whose
	// sandboxes would not hide it.
	Uploading func(path string)
	Close     func()
}

// Config wires a Runtime.
type Config struct {
	Store Store
	Audit *audit.Chains // nil: no audit records; each task's go to its tenant's chain
	// Dir holds the task workspaces: Dir/TENANT/TASK.
	Dir string
	// Prepare builds the Setup of a task about to start, in its workspace.
	Prepare func(ctx context.Context, t bulwark.Task, ws *workspace.Workspace) (*Setup, error)
	// Workers is the most tasks running at once over all tenants (default 64).
	Workers int
	// Quota is the most tasks of one tenant running at once (default 4).
	// It may read the store: it is never called with the scheduler's lock
	// held, and its answers are cached for a few seconds. Whatever the
	// quotas, a tenant gets no more than its fair share of Workers while
	// other tenants' tasks wait (see sched).
	Quota func(bulwark.TenantID) int
	// Artifacts keeps the files of tasks whose run has stopped, sealed;
	// nil leaves them in the workspace folders. See files.go.
	Artifacts bulwark.ArtifactStore
	// MaxFileSize caps the files read, written and kept, in bytes; 0
	// means workspace.DefaultMaxFileSize.
	MaxFileSize int64
	// RunElsewhere reports whether a task stored as running or waiting is
	// being run at this moment by another process on the same store (a
	// `bulwark run` in a terminal, which holds a lock for it). Start leaves
	// such a task alone instead of marking it interrupted. Nil: every such
	// task was left by a process that stopped.
	RunElsewhere func(bulwark.Task) bool
	// Queue decides where and when queued tasks run (see package queue):
	// nil is an in-process queue over Workers and Quota (NewLocalQueue),
	// started by New. Another queue is started by Start, and Workers and
	// Quota are its own business then.
	Queue queue.Queue
	// Checkpoints keeps what each step of a run commits to go on from it
	// (see checkpoint.go); nil: no checkpoints, and a resumed turn starts
	// from the folder as it was left, with a fresh budget.
	Checkpoints bulwark.CheckpointStore
	// AutoResume makes Start queue again the tasks a previous process left
	// running or waiting, to resume from their last committed step (a
	// task waiting for a person asks again), and makes Shutdown leave
	// running tasks so. Off: Start marks them interrupted, for a person to
	// resume or cancel.
	AutoResume bool
	// Notifier wakes the streams of tasks that run elsewhere (another
	// node, another process) when their events are committed; nil: such
	// streams re-read the store every half second (notify.Poll). See
	// subscribe.go.
	Notifier notify.Notifier
	// Controls, when set, carries cancels, messages and decisions between
	// this runtime and the other processes on the store (remote.go):
	// those for tasks that run elsewhere are stored there, and those for
	// tasks held here are polled for every ControlEvery (default
	// DefaultControlEvery).
	Controls     bulwark.ControlStore
	ControlEvery time.Duration
	// MaxAgentDepth is how deep sub-agents (the delegate tool) may go:
	// 0 is agent.DefaultMaxDepth, a negative number allows none.
	MaxAgentDepth int
}

// Runtime runs tasks. Its methods are safe for concurrent use.
type Runtime struct {
	cfg   Config
	queue queue.Queue
	// spread holds the tenants whose workspaces' folder was spread in
	// this process (spreadWorkspaces).
	spread sync.Map
	sched  *sched          // the in-process queue's scheduler; nil with another queue
	ctx    context.Context // the runtime's life; canceled by Shutdown with errShutdown
	stop   context.CancelCauseFunc

	mu    sync.Mutex
	tasks map[key]*live

	turnMu sync.Mutex // held while a new turn of a task is opened (continue.go)
	ctlMu  sync.Mutex // held while control requests are taken (remote.go, waitpark.go)
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
	rt := &Runtime{cfg: cfg, queue: cfg.Queue, ctx: ctx, stop: stop, tasks: map[key]*live{}}
	if rt.queue == nil {
		local := NewLocalQueue(cfg.Workers, cfg.Quota)
		local.Start(ctx, rt.runQueued)
		rt.queue, rt.sched = local, local.s
	}
	return rt
}

// Start deals with the tasks a previous process left unfinished: a task
// that had not started is queued again; one that was running or waiting
// when the process stopped is queued again to resume from its last
// committed step with Config.AutoResume, and otherwise marked
// interrupted, its stored steps intact; unless Config.RunElsewhere says
// another process runs it now. With a queue of its own (Config.Queue: a
// cluster's), running tasks are left to the queue, which runs again those
// of nodes that died, and queued ones are queued again (which adds
// nothing to a task queued already).
func (rt *Runtime) Start(ctx context.Context) error {
	if rt.sched == nil {
		if err := rt.queue.Start(rt.ctx, rt.runQueued); err != nil {
			return err
		}
	}
	ts, err := rt.cfg.Store.UnfinishedTasks(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ParentID != "" {
			// A sub-agent runs inside its parent's run: it is not resumed
			// on its own (its parent's resumed turn is told the call was
			// interrupted).
			rt.interruptChild(ctx, t)
			continue
		}
		switch t.Status {
		case bulwark.TaskQueued:
			rt.enqueue(ctx, t, "restart", true)
		case bulwark.TaskRunning, bulwark.TaskWaiting:
			if rt.sched == nil {
				continue
			}
			if rt.cfg.RunElsewhere != nil && rt.cfg.RunElsewhere(t) {
				continue
			}
			if rt.cfg.AutoResume && !rt.ranInTerminal(t.ID) { // a task of 'bulwark run' goes on there
				if err := rt.resumeAfterRestart(ctx, t); err != nil {
					return err
				}
				continue
			}
			err := rt.cfg.Store.SetTaskStatus(ctx, bulwark.TenantID(t.TenantID), t.ID, bulwark.TaskInterrupted)
			if bulwark.ErrorKind(err) == bulwark.Conflict {
				continue // it ended meanwhile (a task of another process)
			}
			if err != nil {
				return err
			}
			rt.auditf(bulwark.TenantID(t.TenantID), "system", "task.interrupted", t.ID, audit.OutcomeError, nil)
			t.Status = bulwark.TaskInterrupted
			rt.endCanceledAtStop(ctx, t)
		case bulwark.TaskInterrupted:
			// Canceled as its process stopped, which could not end it so
			// (it died first): it shows canceled from this start on.
			rt.endCanceledAtStop(ctx, t)
		}
	}
	rt.sweep(ctx)
	if rt.cfg.Controls != nil {
		go rt.watchControls()
	}
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
	if err := rt.enqueue(ctx, t, actor, false); err != nil {
		return t, err
	}
	return t, nil
}

func (rt *Runtime) enqueue(ctx context.Context, t bulwark.Task, actor string, takeFirst bool) error {
	return rt.enqueueLive(ctx, newLive(t), actor, takeFirst)
}

// enqueueLive queues the task of l. takeFirst, for a task that goes on
// after a stop (queued again by a start, resumed, continued): what the
// store keeps for it (the messages a process that stopped had not read)
// is carried out before its run can start, so that the run reads them
// at its first step. The poll took them only once the task was queued,
// and a short run had ended by then: they were dropped with its turn.
// In a cluster, the node that runs the task takes them (adopt).
func (rt *Runtime) enqueueLive(ctx context.Context, l *live, actor string, takeFirst bool) error {
	t := l.task
	tenant := bulwark.TenantID(t.TenantID)
	l.actor = actor
	if rt.sched == nil {
		// A shared queue: the node that claims the task, this one or
		// another, adopts it from the store (dispatch.go). Kept here, l
		// would stand for a run that may be elsewhere: messages and
		// cancellations sent to this node would reach it and go nowhere,
		// streams here would follow its hub and miss the run's events,
		// and a later turn would wait for it to end.
		return rt.queue.Enqueue(ctx, tenant, t.ID)
	}
	rt.add(l)
	if takeFirst && rt.cfg.Controls != nil {
		rt.takeStored(ctx, l)
	}
	if err := rt.queue.Enqueue(ctx, tenant, t.ID); err != nil {
		rt.forget(l)
		return err
	}
	return nil
}

// add keeps l, the live state of a task queued here.
func (rt *Runtime) add(l *live) {
	rt.mu.Lock()
	rt.tasks[key{bulwark.TenantID(l.task.TenantID), l.task.ID}] = l
	rt.mu.Unlock()
}

// forget drops the live state l of a task whose run is over, unless a
// new turn of the task has replaced it already.
func (rt *Runtime) forget(l *live) {
	k := key{bulwark.TenantID(l.task.TenantID), l.task.ID}
	rt.mu.Lock()
	if rt.tasks[k] == l {
		delete(rt.tasks, k)
	}
	rt.mu.Unlock()
	l.doneOnce.Do(func() { close(l.done) })
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

// run runs one task to its end, within parent (the queue's context for
// the run) and the runtime's life. An error is a set-up that failed for a
// passing reason (setupFailed): the queue runs the task again later.
func (rt *Runtime) run(parent context.Context, l *live, actor string) (retry error) {
	t := l.task
	tenant := bulwark.TenantID(t.TenantID)
	defer func() {
		if retry != nil && rt.sched != nil {
			return // l waits here for the next try (giveBack)
		}
		l.hub.close()
		rt.forget(l)
	}()
	// The turn ended: its checkpoint has nothing left to resume, and is
	// dropped once the files are sealed (so that at every moment they are
	// in the checkpoint or the artifact store, as a backup sees them).
	ended := false
	defer func() {
		if ended {
			rt.dropCheckpoint(context.Background(), t)
		}
	}()
	// A run that a stop cut off (cutOff) after it began (begun) leaves
	// its task resumable. Once what it had not read is stored (handOver)
	// and its folder sealed, its checkpoint is marked sealed, and then,
	// to be resumed by a person (interrupt), the task marked interrupted:
	// a person who resumes or cancels it, on any node, finds it all
	// there. Marked first, the task was resumed on another node before
	// this one had stored its messages, which the run that went on then
	// never read.
	begun, cutOff, interrupt := false, false, false
	defer func() { // after the workspace and the sandbox are closed
		rt.sealKeeping(l, leaseLost(parent))
		if begun && cutOff {
			rt.markSealed(l)
		}
		if interrupt {
			if err := rt.cfg.Store.SetTaskStatus(context.Background(), tenant, t.ID, bulwark.TaskInterrupted); err != nil {
				slog.Error("marking a task interrupted", "task", t.ID, "err", err)
			}
			rt.auditf(tenant, "system", "task.interrupted", t.ID, audit.OutcomeError, nil)
			// A person who canceled it as it stopped (the cancel is
			// stored for its turn) sees it canceled now, not interrupted.
			if cur, err := rt.cfg.Store.Task(context.Background(), tenant, t.ID); err == nil && cur.Turns == t.Turns {
				rt.endCanceledAtStop(context.Background(), cur)
			}
		}
	}()

	// base ends when the node stops or loses the task; ctx, the run's,
	// also when a person cancels it or a step cannot be stored. The
	// set-up that puts the task's files back runs within base: cut short
	// by a cancel, it would leave them half in the folder, which the
	// run's end seals before it drops the checkpoint that held the rest.
	base, stop := context.WithCancelCause(parent)
	defer stop(nil)
	defer context.AfterFunc(rt.ctx, func() { stop(context.Cause(rt.ctx)) })()
	defer func() {
		if stopping(base) && (retry == nil || rt.sched == nil) {
			rt.handOver(context.WithoutCancel(base), l) // l is dropped: what it has not read goes to the store
		}
	}()
	ctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	l.mu.Lock()
	l.cancel = cancel
	canceled := l.canceled
	l.mu.Unlock()

	rec := bulwark.NewRecorder(ctx, rt.cfg.Store, tenant, t.ID)
	sinks := []agent.Sink{func(e bulwark.Event) {
		l.keepOutput(e)
		if e.Type == bulwark.EventAskUser {
			l.expectAnswer(e.Seq)
		}
		rec.Record(e) // committed before it is published
		if err := rec.Err(); err != nil {
			slog.Error("task step not stored; stopping the task", "task", t.ID, "err", err)
			cancel(err)
			return
		}
		l.hub.publish(e)
	}}
	sinks = append(sinks, metrics.CountEvent)
	var auditor *audit.TaskAuditor
	if rt.cfg.Audit != nil {
		auditor = &audit.TaskAuditor{Log: rt.cfg.Audit, Tenant: string(tenant), Actor: actor, OnError: func(err error) {
			slog.Error("audit record not written; stopping the task", "task", t.ID, "err", err)
			cancel(err)
		}}
		sinks = append(sinks, auditor.Sink)
	}
	tee := agent.Tee(sinks...)
	sink := func(e bulwark.Event) {
		if e.Type == bulwark.EventTaskFinished && rt.parkedRun(ctx, l) {
			return // it waits for a person, without this run (waitpark.go)
		}
		if e.Type == bulwark.EventTaskFinished && leaseLost(ctx) {
			// Another node runs the task now: this run records nothing
			// of its end. It recorded it canceled and dropped the
			// checkpoint the other node's run goes on from (a red team:
			// a frozen node coming back).
			return
		}
		if e.Type == bulwark.EventTaskFinished && stopping(ctx) {
			// Stopped by a shutdown, not by its end: it stays resumable,
			// by the next start itself when it resumes tasks, else by a
			// person once the run has put it all away (above).
			cutOff = true
			if rt.cfg.AutoResume {
				rt.auditf(tenant, "system", "task.stopped", t.ID, audit.OutcomeOK, map[string]string{"why": "shutdown; resumes at the next start"})
				return
			}
			interrupt = true
			return
		}
		if e.Type == bulwark.EventTaskFinished {
			ended = true
		}
		rt.pastWait(ctx, l, e)
		tee(e)
	}

	// The events of the task's earlier turns: none for a new task. Read
	// whatever stops the run: the steps that end it follow them.
	history, err := rt.turnHistory(context.WithoutCancel(ctx), tenant, t.ID)
	if err != nil {
		return rt.setupFailed(parent, ctx, sink, l, 0, setupError("runner.run", "the task's steps could not be read", err))
	}
	var last int64
	if n := len(history); n > 0 {
		last = history[n-1].Seq
	}
	if asked := pendingQuestion(history); asked > 0 {
		// The turn resumes where it asked a person: the run asks again
		// first, and what was sent since the question was stored answers.
		l.reopenQuestion(asked)
	}
	if auditor != nil {
		// A resumed run carries out calls an earlier run started (an
		// approval asked again): their records name what they were.
		auditor.Pending(history)
	}
	rt.spreadWorkspaces(tenant)
	ws, err := workspace.Open(rt.workspaceDir(tenant, t.ID))
	if err != nil {
		rt.failBeforeStart(ctx, sink, t, last, err)
		return nil
	}
	defer ws.Close()
	ws.MaxFileSize = rt.cfg.MaxFileSize
	stored, err := rt.restore(base, l, ws)
	if err != nil {
		return rt.setupFailed(parent, ctx, sink, l, last, err)
	}
	resume, checkpoint, uploadsDone, err := rt.checkpoints(base, l, ws.Path(), history, func(err error) { cancel(err) })
	if err != nil {
		return rt.setupFailed(parent, ctx, sink, l, last, err)
	}
	defer uploadsDone()
	if stored {
		if err := rt.unstore(base, l); err != nil {
			return rt.setupFailed(parent, ctx, sink, l, last, err)
		}
	}
	setup, err := rt.cfg.Prepare(ctx, t, ws)
	if err != nil {
		rt.failBeforeStart(ctx, sink, t, last, err)
		return nil
	}
	if setup.Close != nil {
		defer setup.Close()
	}
	if setup.Uploading != nil {
		l.files.Lock()
		l.uploading = setup.Uploading
		l.files.Unlock()
		defer func() { // before setup.Close
			l.files.Lock()
			l.uploading = nil
			l.files.Unlock()
		}()
	}
	cfg := agent.Config{
		Model:         setup.Model,
		Tools:         setup.Tools,
		Env:           &tool.Env{Workspace: ws, Ask: rt.asker(l), Exec: setup.Exec},
		Limits:        setup.Limits,
		Sink:          sink,
		Inbox:         l.inbox,
		Instructions:  setup.Instructions,
		Policy:        setup.Policy,
		Approve:       rt.approver(ctx, l, tenant),
		Asking:        rt.asking(l),
		Mask:          setup.Mask,
		MaskStream:    setup.MaskStream,
		Notifications: setup.Notifications,
		Taint:         setup.Taint,
		Spotlight:     setup.Spotlight,
		Secrets:       setup.Secrets,
		SecretTools:   setup.SecretTools,
		SecretArgs:    setup.SecretArgs,
		Resume:        resume,
		Checkpoint:    checkpoint,
		Delegation:    rt.delegation(l, actor),
	}
	if len(history) > 0 {
		cfg.History = history
	}
	if canceled {
		// Canceled before the run began (a cancel sent while no node held
		// a task its run rescues, or one that missed the queue): only now,
		// with its files back where the set-up put them, for the run's
		// end to seal them, which a set-up cut short would not.
		cancel(errCanceled)
	}
	begun = true
	if _, err := agent.Run(ctx, cfg, t); err != nil {
		rt.failBeforeStart(ctx, sink, t, last, err)
	}
	return nil
}

// errCanceled is the cause of a cancellation a person asked for.
var errCanceled = errors.New("canceled by a person")

// asker asks the task's person a question, without holding a worker
// while the answer is awaited.
func (rt *Runtime) asker(l *live) func(context.Context, string) (string, error) {
	return func(ctx context.Context, q string) (string, error) {
		if rt.canPark() {
			return rt.askOrPark(ctx, l, q)
		}
		rt.park()
		defer rt.resume(ctx)
		return l.ask(ctx, q)
	}
}

// approver registers approvals on the live task and marks it waiting
// meanwhile; the task holds no worker while it waits (sched.park).
func (rt *Runtime) approver(ctx context.Context, l *live, tenant bulwark.TenantID) func(context.Context, bulwark.Approval) (bool, error) {
	return func(ctx context.Context, a bulwark.Approval) (bool, error) {
		if rt.canPark() {
			return rt.approveOrPark(ctx, l, a)
		}
		store := rt.cfg.Store
		if err := store.SetTaskStatus(context.WithoutCancel(ctx), tenant, a.TaskID, bulwark.TaskWaiting); err != nil {
			slog.Warn("marking a task waiting", "task", a.TaskID, "err", err)
		}
		rt.park() // nobody's worker waits for a person
		ok, err := l.awaitApproval(ctx, a)
		rt.resume(ctx)
		if err == nil {
			store.SetTaskStatus(context.WithoutCancel(ctx), tenant, a.TaskID, bulwark.TaskRunning)
		}
		return ok, err
	}
}

// failBeforeStart ends a task (or a new turn of one) that could not run,
// with the reason as its only steps after the last one stored, last.
func (rt *Runtime) failBeforeStart(ctx context.Context, sink agent.Sink, t bulwark.Task, last int64, err error) {
	if errors.Is(context.Cause(ctx), errCanceled) {
		// A person canceled it as it started (or before: a run that
		// rescues a task carries out a cancel sent meanwhile first): what
		// failed is the set-up it cut short.
		sink(bulwark.Event{Seq: last + 1, TaskID: t.ID, Time: time.Now(), Type: bulwark.EventTaskFinished, Reason: bulwark.FinishCanceled, Text: "the task was canceled"})
		return
	}
	msg := bulwark.ErrorMessage(err)
	slog.Error("task could not run", "task", t.ID, "err", err)
	now := time.Now()
	sink(bulwark.Event{Seq: last + 1, TaskID: t.ID, Time: now, Type: bulwark.EventError, Text: msg})
	sink(bulwark.Event{Seq: last + 2, TaskID: t.ID, Time: now, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishError, Text: msg})
}

func (rt *Runtime) workspaceDir(tenant bulwark.TenantID, id string) string {
	return filepath.Join(rt.cfg.Dir, string(tenant), id)
}

// spreadWorkspaces makes the folder of tenant's workspaces, once a
// process, as one whose folders the file system places apart
// (workspace.Spread): a task's files are then made away from where
// earlier tasks' were removed. Where the file system cannot, or the
// folder cannot be made (workspace.Open then says why), nothing changes.
func (rt *Runtime) spreadWorkspaces(tenant bulwark.TenantID) {
	if _, done := rt.spread.LoadOrStore(tenant, true); done {
		return
	}
	dir := filepath.Join(rt.cfg.Dir, string(tenant))
	if err := os.MkdirAll(dir, 0o700); err == nil {
		workspace.Spread(dir)
	}
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
