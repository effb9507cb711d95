package schedule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// clock is a test clock the scheduler reads; tests move it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// started is a task the fake runtime was given, with its actor.
type started struct {
	task  bulwark.Task
	actor string
}

// testStore is a store with tenants, as both backends are.
type testStore interface {
	Store
	bulwark.TenantStore
}

type env struct {
	db     testStore
	tenant bulwark.TenantID
	user   bulwark.User
	clock  *clock
	mu     sync.Mutex
	tasks  []started
	sched  *Scheduler
}

// submit stands for the runtime's Submit: it stores the task, queued.
func (e *env) submit(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) (bulwark.Task, error) {
	t.Status = bulwark.TaskQueued
	t, err := e.db.CreateTask(ctx, tenant, t)
	if err != nil {
		return t, err
	}
	e.mu.Lock()
	e.tasks = append(e.tasks, started{t, actor})
	e.mu.Unlock()
	return t, nil
}

func (e *env) started() []started {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]started(nil), e.tasks...)
}

func openSQLite(t *testing.T, path string, keys *secret.Keyring) testStore {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := openSQLite(t, filepath.Join(t.TempDir(), "bulwark.db"), secret.NewKeyring())
	return setup(t, db)
}

func setup(t *testing.T, db testStore) *env {
	ctx := context.Background()
	tn, err := db.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(ctx, tn.ID, bulwark.User{Email: "ann@example.com", Role: bulwark.RoleMember}, "x")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, tenant: tn.ID, user: u, clock: &clock{t: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}}
	e.sched = New(Config{Store: db, Submit: e.submit, Now: e.clock.Now})
	return e
}

func (e *env) schedule(t *testing.T, sc bulwark.Schedule) bulwark.Schedule {
	t.Helper()
	if sc.Cron == "" {
		sc.Cron = "@every 1h"
	}
	if sc.Input == "" {
		sc.Input = "summarise the tickets"
	}
	if sc.OwnerUser == "" && sc.OwnerKey == "" {
		sc.OwnerUser = e.user.ID
	}
	sp, err := Check(sc.Cron, sc.Timezone, time.Minute, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sc.NextRun = sp.Next(e.clock.Now())
	sc, err = e.db.CreateSchedule(context.Background(), e.tenant, sc)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func (e *env) tick(t *testing.T) int {
	t.Helper()
	n, err := e.sched.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) get(t *testing.T, id string) bulwark.Schedule {
	t.Helper()
	sc, err := e.db.Schedule(context.Background(), e.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// finish ends a task as the runtime would.
func (e *env) finish(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	for i, ev := range []bulwark.Event{{Type: bulwark.EventTaskStarted}, {Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "done"}} {
		ev.TaskID, ev.Seq, ev.Time = id, int64(i+1), e.clock.Now()
		if err := e.db.AppendEvent(ctx, e.tenant, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFiresAsItsOwner: at its tick a schedule starts a task as its owner,
// carrying the schedule's id, input, model and limits; not before, and
// once per tick.
func TestFiresAsItsOwner(t *testing.T) {
	e := newEnv(t)
	sc := e.schedule(t, bulwark.Schedule{Model: "replay:x", Limits: bulwark.Limits{MaxSteps: 3}, Overlap: true})
	if n := e.tick(t); n != 0 || len(e.started()) != 0 {
		t.Fatalf("fired before its tick: %d", n)
	}
	e.clock.Add(time.Hour)
	if n := e.tick(t); n != 1 {
		t.Fatalf("claimed %d ticks, want 1", n)
	}
	e.tick(t) // the same tick again: nothing
	got := e.started()
	if len(got) != 1 {
		t.Fatalf("%d tasks started, want 1", len(got))
	}
	task, err := e.db.Task(context.Background(), e.tenant, got[0].task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].actor != "user:"+e.user.ID || task.ScheduleID != sc.ID || task.CreatedBy != e.user.ID || task.Input != sc.Input || task.Model != "replay:x" || task.Limits.MaxSteps != 3 {
		t.Fatalf("started %+v as %s", task, got[0].actor)
	}
	after := e.get(t, sc.ID)
	if after.Runs != 1 || after.LastTask != task.ID || !after.NextRun.After(e.clock.Now()) {
		t.Fatalf("schedule after its run: %+v", after)
	}
	e.clock.Add(time.Hour)
	e.tick(t)
	if n := len(e.started()); n != 2 {
		t.Fatalf("%d tasks after two ticks", n)
	}
}

// TestStopsOnDelete: a deleted schedule starts nothing more.
func TestStopsOnDelete(t *testing.T) {
	e := newEnv(t)
	sc := e.schedule(t, bulwark.Schedule{Overlap: true})
	e.clock.Add(time.Hour)
	e.tick(t)
	if err := e.db.DeleteSchedule(context.Background(), e.tenant, sc.ID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.clock.Add(time.Hour)
		e.tick(t)
	}
	if n := len(e.started()); n != 1 {
		t.Fatalf("%d tasks, want 1: the schedule fired after its deletion", n)
	}
}

// TestOwnersCurrentRole: the owner's role is read at each tick: demoted
// to viewer, the tick is skipped and recorded; promoted back, it fires;
// removed, the schedule stops for good and says why.
func TestOwnersCurrentRole(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	sc := e.schedule(t, bulwark.Schedule{Overlap: true})
	if _, err := e.db.SetUserRole(ctx, e.tenant, e.user.ID, bulwark.RoleViewer); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	e.tick(t)
	if n := len(e.started()); n != 0 {
		t.Fatalf("a viewer's schedule started %d tasks", n)
	}
	got := e.get(t, sc.ID)
	if got.Skipped != 1 || !strings.Contains(got.SkipReason, "viewer") || !got.LastSkipped.Equal(e.clock.Now()) || got.Stopped != "" {
		t.Fatalf("after a demoted owner's tick: %+v", got)
	}
	if _, err := e.db.SetUserRole(ctx, e.tenant, e.user.ID, bulwark.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	e.tick(t)
	if n := len(e.started()); n != 1 {
		t.Fatalf("promoted back: %d tasks, want 1", n)
	}
	// Another owner, so that deleting this one is allowed.
	if _, err := e.db.CreateUser(ctx, e.tenant, bulwark.User{Email: "own@example.com", Role: bulwark.RoleOwner}, "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.DeleteUser(ctx, e.tenant, e.user.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	e.tick(t)
	got = e.get(t, sc.ID)
	if !strings.Contains(got.Stopped, "removed") || len(e.started()) != 1 {
		t.Fatalf("after its owner's removal: %+v, %d tasks", got, len(e.started()))
	}
	for range 3 {
		e.clock.Add(time.Hour)
		if n := e.tick(t); n != 0 {
			t.Fatalf("a stopped schedule's tick was claimed")
		}
	}
}

// TestKeyOwner: a schedule made with an API key runs as the key, capped
// by its role, and stops when the key is revoked.
func TestKeyOwner(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	h := []byte("01234567890123456789012345678901")
	k, err := e.db.CreateAPIKey(ctx, e.tenant, bulwark.APIKey{Name: "ci", Prefix: "bwk_abcdefgh", Role: bulwark.RoleViewer, CreatedBy: "test"}, h)
	if err != nil {
		t.Fatal(err)
	}
	sc := e.schedule(t, bulwark.Schedule{OwnerKey: k.ID, Overlap: true})
	e.clock.Add(time.Hour)
	e.tick(t)
	if got := e.get(t, sc.ID); len(e.started()) != 0 || got.Skipped != 1 {
		t.Fatalf("a viewer key's schedule: %+v, %d tasks", got, len(e.started()))
	}
	if err := e.db.DeleteAPIKey(ctx, e.tenant, k.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	e.tick(t)
	if got := e.get(t, sc.ID); !strings.Contains(got.Stopped, "revoked") {
		t.Fatalf("after the key's revocation: %+v", got)
	}
}

// TestNoOverlap: with overlap off, a tick while the previous run is
// active is skipped and recorded; once it ends, the next tick fires. With
// overlap on, ticks fire regardless.
func TestNoOverlap(t *testing.T) {
	e := newEnv(t)
	sc := e.schedule(t, bulwark.Schedule{})
	e.clock.Add(time.Hour)
	e.tick(t)
	e.clock.Add(time.Hour)
	e.tick(t)
	if n := len(e.started()); n != 1 {
		t.Fatalf("%d tasks while the first was queued, want 1", n)
	}
	got := e.get(t, sc.ID)
	if got.Skipped != 1 || !strings.Contains(got.SkipReason, "still queued") {
		t.Fatalf("skip not recorded: %+v", got)
	}
	e.finish(t, got.LastTask)
	e.clock.Add(time.Hour)
	e.tick(t)
	if n := len(e.started()); n != 2 {
		t.Fatalf("%d tasks after the first ended, want 2", n)
	}

	o := e.schedule(t, bulwark.Schedule{Overlap: true})
	for range 2 {
		e.clock.Add(time.Hour)
		e.tick(t)
	}
	if got := e.get(t, o.ID); got.Runs != 2 || got.Skipped != 0 {
		t.Fatalf("overlap on: %+v", got)
	}
}

// TestCatchUpOnce: after downtime, a schedule fires once, late; the ticks
// missed are counted as skipped, not replayed.
func TestCatchUpOnce(t *testing.T) {
	e := newEnv(t)
	sc := e.schedule(t, bulwark.Schedule{Overlap: true})
	e.clock.Add(10*time.Hour + 30*time.Minute) // ticks at +1h ... +10h missed
	if n := e.tick(t); n != 1 {
		t.Fatalf("claimed %d", n)
	}
	e.tick(t)
	got := e.get(t, sc.ID)
	if len(e.started()) != 1 || got.Runs != 1 || got.Skipped != 9 || !strings.Contains(got.SkipReason, "missed") || !got.NextRun.After(e.clock.Now()) {
		t.Fatalf("after downtime: %d tasks, %+v", len(e.started()), got)
	}
}

// TestQuotaErrorRecorded: a task the runtime refuses (a quota) is a
// recorded skip, not a lost tick.
func TestQuotaErrorRecorded(t *testing.T) {
	e := newEnv(t)
	e.sched = New(Config{Store: e.db, Now: e.clock.Now, Submit: func(context.Context, bulwark.TenantID, string, bulwark.Task) (bulwark.Task, error) {
		return bulwark.Task{}, bulwark.Errorf(bulwark.QuotaExceeded, "runner", "the tenant's quota is used up")
	}})
	sc := e.schedule(t, bulwark.Schedule{})
	e.clock.Add(time.Hour)
	e.tick(t)
	if got := e.get(t, sc.ID); got.Skipped != 1 || !strings.Contains(got.SkipReason, "quota") {
		t.Fatalf("%+v", got)
	}
}

// exactlyOnce runs two schedulers on one database (each with its own
// connection) through many ticks at once and checks each tick started
// exactly one task.
func exactlyOnce(t *testing.T, a, b testStore) {
	e := setup(t, a)
	const schedules, ticks = 5, 20
	for range schedules {
		e.schedule(t, bulwark.Schedule{Overlap: true})
	}
	other := New(Config{Store: b, Submit: e.submit, Now: e.clock.Now})
	for range ticks {
		e.clock.Add(time.Hour)
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{e.sched, other, e.sched, other} {
			wg.Go(func() {
				if _, err := s.Tick(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := len(e.started()); n != schedules*ticks {
		t.Fatalf("%d tasks started, want %d: a tick ran twice or not at all", n, schedules*ticks)
	}
	list, _ := a.ListSchedules(context.Background(), e.tenant)
	for _, sc := range list {
		if sc.Runs != ticks || sc.Skipped != 0 {
			t.Errorf("schedule %s: %d runs, %d skipped; want %d, 0", sc.ID, sc.Runs, sc.Skipped, ticks)
		}
	}
}

// TestExactlyOnceSQLite: two schedulers on one SQLite file.
func TestExactlyOnceSQLite(t *testing.T) {
	keys := secret.NewKeyring()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	a := openSQLite(t, path, keys)
	b := openSQLite(t, path, keys)
	exactlyOnce(t, a, b)
}

// TestExactlyOncePostgres: two schedulers (two nodes) on one PostgreSQL
// database.
func TestExactlyOncePostgres(t *testing.T) {
	if os.Getenv("BULWARK_TEST_POSTGRES") == "" {
		t.Skip("BULWARK_TEST_POSTGRES is not set")
	}
	url := pgtest.NewDatabase(t)
	keys := secret.NewKeyring()
	open := func() testStore {
		db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	exactlyOnce(t, open(), open())
}

// A schedule made with a key made by a key stops when that first key is
// rotated (its expiry brought forward, and with it its keys'), as the API
// stops accepting the second key: it fired on as the dead key (a red
// team: a leaked key's child key and its schedule outlived the leaked
// key's rotation). Its parent expiring later than now changes nothing.
func TestKeyOwnerEndsWithTheKeyItWasMadeBy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	parent, err := e.db.CreateAPIKey(ctx, e.tenant, bulwark.APIKey{Name: "parent", Prefix: "bwk_PARENT01", Role: bulwark.RoleAdmin, CreatedBy: "cli"},
		[]byte("01234567890123456789012345678901"))
	if err != nil {
		t.Fatal(err)
	}
	child, err := e.db.CreateAPIKey(ctx, e.tenant, bulwark.APIKey{Name: "child", Prefix: "bwk_CHILD001", Role: bulwark.RoleMember,
		CreatedBy: "key:" + parent.ID, CreatorKey: parent.ID}, []byte("11234567890123456789012345678901"))
	if err != nil {
		t.Fatal(err)
	}
	sc := e.schedule(t, bulwark.Schedule{OwnerKey: child.ID, Overlap: true})
	// A rotation with a grace: the parent ends in two hours.
	if _, err := e.db.ExpireAPIKey(ctx, e.tenant, parent.ID, e.clock.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour)
	e.tick(t)
	if got := e.get(t, sc.ID); len(e.started()) != 1 || got.Stopped != "" {
		t.Fatalf("within the parent's grace: %d tasks, stopped %q", len(e.started()), got.Stopped)
	}
	e.clock.Add(2 * time.Hour)
	e.tick(t)
	got := e.get(t, sc.ID)
	if len(e.started()) != 1 || !strings.Contains(got.Stopped, "has expired") {
		t.Fatalf("after the parent's grace: %d tasks (as %v), stopped %q", len(e.started()), e.started(), got.Stopped)
	}
}
