package storetest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// testSchedules: schedules round-trip (input sealed at rest), update
// re-owns and restarts, delete is final, another tenant's schedule is
// NotFound on every method, and a task keeps the schedule that started it.
func testSchedules(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "sched-a"), mustTenant(t, s, "sched-b")
	next := stamp(time.Now().Add(time.Hour))
	const canary = "schedule-input-canary-7d3f0c2a"
	in := bulwark.Schedule{Cron: "@every 1h", Timezone: "Europe/Paris", Input: canary, Model: "replay:x",
		Limits: bulwark.Limits{MaxSteps: 7}, Overlap: true, OwnerUser: "u_owner", OwnerKey: "k_key", NextRun: next}
	sc, err := s.CreateSchedule(ctx, a, in)
	if err != nil {
		t.Fatal(err)
	}
	if sc.ID == "" || sc.TenantID != string(a) || sc.Created.IsZero() {
		t.Fatalf("created %+v", sc)
	}
	got, err := s.Schedule(ctx, a, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Input != canary || got.Cron != in.Cron || got.Timezone != in.Timezone || got.Model != in.Model || got.Limits.MaxSteps != 7 ||
		!got.Overlap || got.OwnerUser != "u_owner" || got.OwnerKey != "k_key" || !got.NextRun.Equal(next) || got.Runs != 0 {
		t.Fatalf("read back %+v", got)
	}
	if bytes.Contains(harness(t, s).Dump(t), []byte(canary)) {
		t.Fatal("a schedule's input is in the clear at rest")
	}
	list, err := s.ListSchedules(ctx, a)
	if err != nil || len(list) != 1 || list[0].ID != sc.ID {
		t.Fatalf("ListSchedules = %v, %v", list, err)
	}
	if list, err := s.ListSchedules(ctx, b); err != nil || len(list) != 0 {
		t.Fatalf("another tenant lists %v, %v", list, err)
	}
	// Another tenant, and ids that are not schedules': NotFound everywhere.
	for _, id := range []string{sc.ID, "sch_nope", "t_x", ""} {
		tn := b
		if id != sc.ID {
			tn = a
		}
		if _, err := s.Schedule(ctx, tn, id); !kindIs(err, bulwark.NotFound) {
			t.Errorf("Schedule(%s) = %v, want NotFound", id, err)
		}
		upd := got
		upd.ID = id
		if _, err := s.UpdateSchedule(ctx, tn, upd); !kindIs(err, bulwark.NotFound) {
			t.Errorf("UpdateSchedule(%s) = %v, want NotFound", id, err)
		}
		if err := s.DeleteSchedule(ctx, tn, id); !kindIs(err, bulwark.NotFound) {
			t.Errorf("DeleteSchedule(%s) = %v, want NotFound", id, err)
		}
		if ok, err := s.ClaimScheduleTick(ctx, tn, id, next, next.Add(time.Hour)); ok || (err != nil && !kindIs(err, bulwark.NotFound)) {
			t.Errorf("ClaimScheduleTick(%s) = %v, %v: claimed another tenant's tick", id, ok, err)
		}
		if err := s.RecordScheduleRun(ctx, tn, id, bulwark.ScheduleOutcome{At: next, Task: "t_x"}); !kindIs(err, bulwark.NotFound) {
			t.Errorf("RecordScheduleRun(%s) = %v, want NotFound", id, err)
		}
	}
	if _, err := s.CreateSchedule(ctx, "", in); !kindIs(err, bulwark.Invalid) {
		t.Errorf("CreateSchedule without a tenant = %v, want Invalid", err)
	}

	// Due, claimed once, recorded.
	if due, err := s.DueSchedules(ctx, next.Add(-time.Second), 10); err != nil || len(due) != 0 {
		t.Fatalf("due before its tick: %v, %v", due, err)
	}
	due, err := s.DueSchedules(ctx, next, 10)
	if err != nil || len(due) != 1 || due[0].ID != sc.ID || due[0].Input != canary {
		t.Fatalf("DueSchedules = %v, %v", due, err)
	}
	later := next.Add(time.Hour)
	if ok, err := s.ClaimScheduleTick(ctx, a, sc.ID, next, later); !ok || err != nil {
		t.Fatalf("first claim = %v, %v", ok, err)
	}
	if ok, err := s.ClaimScheduleTick(ctx, a, sc.ID, next, later); ok || err != nil {
		t.Fatalf("second claim of the same tick = %v, %v: want false", ok, err)
	}
	if err := s.RecordScheduleRun(ctx, a, sc.ID, bulwark.ScheduleOutcome{At: next, Task: "t_first"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordScheduleRun(ctx, a, sc.ID, bulwark.ScheduleOutcome{At: later, Skipped: "the previous run is active", Count: 3}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Schedule(ctx, a, sc.ID)
	if got.Runs != 1 || got.LastTask != "t_first" || !got.LastRun.Equal(next) || got.Skipped != 3 ||
		got.SkipReason != "the previous run is active" || !got.LastSkipped.Equal(later) || !got.NextRun.Equal(later) {
		t.Fatalf("after a run and a skip: %+v", got)
	}
	if err := s.RecordScheduleRun(ctx, a, sc.ID, bulwark.ScheduleOutcome{At: later, Stopped: "its owner was removed"}); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueSchedules(ctx, later.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("a stopped schedule is due: %v", due)
	}
	if ok, _ := s.ClaimScheduleTick(ctx, a, sc.ID, later, later.Add(time.Hour)); ok {
		t.Fatal("a stopped schedule's tick was claimed")
	}
	// Update: new spec and owner, counters kept, restarted.
	upd := got
	upd.Cron, upd.Input, upd.OwnerUser, upd.OwnerKey, upd.Overlap, upd.NextRun = "0 9 * * 1-5", "new input", "u_other", "", false, later
	got, err = s.UpdateSchedule(ctx, a, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cron != "0 9 * * 1-5" || got.Input != "new input" || got.OwnerUser != "u_other" || got.OwnerKey != "" || got.Overlap ||
		got.Stopped != "" || got.Runs != 1 || got.Skipped != 4 {
		t.Fatalf("updated %+v", got)
	}
	// A task carries its schedule.
	task := mustTask(t, s, a, bulwark.Task{Input: "x", ScheduleID: sc.ID})
	if rt, err := s.Task(ctx, a, task.ID); err != nil || rt.ScheduleID != sc.ID {
		t.Fatalf("task read back with schedule %q, %v", rt.ScheduleID, err)
	}
	if plain := mustTask(t, s, a, bulwark.Task{Input: "y"}); plain.ScheduleID != "" {
		t.Fatalf("a task with no schedule has %q", plain.ScheduleID)
	}
	if err := s.DeleteSchedule(ctx, a, sc.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Schedule(ctx, a, sc.ID); !kindIs(err, bulwark.NotFound) {
		t.Fatalf("deleted schedule: %v", err)
	}
	if rt, err := s.Task(ctx, a, task.ID); err != nil || rt.ScheduleID != sc.ID {
		t.Fatalf("the schedule's task after its deletion: %v, %v", rt.ScheduleID, err)
	}
}

// testScheduleClaimConcurrent: of many claims of one tick at once, on one
// store, exactly one wins (the compare-and-set every scheduler relies on).
func testScheduleClaimConcurrent(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a := mustTenant(t, s, "sched-claim")
	next := stamp(time.Now())
	sc, err := s.CreateSchedule(ctx, a, bulwark.Schedule{Cron: "@every 1h", Input: "x", OwnerUser: "u_x", NextRun: next})
	if err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ClaimScheduleTick(ctx, a, sc.ID, next, next.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d claims of one tick won, want exactly 1", n)
	}
}
