package schedule

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// Store is what the scheduler reads and writes: the schedules, and the
// owners, keys, settings and tasks it checks before it fires one.
type Store interface {
	bulwark.ScheduleStore
	bulwark.TaskStore
	bulwark.UserStore
	bulwark.APIKeyStore
	bulwark.SettingsStore
}

// Config is what New needs. Store and Submit are required.
type Config struct {
	Store Store
	// Submit starts a task of tenant as actor ("user:u_..." or
	// "key:k_..."), under the tenant's quotas like any other: the
	// runtime's Submit.
	Submit func(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) (bulwark.Task, error)
	// Audit records each fire, skip and stop; nil records nothing.
	Audit *audit.Chains
	// Now is the clock; nil: time.Now. Tests move it.
	Now func() time.Time
	// Every is how often Run looks for due ticks; 0: every second.
	Every time.Duration
	// Logger logs what failed; nil: slog.Default().
	Logger *slog.Logger
}

// Scheduler fires due schedules. Several may run on one database (one per
// node, or a CLI beside a server): each tick is claimed once.
type Scheduler struct {
	cfg Config
	log *slog.Logger
}

// New returns a scheduler; Run starts it.
func New(cfg Config) *Scheduler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{cfg: cfg, log: log}
}

// Run fires due schedules every cfg.Every until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("schedules: the due ticks could not be read", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dueBatch is how many due schedules one Tick reads at most; the rest
// wait for the next.
const dueBatch = 100

// Tick fires the schedules due now and returns how many ticks it claimed.
//
// Catch-up: a schedule whose tick passed while no scheduler ran (the
// server was down) fires once, late, and its next run is the first tick
// after now: the ticks missed in between are not replayed, and are
// counted as skipped ("missed while no scheduler ran").
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := s.cfg.Now().UTC()
	due, err := s.cfg.Store.DueSchedules(ctx, now, dueBatch)
	if err != nil {
		return 0, err
	}
	claimed := 0
	for _, sc := range due {
		if ctx.Err() != nil {
			return claimed, ctx.Err()
		}
		tenant := bulwark.TenantID(sc.TenantID)
		sp, perr := Parse(sc.Cron, sc.Timezone)
		next := time.Time{}
		if perr == nil {
			next = sp.Next(now)
		}
		if next.IsZero() { // a spec that no longer parses, or never fires again: park it far out
			next = now.Add(100 * 365 * 24 * time.Hour)
		}
		ok, err := s.cfg.Store.ClaimScheduleTick(ctx, tenant, sc.ID, sc.NextRun, next)
		if err != nil {
			s.log.Warn("schedules: a tick could not be claimed", "tenant", sc.TenantID, "schedule", sc.ID, "err", err)
			continue
		}
		if !ok {
			continue // another scheduler has it
		}
		claimed++
		if perr != nil {
			s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Stopped: "its cron spec or time zone is no longer valid: " + bulwark.ErrorMessage(perr)})
			continue
		}
		if missed := countMissed(sp, sc.NextRun, now); missed > 0 {
			s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Count: missed,
				Skipped: strconv.Itoa(missed) + " ticks missed while no scheduler ran (one catch-up run instead)"})
		}
		s.fire(ctx, sc, now)
	}
	return claimed, nil
}

// maxMissed caps the count of missed ticks (a long downtime under a
// frequent schedule).
const maxMissed = 10000

// countMissed counts the ticks after tick and not after now: the ones
// the catch-up run stands for.
func countMissed(sp Spec, tick, now time.Time) int {
	n := 0
	for t := sp.Next(tick); !t.IsZero() && !t.After(now) && n < maxMissed; t = sp.Next(t) {
		n++
	}
	return n
}

// fire starts the task of one claimed tick, or records why it did not.
func (s *Scheduler) fire(ctx context.Context, sc bulwark.Schedule, now time.Time) {
	tenant := bulwark.TenantID(sc.TenantID)
	role, stopped, err := s.ownerRole(ctx, sc, now)
	if err != nil {
		s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Skipped: "its owner could not be checked (the store did not answer)"})
		return
	}
	if stopped != "" {
		s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Stopped: stopped})
		return
	}
	if !role.AtLeast(bulwark.RoleMember) {
		s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Skipped: "its owner's role is now " + string(role) + ": starting tasks needs member or above"})
		return
	}
	if !sc.Overlap && sc.LastTask != "" {
		t, err := s.cfg.Store.Task(ctx, tenant, sc.LastTask)
		switch {
		case err == nil && active(t.Status):
			s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Skipped: "the previous run (" + t.ID + ") is still " + string(t.Status) + " and overlap is off"})
			return
		case err != nil && bulwark.ErrorKind(err) != bulwark.NotFound:
			s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Skipped: "the previous run could not be checked (the store did not answer)"})
			return
		}
	}
	model := sc.Model
	if model == "" {
		st, err := s.cfg.Store.Settings(ctx, tenant)
		if err != nil {
			s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Skipped: "the tenant's settings could not be read"})
			return
		}
		model = st.Model
	}
	t, err := s.cfg.Submit(ctx, tenant, owner(sc), bulwark.Task{Input: sc.Input, Model: model, Limits: sc.Limits, ScheduleID: sc.ID, CreatedBy: sc.OwnerUser})
	if err != nil {
		s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Skipped: "the task could not be started: " + bulwark.ErrorMessage(err)})
		return
	}
	s.record(ctx, sc, bulwark.ScheduleOutcome{At: now, Task: t.ID})
}

func active(st bulwark.TaskStatus) bool {
	return st == bulwark.TaskQueued || st == bulwark.TaskRunning || st == bulwark.TaskWaiting
}

// owner names the schedule's owner as an actor: its key when it was made
// with one (the key carries the user's rights), else its user.
func owner(sc bulwark.Schedule) string {
	if sc.OwnerKey != "" {
		return "key:" + sc.OwnerKey
	}
	if sc.OwnerUser != "" {
		return "user:" + sc.OwnerUser
	}
	return "schedule:" + sc.ID
}

// ownerRole is the role the schedule's owner has now: the user's, capped
// by the key's when it was made with one. stopped says why the schedule
// can never fire again (its owner or key is gone).
func (s *Scheduler) ownerRole(ctx context.Context, sc bulwark.Schedule, now time.Time) (role bulwark.Role, stopped string, err error) {
	tenant := bulwark.TenantID(sc.TenantID)
	if sc.OwnerUser == "" && sc.OwnerKey == "" {
		return "", "it has no owner", nil
	}
	role = bulwark.RoleOwner
	if sc.OwnerUser != "" {
		u, err := s.cfg.Store.User(ctx, tenant, sc.OwnerUser)
		if bulwark.ErrorKind(err) == bulwark.NotFound {
			return "", "its owner (" + sc.OwnerUser + ") was removed from the tenant", nil
		}
		if err != nil {
			return "", "", err
		}
		role = u.Role
	}
	if sc.OwnerKey != "" {
		keys, err := s.cfg.Store.ListAPIKeys(ctx, tenant)
		if err != nil {
			return "", "", err
		}
		var key *bulwark.APIKey
		for i := range keys {
			if keys[i].ID == sc.OwnerKey {
				key = &keys[i]
			}
		}
		// As the API authenticates it: the keys it was made from bound
		// its expiry (a rotation of one ends it), and one of them gone
		// is the key gone.
		var inEffect bool
		if key != nil {
			*key, inEffect = key.InEffect(keys)
		}
		switch {
		case key == nil || !inEffect:
			return "", "the API key it was made with (" + sc.OwnerKey + ") was revoked", nil
		case key.Expired(now):
			return "", "the API key it was made with (" + sc.OwnerKey + ") has expired", nil
		}
		if !key.Role.AtLeast(role) {
			role = key.Role
		}
	}
	return role, "", nil
}

// record stores what a claimed tick did and audits it. A schedule deleted
// in the meantime is no error.
func (s *Scheduler) record(ctx context.Context, sc bulwark.Schedule, o bulwark.ScheduleOutcome) {
	tenant := bulwark.TenantID(sc.TenantID)
	if err := s.cfg.Store.RecordScheduleRun(ctx, tenant, sc.ID, o); err != nil && bulwark.ErrorKind(err) != bulwark.NotFound {
		s.log.Warn("schedules: a run could not be recorded", "tenant", sc.TenantID, "schedule", sc.ID, "err", err)
	}
	if s.cfg.Audit == nil {
		return
	}
	rec := audit.Record{TenantID: sc.TenantID, Actor: owner(sc), Action: "schedule.fire", Target: sc.ID, Outcome: audit.OutcomeOK,
		Details: map[string]string{"tick": o.At.Format(time.RFC3339)}}
	switch {
	case o.Task != "":
		rec.Details["task"] = o.Task
	case o.Stopped != "":
		rec.Action, rec.Outcome = "schedule.stop", audit.OutcomeDenied
		rec.Details["reason"] = o.Stopped
	case o.Skipped != "":
		rec.Action, rec.Outcome = "schedule.skip", audit.OutcomeDenied
		rec.Details["reason"] = o.Skipped
	}
	if err := s.cfg.Audit.Append(context.WithoutCancel(ctx), rec); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("schedules: audit record not written", "action", rec.Action, "err", err)
	}
}
