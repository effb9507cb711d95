package schedule

import (
	"testing"
	"time"
)

// TestCheckRefusesSpellingsBelowMinimum: every spelling of an interval
// under the minimum is refused, and exactly the minimum is not.
func TestCheckRefusesSpellingsBelowMinimum(t *testing.T) {
	now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	for _, spec := range []string{"@every 59s", "@every 0.5m", "@every 59999ms", "@every -1h", "@every 0s",
		"@every 1h-59m1s", " @every 59s ", "@every 1m59.9s"} {
		min := time.Minute
		if spec == "@every 1m59.9s" {
			min = 2 * time.Minute
		}
		if _, err := Check(spec, "", min, now); err == nil {
			t.Errorf("Check(%q) accepted a schedule under %s", spec, min)
		}
	}
	for _, spec := range []string{"* * * * *", "*/2 * * * *", "0,2 * * * *", "0-58/2 * * * *"} {
		if _, err := Check(spec, "Europe/Paris", 2*time.Minute, now); err == nil && spec == "* * * * *" {
			t.Errorf("Check(%q) accepted under a 2m minimum", spec)
		} else if err != nil && spec != "* * * * *" {
			t.Errorf("Check(%q): %v", spec, err)
		}
	}
}

// TestLocationRefusesPathSpellings: a time zone is an IANA name, never a
// path, even one that stays in the zone directory.
func TestLocationRefusesPathSpellings(t *testing.T) {
	for _, tz := range []string{"../../etc/passwd", "/etc/passwd", "Local", "Europe/Paris\x00", "Europe/../Europe/Paris",
		"./UTC", "\\etc", "Europe//Paris", "Europe/Paris/", "Europe/./Paris", ".", "Europe/Paris ", "Europe\u2215Paris"} {
		if _, err := Location(tz); err == nil {
			t.Errorf("Location(%q) accepted", tz)
		}
	}
	for _, tz := range []string{"", "UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14", "America/Port-au-Prince"} {
		if _, err := Location(tz); err != nil {
			t.Errorf("Location(%q): %v", tz, err)
		}
	}
}

// TestCheckSeesOffsetChangesMonthsAhead: an hourly schedule in a zone
// whose clocks move by half an hour fires twice within 30 minutes on that
// day; Check refuses it under a 1h minimum whenever it is made, not only
// when the change is within its first 3000 ticks.
func TestCheckSeesOffsetChangesMonthsAhead(t *testing.T) {
	for _, now := range []time.Time{
		time.Date(2025, 10, 10, 0, 0, 0, 0, time.UTC), // the change of April 2026 is ~176 days (4200 hourly ticks) away
		time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC),
	} {
		if _, err := Check("30 * * * *", "Australia/Lord_Howe", time.Hour, now); err == nil {
			t.Errorf("Check(hourly in Lord_Howe, made %s) accepted; it fires twice within 30m when the clocks go back", now.Format(time.DateOnly))
		}
	}
	if _, err := Check("30 * * * *", "Europe/Paris", time.Hour, time.Date(2025, 10, 10, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("hourly in Europe/Paris refused: %v", err)
	}
}
