package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestTaskUsage checks that a task keeps what its events say it used and
// when it ran, so the task list shows tokens, cost and time: replies add
// their usage as they come, the end raises it to the run's total, and the
// first start and the last end are kept.
func TestTaskUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a := mustTenant(t, db, "a")
	task, err := db.CreateTask(ctx, a, bulwark.Task{Input: "count", Model: "replay:x"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	steps := []struct {
		e    bulwark.Event
		want bulwark.Usage
	}{
		{bulwark.Event{Type: bulwark.EventTaskStarted}, bulwark.Usage{}},
		{bulwark.Event{Type: bulwark.EventModelText, Text: "a", Usage: &bulwark.Usage{InputTokens: 100, OutputTokens: 10, Cost: 0.5}},
			bulwark.Usage{InputTokens: 100, OutputTokens: 10, Cost: 0.5}},
		{bulwark.Event{Type: bulwark.EventModelText, Text: "b", Usage: &bulwark.Usage{InputTokens: 200, OutputTokens: 20, Cost: 0.25}},
			bulwark.Usage{InputTokens: 300, OutputTokens: 30, Cost: 0.75}},
		// The run's total counts a reply of tool calls alone, which has no
		// model_text event.
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Usage: &bulwark.Usage{InputTokens: 450, OutputTokens: 40, Cost: 1}},
			bulwark.Usage{InputTokens: 450, OutputTokens: 40, Cost: 1}},
		// A second turn of the conversation: its replies add to the
		// count (a reply of tool calls alone carries its usage on its
		// tool_call event), and its end's total, the turn's alone, takes
		// nothing away.
		{bulwark.Event{Type: bulwark.EventTaskStarted}, bulwark.Usage{InputTokens: 450, OutputTokens: 40, Cost: 1}},
		{bulwark.Event{Type: bulwark.EventToolCall, Tool: "finish", Usage: &bulwark.Usage{InputTokens: 500, OutputTokens: 5, Cost: 0.5}},
			bulwark.Usage{InputTokens: 950, OutputTokens: 45, Cost: 1.5}},
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Usage: &bulwark.Usage{InputTokens: 500, OutputTokens: 5, Cost: 0.5}},
			bulwark.Usage{InputTokens: 950, OutputTokens: 45, Cost: 1.5}},
	}
	for i, st := range steps {
		e := st.e
		e.TaskID, e.Seq, e.Time = task.ID, int64(i+1), start.Add(time.Duration(i)*time.Minute)
		if err := db.AppendEvent(ctx, a, e); err != nil {
			t.Fatalf("AppendEvent(%s): %v", e.Type, err)
		}
		got, err := db.Task(ctx, a, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage != st.want {
			t.Errorf("after %s: Usage = %+v, want %+v", e.Type, got.Usage, st.want)
		}
	}
	page, err := db.QueryTasks(ctx, a, bulwark.TaskQuery{})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("QueryTasks = %+v, %v", page, err)
	}
	got := page.Tasks[0]
	if want := steps[len(steps)-1].want; got.Usage != want {
		t.Errorf("QueryTasks: Usage = %+v, want %+v", got.Usage, want)
	}
	end := start.Add(time.Duration(len(steps)-1) * time.Minute)
	if !got.Started.Equal(start) || !got.Finished.Equal(end) {
		t.Errorf("QueryTasks: Started %v, Finished %v; want %v and %v", got.Started, got.Finished, start, end)
	}
}
