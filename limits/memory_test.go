package limits

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var accountPolicy = Policy{Free: 2, Base: time.Second, MaxDelay: 30 * time.Second}

func allow(l Limiter, key string, r float64, b int) bool {
	ok, _, err := l.Allow(context.Background(), key, r, b)
	if err != nil {
		panic(err) // the memory limiter never fails
	}
	return ok
}

func wait(th Throttle, key string) time.Duration {
	d, err := th.Wait(context.Background(), key)
	if err != nil {
		panic(err)
	}
	return d
}

// TestThrottleSurvivesAFlood: an attacker who fails logins at many new
// accounts until the throttle's table is full must not wipe the delay of
// the account under attack: the entries with the fewest failures go
// first.
func TestThrottleSurvivesAFlood(t *testing.T) {
	t.Parallel()
	const max = 10_000
	clk := newClock()
	th := NewMemoryThrottle(clk.Now, max)
	ctx := context.Background()
	const victim = "acct|\nvictim@example.com"
	for range accountPolicy.Free + 4 {
		th.Fail(ctx, victim, accountPolicy)
	}
	if wait(th, victim) == 0 {
		t.Fatal("the victim's account is not slowed after its failures: the test proves nothing")
	}
	for i := range 2 * max {
		th.Fail(ctx, "acct|\nflood"+strconv.Itoa(i)+"@example.com", accountPolicy)
	}
	if wait(th, victim) == 0 {
		t.Error("a flood of failures at other accounts wiped the delay of the account under attack")
	}
	if n := th.Len(); n > max {
		t.Errorf("the table holds %d entries, more than %d", n, max)
	}
}

// TestThrottleDelays: the free failures cost nothing, then the delay
// doubles up to the cap, and the failures are forgotten FailureWindow
// after the last one; Reset forgets them at once.
func TestThrottleDelays(t *testing.T) {
	t.Parallel()
	clk := newClock()
	th := NewMemoryThrottle(clk.Now, 100)
	ctx := context.Background()
	want := []time.Duration{0, 0, 1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		th.Fail(ctx, "k", accountPolicy)
		if got := wait(th, "k"); got != w*time.Second {
			t.Errorf("after %d failures Wait = %v, want %v", i+1, got, w*time.Second)
		}
	}
	clk.Advance(FailureWindow)
	if got := wait(th, "k"); got != 0 {
		t.Errorf("after the window Wait = %v, want 0", got)
	}
	th.Fail(ctx, "k", accountPolicy)
	if got := wait(th, "k"); got != 0 {
		t.Errorf("the first failure after the window: Wait = %v, want 0 (the old ones forgotten)", got)
	}
	for range 3 {
		th.Fail(ctx, "k", accountPolicy)
	}
	th.Reset(ctx, "k")
	if got := wait(th, "k"); got != 0 {
		t.Errorf("after Reset Wait = %v, want 0", got)
	}
}

// TestLimiterFloodKeepsBusyBuckets: a client that floods a full limiter
// table with new keys (addresses, kinds) must not get its own exhausted
// bucket dropped and refilled: the least recently used go first.
func TestLimiterFloodKeepsBusyBuckets(t *testing.T) {
	t.Parallel()
	c := newClock()
	ls := NewMemoryLimiter(c.Now, 1000, time.Hour)
	if !allow(ls, "attacker", 0.001, 1) {
		t.Fatal("the first request was refused")
	}
	for i := range 3000 {
		c.Advance(time.Millisecond)
		allow(ls, "new"+strconv.Itoa(i), 1, 1)
		if i%50 == 0 {
			if allow(ls, "attacker", 0.001, 1) {
				t.Fatalf("after %d new keys the busy client's exhausted bucket was full again", i)
			}
		}
	}
}

func TestLimiterMemoryBounded(t *testing.T) {
	t.Parallel()
	c := newClock()
	ls := NewMemoryLimiter(c.Now, 50, time.Minute)
	for i := range 1000 {
		allow(ls, "k"+strconv.Itoa(i), 1, 1)
	}
	if n := ls.Len(); n > 50 {
		t.Errorf("%d buckets held, want at most 50", n)
	}
	c.Advance(2 * time.Minute)
	allow(ls, "fresh", 1, 1)
	for i := range 2000 {
		allow(ls, "x"+strconv.Itoa(i%10), 1, 1)
	}
	if n := ls.Len(); n > 11 {
		t.Errorf("%d buckets after the idle ones expired, want at most 11", n)
	}
}

// TestLimiterBurstAndRefill: burst requests pass at once, the next is
// refused with the time until a token, which comes back at the rate.
func TestLimiterBurstAndRefill(t *testing.T) {
	t.Parallel()
	c := newClock()
	ls := NewMemoryLimiter(c.Now, 100, time.Hour)
	for i := range 5 {
		if !allow(ls, "k", 2, 5) {
			t.Fatalf("request %d of the burst of 5 refused", i+1)
		}
	}
	ok, retry, _ := ls.Allow(context.Background(), "k", 2, 5)
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("past the burst: Allow = %v, %v; want false, 500ms", ok, retry)
	}
	c.Advance(500 * time.Millisecond)
	if !allow(ls, "k", 2, 5) {
		t.Error("refused after the token came back")
	}
}

func TestCursorsOnlyGoUp(t *testing.T) {
	t.Parallel()
	cs := NewMemoryCursors(3)
	ctx := context.Background()
	cs.Advance(ctx, "a", 5)
	cs.Advance(ctx, "a", 3)
	if n, _ := cs.Cursor(ctx, "a"); n != 5 {
		t.Errorf("Cursor(a) after 5 then 3 = %d, want 5", n)
	}
	if n, _ := cs.Cursor(ctx, "b"); n != 0 {
		t.Errorf("Cursor(b), never set = %d, want 0", n)
	}
	for i := range 10 {
		cs.Advance(ctx, "k"+strconv.Itoa(i), 1)
	}
	if n := len(cs.last); n > 3 {
		t.Errorf("%d cursors held, want at most 3", n)
	}
}

// TestMemoryLocker: one holder at a time per name; a waiter gives up
// when its context ends; other names are free; nothing is kept after.
func TestMemoryLocker(t *testing.T) {
	t.Parallel()
	l := NewMemoryLocker()
	ctx := context.Background()
	unlock, err := l.Lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Lock(ended, "a"); err == nil {
		t.Fatal("a second holder got the lock while it was held")
	}
	if u, err := l.Lock(ctx, "b"); err != nil {
		t.Fatalf("another name's lock: %v", err)
	} else {
		u()
	}
	got := make(chan struct{})
	go func() {
		u, err := l.Lock(ctx, "a")
		if err == nil {
			u()
		}
		close(got)
	}()
	unlock()
	unlock() // a second call does nothing
	<-got
	if n := len(l.m); n != 0 {
		t.Errorf("%d locks kept after every holder left, want 0", n)
	}

	// Mutual exclusion: increments under the lock are never lost.
	var wg sync.WaitGroup
	var n atomic.Int64 // read and written apart: only the lock keeps updates
	for range 50 {
		wg.Go(func() {
			u, _ := l.Lock(ctx, "counter")
			defer u()
			v := n.Load()
			time.Sleep(time.Microsecond)
			n.Store(v + 1)
		})
	}
	wg.Wait()
	if got := n.Load(); got != 50 {
		t.Errorf("50 increments under the lock gave %d", got)
	}
}
