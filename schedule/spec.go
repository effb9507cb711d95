// Package schedule starts tasks on a schedule: it reads cron specs
// (robfig/cron's standard parser, in a time zone of the schedule's own)
// and runs the scheduler of `bulwark serve`, which claims each due tick in
// the store (a compare-and-set of the schedule's next run, so that of
// several nodes or processes on one database exactly one fires it) and
// starts a task as the schedule's owner, with the owner's role when it
// fires.
package schedule

import (
	"strings"
	"time"
	_ "time/tzdata" // IANA zones even where the system has none

	"github.com/bulwark-agents/bulwark"
	"github.com/robfig/cron/v3"
)

// DefaultMinInterval is the shortest time between two ticks a schedule may
// ask for unless the operator says otherwise
// (BULWARK_MIN_SCHEDULE_INTERVAL).
const DefaultMinInterval = time.Minute

// maxSpecLen caps a cron spec's length.
const maxSpecLen = 200

// Spec is a parsed cron spec, read in its time zone.
type Spec struct {
	sched cron.Schedule
	loc   *time.Location
}

// Next is the first tick after t. A zero time means the spec never fires
// again.
func (s Spec) Next(t time.Time) time.Time {
	n := s.sched.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// parser reads the standard five fields and the descriptors (@daily,
// @hourly, @every 1h...): no seconds field.
func parser() cron.Parser {
	return cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// Location reads an IANA time zone name: "" means UTC. "Local" is
// refused: it would mean whatever zone the server runs in.
func Location(tz string) (*time.Location, error) {
	const op = "schedule.Location"
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if tz == "Local" || len(tz) > 64 || !ianaName(tz) {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "timezone: want an IANA time zone name, such as Europe/Paris or America/New_York")
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "timezone: %q is not a known IANA time zone name, such as Europe/Paris", tz)
	}
	return loc, nil
}

// ianaName reports whether tz is spelled as an IANA zone name: elements
// of letters, digits, "_", "-" and "+" between single slashes, none "." or
// "..". time.LoadLocation reads a file under the zone directory, so a
// name such as "./UTC" or "Europe//Paris" would load too and be stored as
// given; only the plain spelling is accepted.
func ianaName(tz string) bool {
	for _, el := range strings.Split(tz, "/") {
		if el == "" || el[0] == '.' {
			return false
		}
		for _, c := range el {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+') {
				return false
			}
		}
	}
	return true
}

// Parse reads spec in time zone tz. It does not check how often the spec
// fires: see Check.
func Parse(spec, tz string) (Spec, error) {
	const op = "schedule.Parse"
	loc, err := Location(tz)
	if err != nil {
		return Spec{}, err
	}
	spec = strings.TrimSpace(spec)
	if spec == "" || len(spec) > maxSpecLen {
		return Spec{}, bulwark.Errorf(bulwark.Invalid, op, `cron: want five fields ("0 9 * * 1-5"), a descriptor ("@daily") or "@every 1h"`)
	}
	if strings.Contains(spec, "TZ=") {
		return Spec{}, bulwark.Errorf(bulwark.Invalid, op, "cron: give the time zone in the timezone field, not in the spec")
	}
	sched, err := parser().Parse(spec)
	if err != nil {
		return Spec{}, bulwark.Errorf(bulwark.Invalid, op, `cron: %s; want five fields ("0 9 * * 1-5"), a descriptor ("@daily") or "@every 1h"`, cronMessage(err))
	}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		s.Location = loc
	}
	return Spec{sched: sched, loc: loc}, nil
}

// cronMessage is the parser's message, cut to a length fit for a user.
func cronMessage(err error) string {
	m := err.Error()
	if len(m) > 120 {
		m = m[:120]
	}
	return m
}

// Check parses spec in tz and refuses one that fires more often than once
// every min, or never: it looks at the gaps between the ticks after now
// (up to 3000 ticks or 400 days, enough to see a day's pattern and the
// days around it).
func Check(spec, tz string, min time.Duration, now time.Time) (Spec, error) {
	const op = "schedule.Check"
	sp, err := Parse(spec, tz)
	if err != nil {
		return sp, err
	}
	if min <= 0 {
		min = DefaultMinInterval
	}
	refuse := func() error {
		return bulwark.Errorf(bulwark.Invalid, op, "cron: this schedule would fire more often than once every %s, the shortest interval this server allows (BULWARK_MIN_SCHEDULE_INTERVAL)", min)
	}
	if every, ok := sp.sched.(cron.ConstantDelaySchedule); ok {
		if every.Delay < min {
			return sp, refuse()
		}
		return sp, nil
	}
	first := sp.Next(now)
	if first.IsZero() {
		return sp, bulwark.Errorf(bulwark.Invalid, op, "cron: this schedule never fires")
	}
	end := first.Add(400 * 24 * time.Hour)
	if tooOften(sp, first, end, min) {
		return sp, refuse()
	}
	// A schedule that fires often reaches its 3000th tick within days;
	// a change of the zone's offset (daylight saving time, some by half
	// an hour) later in the year can still bring two ticks closer than
	// min, so the days around each change are looked at too.
	for day := first; day.Before(end); day = day.Add(24 * time.Hour) {
		_, before := day.In(sp.loc).Zone()
		_, after := day.Add(24 * time.Hour).In(sp.loc).Zone()
		if before == after {
			continue
		}
		from := day.Add(-24 * time.Hour)
		if p := sp.Next(from); !p.IsZero() && tooOften(sp, p, day.Add(48*time.Hour), min) {
			return sp, refuse()
		}
	}
	return sp, nil
}

// tooOften reports whether two ticks of sp from first until end (at most
// 3000 of them) are closer than min.
func tooOften(sp Spec, first, end time.Time, min time.Duration) bool {
	prev := first
	for range 3000 {
		next := sp.Next(prev)
		if next.IsZero() || next.After(end) {
			return false
		}
		if next.Sub(prev) < min {
			return true
		}
		prev = next
	}
	return false
}
