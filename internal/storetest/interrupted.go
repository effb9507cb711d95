package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testInterruptedCompareAndSet: the two ways out of an interrupted turn
// name the turn the caller read. ResumeTask opens the next turn and
// EndInterrupted ends the task with its events only while the task is
// still interrupted in that turn; else bulwark.ErrTurnMoved (Conflict)
// and nothing changes. Made at once, one of them goes through. A cancel
// stored for the turn is seen (CancelStored) without being taken, and
// ResumeTask then is ErrCanceledAtStop. Another tenant's calls are
// NotFound; events that do not end the task are Invalid.
func testInterruptedCompareAndSet(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	interrupted := func() bulwark.Task {
		t.Helper()
		task := mustTask(t, s, a, bulwark.Task{Input: "x"})
		if err := s.SetTaskStatus(ctx, a, task.ID, bulwark.TaskInterrupted); err != nil {
			t.Fatal(err)
		}
		return must(s.Task(ctx, a, task.ID))
	}
	ending := func(id string, from int64) []bulwark.Event {
		return []bulwark.Event{
			{Seq: from, TaskID: id, Type: bulwark.EventUserMessage, Text: "unread"},
			{Seq: from + 1, TaskID: id, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishCanceled, Text: "canceled"},
		}
	}
	wantMoved := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, bulwark.ErrTurnMoved) || !kindIs(err, bulwark.Conflict) {
			t.Errorf("%s: %v, want ErrTurnMoved (Conflict)", what, err)
		}
	}
	events := func(id string) int {
		t.Helper()
		return len(must(s.Events(ctx, a, id, 0, 0)))
	}

	task := interrupted()
	if task.Turns != 1 {
		t.Fatalf("a new task is in turn %d, want 1", task.Turns)
	}
	_, err := s.ResumeTask(ctx, b, task.ID, 1)
	if !kindIs(err, bulwark.NotFound) {
		t.Errorf("ResumeTask of A's task by B: %v, want NotFound", err)
	}
	if err := s.EndInterrupted(ctx, b, task.ID, 1, ending(task.ID, 1)); !kindIs(err, bulwark.NotFound) {
		t.Errorf("EndInterrupted of A's task by B: %v, want NotFound", err)
	}
	if _, err := s.CancelStored(ctx, b, task.ID, 1); !kindIs(err, bulwark.NotFound) {
		t.Errorf("CancelStored of A's task by B: %v, want NotFound", err)
	}
	for _, bad := range [][]bulwark.Event{
		nil,
		ending(task.ID, 1)[:1],
		{{Seq: 1, TaskID: "t_other", Type: bulwark.EventTaskFinished, Reason: bulwark.FinishCanceled}},
		{{Seq: 1, TaskID: task.ID, Type: bulwark.EventTaskStarted}, {Seq: 2, TaskID: task.ID, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishCanceled}},
	} {
		if err := s.EndInterrupted(ctx, a, task.ID, 1, bad); !kindIs(err, bulwark.Invalid) {
			t.Errorf("EndInterrupted(%+v): %v, want Invalid", bad, err)
		}
	}
	_, err = s.ResumeTask(ctx, a, task.ID, 2)
	wantMoved("ResumeTask naming a turn the task is not in", err)
	wantMoved("EndInterrupted naming a turn the task is not in", s.EndInterrupted(ctx, a, task.ID, 2, ending(task.ID, 1)))
	if got := must(s.Task(ctx, a, task.ID)); got.Status != bulwark.TaskInterrupted || got.Turns != 1 || events(task.ID) != 0 {
		t.Errorf("after the refused calls the task is %s in turn %d with %d events; want interrupted in turn 1, none", got.Status, got.Turns, events(task.ID))
	}

	// A cancel stored for the turn: seen, not taken; the resume refused.
	if ok, err := s.CancelStored(ctx, a, task.ID, 1); ok || err != nil {
		t.Errorf("CancelStored with nothing stored = %v, %v", ok, err)
	}
	must(s.SendControl(ctx, a, bulwark.ControlRequest{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlCancel, Actor: "user:1"}))
	for turn, want := range map[int]bool{1: true, 2: false} {
		if ok, err := s.CancelStored(ctx, a, task.ID, turn); ok != want || err != nil {
			t.Errorf("CancelStored of turn %d with a cancel of turn 1 stored = %v, %v; want %v", turn, ok, err, want)
		}
	}
	if _, err := s.ResumeTask(ctx, a, task.ID, 1); !errors.Is(err, bulwark.ErrCanceledAtStop) {
		t.Errorf("ResumeTask of a task canceled as it stopped: %v, want ErrCanceledAtStop", err)
	}
	if rs := must(s.TakeControls(ctx, []bulwark.TaskRef{{Tenant: a, ID: task.ID}})); len(rs) != 1 {
		t.Fatalf("CancelStored took the cancel: %+v left", rs)
	}
	if ok, err := s.CancelStored(ctx, a, task.ID, 1); ok || err != nil {
		t.Errorf("CancelStored once the cancel is taken = %v, %v", ok, err)
	}

	// Resumed: the turn read is over for both.
	got, err := s.ResumeTask(ctx, a, task.ID, 1)
	if err != nil || got.Turns != 2 || got.Status != bulwark.TaskQueued {
		t.Fatalf("ResumeTask = %+v, %v; want queued in turn 2", got, err)
	}
	_, err = s.ResumeTask(ctx, a, task.ID, 1)
	wantMoved("ResumeTask of a task resumed already", err)
	wantMoved("EndInterrupted of a task resumed", s.EndInterrupted(ctx, a, task.ID, 1, ending(task.ID, 1)))
	if got := must(s.Task(ctx, a, task.ID)); got.Status != bulwark.TaskQueued || events(task.ID) != 0 {
		t.Errorf("the resumed task is %s with %d events after a refused end; want queued, none", got.Status, events(task.ID))
	}

	// Ended: the turn read is over for both.
	ended := interrupted()
	if err := s.EndInterrupted(ctx, a, ended.ID, 1, ending(ended.ID, 1)); err != nil {
		t.Fatal(err)
	}
	if got := must(s.Task(ctx, a, ended.ID)); got.Status != bulwark.TaskCanceled || got.Turns != 1 || events(ended.ID) != 2 {
		t.Errorf("the ended task is %s in turn %d with %d events; want canceled in turn 1, 2 events", got.Status, got.Turns, events(ended.ID))
	}
	_, err = s.ResumeTask(ctx, a, ended.ID, 1)
	wantMoved("ResumeTask of a task ended", err)
	wantMoved("EndInterrupted of a task ended", s.EndInterrupted(ctx, a, ended.ID, 1, ending(ended.ID, 3)))

	// At once: one goes through, the other changes nothing.
	for range 8 {
		task := interrupted()
		var wg sync.WaitGroup
		var resumeErr, endErr error
		wg.Go(func() { _, resumeErr = s.ResumeTask(ctx, a, task.ID, 1) })
		wg.Go(func() { endErr = s.EndInterrupted(ctx, a, task.ID, 1, ending(task.ID, 1)) })
		wg.Wait()
		got := must(s.Task(ctx, a, task.ID))
		switch {
		case resumeErr == nil && errors.Is(endErr, bulwark.ErrTurnMoved):
			if got.Status != bulwark.TaskQueued || got.Turns != 2 || events(task.ID) != 0 {
				t.Errorf("the resume won: the task is %s in turn %d with %d events; want queued in turn 2, none", got.Status, got.Turns, events(task.ID))
			}
		case endErr == nil && errors.Is(resumeErr, bulwark.ErrTurnMoved):
			if got.Status != bulwark.TaskCanceled || got.Turns != 1 || events(task.ID) != 2 {
				t.Errorf("the end won: the task is %s in turn %d with %d events; want canceled in turn 1, 2 events", got.Status, got.Turns, events(task.ID))
			}
		default:
			t.Errorf("ResumeTask and EndInterrupted at once: %v and %v; want one to go through and the other ErrTurnMoved", resumeErr, endErr)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
