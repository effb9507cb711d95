package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// testControls: a request sent for a task is taken once, oldest first,
// with what it carries, even by pollers taking at the same moment; a task
// of another tenant cannot be sent to, nor taken from by naming it under
// the wrong tenant; a bad request is Invalid; the text is sealed at rest.
func testControls(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	task := mustTask(t, s, a, bulwark.Task{Input: "x", Model: "replay:x", Status: bulwark.TaskRunning})
	refs := []bulwark.TaskRef{{Tenant: a, ID: task.ID}}
	if got, err := s.TakeControls(ctx, refs); err != nil || len(got) != 0 {
		t.Fatalf("TakeControls with nothing sent = %v, %v; want none", got, err)
	}
	const canary = "stop-9f8e7d6c"
	sent := []bulwark.ControlRequest{
		{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlMessage, Actor: "cli", Text: "please " + canary + " at the next step"},
		{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlAnswer, Actor: "u_1", ApprovalID: "ap_1", Allow: true},
		{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlCancel, Actor: "cli"},
		{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlCancel, Actor: "u_2", Audited: true},
	}
	var err error
	for i, r := range sent {
		if sent[i], err = s.SendControl(ctx, a, r); err != nil {
			t.Fatalf("SendControl(%+v): %v", r, err)
		}
	}
	if _, err := s.SendControl(ctx, b, bulwark.ControlRequest{TaskID: task.ID, Kind: bulwark.ControlCancel}); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a cancel of another tenant's task: %v, want NotFound", err)
	}
	for _, bad := range []bulwark.ControlRequest{{TaskID: task.ID, Kind: "pause"}, {TaskID: task.ID, Kind: bulwark.ControlMessage}, {TaskID: task.ID, Kind: bulwark.ControlAnswer}} {
		if _, err := s.SendControl(ctx, a, bad); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("SendControl(%+v): %v, want Invalid", bad, err)
		}
	}
	if got, _ := s.TakeControls(ctx, []bulwark.TaskRef{{Tenant: b, ID: task.ID}}); len(got) != 0 {
		t.Errorf("the requests were taken under another tenant: %+v", got)
	}
	if bytes.Contains(harness(t, s).Dump(t), []byte(canary)) {
		t.Error("a message's text is kept in the clear")
	}

	// Pollers at once: each request reaches one of them, once.
	var mu sync.Mutex
	var got []bulwark.ControlRequest
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			rs, err := s.TakeControls(ctx, refs)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, rs...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(got) != len(sent) {
		t.Fatalf("took %d requests, want each of %d once: %+v", len(got), len(sent), got)
	}
	byID := map[string]bulwark.ControlRequest{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for _, want := range sent {
		r := byID[want.ID]
		if r.Kind != want.Kind || r.Text != want.Text || r.Actor != want.Actor || r.ApprovalID != want.ApprovalID ||
			r.Allow != want.Allow || r.Audited != want.Audited || r.Turn != want.Turn || r.TenantID != string(a) || r.TaskID != task.ID {
			t.Errorf("took %+v, want %+v", r, want)
		}
	}
	if again, _ := s.TakeControls(ctx, refs); len(again) != 0 {
		t.Errorf("requests taken twice: %+v", again)
	}
	for _, text := range []string{"one", "two", "three"} {
		if _, err := s.SendControl(ctx, a, bulwark.ControlRequest{TaskID: task.ID, Kind: bulwark.ControlMessage, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := s.TakeControls(ctx, refs)
	if err != nil || len(rs) != 3 || rs[0].Text != "one" || rs[1].Text != "two" || rs[2].Text != "three" {
		t.Errorf("TakeControls = %+v, %v; want one, two, three in order", rs, err)
	}
}

// testControlEventSeq: a request is stored with the Seq of its task's
// last event at that moment (what a question's answer is told apart by
// from a message written before the question), unless it brings one (a
// request stored again keeps its own, EventSeqUnknown too); LastEventSeq
// reads the same, and
// is NotFound for another tenant's task.
func testControlEventSeq(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	task := mustTask(t, s, a, bulwark.Task{Input: "x", Model: "replay:x", Status: bulwark.TaskRunning})
	send := func(r bulwark.ControlRequest) bulwark.ControlRequest {
		t.Helper()
		r.TaskID, r.Kind = task.ID, bulwark.ControlMessage
		got, err := s.SendControl(ctx, a, r)
		if err != nil {
			t.Fatalf("SendControl: %v", err)
		}
		return got
	}
	var sent []bulwark.ControlRequest
	sent = append(sent, send(bulwark.ControlRequest{Text: "before any event"}))
	for seq := int64(1); seq <= 3; seq++ {
		e := bulwark.Event{TaskID: task.ID, Seq: seq, Time: time.Now(), Type: bulwark.EventModelText, Text: "step"}
		if err := s.AppendEvent(ctx, a, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.LastEventSeq(ctx, a, task.ID); got != 3 || err != nil {
		t.Errorf("LastEventSeq = %d, %v; want 3", got, err)
	}
	if _, err := s.LastEventSeq(ctx, b, task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("LastEventSeq of another tenant's task: %v, want NotFound", err)
	}
	sent = append(sent, send(bulwark.ControlRequest{Text: "after three"}), send(bulwark.ControlRequest{Text: "stored again", EventSeq: 2}),
		send(bulwark.ControlRequest{Text: "when, not known", EventSeq: bulwark.EventSeqUnknown}))
	want := []int64{0, 3, 2, bulwark.EventSeqUnknown}
	for i, r := range sent {
		if r.EventSeq != want[i] {
			t.Errorf("SendControl(%q) returned EventSeq %d, want %d", r.Text, r.EventSeq, want[i])
		}
	}
	got, err := s.TakeControls(ctx, []bulwark.TaskRef{{Tenant: a, ID: task.ID}})
	if err != nil || len(got) != len(want) {
		t.Fatalf("TakeControls = %+v, %v; want %d requests", got, err, len(want))
	}
	for i, r := range got {
		if r.EventSeq != want[i] {
			t.Errorf("took %q with EventSeq %d, want %d", r.Text, r.EventSeq, want[i])
		}
	}
}

// testContinueMovesMessages: ContinueTask of an interrupted task moves the
// messages stored for its turn and not taken to the new turn, for the run
// that goes on; nothing else moves: not a cancel (of an older turn) or an answer, not a
// message taken already or stored for an older turn, not a request of
// another tenant, and not those of a task that ended (its turn is over).
func testContinueMovesMessages(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	send := func(tenant bulwark.TenantID, id string, turn int, kind bulwark.ControlKind, text string) {
		t.Helper()
		r := bulwark.ControlRequest{TaskID: id, Turn: turn, Kind: kind, Text: text, Actor: "user:1", EventSeq: bulwark.EventSeqUnknown}
		if kind == bulwark.ControlAnswer {
			r.ApprovalID = "ap_1"
		}
		if _, err := s.SendControl(ctx, tenant, r); err != nil {
			t.Fatal(err)
		}
	}
	setStatus := func(id string, status bulwark.TaskStatus) {
		t.Helper()
		if err := s.SetTaskStatus(ctx, a, id, status); err != nil {
			t.Fatal(err)
		}
	}
	take := func(tenant bulwark.TenantID, id string) []bulwark.ControlRequest {
		t.Helper()
		rs, err := s.TakeControls(ctx, []bulwark.TaskRef{{Tenant: tenant, ID: id}})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	for _, status := range []bulwark.TaskStatus{bulwark.TaskInterrupted, bulwark.TaskSucceeded} {
		task := mustTask(t, s, a, bulwark.Task{Input: "x"})
		if _, err := s.ContinueTask(ctx, a, task.ID, nil); !kindIs(err, bulwark.Conflict) { // queued
			t.Fatalf("ContinueTask of a queued task: %v", err)
		}
		setStatus(task.ID, bulwark.TaskInterrupted)
		if _, err := s.ContinueTask(ctx, a, task.ID, nil); err != nil { // turn 2
			t.Fatal(err)
		}
		send(a, task.ID, 2, bulwark.ControlMessage, "taken")
		take(a, task.ID)
		send(a, task.ID, 1, bulwark.ControlMessage, "an older turn's")
		send(a, task.ID, 2, bulwark.ControlMessage, "first")
		cancelTurn := 2 // an interrupted turn's cancel keeps it from going on (testContinueCanceledAtStop)
		if status == bulwark.TaskInterrupted {
			cancelTurn = 1
		}
		send(a, task.ID, cancelTurn, bulwark.ControlCancel, "")
		send(a, task.ID, 2, bulwark.ControlAnswer, "")
		send(a, task.ID, 2, bulwark.ControlMessage, "second")
		if status == bulwark.TaskSucceeded {
			if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 1, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone}); err != nil {
				t.Fatal(err)
			}
		} else {
			setStatus(task.ID, status)
		}
		if _, err := s.ContinueTask(ctx, b, task.ID, nil); !kindIs(err, bulwark.NotFound) {
			t.Errorf("ContinueTask of A's task by B: %v, want NotFound", err)
		}
		if _, err := s.ContinueTask(ctx, a, task.ID, nil); err != nil { // turn 3
			t.Fatal(err)
		}
		turns := map[string]int{}
		var order []string
		for _, r := range take(a, task.ID) {
			key := string(r.Kind) + " " + r.Text
			turns[key] = r.Turn
			order = append(order, key)
		}
		wantMoved := status == bulwark.TaskInterrupted
		for key, want := range map[string]int{"message an older turn's": 1, "cancel ": cancelTurn, "answer ": 2, "message first": 2, "message second": 2} {
			if wantMoved && (key == "message first" || key == "message second") {
				want = 3
			}
			if got, ok := turns[key]; !ok || got != want {
				t.Errorf("after ContinueTask of the %s task, %q is for turn %d (stored: %v), want %d", status, key, got, ok, want)
			}
		}
		if len(order) != 5 || order[1] != "message first" || order[4] != "message second" {
			t.Errorf("after ContinueTask of the %s task the requests read %q, want them in the order stored", status, order)
		}
	}
}

// testContinueCanceledAtStop: ContinueTask of an interrupted task with a
// cancel stored for its turn and not taken (a person canceled it as its
// run stopped) is bulwark.ErrCanceledAtStop and changes nothing: the task
// stays interrupted in its turn, its messages stay for that turn. A cancel
// taken already, or stored for an older turn, or for the turn of a task
// that ended, does not count; another tenant's ContinueTask of the id is
// NotFound.
func testContinueCanceledAtStop(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	send := func(id string, turn int, kind bulwark.ControlKind) {
		t.Helper()
		r := bulwark.ControlRequest{TaskID: id, Turn: turn, Kind: kind, Text: "hello", Actor: "user:1"}
		if _, err := s.SendControl(ctx, a, r); err != nil {
			t.Fatal(err)
		}
	}
	interrupted := func() bulwark.Task {
		t.Helper()
		task := mustTask(t, s, a, bulwark.Task{Input: "x"})
		if err := s.SetTaskStatus(ctx, a, task.ID, bulwark.TaskInterrupted); err != nil {
			t.Fatal(err)
		}
		return task
	}
	task := interrupted()
	send(task.ID, 1, bulwark.ControlMessage)
	send(task.ID, 1, bulwark.ControlCancel)
	if _, err := s.ContinueTask(ctx, b, task.ID, nil); !kindIs(err, bulwark.NotFound) {
		t.Errorf("ContinueTask of A's task by B: %v, want NotFound", err)
	}
	for range 2 {
		if _, err := s.ContinueTask(ctx, a, task.ID, nil); !errors.Is(err, bulwark.ErrCanceledAtStop) || !kindIs(err, bulwark.Conflict) {
			t.Errorf("ContinueTask of a task canceled as it stopped: %v, want ErrCanceledAtStop", err)
		}
	}
	if got, err := s.Task(ctx, a, task.ID); err != nil || got.Status != bulwark.TaskInterrupted || got.Turns != 1 {
		t.Errorf("after the refused ContinueTask the task is %+v, %v; want interrupted in turn 1", got, err)
	}
	rs, err := s.TakeControls(ctx, []bulwark.TaskRef{{Tenant: a, ID: task.ID}})
	if err != nil || len(rs) != 2 || rs[0].Turn != 1 || rs[1].Turn != 1 || rs[1].Kind != bulwark.ControlCancel {
		t.Errorf("after the refused ContinueTask the store holds %+v, %v; want the message and the cancel, for turn 1", rs, err)
	}
	// Taken: the cancel is carried out by whoever took it.
	if got, err := s.ContinueTask(ctx, a, task.ID, nil); err != nil || got.Turns != 2 {
		t.Errorf("ContinueTask once the cancel is taken: %+v, %v; want turn 2", got, err)
	}
	// Of an older turn.
	older := interrupted()
	if _, err := s.ContinueTask(ctx, a, older.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTaskStatus(ctx, a, older.ID, bulwark.TaskInterrupted); err != nil {
		t.Fatal(err)
	}
	send(older.ID, 1, bulwark.ControlCancel)
	if got, err := s.ContinueTask(ctx, a, older.ID, nil); err != nil || got.Turns != 3 {
		t.Errorf("ContinueTask with a cancel of an older turn stored: %+v, %v; want turn 3", got, err)
	}
	// Of a task that ended: its turn is over.
	ended := mustTask(t, s, a, bulwark.Task{Input: "x"})
	send(ended.ID, 1, bulwark.ControlCancel)
	if err := s.AppendEvent(ctx, a, bulwark.Event{TaskID: ended.ID, Seq: 1, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ContinueTask(ctx, a, ended.ID, nil); err != nil || got.Turns != 2 {
		t.Errorf("ContinueTask of an ended task with a cancel stored: %+v, %v; want turn 2", got, err)
	}
}

// testControlsOneAnswer: an approval gets one answer stored for a turn
// while none is taken: a second, from anyone, on any node, is Conflict,
// not stored to be dropped unaudited by the run that takes the first
// (red team, session 42); senders at once store one. Another approval,
// another turn, or the same approval once its answer was taken are
// stored as ever.
func testControlsOneAnswer(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := context.Background()
	a := mustTenant(t, s, "a")
	task := mustTask(t, s, a, bulwark.Task{Input: "x", Model: "replay:x", Status: bulwark.TaskWaiting})
	answer := func(approval string, turn int, allow bool) error {
		_, err := s.SendControl(ctx, a, bulwark.ControlRequest{TaskID: task.ID, Turn: turn, Kind: bulwark.ControlAnswer, Actor: "u_1", ApprovalID: approval, Allow: allow})
		return err
	}
	if err := answer("ap_1", 1, true); err != nil {
		t.Fatal(err)
	}
	if err := answer("ap_1", 1, false); !kindIs(err, bulwark.Conflict) {
		t.Errorf("a second answer to ap_1: %v, want Conflict", err)
	}
	for _, ok := range []struct {
		approval string
		turn     int
	}{{"ap_2", 1}, {"ap_1", 2}} {
		if err := answer(ok.approval, ok.turn, false); err != nil {
			t.Errorf("an answer to %s of turn %d: %v", ok.approval, ok.turn, err)
		}
	}
	taken, err := s.TakeControls(ctx, []bulwark.TaskRef{{Tenant: a, ID: task.ID}})
	if err != nil || len(taken) != 3 || !taken[0].Allow {
		t.Fatalf("took %+v, %v; want the 3 answers stored, ap_1's the allow", taken, err)
	}
	if err := answer("ap_1", 1, false); err != nil {
		t.Errorf("an answer once the first was taken: %v", err)
	}
	// Senders at once: one answer stored.
	var wg sync.WaitGroup
	var stored atomic.Int32
	for i := range 6 {
		wg.Go(func() {
			if err := answer("ap_9", 1, i%2 == 0); err == nil {
				stored.Add(1)
			} else if !kindIs(err, bulwark.Conflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if stored.Load() != 1 {
		t.Errorf("%d of 6 answers at once stored, want 1", stored.Load())
	}
}
