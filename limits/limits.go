// Package limits holds the state that request limits keep between
// requests: token buckets (Limiter), the count of failed logins
// (Throttle), small counters that only go up (Cursors) and named locks
// (Locker). The server
// reads and writes them through these interfaces, so that several nodes
// behind one load balancer can share them: the implementations in this
// package keep them in memory, for one process (the embedded, SQLite
// mode); package pglimits keeps them in PostgreSQL, for every node at
// once.
//
// Every method takes a context and may fail; a caller that cannot check
// a limit refuses the request (it fails closed), it never lets it through.
package limits

import (
	"context"
	"time"
)

// Limiter is a table of token buckets by key.
type Limiter interface {
	// Allow takes a token from key's bucket, which holds at most burst
	// tokens and gains rate tokens a second (a bucket never seen is
	// full). With none to take, ok is false and retryAfter says how long
	// until there is one. An error means the bucket could not be read:
	// the caller must refuse the request.
	Allow(ctx context.Context, key string, rate float64, burst int) (ok bool, retryAfter time.Duration, err error)
}

// Throttle counts failed logins by key (an account, a client address, a
// device cookie) and says how long the next attempt must wait.
type Throttle interface {
	// Wait returns how long key must wait before its next attempt (0:
	// none).
	Wait(ctx context.Context, key string) (time.Duration, error)
	// Fail counts one more failure of key, slowing it down as p says.
	// Failures are forgotten FailureWindow after the last one.
	Fail(ctx context.Context, key string, p Policy) error
	// Reset forgets key's failures.
	Reset(ctx context.Context, key string) error
}

// Cursors keeps counters that only go up, by key: how far a client has
// read (the Agent Protocol's step cursors).
type Cursors interface {
	// Cursor returns key's counter: 0 when it was never advanced (or was
	// forgotten, CursorIdle after its last change).
	Cursor(ctx context.Context, key string) (int64, error)
	// Advance raises key's counter to n; a lower n changes nothing.
	Advance(ctx context.Context, key string, n int64) error
}

// Locker holds named locks: one holder at a time for each name, across
// every process that shares the Locker. A check and the change it allows
// (a tenant's storage quota and an upload; "another owner remains" and a
// role change) are made under one, so that two nodes cannot both pass
// the check.
type Locker interface {
	// Lock waits until it holds name's lock, or until ctx ends, and
	// returns the function that releases it (safe to call more than
	// once). An error means the lock is not held: the caller must not go
	// on.
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

// FailureWindow is how long a key's failed logins are remembered after
// the last one.
const FailureWindow = 15 * time.Minute

// CursorIdle is how long a cursor that does not change is kept at least.
const CursorIdle = 7 * 24 * time.Hour

// Policy says how failures slow a key down: the first Free failures cost
// nothing; after each later one the next attempt must wait Base, 2*Base,
// 4*Base ... up to MaxDelay.
type Policy struct {
	Free     int
	Base     time.Duration
	MaxDelay time.Duration
}

// Delay is how long the next attempt waits after the n-th failure.
func (p Policy) Delay(n int) time.Duration {
	if n <= p.Free {
		return 0
	}
	if shift := n - p.Free - 1; shift < 30 {
		return min(p.Base<<shift, p.MaxDelay)
	}
	return p.MaxDelay
}
