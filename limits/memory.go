package limits

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MemoryLimiter is a Limiter in this process's memory: a bounded table
// of token buckets. Its methods never fail.
type MemoryLimiter struct {
	now   func() time.Time
	max   int
	idle  time.Duration
	mu    sync.Mutex
	m     map[string]*bucket
	calls int
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// NewMemoryLimiter returns a MemoryLimiter that holds at most max
// buckets and drops a bucket untouched for idle (it would be full again);
// now is the clock (nil: time.Now).
func NewMemoryLimiter(now func() time.Time, max int, idle time.Duration) *MemoryLimiter {
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{now: now, max: max, idle: idle, m: map[string]*bucket{}}
}

// Allow implements Limiter.
func (ls *MemoryLimiter) Allow(_ context.Context, key string, r float64, b int) (bool, time.Duration, error) {
	now := ls.now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	bk := ls.m[key]
	if bk == nil {
		ls.evict(now)
		bk = &bucket{lim: rate.NewLimiter(rate.Limit(r), b)}
		ls.m[key] = bk
	} else if bk.lim.Limit() != rate.Limit(r) || bk.lim.Burst() != b {
		bk.lim.SetLimitAt(now, rate.Limit(r))
		bk.lim.SetBurstAt(now, b)
	}
	bk.last = now
	res := bk.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Minute, nil
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d, nil
	}
	return true, 0, nil
}

// evict drops idle buckets every so often, and when the table is full;
// if it is still full, it drops the least recently used buckets down to
// nine tenths of max, so that a full table is not scanned again at each
// new key (a flood of new keys would cost a scan of the whole table per
// request). ls.mu is held.
func (ls *MemoryLimiter) evict(now time.Time) {
	ls.calls++
	if len(ls.m) < ls.max && ls.calls%1024 != 0 {
		return
	}
	for k, b := range ls.m {
		if now.Sub(b.last) >= ls.idle {
			delete(ls.m, k)
		}
	}
	target := ls.max * 9 / 10
	if len(ls.m) < ls.max || len(ls.m) <= target {
		return
	}
	type entry struct {
		key  string
		last time.Time
	}
	all := make([]entry, 0, len(ls.m))
	for k, b := range ls.m {
		all = append(all, entry{k, b.last})
	}
	slices.SortFunc(all, func(a, b entry) int { return a.last.Compare(b.last) })
	for _, e := range all[:len(all)-target] {
		delete(ls.m, e.key)
	}
}

// Len is how many buckets the table holds.
func (ls *MemoryLimiter) Len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.m)
}

// MemoryThrottle is a Throttle in this process's memory: each process
// counts its own failures, and a restart forgets them. It holds at most
// max keys. Its methods never fail.
type MemoryThrottle struct {
	now func() time.Time
	max int
	mu  sync.Mutex
	m   map[string]*failState
}

type failState struct {
	n     int
	last  time.Time // the last failure
	until time.Time // no attempt before this
}

// NewMemoryThrottle returns a MemoryThrottle of at most max keys; now is
// the clock (nil: time.Now).
func NewMemoryThrottle(now func() time.Time, max int) *MemoryThrottle {
	if now == nil {
		now = time.Now
	}
	return &MemoryThrottle{now: now, max: max, m: map[string]*failState{}}
}

// Wait implements Throttle.
func (t *MemoryThrottle) Wait(_ context.Context, key string) (time.Duration, error) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.m[key]
	if st == nil {
		return 0, nil
	}
	if now.Before(st.until) {
		return st.until.Sub(now), nil
	}
	if now.Sub(st.last) >= FailureWindow {
		delete(t.m, key) // forgotten
	}
	return 0, nil
}

// Fail implements Throttle.
func (t *MemoryThrottle) Fail(_ context.Context, key string, p Policy) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.m[key]
	if st == nil || now.Sub(st.last) >= FailureWindow {
		t.evict(now)
		st = &failState{}
		t.m[key] = st
	}
	st.n++
	st.last = now
	if d := p.Delay(st.n); d > 0 {
		st.until = now.Add(d)
	}
	return nil
}

// Reset implements Throttle.
func (t *MemoryThrottle) Reset(_ context.Context, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
	return nil
}

// Len is how many keys the table holds.
func (t *MemoryThrottle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// evict makes room when the table is full: it drops the forgotten
// entries, then, if that is not enough, the entries with the fewest
// failures (the oldest first among equals), down to nine tenths of max,
// so that it runs once per many new entries rather than at each. An
// attacker who fails once at each of many new accounts to fill the table
// pushes out its own entries, not the delay of an account under attack.
// t.mu is held.
func (t *MemoryThrottle) evict(now time.Time) {
	if len(t.m) < t.max {
		return
	}
	for k, st := range t.m {
		if now.Sub(st.last) >= FailureWindow && !now.Before(st.until) {
			delete(t.m, k)
		}
	}
	target := t.max * 9 / 10
	if len(t.m) <= target {
		return
	}
	type entry struct {
		key string
		st  *failState
	}
	all := make([]entry, 0, len(t.m))
	for k, st := range t.m {
		all = append(all, entry{k, st})
	}
	slices.SortFunc(all, func(a, b entry) int {
		if c := cmp.Compare(a.st.n, b.st.n); c != 0 {
			return c
		}
		return a.st.last.Compare(b.st.last)
	})
	for _, e := range all[:len(all)-target] {
		delete(t.m, e.key)
	}
}

// MemoryCursors is Cursors in this process's memory: a restart forgets
// them. It holds at most max keys; past that it starts over. Its methods
// never fail.
type MemoryCursors struct {
	max  int
	mu   sync.Mutex
	last map[string]int64
}

// NewMemoryCursors returns MemoryCursors of at most max keys.
func NewMemoryCursors(max int) *MemoryCursors {
	return &MemoryCursors{max: max, last: map[string]int64{}}
}

// Cursor implements Cursors.
func (c *MemoryCursors) Cursor(_ context.Context, key string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[key], nil
}

// Advance implements Cursors.
func (c *MemoryCursors) Advance(_ context.Context, key string, n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n <= c.last[key] {
		return nil
	}
	if len(c.last) >= c.max {
		clear(c.last)
	}
	c.last[key] = n
	return nil
}

// MemoryLocker is a Locker for the goroutines of one process. It keeps a
// lock only while it is held or waited for.
type MemoryLocker struct {
	mu sync.Mutex
	m  map[string]*memLock
}

type memLock struct {
	ch   chan struct{} // holds a token while the lock is held
	refs int           // holders and waiters
}

// NewMemoryLocker returns an empty MemoryLocker.
func NewMemoryLocker() *MemoryLocker { return &MemoryLocker{m: map[string]*memLock{}} }

// Lock implements Locker; it fails only when ctx ends first.
func (l *MemoryLocker) Lock(ctx context.Context, name string) (func(), error) {
	l.mu.Lock()
	ml := l.m[name]
	if ml == nil {
		ml = &memLock{ch: make(chan struct{}, 1)}
		l.m[name] = ml
	}
	ml.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if ml.refs--; ml.refs == 0 {
			delete(l.m, name)
		}
	}
	select {
	case ml.ch <- struct{}{}:
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-ml.ch
			drop()
		})
	}, nil
}

// Len returns how many locks are held or waited for.
func (l *MemoryLocker) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// Compile-time checks.
var (
	_ Limiter  = (*MemoryLimiter)(nil)
	_ Throttle = (*MemoryThrottle)(nil)
	_ Cursors  = (*MemoryCursors)(nil)
	_ Locker   = (*MemoryLocker)(nil)
)
