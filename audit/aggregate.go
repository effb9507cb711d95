package audit

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Appender takes audit records: *Log and *Chains are two.
type Appender interface {
	Append(ctx context.Context, r Record) error
}

// Aggregator turns events that anyone can cause as often as they like
// (failed logins, bad credentials) into one record per kind, client and
// window (a minute), which counts them: so a flood of requests costs the
// log one record a minute per client, not one per request. A window's
// records are written when it ends (Run) or when Flush is called (at
// shutdown).
type Aggregator struct {
	out     Appender
	window  time.Duration
	now     func() time.Time
	onError func(error)

	mu      sync.Mutex
	buckets map[aggKey]*bucket
}

// maxBuckets bounds the clients counted apart in one window; the records
// of further clients are counted together, under the client "*".
const maxBuckets = 10000

// maxTargets bounds the distinct targets an aggregated record counts.
const maxTargets = 1000

type aggKey struct {
	start                  int64 // the window's start, Unix nanoseconds
	tenant, action, client string
}

type bucket struct {
	rec         Record
	count       int
	first, last time.Time
	targets     map[string]bool
}

// NewAggregator returns an Aggregator that writes to out, with windows of
// window (a minute when 0) on the clock now (time.Now when nil). onError,
// if not nil, is told of records that could not be written.
func NewAggregator(out Appender, window time.Duration, now func() time.Time, onError func(error)) *Aggregator {
	if window <= 0 {
		window = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Aggregator{out: out, window: window, now: now, onError: onError, buckets: map[aggKey]*bucket{}}
}

// Add counts r, an event of client, in the current window. The first
// record of a kind, client and window gives the aggregated record its
// fields; the others add to its count.
func (a *Aggregator) Add(client string, r Record) {
	now := a.now()
	k := aggKey{now.Truncate(a.window).UnixNano(), r.TenantID, r.Action, client}
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buckets[k]
	if b == nil && len(a.buckets) >= maxBuckets {
		k.client = "*"
		b = a.buckets[k]
	}
	if b == nil {
		b = &bucket{rec: r, first: now, targets: map[string]bool{}}
		b.rec.Details = map[string]string{}
		for dk, dv := range r.Details {
			b.rec.Details[dk] = dv
		}
		b.rec.Details["client"] = k.client
		a.buckets[k] = b
	}
	b.count++
	b.last = now
	if len(b.targets) < maxTargets {
		b.targets[r.Target] = true
	}
}

// Flush writes the records of the windows that have ended, or of all
// windows when all is set.
func (a *Aggregator) Flush(ctx context.Context, all bool) {
	now := a.now()
	a.mu.Lock()
	var due []*bucket
	for k, b := range a.buckets {
		if all || time.Unix(0, k.start).Add(a.window).Compare(now) <= 0 {
			due = append(due, b)
			delete(a.buckets, k)
		}
	}
	a.mu.Unlock()
	for _, b := range due {
		r := b.rec
		r.Details["count"] = strconv.Itoa(b.count)
		r.Details["first"] = b.first.UTC().Format(time.RFC3339)
		r.Details["last"] = b.last.UTC().Format(time.RFC3339)
		if len(b.targets) > 1 {
			r.Details["targets"] = strconv.Itoa(len(b.targets))
		}
		if err := a.out.Append(ctx, r); err != nil && a.onError != nil {
			a.onError(err)
		}
	}
}

// Run flushes each window as it ends, until ctx ends; then it flushes
// what is left.
func (a *Aggregator) Run(ctx context.Context) {
	for {
		next := a.now().Truncate(a.window).Add(a.window)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			a.Flush(context.WithoutCancel(ctx), true)
			return
		case <-t.C:
			a.Flush(ctx, false)
		}
	}
}
