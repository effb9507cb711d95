package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
)

// `bulwark tasks cancel` and `bulwark tasks message`: requests to a task,
// carried to the process that runs it through the store when that is
// another process (bulwark.ControlStore).

// tasksCancel ends a task. One that no process runs (interrupted by a
// stopped server, or left running by a process that stopped) ends here.
// One that a process on this data folder runs (a 'bulwark serve', a
// 'bulwark run') can only be stopped by that process, which holds its
// state (its sandbox, its pending approvals): the request goes to it
// through the store (bulwark.ControlStore), and the command waits a while
// for the task to end.
func tasksCancel(ctx context.Context, db store, tenant bulwark.TenantID, data, id string, s stdio) error {
	t, err := taskOf(ctx, db, tenant, id)
	if err != nil {
		return err
	}
	switch {
	case t.Status.Ended():
		return bulwark.Errorf(bulwark.Conflict, "tasks cancel", "the task has already ended (%s)", t.Status)
	case t.Status != bulwark.TaskInterrupted && (heldByNodes(db) || servedNow(data) || taskRunByCLI(data)(t)):
		return cancelElsewhere(ctx, db, tenant, t, s)
	case t.Status != bulwark.TaskInterrupted:
		// No process runs it any more (its process stopped, and no
		// server on the folder has marked it interrupted yet).
		if err := db.SetTaskStatus(ctx, tenant, t.ID, bulwark.TaskInterrupted); err != nil {
			return err
		}
	}
	last, err := db.Events(ctx, tenant, t.ID, 0, 0)
	if err != nil {
		return err
	}
	var seq int64
	if len(last) > 0 {
		seq = last[len(last)-1].Seq
	}
	// Only while it is still interrupted in the turn read: a server that
	// resumed it meanwhile runs it now.
	err = db.EndInterrupted(ctx, tenant, t.ID, t.Turns, []bulwark.Event{{Seq: seq + 1, TaskID: t.ID, Time: time.Now(),
		Type: bulwark.EventTaskFinished, Reason: bulwark.FinishCanceled, Text: "canceled from the terminal after it was interrupted"}})
	if errors.Is(err, bulwark.ErrTurnMoved) {
		return bulwark.Errorf(bulwark.Conflict, "tasks cancel", "the task was resumed or ended meanwhile; run the command again to cancel it as it is now")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "task %s canceled\n", t.ID)
	auditCLI(ctx, db, data, s, audit.Record{TenantID: string(tenant), Action: "task.cancel", Target: t.ID, Outcome: audit.OutcomeOK,
		Details: map[string]string{"was": string(bulwark.TaskInterrupted)}})
	return nil
}

// heldByNodes reports whether db is shared by the nodes of a cluster (a
// PostgreSQL store): a task not ended there may be run by any node, which
// no data folder of this machine tells, so requests go through the store;
// the cluster's queue hands the tasks of a node that died to another.
func heldByNodes(db store) bool {
	_, ok := db.(pooled)
	return ok
}

// cancelWait is how long `tasks cancel` waits for the process running a
// task to stop it.
var cancelWait = 15 * time.Second

// cancelElsewhere asks the process that runs t to cancel it, and waits
// for the task to end.
func cancelElsewhere(ctx context.Context, db store, tenant bulwark.TenantID, t bulwark.Task, s stdio) error {
	_, err := db.SendControl(ctx, tenant, bulwark.ControlRequest{TaskID: t.ID, Turn: t.Turns, Kind: bulwark.ControlCancel, Actor: "cli"})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(cancelWait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		cur, err := db.Task(ctx, tenant, t.ID)
		if err != nil {
			return err
		}
		if cur.Status.Ended() || cur.Status == bulwark.TaskInterrupted || cur.Turns != t.Turns {
			fmt.Fprintf(s.out, "task %s %s\n", t.ID, cur.Status)
			return nil
		}
	}
	fmt.Fprintf(s.out, "cancel of task %s requested: the process running it (a 'bulwark serve' or 'bulwark run' on this data folder) stops it at its next safe point; "+
		"no process has stopped it yet (see 'bulwark tasks show %s')\n", t.ID, t.ID)
	return nil
}

// tasksMessage sends a person's message to a task that another process
// on the folder runs, through the store (bulwark.ControlStore).
func tasksMessage(ctx context.Context, db store, tenant bulwark.TenantID, data string, o tasksFlags, s stdio) error {
	const op = "tasks message"
	text, err := guard.ValidateInput(o.text, maxMessageBytes)
	if err != nil {
		return usagef("tasks message: %s", bulwark.ErrorMessage(err))
	}
	t, err := taskOf(ctx, db, tenant, o.id)
	if err != nil {
		return err
	}
	switch {
	case t.Status.Continuable():
		return bulwark.Errorf(bulwark.Conflict, op,
			"the task has stopped (%s): continue it with a new turn, 'bulwark run --continue %s %s', or send the message through the server (the web UI, or POST /api/v1/tasks/%s/messages)",
			t.Status, t.ID, shellQuote(text), t.ID)
	case !heldByNodes(db) && !servedNow(data) && !taskRunByCLI(data)(t):
		return bulwark.Errorf(bulwark.Conflict, op,
			"no process runs the task now (%s): cancel it with 'bulwark tasks cancel %s', or start 'bulwark serve' on this folder, which takes it over", t.Status, t.ID)
	}
	if _, err := db.SendControl(ctx, tenant, bulwark.ControlRequest{TaskID: t.ID, Turn: t.Turns, Kind: bulwark.ControlMessage, Actor: "cli", Text: text}); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "message sent to task %s: it reads it at its next step (or takes it as the answer to its question)\n", t.ID)
	return nil
}

// maxMessageBytes bounds a message sent from the terminal, as the
// server bounds a task's input.
const maxMessageBytes = 64 << 10

// shellQuote quotes s for a shell command shown to a person.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
