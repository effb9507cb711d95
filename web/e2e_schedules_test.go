package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// testSchedulesPage adds a schedule on the schedules page, sees it listed
// with its next run (its input shown as text, never markup), sees a spec
// that fires too often refused with the server's message, and deletes it.
func testSchedulesPage(t *testing.T, b *browser, s *e2eServer) {
	const input = `<img src=x onerror="document.title='pwned'"> check the backups`
	ctx := context.Background()
	b.open(s.URL + "/schedules")
	b.wait("the list", `document.querySelector('main table.schedules, main .empty')`)
	b.setValue("form.new-schedule input[name=cron]", "@every 10s")
	b.setValue("form.new-schedule input[name=timezone]", "Europe/Paris")
	b.setValue("form.new-schedule textarea[name=input]", input)
	b.click("form.new-schedule button[type=submit]")
	b.wait("the refusal", `(document.querySelector('form.new-schedule .errors') || {innerText: ''}).innerText.includes('more often')`)
	b.setValue("form.new-schedule input[name=cron]", "0 9 * * 1-5")
	b.click("form.new-schedule button[type=submit]")
	b.wait("the schedule in the list", `document.querySelector('table.schedules tr[data-id]')`)
	list, err := s.db.ListSchedules(ctx, s.tenant)
	if err != nil || len(list) != 1 {
		t.Fatalf("stored schedules: %v, %v", list, err)
	}
	sc := list[0]
	if sc.Input != input || sc.Timezone != "Europe/Paris" || sc.Cron != "0 9 * * 1-5" {
		t.Errorf("stored %+v", sc)
	}
	row := fmt.Sprintf(`table.schedules tr[data-id=%q]`, sc.ID)
	if got := b.text(row + " td.input"); !strings.Contains(got, "<img src=x") {
		t.Errorf("the input reads %q, want it as text", got)
	}
	if n := evalJS[int](b, `document.querySelectorAll('main img').length`); n != 0 {
		t.Errorf("the input became markup: %d images", n)
	}
	if title := evalJS[string](b, `document.title`); title == "pwned" {
		t.Error("the input ran as script")
	}
	if got := b.text(row + " td.next"); got == "" {
		t.Error("no next run shown")
	}
	b.shot("schedules")
	b.clickText(row+" button", "Delete")
	b.clickText(row+" button", "Click again to delete")
	b.wait("the schedule to go", fmt.Sprintf(`!document.querySelector('table.schedules tr[data-id=%q]')`, sc.ID))
	if list, _ := s.db.ListSchedules(ctx, s.tenant); len(list) != 0 {
		t.Errorf("after deleting, %d schedules are stored", len(list))
	}
}
