package runner_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/notify"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// elsewhere is a task run by "another process": a second handle on the
// same SQLite data folder writing its events directly, while a Runtime
// that does not run the task streams it.
type elsewhere struct {
	t      *testing.T
	rt     *runner.Runtime // the runtime that streams, not runs
	writer *sqlite.DB      // the other process's handle
	tenant bulwark.TenantID
	task   bulwark.Task
	seq    int64
	notify func() // after each commit of the writer; nil: nobody tells
}

func newElsewhere(t *testing.T, status bulwark.TaskStatus, n notify.Notifier) *elsewhere {
	t.Helper()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	kr, err := secret.CreateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	reader := openDB(t, dir, kr, keyFile)
	writer := openDB(t, dir, kr, keyFile)
	ctx := context.Background()
	tn, err := reader.CreateTenant(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	rt := runner.New(runner.Config{
		Store:    reader,
		Dir:      filepath.Join(dir, "workspaces"),
		Notifier: n,
		Prepare:  nil, // it never runs a task
	})
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	// Created after Start, so this runtime neither queues nor interrupts it.
	task, err := writer.CreateTask(ctx, tn.ID, bulwark.Task{Input: "elsewhere", Model: "openai:test", Status: status})
	if err != nil {
		t.Fatal(err)
	}
	e := &elsewhere{t: t, rt: rt, writer: writer, tenant: tn.ID, task: task}
	if m, ok := n.(*notify.Memory); ok {
		e.notify = func() { m.Notify(tn.ID, task.ID) }
	}
	return e
}

// append stores the next event of the task, as its process does.
func (e *elsewhere) append(typ bulwark.EventType, text string) int64 {
	e.t.Helper()
	e.seq++
	ev := bulwark.Event{Seq: e.seq, TaskID: e.task.ID, Time: time.Now(), Type: typ, Text: text}
	if typ == bulwark.EventTaskFinished {
		ev.Reason = bulwark.FinishDone
	}
	if err := e.writer.AppendEvent(context.Background(), e.tenant, ev); err != nil {
		e.t.Fatalf("append event %d: %v", e.seq, err)
	}
	if e.notify != nil {
		e.notify()
	}
	return e.seq
}

// reader receives a stream in the background.
type reader struct {
	got  chan bulwark.Event
	done chan []bulwark.Event // everything, once the stream closed
}

func read(ch <-chan bulwark.Event) *reader {
	r := &reader{got: make(chan bulwark.Event, 1024), done: make(chan []bulwark.Event, 1)}
	go func() {
		var all []bulwark.Event
		for ev := range ch {
			all = append(all, ev)
			r.got <- ev
		}
		r.done <- all
	}()
	return r
}

// upTo waits until the stream has delivered seq (a hang guard, not a
// speed assertion).
func (r *reader) upTo(t *testing.T, seq int64) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-r.got:
			if ev.Seq == seq {
				return
			}
		case <-timeout:
			t.Fatalf("the stream did not deliver event %d of a task running elsewhere", seq)
		}
	}
}

// end waits for the stream to close and returns all it delivered.
func (r *reader) end(t *testing.T) []bulwark.Event {
	t.Helper()
	select {
	case all := <-r.done:
		return all
	case <-time.After(20 * time.Second):
		t.Fatal("the stream of a task that stopped elsewhere did not end")
		return nil
	}
}

// checkExactly fails unless evs are the events after..last, each once, in order.
func checkExactly(t *testing.T, evs []bulwark.Event, after, last int64) {
	t.Helper()
	if int64(len(evs)) != last-after {
		t.Errorf("got %d events, want %d (seq %d to %d)", len(evs), last-after, after+1, last)
	}
	for i, ev := range evs {
		if want := after + 1 + int64(i); ev.Seq != want {
			t.Fatalf("event %d has seq %d, want %d: missed, repeated or out of order", i, ev.Seq, want)
		}
	}
}

var notifiers = []struct {
	name string
	make func() notify.Notifier
}{
	{"poll (no notifier)", func() notify.Notifier { return nil }},
	{"memory", func() notify.Notifier { return new(notify.Memory) }},
}

func TestStreamOfATaskRunningElsewhere(t *testing.T) {
	for _, n := range notifiers {
		t.Run(n.name, func(t *testing.T) {
			t.Parallel()
			e := newElsewhere(t, bulwark.TaskRunning, n.make())
			ctx := context.Background()
			e.append(bulwark.EventTaskStarted, "elsewhere")
			e.append(bulwark.EventModelText, "before the stream")

			r := read(must(e.rt.Subscribe(ctx, e.tenant, e.task.ID, 0)))
			r.upTo(t, e.seq) // the stored ones
			// Bursts while it streams: each must arrive on a wake-up.
			for burst := range 3 {
				for i := range 5 {
					e.append(bulwark.EventModelText, fmt.Sprintf("burst %d step %d", burst, i))
				}
				r.upTo(t, e.seq)
			}
			// A resumed stream (Last-Event-ID) joins in the middle.
			mid := e.seq
			resumed := read(must(e.rt.Subscribe(ctx, e.tenant, e.task.ID, mid)))
			// Then a fast tail the stream cannot keep pace with, and the end.
			for i := range 200 {
				e.append(bulwark.EventModelText, fmt.Sprintf("tail %d", i))
			}
			last := e.append(bulwark.EventTaskFinished, "done elsewhere")

			all := r.end(t)
			checkExactly(t, all, 0, last)
			if all[len(all)-1].Type != bulwark.EventTaskFinished {
				t.Errorf("the stream ends with %s, want task_finished", all[len(all)-1].Type)
			}
			checkExactly(t, resumed.end(t), mid, last)
		})
	}
}

func TestStreamOfAQueuedTaskElsewhereFollowsItsStart(t *testing.T) {
	e := newElsewhere(t, bulwark.TaskQueued, new(notify.Memory))
	r := read(must(e.rt.Subscribe(context.Background(), e.tenant, e.task.ID, 0)))
	// Queued, no events yet: the stream waits rather than ends.
	e.append(bulwark.EventTaskStarted, "elsewhere") // marks it running
	r.upTo(t, 1)
	e.append(bulwark.EventModelText, "working")
	last := e.append(bulwark.EventTaskFinished, "done")
	checkExactly(t, r.end(t), 0, last)
}

func TestStreamOfATaskInterruptedElsewhereEnds(t *testing.T) {
	m := new(notify.Memory)
	e := newElsewhere(t, bulwark.TaskRunning, m)
	e.append(bulwark.EventTaskStarted, "elsewhere")
	r := read(must(e.rt.Subscribe(context.Background(), e.tenant, e.task.ID, 0)))
	r.upTo(t, 1)
	last := e.append(bulwark.EventModelText, "last words")
	// Its process stopped; a restart marks it interrupted (no event).
	if err := e.writer.SetTaskStatus(context.Background(), e.tenant, e.task.ID, bulwark.TaskInterrupted); err != nil {
		t.Fatal(err)
	}
	m.Notify(e.tenant, e.task.ID)
	checkExactly(t, r.end(t), 0, last)
}

func TestStreamOfATaskThatStoppedEndsAfterTheStoredEvents(t *testing.T) {
	for _, status := range []bulwark.TaskStatus{bulwark.TaskSucceeded, bulwark.TaskInterrupted} {
		e := newElsewhere(t, bulwark.TaskRunning, new(notify.Memory))
		e.append(bulwark.EventTaskStarted, "elsewhere")
		var last int64
		if status == bulwark.TaskSucceeded {
			last = e.append(bulwark.EventTaskFinished, "done")
		} else {
			last = e.append(bulwark.EventModelText, "x")
			if err := e.writer.SetTaskStatus(context.Background(), e.tenant, e.task.ID, status); err != nil {
				t.Fatal(err)
			}
		}
		// Nobody will wake it: it must end on its own.
		checkExactly(t, read(must(e.rt.Subscribe(context.Background(), e.tenant, e.task.ID, 0))).end(t), 0, last)
	}
}

func TestStreamOfATaskElsewhereStopsWithItsContext(t *testing.T) {
	m := new(notify.Memory)
	e := newElsewhere(t, bulwark.TaskRunning, m)
	e.append(bulwark.EventTaskStarted, "elsewhere")
	ctx, cancel := context.WithCancel(context.Background())
	r := read(must(e.rt.Subscribe(ctx, e.tenant, e.task.ID, 0)))
	r.upTo(t, 1)
	if n := m.Followers(e.tenant, e.task.ID); n != 1 {
		t.Fatalf("followers while streaming = %d, want 1", n)
	}
	cancel()
	r.end(t)
	if n := m.Followers(e.tenant, e.task.ID); n != 0 {
		t.Errorf("followers after the stream ended = %d, want 0 (it must stop following)", n)
	}
}

func TestStreamOfATaskElsewhereEndsAtShutdown(t *testing.T) {
	m := new(notify.Memory)
	e := newElsewhere(t, bulwark.TaskRunning, m)
	e.append(bulwark.EventTaskStarted, "elsewhere")
	r := read(must(e.rt.Subscribe(context.Background(), e.tenant, e.task.ID, 0)))
	r.upTo(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	r.end(t)
	if n := m.Followers(e.tenant, e.task.ID); n != 0 {
		t.Errorf("followers after shutdown = %d, want 0", n)
	}
}
