package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

var ref = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday

// TestCheckRefusesTooOften: a spec that fires more often than the minimum
// interval is refused with a message that names it; as often is allowed.
func TestCheckRefusesTooOften(t *testing.T) {
	for _, tc := range []struct {
		spec string
		min  time.Duration
		ok   bool
	}{
		{"@every 10s", time.Minute, false},
		{"@every 59s", time.Minute, false},
		{"@every 1m", time.Minute, true},
		{"@every 1h", time.Minute, true},
		{"* * * * *", time.Minute, true},
		{"* * * * *", 5 * time.Minute, false},
		{"*/5 * * * *", 5 * time.Minute, true},
		{"*/5 * * * *", 10 * time.Minute, false},
		{"0,1 9 * * *", 2 * time.Minute, false},     // two ticks a minute apart, once a day
		{"59 23 * * *", 2 * time.Minute, true},      // once a day
		{"0,59 0,23 * * *", 2 * time.Minute, false}, // 23:59 then 00:00: across midnight
		{"* 9 1 6 *", 5 * time.Minute, false},       // every minute, one day a year
		{"0 9 * * 1-5", time.Hour, true},
		{"@hourly", time.Hour, true},
		{"@hourly", 2 * time.Hour, false},
		{"@daily", 24 * time.Hour, true},
	} {
		_, err := Check(tc.spec, "", tc.min, ref)
		if tc.ok != (err == nil) {
			t.Errorf("Check(%q, min %s) = %v, want ok=%v", tc.spec, tc.min, err, tc.ok)
		}
		if err != nil && (bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "more often than once every "+tc.min.String())) {
			t.Errorf("Check(%q): %v: want Invalid naming the interval", tc.spec, err)
		}
	}
}

// TestCheckRefusesBadSpecs: bad cron specs and time zones are Invalid,
// with a message saying what is wanted.
func TestCheckRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{"", "bogus", "61 * * * *", "* * * *", "0 0 9 * * 1-5", "@every", "@every -1h", "@sometimes",
		"TZ=UTC 0 9 * * *", "CRON_TZ=Europe/Paris 0 9 * * *", "0 0 30 2 *", strings.Repeat("1,", 200) + "1 * * * *"} {
		_, err := Check(spec, "", time.Minute, ref)
		if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.HasPrefix(bulwark.ErrorMessage(err), "cron: ") {
			t.Errorf("Check(%q) = %v, want Invalid cron: ...", spec, err)
		}
	}
	for _, tz := range []string{"Mars/Olympus_Mons", "Local", "../../etc/passwd", "Europe/../UTC", "Europe/Paris ", "+01:00"} {
		_, err := Check("@daily", tz, time.Minute, ref)
		if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.HasPrefix(bulwark.ErrorMessage(err), "timezone: ") {
			t.Errorf("timezone %q: %v, want Invalid timezone: ...", tz, err)
		}
	}
	for _, tz := range []string{"", "UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"} {
		if _, err := Check("@daily", tz, time.Minute, ref); err != nil {
			t.Errorf("timezone %q: %v", tz, err)
		}
	}
}

// TestTimeZonesAndDST: a spec is read in its zone, across a change of
// daylight saving time.
func TestTimeZonesAndDST(t *testing.T) {
	sp, err := Check("0 9 * * *", "Europe/Paris", time.Minute, ref)
	if err != nil {
		t.Fatal(err)
	}
	// Paris moves to summer time on 29 March 2026: 09:00 is 08:00 UTC
	// before and 07:00 UTC after.
	if got := sp.Next(time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("before the change: %s", got)
	}
	if got := sp.Next(time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("after the change: %s", got)
	}
	// 02:30 does not exist in New York on 8 March 2026: that day's tick
	// is not doubled, and the next days' are at 02:30 local.
	ny, _ := Check("30 2 * * *", "America/New_York", time.Minute, ref)
	prev := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)
	for range 4 {
		next := ny.Next(prev)
		if next.Sub(prev) < 20*time.Hour {
			t.Errorf("ticks %s and %s too close across the change", prev, next)
		}
		prev = next
	}
	utc, _ := Check("0 9 * * *", "", time.Minute, ref)
	if got := utc.Next(ref); !got.Equal(time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("UTC: %s", got)
	}
}

// FuzzCheck: no spec or zone makes Check panic, and an accepted spec
// never ticks twice within the minimum interval in its first ticks.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"0 9 * * 1-5", "@every 1h", "@daily", "*/5 * * * *", "0,1 * * * *"} {
		f.Add(s, "Europe/Paris")
	}
	f.Fuzz(func(t *testing.T, spec, tz string) {
		sp, err := Check(spec, tz, time.Minute, ref)
		if err != nil {
			return
		}
		prev := sp.Next(ref)
		for range 50 {
			next := sp.Next(prev)
			if next.IsZero() {
				return
			}
			if next.Sub(prev) < time.Minute {
				t.Fatalf("%q in %q: ticks %s and %s", spec, tz, prev, next)
			}
			prev = next
		}
	})
}
