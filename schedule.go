package bulwark

import (
	"context"
	"time"
)

// Schedule starts a task at each tick of its cron spec, as the person (or
// API key) who made it, with that owner's role when it fires: an owner
// who is gone stops the schedule (Stopped says why), an owner whose role
// fell below member makes each tick a skipped one. Its input is sealed at
// rest like a task's; the rest is in the clear so that due schedules can be
// found and claimed.
type Schedule struct {
	ID       string `json:"id"` // "sch_..."
	TenantID string `json:"tenant_id,omitempty"`
	// Cron is the spec: five fields ("0 9 * * 1-5"), a descriptor
	// ("@daily", "@hourly") or "@every DURATION"; Timezone the IANA zone
	// it is read in ("" and "UTC": UTC).
	Cron     string `json:"cron"`
	Timezone string `json:"timezone"`
	Input    string `json:"input"`
	Model    string `json:"model,omitempty"`
	Limits   Limits `json:"limits"`
	// Overlap lets a tick start a task while the previous one still runs;
	// false (the default) skips that tick.
	Overlap bool `json:"overlap"`
	// OwnerUser and OwnerKey are who made it: the user whose rights the
	// schedule carries, and the API key it was made with, if any.
	OwnerUser string    `json:"owner_user,omitempty"`
	OwnerKey  string    `json:"owner_key,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	// NextRun is the next tick; the scheduler claims it by moving it on.
	NextRun time.Time `json:"next_run"`
	LastRun time.Time `json:"last_run,omitzero"`
	// LastTask is the task the last run started.
	LastTask string `json:"last_task,omitempty"`
	Runs     int    `json:"runs"`
	// Skipped counts ticks that started no task; LastSkipped and
	// SkipReason say when the last one was and why.
	Skipped     int       `json:"skipped"`
	LastSkipped time.Time `json:"last_skipped,omitzero"`
	SkipReason  string    `json:"skip_reason,omitempty"`
	// Stopped, when set, says why the schedule no longer fires (its owner
	// was removed). Updating the schedule makes whoever updated it its
	// owner, and restarts it.
	Stopped string `json:"stopped,omitempty"`
}

// ScheduleOutcome is what one claimed tick did: started Task, or skipped
// (Skipped says why), or stopped the schedule for good (Stopped says why).
type ScheduleOutcome struct {
	At      time.Time
	Task    string
	Skipped string
	Stopped string
	// Count is how many ticks a skip stands for (ticks missed while no
	// scheduler ran); 0 means 1.
	Count int
}

// ScheduleStore keeps schedules. Like every tenant store, another
// tenant's schedule is NotFound.
type ScheduleStore interface {
	// CreateSchedule stores s (its ID, Created and Updated are set) and
	// returns it as stored. s.NextRun must be set.
	CreateSchedule(ctx context.Context, tenant TenantID, s Schedule) (Schedule, error)
	// Schedule returns one schedule of tenant, or NotFound.
	Schedule(ctx context.Context, tenant TenantID, id string) (Schedule, error)
	// ListSchedules returns the tenant's schedules, oldest first.
	ListSchedules(ctx context.Context, tenant TenantID) ([]Schedule, error)
	// UpdateSchedule replaces the cron spec, time zone, input, model,
	// limits, overlap, owner and next run of schedule s.ID, keeping its
	// counters, and clears Stopped (its new owner is present); it returns
	// the schedule as stored; unknown: NotFound.
	UpdateSchedule(ctx context.Context, tenant TenantID, s Schedule) (Schedule, error)
	// DeleteSchedule removes a schedule; unknown: NotFound.
	DeleteSchedule(ctx context.Context, tenant TenantID, id string) error
	// DueSchedules returns up to limit schedules of every tenant whose
	// NextRun is not after now and that are not stopped, earliest first.
	DueSchedules(ctx context.Context, now time.Time, limit int) ([]Schedule, error)
	// ClaimScheduleTick moves a schedule's NextRun from tick to next if
	// it is still tick (compare-and-set), and reports whether it did:
	// of several schedulers that saw the same due tick, exactly one
	// claims it.
	ClaimScheduleTick(ctx context.Context, tenant TenantID, id string, tick, next time.Time) (bool, error)
	// RecordScheduleRun records what a claimed tick did: a run (LastRun,
	// LastTask, Runs), a skip (Skipped, LastSkipped, SkipReason) or a
	// stop (Stopped). A deleted schedule is NotFound.
	RecordScheduleRun(ctx context.Context, tenant TenantID, id string, o ScheduleOutcome) error
}
