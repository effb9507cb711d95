package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/schedule"
)

func decodeSchedule(t *testing.T, body string) bulwark.Schedule {
	t.Helper()
	var sc bulwark.Schedule
	if err := json.Unmarshal([]byte(body), &sc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return sc
}

// TestScheduleAPI: a member makes a schedule (201, its next run, the
// member its owner; the input checked and cleaned like a task's),
// another member's change makes that member its owner, delete is final,
// and each change is audited without the input.
func TestScheduleAPI(t *testing.T) {
	e := newEnv(t, rateLimitOff, withRuntime(t, ""))
	a := e.tenant("a")
	member := e.login(a.users[bulwark.RoleMember].Email)
	w := e.do(req{method: "POST", path: "/api/v1/schedules", cookie: member,
		body: `{"cron":"0 9 * * 1-5","timezone":"Europe/Paris","input":"summarise\u202e the tickets\u0000","limits":{"max_steps":5}}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	sc := decodeSchedule(t, w.Body.String())
	if sc.ID == "" || sc.Input != "summarise the tickets" || sc.OwnerUser != a.users[bulwark.RoleMember].ID || sc.Timezone != "Europe/Paris" ||
		!sc.NextRun.After(e.clock.Now()) || sc.Limits.MaxSteps != 5 || sc.Overlap {
		t.Fatalf("created %+v", sc)
	}
	if loc, _ := time.LoadLocation("Europe/Paris"); sc.NextRun.In(loc).Hour() != 9 {
		t.Fatalf("next run %s is not 09:00 in Paris", sc.NextRun)
	}
	recs := e.audited("schedule.create")
	if len(recs) != 1 || recs[0].Target != sc.ID || recs[0].Actor != "user:"+a.users[bulwark.RoleMember].ID {
		t.Fatalf("audit: %+v", recs)
	}
	for _, v := range recs[0].Details {
		if strings.Contains(v, "tickets") {
			t.Fatalf("the audit record holds the input: %v", recs[0].Details)
		}
	}
	w = e.do(req{method: "GET", path: "/api/v1/schedules", key: a.keys[bulwark.RoleViewer]})
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), sc.ID) {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	// Another member's change: it becomes theirs.
	other := e.user(a.id, "other@a.test", bulwark.RoleMember)
	w = e.do(req{method: "PUT", path: "/api/v1/schedules/" + sc.ID, cookie: e.login(other.Email), body: `{"cron":"@daily","input":"changed"}`})
	if w.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", w.Code, w.Body)
	}
	if up := decodeSchedule(t, w.Body.String()); up.OwnerUser != other.ID || up.Cron != "@daily" || up.Input != "changed" || up.Timezone != "UTC" {
		t.Fatalf("updated %+v", up)
	}
	if len(e.audited("schedule.update")) != 1 {
		t.Fatal("the update is not audited")
	}
	w = e.do(req{method: "DELETE", path: "/api/v1/schedules/" + sc.ID, cookie: member})
	if w.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	if w = e.do(req{method: "GET", path: "/api/v1/schedules/" + sc.ID, cookie: member}); w.Code != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d", w.Code)
	}
	if len(e.audited("schedule.delete")) != 1 {
		t.Fatal("the deletion is not audited")
	}
}

// TestScheduleRefusals: specs that fire too often, bad cron specs and
// time zones, bad inputs and limits are refused with a message that says
// what is wrong; nothing is stored.
func TestScheduleRefusals(t *testing.T) {
	e := newEnv(t, rateLimitOff, withRuntime(t, ""), func(c *Config) { c.MinScheduleInterval = 5 * time.Minute })
	a := e.tenant("a")
	for _, tc := range []struct{ body, want string }{
		{`{"cron":"@every 10s","input":"x"}`, "more often than once every 5m0s"},
		{`{"cron":"* * * * *","input":"x"}`, "BULWARK_MIN_SCHEDULE_INTERVAL"},
		{`{"cron":"*/2 * * * *","input":"x"}`, "more often"},
		{`{"cron":"bogus","input":"x"}`, "cron: "},
		{`{"cron":"61 * * * *","input":"x"}`, "cron: "},
		{`{"cron":"TZ=Asia/Tokyo 0 9 * * *","input":"x"}`, "timezone field"},
		{`{"cron":"","input":"x"}`, "cron: "},
		{`{"cron":"@daily","timezone":"Mars/Base","input":"x"}`, "timezone: "},
		{`{"cron":"@daily","timezone":"Local","input":"x"}`, "timezone: "},
		{`{"cron":"@daily","input":""}`, "input: "},
		{`{"cron":"@daily","input":"` + strings.Repeat("x", MaxInputBytes+1) + `"}`, "input: "},
		{`{"cron":"@daily","input":"x","model":"nonsense"}`, "model: "},
		{`{"cron":"@daily","input":"x","limits":{"max_steps":-1}}`, "max_steps"},
		{`{"cron":"@daily","input":"x","owner_user":"u_someone"}`, ""},
	} {
		w := e.do(req{method: "POST", path: "/api/v1/schedules", key: a.keys[bulwark.RoleOwner], body: tc.body})
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%.80s: %d %s, want 400 with %q", tc.body, w.Code, w.Body, tc.want)
		}
	}
	if list, _ := e.db.ListSchedules(context.Background(), a.id); len(list) != 0 {
		t.Fatalf("refused schedules were stored: %v", list)
	}
	w := e.do(req{method: "POST", path: "/api/v1/schedules", key: a.keys[bulwark.RoleOwner], body: `{"cron":"*/5 * * * *","input":"x"}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("every 5m with a 5m minimum: %d %s", w.Code, w.Body)
	}
}

// TestScheduleFiresAsOwner: a schedule made through the API fires through
// the server's runtime: the task exists, carries the schedule's id, runs
// to its end, and the fire is audited as the schedule's owner. Demoted,
// the owner's next tick is skipped and the API says why.
func TestScheduleFiresAsOwner(t *testing.T) {
	e := newEnv(t, rateLimitOff, withRuntime(t, ""))
	a := e.tenant("a")
	owner := a.users[bulwark.RoleMember]
	w := e.do(req{method: "POST", path: "/api/v1/schedules", cookie: e.login(owner.Email), body: `{"cron":"@every 1h","input":"hello"}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	sc := decodeSchedule(t, w.Body.String())
	sch := schedule.New(schedule.Config{Store: e.db, Submit: e.srv.cfg.Runtime.Submit, Audit: e.srv.cfg.Audit, Now: e.clock.Now})
	e.clock.Advance(time.Hour)
	if n, err := sch.Tick(context.Background()); n != 1 || err != nil {
		t.Fatalf("Tick = %d, %v", n, err)
	}
	got, _ := e.db.Schedule(context.Background(), a.id, sc.ID)
	if got.LastTask == "" || got.Runs != 1 {
		t.Fatalf("after the tick: %+v", got)
	}
	v := e.waitTask(a.keys[bulwark.RoleViewer], got.LastTask, ended)
	if v.ScheduleID != sc.ID || v.Input != "hello" {
		t.Fatalf("the schedule's task: %+v", v.Task)
	}
	fires := e.audited("schedule.fire")
	if len(fires) != 1 || fires[0].Actor != "user:"+owner.ID || fires[0].Details["task"] != v.ID || fires[0].TenantID != string(a.id) {
		t.Fatalf("fire audit: %+v", fires)
	}
	if _, err := e.db.SetUserRole(context.Background(), a.id, owner.ID, bulwark.RoleViewer); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := sch.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	w = e.do(req{method: "GET", path: "/api/v1/schedules/" + sc.ID, key: a.keys[bulwark.RoleViewer]})
	after := decodeSchedule(t, w.Body.String())
	if after.Runs != 1 || after.Skipped != 1 || !strings.Contains(after.SkipReason, "viewer") || after.LastSkipped.IsZero() {
		t.Fatalf("after the demoted owner's tick: %+v", after)
	}
	if len(e.audited("schedule.skip")) != 1 {
		t.Fatal("the skip is not audited")
	}
}
