package runner

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Conversations
//
// A task that has stopped (succeeded, failed, canceled, or interrupted
// by a restart: bulwark.TaskStatus.Continuable) goes on in a new turn
// when a person sends it a message: the same task, the same conversation
// (the agent rebuilds it from the stored events), the same workspace (its
// files come back from the store into its folder) and a fresh budget for
// the turn: the task's limits, or those the message brings, apply again
// to the turn alone, clamped by the tenant's settings and the operator's
// ceilings where Prepare applies them. The message is stored as a
// user_message event at once; the turn's run then starts with a
// task_started event without text.

// waitStopped is how long a new turn waits for the run of the turn before
// to put its files away.
const waitStopped = 30 * time.Second

// Message delivers a person's message to a task of tenant: into its
// current turn while it is queued, running or waiting (see Send), or as
// the start of a new turn once it has stopped (see Continue). limits are
// for a new turn only: given to a task that is not stopped, they are
// Invalid. continued reports a new turn; t is the task as it is now.
func (rt *Runtime) Message(ctx context.Context, tenant bulwark.TenantID, actor, id, text string, limits *bulwark.Limits) (t bulwark.Task, continued bool, err error) {
	t, err = rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return t, false, err
	}
	if !t.Status.Continuable() {
		if limits != nil {
			return t, false, bulwark.Errorf(bulwark.Invalid, "runner.Message",
				"limits apply to a new turn, and the task is %s: send the message without limits, or wait until the task stops", t.Status)
		}
		err := rt.Send(ctx, tenant, id, text)
		if err == nil || bulwark.ErrorKind(err) != bulwark.Conflict {
			return t, false, err
		}
		// It stopped meanwhile: the message opens a new turn.
	}
	t, err = rt.Continue(ctx, tenant, actor, id, text, limits)
	if bulwark.ErrorKind(err) == bulwark.Conflict && limits == nil {
		// Another message continued it first: this one joins that turn.
		rt.turnMu.Lock() // wait until that turn is queued here
		//lint:ignore SA2001 the lock is taken only to wait for the turn that won; it guards nothing here
		rt.turnMu.Unlock()
		if cur, e := rt.cfg.Store.Task(ctx, tenant, id); e == nil && !cur.Status.Continuable() {
			if e := rt.Send(ctx, tenant, id, text); e == nil {
				return cur, false, nil
			}
		}
	}
	return t, err == nil, err
}

// Continue opens a new turn of a task of tenant that has stopped, with a
// person's message (empty: an interrupted turn resumes), and queues it.
// limits, when not nil, replace the task's limits from this turn on. A
// task that is queued, running or waiting is Conflict, and so is a task
// that another message has just continued.
func (rt *Runtime) Continue(ctx context.Context, tenant bulwark.TenantID, actor, id, text string, limits *bulwark.Limits) (bulwark.Task, error) {
	const op = "runner.Continue"
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return t, err
	}
	if !t.Status.Continuable() {
		return t, bulwark.Errorf(bulwark.Conflict, op,
			"the task is %s: a new turn starts only once a task has stopped (succeeded, failed, canceled or interrupted); send a message to a running task without limits", t.Status)
	}
	if rt.ranInTerminal(id) {
		return t, bulwark.Errorf(bulwark.Conflict, op,
			"the task was run by bulwark run in a terminal, which keeps its files in its own folder: "+
				"continue it there, with bulwark run --continue %s --tenant NAME MESSAGE", id)
	}
	if l := rt.live(tenant, id); l != nil {
		l.mu.Lock()
		newer := l.task.Turns > t.Turns
		l.mu.Unlock()
		if newer {
			// Another message opened the next turn since t was read: it
			// runs here, and is not waited for.
			return t, bulwark.Errorf(bulwark.Conflict, op, "another message has just continued the task")
		}
		// The turn before has ended and is putting its files away.
		select {
		case <-l.done:
		case <-time.After(waitStopped):
			return t, bulwark.Errorf(bulwark.Unavailable, op, "the task is still stopping; try again in a moment")
		case <-ctx.Done():
			return t, bulwark.E(bulwark.Canceled, op, "canceled", ctx.Err())
		}
	}
	// From the store's change to the queue, one turn opens at a time, so
	// that a message that finds the task queued finds it queued here too.
	// A cancel of the interrupted task here takes the lock too
	// (cancelInterrupted): read again, a resume finds it canceled.
	rt.turnMu.Lock()
	defer rt.turnMu.Unlock()
	if t, err = rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return t, err
	}
	if text == "" && t.Status != bulwark.TaskInterrupted {
		return t, bulwark.Errorf(bulwark.Conflict, op, "the task is %s: only an interrupted task can be resumed", t.Status)
	}
	last, err := rt.lastEvent(ctx, tenant, id)
	if err != nil {
		return t, err
	}
	stopped := t
	if text == "" {
		// A resume names the turn it read: a cancel (or another resume)
		// on another node since then wins, and this one changes nothing.
		t, err = rt.cfg.Store.ResumeTask(ctx, tenant, id, stopped.Turns)
		if errors.Is(err, bulwark.ErrTurnMoved) {
			cur, _ := rt.cfg.Store.Task(ctx, tenant, id)
			return cur, bulwark.Errorf(bulwark.Conflict, op, "the task was %s meanwhile, by another request: it is %s now, and this resume changed nothing",
				movedHow(stopped, cur), cur.Status)
		}
	} else {
		t, err = rt.cfg.Store.ContinueTask(ctx, tenant, id, limits)
	}
	if errors.Is(err, bulwark.ErrCanceledAtStop) {
		// A person canceled it as its run stopped: their cancel wins.
		// The turn ends canceled; a message opens a new turn after it,
		// as for any canceled task, and a resume has nothing to resume.
		if err := rt.cancelStopped(ctx, tenant, "", stopped); err != nil {
			return stopped, err
		}
		if text == "" {
			t, _ = rt.cfg.Store.Task(ctx, tenant, id)
			return t, bulwark.Errorf(bulwark.Conflict, op, "the task was canceled as it stopped: it does not resume")
		}
		if last, err = rt.lastEvent(ctx, tenant, id); err != nil {
			return t, err
		}
		t, err = rt.cfg.Store.ContinueTask(ctx, tenant, id, limits)
	}
	if err != nil {
		return t, err
	}
	l := newLive(t)
	l.sealed = rt.cfg.Artifacts != nil // its files are in the store until the run restores them
	if text != "" {
		e := bulwark.Event{Seq: last.Seq + 1, TaskID: id, Time: time.Now(), Type: bulwark.EventUserMessage, Step: last.Step, Text: text}
		if err := rt.cfg.Store.AppendEvent(ctx, tenant, e); err != nil {
			rt.endTurn(ctx, tenant, l, last, bulwark.FinishError, "the message could not be stored")
			return t, err
		}
	}
	action := "task.continue"
	if text == "" {
		action = "task.resume"
	}
	rt.auditf(tenant, actor, action, id, audit.OutcomeOK, nil)
	// The messages the turn before had not read, if a stop cut it off,
	// are this turn's (ContinueTask moved them to it).
	if err := rt.enqueueLive(ctx, l, actor, true); err != nil {
		return t, err
	}
	return t, nil
}

// Resume continues a task of tenant that a restart interrupted, from
// where it stopped. A task that was not interrupted is Conflict.
func (rt *Runtime) Resume(ctx context.Context, tenant bulwark.TenantID, actor, id string) (bulwark.Task, error) {
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return t, err
	}
	if t.Status != bulwark.TaskInterrupted {
		return t, bulwark.Errorf(bulwark.Conflict, "runner.Resume",
			"the task is %s: only an interrupted task can be resumed; send a message to continue one that has ended", t.Status)
	}
	return rt.Continue(ctx, tenant, actor, id, "", nil)
}

// cancelInterrupted cancels t, which a restart interrupted and no
// process runs, as Cancel found it: if it is still so, where it stopped
// (cancelStopped, whose store write names the turn read); else, resumed
// or continued meanwhile (here or on another node), its new turn is
// canceled, as Cancel finds it now. The cancel and a resume made at once
// used to both go on: the cancel ended the interrupted turn as the
// resume opened the next, which ran. turnMu keeps a turn that opens here
// from being read half open; the store's compare-and-set decides between
// nodes.
func (rt *Runtime) cancelInterrupted(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) error {
	rt.turnMu.Lock()
	cur, err := rt.cfg.Store.Task(ctx, tenant, t.ID)
	if err == nil && cur.Status == bulwark.TaskInterrupted && cur.Turns == t.Turns {
		err = rt.cancelStopped(ctx, tenant, actor, cur)
		rt.turnMu.Unlock()
		if !errors.Is(err, bulwark.ErrTurnMoved) {
			return err
		}
	} else {
		rt.turnMu.Unlock()
		if err != nil {
			return err
		}
	}
	return rt.Cancel(ctx, tenant, actor, t.ID)
}

// movedHow says what became of a task read interrupted (stopped) that a
// compare-and-set found moved on (now cur).
func movedHow(stopped, cur bulwark.Task) string {
	switch {
	case cur.Turns > stopped.Turns:
		return "resumed or continued"
	case cur.Status == bulwark.TaskCanceled:
		return "canceled"
	}
	return "changed"
}

// endCanceledAtStop ends task t, read interrupted, canceled where it
// stopped when a cancel is stored for its turn (a person canceled it as
// its run stopped): it shows canceled at once, not interrupted until a
// person resumes it. A node that stops checks once it has marked the
// task interrupted, and the node that stored the cancel once it is
// stored: whichever comes second sees the other's write.
func (rt *Runtime) endCanceledAtStop(ctx context.Context, t bulwark.Task) {
	if rt.cfg.Controls == nil || t.Status != bulwark.TaskInterrupted {
		return
	}
	tenant := bulwark.TenantID(t.TenantID)
	ok, err := rt.cfg.Controls.CancelStored(ctx, tenant, t.ID, t.Turns)
	if err == nil && ok {
		err = rt.cancelStopped(ctx, tenant, "", t)
	}
	if err != nil && !errors.Is(err, bulwark.ErrTurnMoved) {
		// It stays interrupted, its cancel stored: a resume, a message or
		// the next start carries it out.
		slog.Warn("a task canceled as it stopped could not be ended canceled yet", "task", t.ID, "err", err)
	}
}

// cancelStopped ends a task that a restart interrupted and that no
// process runs: it is canceled where it stopped, in actor's name, or,
// when actor is "", in the name of whoever canceled it as its run
// stopped (a cancel stored for its turn: see bulwark.ErrCanceledAtStop).
// Its turn is over, and its checkpoint is dropped, as a run drops it at
// its end: once its folder here, if a process left one that Start could
// not seal, is sealed (its files are newer than the checkpoint's; a file
// stored since stays as stored, as Start has it), and the files only the
// checkpoint holds are stored (settleCheckpoint). While either cannot be, the
// checkpoint stays. The messages its stopped run had not read, which no
// run will, are stored among its steps, before its end: they are shown
// with the conversation, and a later turn's model reads them there.
func (rt *Runtime) cancelStopped(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) error {
	return rt.endStopped(ctx, tenant, actor, t, rt.takeAll(ctx, t))
}

// endStopped is cancelStopped, with what was stored for the task, taken.
// The events that end the turn are stored in one write that names the
// turn (EndInterrupted): a task resumed, continued or ended meanwhile by
// another node is bulwark.ErrTurnMoved, nothing is stored, and what was
// taken is stored again for the turn that goes on (giveAfterMove).
func (rt *Runtime) endStopped(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task, taken []bulwark.ControlRequest) error {
	unread, cancels := unread(taken, t.Turns)
	last, err := rt.lastEvent(ctx, tenant, t.ID)
	if err != nil {
		rt.putBack(ctx, t, unread, cancels)
		return err
	}
	var events []bulwark.Event
	for _, text := range unread {
		last = bulwark.Event{Seq: last.Seq + 1, TaskID: t.ID, Time: time.Now(), Type: bulwark.EventUserMessage, Step: last.Step, Text: text}
		events = append(events, last)
	}
	events = append(events, bulwark.Event{Seq: last.Seq + 1, TaskID: t.ID, Time: time.Now(), Type: bulwark.EventTaskFinished, Step: last.Step,
		Reason: bulwark.FinishCanceled, Text: "the interrupted task was canceled"})
	if err := rt.cfg.Store.EndInterrupted(ctx, tenant, t.ID, t.Turns, events); err != nil {
		if errors.Is(err, bulwark.ErrTurnMoved) {
			rt.giveAfterMove(ctx, t, taken)
		} else {
			rt.putBack(ctx, t, unread, cancels)
		}
		return err
	}
	if actor != "" {
		rt.auditf(tenant, actor, "task.cancel_requested", t.ID, audit.OutcomeOK, nil)
	}
	for _, c := range cancels {
		if !c.Audited { // else audited where it was made (cancelLive)
			rt.auditf(tenant, c.Actor, "task.cancel_requested", t.ID, audit.OutcomeOK, nil)
		}
	}
	ctx = context.WithoutCancel(ctx)
	if rt.cfg.Artifacts != nil {
		if err := rt.sealDir(ctx, tenant, t.ID, nil, true); err != nil {
			slog.Warn("the folder of a canceled task could not be sealed; its checkpoint stays", "task", t.ID, "err", err)
			return nil
		}
	}
	rt.settleCheckpoint(ctx, t)
	return nil
}

// giveAfterMove stores again what was taken for task t, read interrupted,
// whose turn another node moved on before its cancel was stored
// (ErrTurnMoved): the messages and cancels of its turn go to the turn
// that goes on from it (a resume would have moved the messages there,
// and it carries a cancel out), the rest to their own turns. Once the
// task has ended they are dropped: its turn is over. Ended canceled in
// that turn (another node, which had not taken them, ended it first),
// the cancels taken here are audited here, in the names of who made
// them: each was carried out, and the other node knew nothing of them.
func (rt *Runtime) giveAfterMove(ctx context.Context, t bulwark.Task, taken []bulwark.ControlRequest) {
	if len(taken) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	tenant := bulwark.TenantID(t.TenantID)
	cur, err := rt.cfg.Store.Task(ctx, tenant, t.ID)
	if err != nil {
		return
	}
	if cur.Status.Ended() {
		texts, cancels := unread(taken, t.Turns)
		if cur.Status != bulwark.TaskCanceled || cur.Turns != t.Turns {
			return
		}
		for _, c := range cancels {
			if !c.Audited {
				rt.auditf(tenant, c.Actor, "task.cancel_requested", t.ID, audit.OutcomeOK, nil)
			}
		}
		if len(texts) > 0 {
			slog.Warn("messages a task had not read as it stopped were taken by a cancel that another server's cancel overtook; they are not shown", "task", t.ID, "n", len(texts))
		}
		return
	}
	for _, r := range taken {
		r = again(r)
		if r.Turn == t.Turns {
			r.Turn = cur.Turns
		}
		if _, err := rt.cfg.Controls.SendControl(ctx, tenant, r); err != nil {
			slog.Error("a request to a task resumed as it was canceled was lost", "task", t.ID, "kind", r.Kind, "err", err)
		}
	}
}

// takeAll takes what is stored for task t, which no run holds.
func (rt *Runtime) takeAll(ctx context.Context, t bulwark.Task) []bulwark.ControlRequest {
	if rt.cfg.Controls == nil {
		return nil
	}
	rs, err := rt.cfg.Controls.TakeControls(ctx, []bulwark.TaskRef{{Tenant: bulwark.TenantID(t.TenantID), ID: t.ID}})
	if err != nil {
		slog.Warn("reading the requests of a stopped task; they stay stored", "task", t.ID, "err", err)
	}
	return rs
}

// unread returns, of the requests rs taken for a task whose turn a stop
// cut off, the messages for that turn its run had not read, and the
// cancels stored for it. The rest is dropped: the turn ends
// (cancelStopped).
func unread(rs []bulwark.ControlRequest, turn int) (texts []string, cancels []bulwark.ControlRequest) {
	for _, r := range rs {
		switch {
		case r.Turn != turn:
		case r.Kind == bulwark.ControlMessage:
			texts = append(texts, r.Text)
		case r.Kind == bulwark.ControlCancel:
			cancels = append(cancels, r)
		}
	}
	return texts, cancels
}

// canceledAtStop reports whether rs, taken for a task a stop cut off in
// turn, holds a cancel for that turn: a person canceled it as it
// stopped (see bulwark.ErrCanceledAtStop).
func canceledAtStop(rs []bulwark.ControlRequest, turn int) bool {
	_, cancels := unread(rs, turn)
	return len(cancels) > 0
}

// putBack stores again for the turn of task t, whose cancel could not be
// carried out (cancelStopped), the messages it took and did not store as
// steps, and the cancels stored for the turn: a resume that follows
// carries the cancel out (bulwark.ErrCanceledAtStop), and does not run
// the task.
func (rt *Runtime) putBack(ctx context.Context, t bulwark.Task, texts []string, cancels []bulwark.ControlRequest) {
	reqs := cancels
	for _, text := range texts {
		reqs = append(reqs, bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: text})
	}
	for _, r := range reqs {
		r = again(r)
		r.TaskID, r.Turn = t.ID, t.Turns
		if _, err := rt.cfg.Controls.SendControl(context.WithoutCancel(ctx), bulwark.TenantID(t.TenantID), r); err != nil {
			slog.Error("a request to an interrupted task that could not be canceled was lost", "task", t.ID, "kind", r.Kind, "err", err)
		}
	}
}

// endTurn ends a turn that could not start, with reason and text.
func (rt *Runtime) endTurn(ctx context.Context, tenant bulwark.TenantID, l *live, last bulwark.Event, reason bulwark.FinishReason, text string) {
	e := bulwark.Event{Seq: last.Seq + 1, TaskID: l.task.ID, Time: time.Now(), Type: bulwark.EventTaskFinished, Step: last.Step, Reason: reason, Text: text}
	rt.cfg.Store.AppendEvent(context.WithoutCancel(ctx), tenant, e)
}

// lastEvent returns the last stored event of a task (the zero Event when
// it has none).
func (rt *Runtime) lastEvent(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Event, error) {
	var last bulwark.Event
	for {
		batch, err := rt.cfg.Store.Events(ctx, tenant, id, last.Seq, 1000)
		if err != nil {
			return last, err
		}
		if len(batch) > 0 {
			last = batch[len(batch)-1]
		}
		if len(batch) < 1000 {
			return last, nil
		}
	}
}

// openingPoll is how often a run that found its new turn still opening
// (turnHistory) reads the task's events again.
const openingPoll = 20 * time.Millisecond

// testHookOpening, when set (by tests), is called each time a run finds
// its new turn still opening.
var testHookOpening func(taskID string)

// turnHistory returns the stored events of task id for a run that starts.
// A run never starts from the end of a turn: Continue stores the message
// that opens a new turn just after the store has the task queued, and a
// run that a node's queue starts in between (a node that starts queues
// every queued task again) would take up the conversation without the
// message, and its first event would take the message's seq. Such a run
// waits for the message, up to waitStopped (the Continue that opened the
// turn stopped halfway, say): then it goes on without it, as a resume. A
// run stopped meanwhile goes on at once, to its end.
func (rt *Runtime) turnHistory(ctx context.Context, tenant bulwark.TenantID, id string) ([]bulwark.Event, error) {
	deadline := time.Now().Add(waitStopped)
	for {
		history, err := rt.cfg.Store.Events(ctx, tenant, id, 0, 0)
		if err != nil || len(history) == 0 || history[len(history)-1].Type != bulwark.EventTaskFinished || time.Now().After(deadline) {
			return history, err
		}
		if testHookOpening != nil {
			testHookOpening(id)
		}
		select {
		case <-ctx.Done():
			return history, nil // stopped: the run ends at once, as before any wait
		case <-time.After(openingPoll):
		}
	}
}

// restore puts the files a task's earlier turns left in the store back
// into its workspace folder, before a new turn runs: from here on the
// folder holds them, and is sealed again when the run stops. They leave
// the store only once the run's set-up is done (unstore): a set-up that
// fails after restore (its checkpoint cannot be read, say) leaves them
// stored, whether or not the run's end can seal the folder, for the next
// run, which may be another node's. Until restore is done, readers see
// the stored files. A restore that fails before the folder holds them
// all removes the copies it wrote. stored reports files put back that
// are still in the store.
func (rt *Runtime) restore(ctx context.Context, l *live, ws *workspace.Workspace) (stored bool, err error) {
	if rt.cfg.Artifacts == nil {
		return false, nil
	}
	tenant := bulwark.TenantID(l.task.TenantID)
	id := l.task.ID
	l.files.Lock()
	defer l.files.Unlock()
	kept, err := rt.cfg.Artifacts.Artifacts(ctx, tenant, id)
	if err != nil {
		return false, setupError(opRestore, msgRestore, err)
	}
	var written []string
	defer func() {
		if err != nil && l.sealed {
			// The store has them: a copy left here would be a second one,
			// in the clear, which the next run (maybe another node's)
			// does not need.
			for _, p := range written {
				ws.Remove(p)
			}
		}
	}()
	for _, a := range kept {
		_, data, err := rt.cfg.Artifacts.ArtifactContent(ctx, tenant, id, a.Path)
		if err != nil {
			return false, setupError(opRestore, msgRestore, err)
		}
		if err := ws.WriteFile(a.Path, data); err != nil {
			return false, bulwark.E(bulwark.Internal, opRestore, msgRestore, err)
		}
		written = append(written, a.Path)
		if a.Uploaded {
			l.uploads[a.Path] = true
		}
	}
	// The folder holds them all: the run's end seals them again.
	l.sealed = false
	return len(kept) > 0, nil
}

const opRestore, msgRestore = "runner.restore", "the task's files could not be put back in its workspace"

// unstore takes the files restore put back out of the store, once the
// run's set-up is done: the folder, and its first checkpoint when the
// run has checkpoints, hold them.
func (rt *Runtime) unstore(ctx context.Context, l *live) error {
	l.files.Lock()
	defer l.files.Unlock()
	if err := rt.cfg.Artifacts.DeleteArtifacts(ctx, bulwark.TenantID(l.task.TenantID), l.task.ID); err != nil {
		return setupError(opRestore, msgRestore, err)
	}
	return nil
}

// ranInTerminal reports whether the task id is one of 'bulwark run' on
// this data folder: that command keeps a task's files in Dir/TASK (a
// server in Dir/TENANT/TASK, sealed into the store when it stops). A new
// turn here would start without them and leave them behind, so such a
// task goes on in the terminal.
func (rt *Runtime) ranInTerminal(id string) bool {
	if rt.cfg.Dir == "" || id == "" || id == "." || id == ".." || filepath.Base(id) != id {
		return false
	}
	fi, err := os.Lstat(filepath.Join(rt.cfg.Dir, id))
	return err == nil && fi.IsDir()
}
