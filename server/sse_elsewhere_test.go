package server

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestSSEOfATaskRunningElsewhere streams over HTTP a task that this
// server's runtime does not run (another process writes its events to the
// store), then resumes it with Last-Event-ID: the two streams hold every
// event once, in order, and the second ends with the task.
func TestSSEOfATaskRunningElsewhere(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	ctx := context.Background()
	task, err := te.db.CreateTask(ctx, te.a.id, bulwark.Task{Input: "elsewhere", Model: "openai:test", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	var seq int64
	add := func(typ bulwark.EventType) {
		seq++
		e := bulwark.Event{Seq: seq, TaskID: task.ID, Time: time.Now(), Type: typ, Text: "step " + strconv.FormatInt(seq, 10)}
		if typ == bulwark.EventTaskFinished {
			e.Reason = bulwark.FinishDone
		}
		if err := te.db.AppendEvent(ctx, te.a.id, e); err != nil {
			t.Fatal(err)
		}
	}
	upTo := func(n int64) func(sseEvent) bool { return func(e sseEvent) bool { return e.e.Seq == n } }

	add(bulwark.EventTaskStarted)
	add(bulwark.EventModelText)
	resp := te.stream(task.ID, "", nil)
	first := readSSE(t, resp.Body, upTo(2))
	for range 3 {
		add(bulwark.EventModelText)
	}
	first = append(first, readSSE(t, resp.Body, upTo(5))...)
	resp.Body.Close()

	add(bulwark.EventModelText)
	resp = te.stream(task.ID, "", map[string]string{"Last-Event-ID": first[len(first)-1].id})
	second := readSSE(t, resp.Body, upTo(6))
	add(bulwark.EventModelText)
	add(bulwark.EventTaskFinished)
	second = append(second, readSSE(t, resp.Body, nil)...) // to the end of the stream
	resp.Body.Close()

	all := append(stored(first), stored(second)...)
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(seqs(all), want) {
		t.Errorf("the two streams have seqs %v, want %v", seqs(all), want)
	}
	if all[len(all)-1].Type != bulwark.EventTaskFinished {
		t.Errorf("the resumed stream ends with %s", all[len(all)-1].Type)
	}
}
