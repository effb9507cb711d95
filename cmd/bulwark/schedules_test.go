package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestSchedulesCLI: add makes a schedule owned by the user named, list
// shows it, delete removes it; a schedule that fires too often, a bad
// zone, an unknown user or a viewer are refused with a clear message.
func TestSchedulesCLI(t *testing.T) {
	data := t.TempDir()
	extra := []string{"BULWARK_DATA=" + data, "BULWARK_MASTER_KEY=" + newTestKey(t)}
	mustRun(t, extra, "", "tenants", "create", "acme")
	mustRun(t, extra, "Quartz-Lantern-Oboe-74\n", "users", "create", "--tenant", "acme", "--email", "ann@example.com", "--role", "member")
	mustRun(t, extra, "Quartz-Lantern-Oboe-75\n", "users", "create", "--tenant", "acme", "--email", "vic@example.com", "--role", "viewer")
	out := mustRun(t, extra, "", "schedules", "add", "--tenant", "acme", "--user", "ann@example.com", "--cron", "0 9 * * 1-5",
		"--timezone", "Europe/Paris", "check", "the", "backups")
	id := strings.TrimSpace(out.stdout)
	if !strings.HasPrefix(id, "sch_") {
		t.Fatalf("add printed %q", out.stdout)
	}
	list := mustRun(t, extra, "", "schedules", "list", "--tenant", "acme", "--json")
	var sc bulwark.Schedule
	if err := json.Unmarshal([]byte(list.stdout), &sc); err != nil {
		t.Fatalf("%v: %s", err, list.stdout)
	}
	if sc.ID != id || sc.Input != "check the backups" || sc.Timezone != "Europe/Paris" || sc.OwnerUser == "" || sc.NextRun.IsZero() {
		t.Fatalf("listed %+v", sc)
	}
	if l := mustRun(t, extra, "", "schedules", "list", "--tenant", "acme"); !strings.Contains(l.stdout, id) || !strings.Contains(l.stdout, "0 9 * * 1-5") {
		t.Fatalf("list: %s", l.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "ann@example.com", "--cron", "@every 10s", "x"}, "more often than once every 1m0s"},
		{[]string{"--user", "ann@example.com", "--cron", "@daily", "--timezone", "Nowhere/Town", "x"}, "timezone: "},
		{[]string{"--user", "nobody@example.com", "--cron", "@daily", "x"}, "no user"},
		{[]string{"--user", "vic@example.com", "--cron", "@daily", "x"}, "member or above"},
		{[]string{"--user", "ann@example.com", "x"}, "--cron"},
	} {
		r := runBulwark(t, extra, append([]string{"schedules", "add", "--tenant", "acme"}, tc.args...)...)
		if r.code == exitOK || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("schedules add %v: %d %s, want an error with %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// Another tenant does not see it, nor delete it.
	mustRun(t, extra, "", "tenants", "create", "other")
	if r := runBulwark(t, extra, "schedules", "delete", "--tenant", "other", id); r.code == exitOK || !strings.Contains(r.stderr, "no schedule") {
		t.Fatalf("delete from another tenant: %d %s", r.code, r.stderr)
	}
	mustRun(t, extra, "", "schedules", "delete", "--tenant", "acme", id)
	if l := mustRun(t, extra, "", "schedules", "list", "--tenant", "acme"); !strings.Contains(l.stdout, "no schedules") {
		t.Fatalf("after delete: %s", l.stdout)
	}
}
