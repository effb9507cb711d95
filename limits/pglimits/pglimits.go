// Package pglimits keeps the state of request limits (package limits) in
// PostgreSQL, so that every node behind a load balancer shares it: a
// client gets one allowance and an attacker one count of failed logins,
// however many nodes it spreads its requests over.
//
// Each check is one statement that reads and writes its row atomically
// (INSERT ... ON CONFLICT DO UPDATE ... RETURNING), and every time comes
// from the database's clock (clock_timestamp()), so the nodes' clocks do
// not matter. Keys are stored as their SHA-256: the tables hold no email
// or address in the clear. New creates the tables (named limit_...) if
// they are missing; Clean, or Run every few minutes, deletes the rows
// that no longer say anything (full buckets, forgotten failures, idle
// cursors).
//
// The tables are UNLOGGED: a check writes no WAL and so waits for no
// disk flush (a check took 2 ms with a logged table here, 0.3 ms
// unlogged: BenchmarkAllow). The price is that a crash of the database,
// or a failover to a standby, forgets them: every bucket is full again,
// failed logins are forgotten and Agent Protocol clients start again
// from step 1, as when a single node restarts.
package pglimits

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/limits"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Limits implements limits.Limiter, limits.Throttle, limits.Cursors and
// limits.Locker over a PostgreSQL pool. Its methods may be called at once from many
// goroutines and many nodes. Their errors are of kind Unavailable.
type Limits struct {
	pool  *pgxpool.Pool
	locks *pgxpool.Pool // Lock's own connections; closed by Close
}

// lockConns is the most connections the locks of Lock hold at once. They
// come from a pool of their own: a request holds its lock while its work
// runs statements on the store's pool, so locks held on that pool could
// take every connection and leave none for the work that would release
// them. More holders than this wait for a connection, as for the lock.
const lockConns = 4

// Compile-time checks.
var (
	_ limits.Limiter  = (*Limits)(nil)
	_ limits.Throttle = (*Limits)(nil)
	_ limits.Cursors  = (*Limits)(nil)
	_ limits.Locker   = (*Limits)(nil)
)

// checkTimeout bounds one check: a database that does not answer refuses
// the request rather than holding it.
const checkTimeout = 5 * time.Second

// schemaLock is the key of the advisory lock held while the tables are
// created ("bulwklim"), so that nodes starting at once do not race.
const schemaLock = 0x62756c776b6c696d

const schema = `
CREATE UNLOGGED TABLE IF NOT EXISTS limit_buckets (
	key     bytea PRIMARY KEY,
	rate    double precision NOT NULL, -- tokens a second
	burst   double precision NOT NULL, -- tokens at most
	tokens  double precision NOT NULL, -- at "at"
	at      timestamptz NOT NULL,
	allowed boolean NOT NULL           -- the answer to the last check
);
CREATE UNLOGGED TABLE IF NOT EXISTS limit_login_failures (
	key          bytea PRIMARY KEY,
	n            integer NOT NULL,
	last_failure timestamptz NOT NULL,
	wait_until   timestamptz NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS limit_cursors (
	key     bytea PRIMARY KEY,
	n       bigint NOT NULL,
	changed timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS limit_login_failures_last ON limit_login_failures (last_failure);
CREATE INDEX IF NOT EXISTS limit_cursors_changed ON limit_cursors (changed);
`

// New returns Limits over pool, after creating its tables if they are
// missing (under an advisory lock). The caller keeps pool open while the
// Limits are used, and closes it.
func New(ctx context.Context, pool *pgxpool.Pool) (*Limits, error) {
	const op = "pglimits.New"
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot create the tables of the rate limits", err)
	}
	lc := pool.Config()
	lc.MaxConns, lc.MinConns = lockConns, 0
	locks, err := pgxpool.NewWithConfig(ctx, lc)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "cannot open the connections of the locks", err)
	}
	return &Limits{pool: pool, locks: locks}, nil
}

// Close closes the connections of Lock's locks, releasing those still
// held; it leaves the pool given to New open.
func (l *Limits) Close() { l.locks.Close() }

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// The bucket after refill: what it held, plus what its old rate gave it
// since, at most its new burst. A statement that waited for the row's
// lock may carry a time before the row's: it gains nothing, and the
// row's time never goes back.
const refilled = `least(EXCLUDED.burst, b.tokens + b.rate * greatest(0, extract(epoch FROM EXCLUDED.at - b.at)::float8))`

// allowSQL and failSQL are built on first use, not at init, which every
// bulwark command pays (cmd/bulwark TestInitBudget).
var allowSQL = lazy.Value[string]{New: func() string {
	return strings.ReplaceAll(`
INSERT INTO limit_buckets AS b (key, rate, burst, tokens, at, allowed)
VALUES ($1, $2::float8, $3::float8, greatest($3::float8 - 1, 0), clock_timestamp(), $3::float8 >= 1)
ON CONFLICT (key) DO UPDATE SET
	rate = EXCLUDED.rate,
	burst = EXCLUDED.burst,
	tokens = CASE WHEN REFILLED >= 1 THEN REFILLED - 1 ELSE REFILLED END,
	allowed = REFILLED >= 1,
	at = greatest(b.at, EXCLUDED.at)
RETURNING allowed, tokens`, "REFILLED", refilled)
}}

// Allow implements limits.Limiter: a token bucket in a row of
// limit_buckets.
func (l *Limits) Allow(ctx context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var ok bool
	var tokens float64
	if err := l.pool.QueryRow(ctx, allowSQL.Get(), hashKey(key), max(rate, 0), float64(burst)).Scan(&ok, &tokens); err != nil {
		return false, 0, bulwark.E(bulwark.Unavailable, "pglimits.Allow", "cannot check a rate limit", err)
	}
	if ok {
		return true, 0, nil
	}
	if rate <= 0 || burst < 1 {
		return false, time.Minute, nil // never a token (as rate.Limiter says)
	}
	return false, time.Duration(math.Ceil((1 - tokens) / rate * 1e9)), nil
}

// failedN is the count after this failure: one more, or one when the
// others were forgotten.
const failedN = `CASE WHEN EXCLUDED.last_failure - f.last_failure >= $5::float8 * interval '1 microsecond' THEN 1 ELSE f.n + 1 END`

// The delay after the n-th failure, in microseconds, as limits.Policy.Delay
// says: $2 free failures, then $3 doubling up to $4.
const failDelay = `(CASE WHEN {n} <= $2::int THEN 0 WHEN {n} - $2::int - 1 >= 30 THEN $4::float8
	ELSE least($3::float8 * power(2, {n} - $2::int - 1), $4::float8) END) * interval '1 microsecond'`

var failSQL = lazy.Value[string]{New: func() string {
	return strings.NewReplacer("NEWN", failedN, "DELAY1", strings.ReplaceAll(failDelay, "{n}", "1"), "DELAY", strings.ReplaceAll(failDelay, "{n}", "("+failedN+")")).Replace(`
INSERT INTO limit_login_failures AS f (key, n, last_failure, wait_until)
VALUES ($1, 1, clock_timestamp(), clock_timestamp() + DELAY1)
ON CONFLICT (key) DO UPDATE SET
	n = NEWN,
	last_failure = greatest(f.last_failure, EXCLUDED.last_failure),
	wait_until = greatest(f.wait_until, EXCLUDED.last_failure + DELAY)`)
}}

// Fail implements limits.Throttle.
func (l *Limits) Fail(ctx context.Context, key string, p limits.Policy) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	_, err := l.pool.Exec(ctx, failSQL.Get(), hashKey(key), p.Free, float64(p.Base.Microseconds()), float64(p.MaxDelay.Microseconds()), float64(limits.FailureWindow.Microseconds()))
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "pglimits.Fail", "cannot count a failed login", err)
	}
	return nil
}

// Wait implements limits.Throttle.
func (l *Limits) Wait(ctx context.Context, key string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var secs float64
	err := l.pool.QueryRow(ctx, `SELECT greatest(0, extract(epoch FROM wait_until - clock_timestamp()))::float8
		FROM limit_login_failures WHERE key = $1`, hashKey(key)).Scan(&secs)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, bulwark.E(bulwark.Unavailable, "pglimits.Wait", "cannot read the failed logins", err)
	}
	return time.Duration(math.Ceil(secs * 1e9)), nil
}

// Reset implements limits.Throttle.
func (l *Limits) Reset(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	if _, err := l.pool.Exec(ctx, `DELETE FROM limit_login_failures WHERE key = $1`, hashKey(key)); err != nil {
		return bulwark.E(bulwark.Unavailable, "pglimits.Reset", "cannot forget the failed logins", err)
	}
	return nil
}

// Cursor implements limits.Cursors.
func (l *Limits) Cursor(ctx context.Context, key string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	var n int64
	err := l.pool.QueryRow(ctx, `SELECT n FROM limit_cursors WHERE key = $1`, hashKey(key)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, bulwark.E(bulwark.Unavailable, "pglimits.Cursor", "cannot read a cursor", err)
	}
	return n, nil
}

// Advance implements limits.Cursors.
func (l *Limits) Advance(ctx context.Context, key string, n int64) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	_, err := l.pool.Exec(ctx, `INSERT INTO limit_cursors AS c (key, n, changed) VALUES ($1, $2, clock_timestamp())
		ON CONFLICT (key) DO UPDATE SET n = greatest(c.n, EXCLUDED.n), changed = EXCLUDED.changed`, hashKey(key), n)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "pglimits.Advance", "cannot write a cursor", err)
	}
	return nil
}

// lockPoll is how long Lock waits between tries of a lock that another
// holds: a waiter holds no connection of the pool, so that waiters cannot
// starve the checks of every other request.
const lockPoll = 20 * time.Millisecond

// Lock implements limits.Locker with a transaction-level advisory lock
// (keyed by the SHA-256 of name), held on a connection of its own (not
// one of the pool given to New; see lockConns) until unlock: the database releases it by itself if this node dies. It waits
// until ctx ends; give ctx a deadline.
func (l *Limits) Lock(ctx context.Context, name string) (func(), error) {
	const op = "pglimits.Lock"
	key := int64(binary.BigEndian.Uint64(hashKey("lock|" + name)))
	for {
		tx, err := l.locks.Begin(ctx)
		if err != nil {
			return nil, bulwark.E(bulwark.Unavailable, op, "cannot take a lock", err)
		}
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, key).Scan(&got); err != nil {
			tx.Rollback(context.Background())
			return nil, bulwark.E(bulwark.Unavailable, op, "cannot take a lock", err)
		}
		if got {
			var once sync.Once
			return func() {
				once.Do(func() {
					ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
					defer cancel()
					tx.Rollback(ctx) // ends the transaction, and so the lock
				})
			}, nil
		}
		tx.Rollback(context.Background())
		select {
		case <-ctx.Done():
			return nil, bulwark.E(bulwark.Unavailable, op, "a lock was not free in time", ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// bucketIdle is how long a bucket whose rate never fills it (rate 0) is
// kept after its last check.
const bucketIdle = 24 * time.Hour

// Clean deletes the rows that no longer say anything: buckets that are
// full again (a missing bucket is full), failures forgotten and waited
// out, and cursors unchanged for limits.CursorIdle.
func (l *Limits) Clean(ctx context.Context) error {
	const op = "pglimits.Clean"
	stmts := []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM limit_buckets WHERE at < clock_timestamp() - $1::float8 * interval '1 microsecond'
			OR rate > 0 AND tokens + rate * extract(epoch FROM clock_timestamp() - at)::float8 >= burst`, []any{float64(bucketIdle.Microseconds())}},
		{`DELETE FROM limit_login_failures WHERE last_failure < clock_timestamp() - $1::float8 * interval '1 microsecond'
			AND wait_until < clock_timestamp()`, []any{float64(limits.FailureWindow.Microseconds())}},
		{`DELETE FROM limit_cursors WHERE changed < clock_timestamp() - $1::float8 * interval '1 microsecond'`, []any{float64(limits.CursorIdle.Microseconds())}},
	}
	for _, st := range stmts {
		if _, err := l.pool.Exec(ctx, st.sql, st.args...); err != nil {
			return bulwark.E(bulwark.Unavailable, op, "cannot delete the expired rows of the rate limits", err)
		}
	}
	return nil
}

// Run calls Clean every period until ctx ends, logging its errors to log
// (nil: slog.Default()). Every node may run it: the deletes do not clash.
func (l *Limits) Run(ctx context.Context, every time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Clean(ctx); err != nil && ctx.Err() == nil {
				log.Error("cannot clean the tables of the rate limits", "err", err)
			}
		}
	}
}
