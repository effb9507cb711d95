package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/limits/pglimits"
	"github.com/bulwark-agents/bulwark/notify/pgnotify"
	"github.com/bulwark-agents/bulwark/queue/riverqueue"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/server"
	"github.com/jackc/pgx/v5/pgxpool"
)

// cluster is what makes the nodes of one PostgreSQL database
// interchangeable: the durable queue its tasks go through, the wake-ups
// of streams of tasks that run on another node, and the rate limits,
// login throttle, step cursors and tenant locks they share. A SQLite
// store has none of them: one node, everything in process.
type cluster struct {
	queue  *riverqueue.Queue
	notify *pgnotify.Listener
	limits *pglimits.Limits
	stop   context.CancelFunc
}

// pooled is a store kept in PostgreSQL.
type pooled interface{ Pool() *pgxpool.Pool }

// startCluster sets up the shared parts when db is kept in PostgreSQL,
// and returns nil for any other store. quota is the tenants' concurrency
// quota, read through a short cache (the queue asks at every start and
// end of a run).
func startCluster(ctx context.Context, db store, quota func(bulwark.TenantID) int) (*cluster, error) {
	p, ok := db.(pooled)
	if !ok {
		return nil, nil
	}
	pool := p.Pool()
	lease, err := envDuration("BULWARK_QUEUE_LEASE", riverqueue.DefaultLease)
	if err != nil {
		return nil, err
	}
	c := &cluster{}
	ctx, c.stop = context.WithCancel(ctx)
	host, _ := os.Hostname()
	var version func() (uint64, error)
	if av, ok := db.(bulwark.AuthVersioner); ok {
		version = func() (uint64, error) { v, _, err := av.AuthVersion(ctx); return v, err }
	}
	c.queue, err = riverqueue.New(ctx, riverqueue.Config{Pool: pool, Quota: cachedQuota(quota, 5*time.Second, version),
		Lease: lease, Node: fmt.Sprintf("%s-%d", host, os.Getpid())})
	if err != nil {
		c.close()
		return nil, err
	}
	if c.notify, err = pgnotify.Listen(ctx, pool); err != nil {
		c.close()
		return nil, err
	}
	if c.limits, err = pglimits.New(ctx, pool); err != nil {
		c.close()
		return nil, err
	}
	go c.limits.Run(ctx, 5*time.Minute, slog.Default())
	return c, nil
}

// configure hands the shared parts to the runner and the server.
func (c *cluster) configure(rc *runner.Config, sc *server.Config) {
	if c == nil {
		return
	}
	rc.Queue = c.queue
	rc.Notifier = c.notify
	sc.Limiter, sc.Throttle, sc.Cursors, sc.Locks = c.limits, c.limits, c.limits, c.limits
	sc.Ready = append(sc.Ready, server.ReadyCheck{Name: "the task queue", Check: c.queue.Ready})
}

// close stops what startCluster started (the runner stops the queue).
func (c *cluster) close() {
	if c == nil {
		return
	}
	if c.notify != nil {
		c.notify.Close()
	}
	if c.limits != nil {
		c.limits.Close()
	}
	c.stop()
}

// cachedQuota remembers each tenant's quota for ttl, while version (the
// store's AuthVersion, which every change of a tenant's settings moves,
// on any node) stays the same: a quota lowered on one node held on the
// others for up to ttl (red team, session 42). A version that cannot be
// read reads the quota again. version nil: ttl alone.
func cachedQuota(f func(bulwark.TenantID) int, ttl time.Duration, version func() (uint64, error)) func(bulwark.TenantID) int {
	type entry struct {
		n  int
		v  uint64
		at time.Time
	}
	var mu sync.Mutex
	seen := map[bulwark.TenantID]entry{}
	return func(t bulwark.TenantID) int {
		var v uint64
		fresh := true
		if version != nil {
			var err error
			v, err = version()
			fresh = err == nil
		}
		mu.Lock()
		e, ok := seen[t]
		mu.Unlock()
		if ok && fresh && e.v == v && time.Since(e.at) < ttl {
			return e.n
		}
		n := f(t)
		mu.Lock()
		seen[t] = entry{n, v, time.Now()}
		mu.Unlock()
		return n
	}
}
