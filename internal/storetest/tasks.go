package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

func testTenants(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, err := s.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.Name != "acme" || a.Created.IsZero() {
		t.Errorf("CreateTenant = %+v", a)
	}
	if _, err := s.CreateTenant(ctx, "acme"); !kindIs(err, bulwark.Conflict) {
		t.Errorf("CreateTenant with a taken name = %v, want Conflict", err)
	}
	for _, bad := range []string{"", "  ", "a\nb", string(make([]byte, 101))} {
		if _, err := s.CreateTenant(ctx, bad); !kindIs(err, bulwark.Invalid) {
			t.Errorf("CreateTenant(%q) = %v, want Invalid", bad, err)
		}
	}
	b := mustTenant(t, s, "beta")
	if got, err := s.Tenant(ctx, a.ID); err != nil || got != a {
		t.Errorf("Tenant = %+v, %v; want %+v", got, err, a)
	}
	if got, err := s.TenantByName(ctx, "beta"); err != nil || got.ID != b {
		t.Errorf("TenantByName = %+v, %v", got, err)
	}
	if _, err := s.Tenant(ctx, "tn_nosuch"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Tenant(unknown) = %v, want NotFound", err)
	}
	if _, err := s.TenantByName(ctx, "nosuch"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("TenantByName(unknown) = %v, want NotFound", err)
	}
	all, err := s.ListTenants(ctx)
	if err != nil || len(all) != 2 || all[0].ID != a.ID || all[1].ID != b {
		t.Errorf("ListTenants = %+v, %v; want acme then beta", all, err)
	}
}

func testLocalTenantConcurrent(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ids := make(chan bulwark.TenantID, 8)
	for range 8 {
		go func() {
			tn, err := s.LocalTenant(context.Background())
			if err != nil {
				t.Error(err)
			}
			ids <- tn.ID
		}()
	}
	first := <-ids
	for range 7 {
		if id := <-ids; id != first {
			t.Errorf("LocalTenant gave %s and %s", first, id)
		}
	}
}

func testTasksAndEvents(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	task := mustTask(t, s, a, bulwark.Task{Input: "do it", Model: "replay:x", Limits: bulwark.Limits{MaxSteps: 3}})
	if task.ID == "" || task.Status != bulwark.TaskQueued || task.TenantID != string(a) || task.Turns != 1 {
		t.Errorf("CreateTask = %+v", task)
	}
	if _, err := s.CreateTask(ctx, a, bulwark.Task{ID: task.ID, Input: "x"}); !kindIs(err, bulwark.Conflict) {
		t.Errorf("CreateTask with a used id = %v, want Conflict", err)
	}
	if _, err := s.CreateTask(ctx, b, bulwark.Task{ID: task.ID, Input: "x"}); !kindIs(err, bulwark.Conflict) {
		t.Errorf("CreateTask with an id another tenant used = %v, want Conflict", err)
	}
	if _, err := s.CreateTask(ctx, a, bulwark.Task{ID: "bad id", Input: "x"}); !kindIs(err, bulwark.Invalid) {
		t.Errorf("CreateTask with a bad id = %v, want Invalid", err)
	}
	if err := s.SetTaskStatus(ctx, a, task.ID, bulwark.TaskSucceeded); !kindIs(err, bulwark.Invalid) {
		t.Errorf("SetTaskStatus(succeeded) = %v, want Invalid", err)
	}
	rec := bulwark.NewRecorder(ctx, s, a, task.ID)
	now := time.Now()
	for i, e := range []bulwark.Event{
		{Type: bulwark.EventTaskStarted, Text: "do it"},
		{Type: bulwark.EventModelDelta, Text: "par"},
		{Type: bulwark.EventToolCall, Tool: "write_file", Args: []byte(`{"path":"a"}`)},
		{Type: bulwark.EventToolResult, Tool: "write_file", Text: "ok"},
		{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "the answer"},
	} {
		e.Seq, e.Time = int64(i+1), now
		rec.Record(e)
		if i == 0 {
			if got, _ := s.Task(ctx, a, task.ID); got.Status != bulwark.TaskRunning {
				t.Errorf("after task_started the status is %q, want running", got.Status)
			}
		}
	}
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 10, Type: bulwark.EventModelDelta, Text: "x"}); !kindIs(err, bulwark.Invalid) {
		t.Errorf("AppendEvent(model_delta) = %v, want Invalid", err)
	}
	for _, seq := range []int64{0, -1} {
		if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: seq, Type: bulwark.EventNotice}); !kindIs(err, bulwark.Invalid) {
			t.Errorf("AppendEvent(seq %d) = %v, want Invalid", seq, err)
		}
	}
	got, err := s.Task(ctx, a, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bulwark.TaskSucceeded || got.Answer != "the answer" || got.Reason != bulwark.FinishDone || got.Input != "do it" || got.Limits.MaxSteps != 3 || got.Model != "replay:x" {
		t.Errorf("finished task = %+v", got)
	}
	if !got.Started.Equal(stamp(now)) || !got.Finished.Equal(stamp(now)) || !got.Created.Equal(task.Created) {
		t.Errorf("finished task: created %v started %v finished %v; want %v, %v, %v", got.Created, got.Started, got.Finished, task.Created, now, now)
	}
	events, err := s.Events(ctx, a, task.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, e := range events {
		seqs = append(seqs, e.Seq)
	}
	if want := []int64{1, 3, 4, 5}; !slices.Equal(seqs, want) {
		t.Fatalf("stored seqs %v, want %v (model_delta is not stored)", seqs, want)
	}
	if events[1].Tool != "write_file" || string(events[1].Args) != `{"path":"a"}` || !events[1].Time.Equal(now) || events[1].TaskID != task.ID {
		t.Errorf("event read back = %+v", events[1])
	}
	if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 3, Type: bulwark.EventNotice}); !kindIs(err, bulwark.Conflict) {
		t.Errorf("AppendEvent of a stored seq = %v, want Conflict", err)
	}
	if err := s.SetTaskStatus(ctx, a, task.ID, bulwark.TaskRunning); !kindIs(err, bulwark.Conflict) {
		t.Errorf("SetTaskStatus of an ended task = %v, want Conflict", err)
	}
	// A task_started after the end does not revive it.
	if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 6, Type: bulwark.EventTaskStarted}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Task(ctx, a, task.ID); got.Status != bulwark.TaskSucceeded {
		t.Errorf("a task_started after the end made the task %s, want it still succeeded", got.Status)
	}
	// The other reasons of an end.
	for _, c := range []struct {
		reason bulwark.FinishReason
		want   bulwark.TaskStatus
	}{{bulwark.FinishCanceled, bulwark.TaskCanceled}, {bulwark.FinishError, bulwark.TaskFailed}, {bulwark.FinishMaxSteps, bulwark.TaskFailed}, {bulwark.FinishLeak, bulwark.TaskFailed}} {
		tk := mustTask(t, s, a, bulwark.Task{Input: "x"})
		if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: tk.ID, Seq: 1, Type: bulwark.EventTaskFinished, Reason: c.reason}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Task(ctx, a, tk.ID); got.Status != c.want || got.Reason != c.reason {
			t.Errorf("a task finished for %s is %s (%s), want %s", c.reason, got.Status, got.Reason, c.want)
		}
	}
	if ts, err := s.ListTasks(ctx, b, bulwark.ListTasksOptions{}); err != nil || len(ts) != 0 {
		t.Errorf("ListTasks of another tenant = %v, %v; want none", ts, err)
	}
	if ts, err := s.ListTasks(ctx, a, bulwark.ListTasksOptions{Limit: 2}); err != nil || len(ts) != 2 {
		t.Errorf("ListTasks(limit 2) = %d tasks, %v", len(ts), err)
	}
	if _, err := s.Task(ctx, a, "t_nosuch"); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Task(unknown) = %v, want NotFound", err)
	}
	if _, err := s.Events(ctx, a, "t_nosuch", 0, 0); !kindIs(err, bulwark.NotFound) {
		t.Errorf("Events(unknown task) = %v, want NotFound", err)
	}
	if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: "t_nosuch", Seq: 1, Type: bulwark.EventNotice}); !kindIs(err, bulwark.NotFound) {
		t.Errorf("AppendEvent(unknown task) = %v, want NotFound", err)
	}
	if err := s.SetTaskStatus(ctx, a, "t_nosuch", bulwark.TaskRunning); !kindIs(err, bulwark.NotFound) {
		t.Errorf("SetTaskStatus(unknown task) = %v, want NotFound", err)
	}
}

// testEventsAfterLimit: Events resumes after a seq, in seq order whatever
// the order of appends, and stops at the limit.
func testEventsAfterLimit(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a := mustTenant(t, s, "a")
	task := mustTask(t, s, a, bulwark.Task{Input: "x"})
	for _, seq := range []int64{3, 1, 2, 10, 5} {
		if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: seq, Type: bulwark.EventNotice, Text: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 0, []int64{1, 2, 3, 5, 10}},
		{0, -1, []int64{1, 2, 3, 5, 10}},
		{2, 0, []int64{3, 5, 10}},
		{2, 2, []int64{3, 5}},
		{3, 1, []int64{5}},
		{10, 0, nil},
		{100, 5, nil},
	} {
		es, err := s.Events(ctx, a, task.ID, c.after, c.limit)
		var got []int64
		for _, e := range es {
			got = append(got, e.Seq)
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Events(after %d, limit %d) = %v, %v; want %v", c.after, c.limit, got, err, c.want)
		}
	}
}

// testTaskUsage: a task keeps what its events say it used and when it ran.
func testTaskUsage(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a := mustTenant(t, s, "a")
	task := mustTask(t, s, a, bulwark.Task{Input: "count", Model: "replay:x"})
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
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Usage: &bulwark.Usage{InputTokens: 450, OutputTokens: 40, Cost: 1}},
			bulwark.Usage{InputTokens: 450, OutputTokens: 40, Cost: 1}},
		{bulwark.Event{Type: bulwark.EventTaskStarted}, bulwark.Usage{InputTokens: 450, OutputTokens: 40, Cost: 1}},
		{bulwark.Event{Type: bulwark.EventToolCall, Tool: "finish", Usage: &bulwark.Usage{InputTokens: 500, OutputTokens: 5, Cost: 0.5}},
			bulwark.Usage{InputTokens: 950, OutputTokens: 45, Cost: 1.5}},
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Usage: &bulwark.Usage{InputTokens: 500, OutputTokens: 5, Cost: 0.5}},
			bulwark.Usage{InputTokens: 950, OutputTokens: 45, Cost: 1.5}},
	}
	for i, st := range steps {
		e := st.e
		e.TaskID, e.Seq, e.Time = task.ID, int64(i+1), start.Add(time.Duration(i)*time.Minute)
		if err := s.AppendEvent(ctx, a, e); err != nil {
			t.Fatalf("AppendEvent(%s): %v", e.Type, err)
		}
		got, err := s.Task(ctx, a, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage != st.want {
			t.Errorf("after %s: Usage = %+v, want %+v", e.Type, got.Usage, st.want)
		}
	}
	page, err := s.QueryTasks(ctx, a, bulwark.TaskQuery{})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("QueryTasks = %+v, %v", page, err)
	}
	got := page.Tasks[0]
	end := start.Add(time.Duration(len(steps)-1) * time.Minute)
	if !got.Started.Equal(start) || !got.Finished.Equal(end) {
		t.Errorf("Started %v, Finished %v; want %v and %v", got.Started, got.Finished, start, end)
	}
}

func testQueryTasks(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 7 {
		task := mustTask(t, s, a, bulwark.Task{Input: "x", Created: base.Add(time.Duration(i%3) * time.Second)})
		if i%2 == 0 {
			if err := s.SetTaskStatus(ctx, a, task.ID, bulwark.TaskRunning); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustTask(t, s, b, bulwark.Task{Input: "b's"})
	var seen []bulwark.Task
	q := bulwark.TaskQuery{Limit: 2, Count: true}
	for {
		page, err := s.QueryTasks(ctx, a, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != 7 {
			t.Errorf("Total = %d, want 7", page.Total)
		}
		seen = append(seen, page.Tasks...)
		if !page.More {
			break
		}
		last := page.Tasks[len(page.Tasks)-1]
		q.Before = &bulwark.TaskCursor{Created: last.Created, ID: last.ID}
	}
	if len(seen) != 7 {
		t.Fatalf("walked %d tasks, want 7", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		p, c := seen[i-1], seen[i]
		if p.Created.Before(c.Created) || p.Created.Equal(c.Created) && p.ID <= c.ID {
			t.Errorf("task %d (%v %s) is not older than the one before it (%v %s)", i, c.Created, c.ID, p.Created, p.ID)
		}
	}
	// ListTasks has the same order.
	list, err := s.ListTasks(ctx, a, bulwark.ListTasksOptions{})
	if err != nil || len(list) != 7 {
		t.Fatalf("ListTasks = %d, %v", len(list), err)
	}
	for i := range list {
		if list[i].ID != seen[i].ID {
			t.Errorf("ListTasks[%d] = %s, QueryTasks walked %s", i, list[i].ID, seen[i].ID)
		}
	}
	page, err := s.QueryTasks(ctx, a, bulwark.TaskQuery{Limit: 3, Offset: 3})
	if err != nil || len(page.Tasks) != 3 || page.Tasks[0].ID != seen[3].ID || !page.More {
		t.Errorf("offset 3: %+v, %v", page, err)
	}
	page, err = s.QueryTasks(ctx, a, bulwark.TaskQuery{Status: []bulwark.TaskStatus{bulwark.TaskRunning}, Count: true})
	if err != nil || len(page.Tasks) != 4 || page.Total != 4 {
		t.Errorf("running: %d tasks, total %d, %v; want 4", len(page.Tasks), page.Total, err)
	}
	page, err = s.QueryTasks(ctx, a, bulwark.TaskQuery{Status: []bulwark.TaskStatus{bulwark.TaskRunning, bulwark.TaskQueued}, Count: true})
	if err != nil || len(page.Tasks) != 7 || page.Total != 7 {
		t.Errorf("running or queued: %d tasks, total %d, %v; want 7", len(page.Tasks), page.Total, err)
	}
	if _, err := s.QueryTasks(ctx, a, bulwark.TaskQuery{Offset: -1}); !kindIs(err, bulwark.Invalid) {
		t.Errorf("QueryTasks with a negative offset: %v, want Invalid", err)
	}
	page, err = s.QueryTasks(ctx, b, bulwark.TaskQuery{Count: true})
	if err != nil || len(page.Tasks) != 1 || page.Total != 1 || page.Tasks[0].Input != "b's" {
		t.Errorf("QueryTasks(b) = %+v, %v; want b's one task", page, err)
	}
}

// continueTests: which statuses a new turn may start from.
var continueTests = []struct {
	status bulwark.TaskStatus
	reason bulwark.FinishReason // for a task that ended
	ok     bool
}{
	{bulwark.TaskQueued, "", false},
	{bulwark.TaskRunning, "", false},
	{bulwark.TaskWaiting, "", false},
	{bulwark.TaskInterrupted, "", true},
	{bulwark.TaskSucceeded, bulwark.FinishDone, true},
	{bulwark.TaskFailed, bulwark.FinishError, true},
	{bulwark.TaskCanceled, bulwark.FinishCanceled, true},
}

func testContinueTask(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	for _, tt := range continueTests {
		task := mustTask(t, s, a, bulwark.Task{Input: "x", Limits: bulwark.Limits{MaxSteps: 7}})
		var err error
		if tt.reason != "" {
			err = s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 1, Type: bulwark.EventTaskFinished, Reason: tt.reason, Text: "the answer"})
		} else if tt.status != bulwark.TaskQueued {
			err = s.SetTaskStatus(ctx, a, task.ID, tt.status)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ContinueTask(ctx, b, task.ID, nil); !kindIs(err, bulwark.NotFound) {
			t.Errorf("ContinueTask of A's %s task by B: %v, want NotFound", tt.status, err)
		}
		got, err := s.ContinueTask(ctx, a, task.ID, &bulwark.Limits{MaxSteps: 3})
		if !tt.ok {
			if !kindIs(err, bulwark.Conflict) {
				t.Errorf("ContinueTask of a %s task: %v, want Conflict", tt.status, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ContinueTask of a %s task: %v", tt.status, err)
			continue
		}
		if got.Status != bulwark.TaskQueued || got.Turns != 2 || got.Limits.MaxSteps != 3 || got.Answer != "" || got.Reason != "" || got.Input != "x" {
			t.Errorf("ContinueTask of a %s task = %+v, want queued, turn 2, the new limits, no answer", tt.status, got)
		}
		if _, err := s.ContinueTask(ctx, a, task.ID, nil); !kindIs(err, bulwark.Conflict) {
			t.Errorf("a second ContinueTask: %v, want Conflict", err)
		}
		// nil limits keep the task's.
		if err := s.SetTaskStatus(ctx, a, task.ID, bulwark.TaskInterrupted); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ContinueTask(ctx, a, task.ID, nil); err != nil || got.Limits.MaxSteps != 3 || got.Turns != 3 {
			t.Errorf("ContinueTask with nil limits = %+v, %v; want the limits kept, turn 3", got, err)
		}
	}
	if _, err := s.ContinueTask(ctx, a, "t_nosuch", nil); !kindIs(err, bulwark.NotFound) {
		t.Errorf("ContinueTask(unknown) = %v, want NotFound", err)
	}
}

func testUnfinishedTasks(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	want := map[string]bulwark.TaskStatus{}
	for i, st := range []bulwark.TaskStatus{bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting, bulwark.TaskInterrupted} {
		tn := a
		if i%2 == 1 {
			tn = b
		}
		task := mustTask(t, s, tn, bulwark.Task{Input: "in-" + string(st)})
		if st != bulwark.TaskQueued {
			if err := s.SetTaskStatus(ctx, tn, task.ID, st); err != nil {
				t.Fatal(err)
			}
		}
		want[task.ID] = st
	}
	done := mustTask(t, s, a, bulwark.Task{Input: "done"})
	if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: done.ID, Seq: 1, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone}); err != nil {
		t.Fatal(err)
	}
	got, err := s.UnfinishedTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("UnfinishedTasks = %d tasks, want %d", len(got), len(want))
	}
	for _, task := range got {
		if st, ok := want[task.ID]; !ok || task.Status != st || task.Input != "in-"+string(st) {
			t.Errorf("UnfinishedTasks has %s (%s, input %q), want only the unfinished ones, with their inputs", task.ID, task.Status, task.Input)
		}
	}
}
