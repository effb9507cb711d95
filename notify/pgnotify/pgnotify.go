// Package pgnotify carries the wake-ups of package notify between the
// nodes of a PostgreSQL deployment with LISTEN/NOTIFY: the store sends a
// notification on Channel in the transaction that inserts an event, so it
// is delivered on commit only, and each node keeps one connection that
// listens and wakes the followers of the task it names.
package pgnotify

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/notify"
)

// Channel is the channel of the notifications of committed events.
const Channel = "bulwark_events"

// NotifySQL is what a store runs, with Payload(...) as $1, in the same
// transaction as the insert of an event (so the notification goes out on
// commit, and never for a transaction rolled back), and as well where it
// changes the status of a task without an event (interrupted), so that
// its followers see it has stopped.
const NotifySQL = "SELECT pg_notify('" + Channel + "', $1)"

// Payload is the payload of the notification of event seq of task taskID
// of tenant: "tenantID:taskID:seq" (well under PostgreSQL's 8000 bytes
// for any id the store accepts). seq is 0 for a change of status alone.
func Payload(tenant bulwark.TenantID, taskID string, seq int64) string {
	return string(tenant) + ":" + taskID + ":" + strconv.FormatInt(seq, 10)
}

// parsePayload is the reverse of Payload; ok is false for a payload it
// did not make (any user of the database may notify on the channel: the
// worst such a payload does is a wake-up, that is, a read of the store).
func parsePayload(p string) (tenant bulwark.TenantID, taskID string, ok bool) {
	i := strings.IndexByte(p, ':')
	j := strings.LastIndexByte(p, ':')
	if i <= 0 || j <= i+1 {
		return "", "", false
	}
	if seq, err := strconv.ParseInt(p[j+1:], 10, 64); err != nil || seq < 0 {
		return "", "", false
	}
	return bulwark.TenantID(p[:i]), p[i+1 : j], true
}

// Timing of the listening connection.
const (
	minBackoff  = 100 * time.Millisecond // the first wait before a reconnection
	maxBackoff  = 10 * time.Second       // the longest
	heartbeat   = 30 * time.Second       // silence after which the connection is pinged
	dialTimeout = 10 * time.Second       // to connect, LISTEN or ping
)

// Listener is the notify.Notifier of one node on PostgreSQL. It holds one
// connection of its own (outside the pool, with the pool's settings) that
// LISTENs on Channel and wakes the followers of the task each
// notification names. When the connection drops it reconnects, waiting
// longer after each failure (up to 10 s), and then wakes every follower:
// the notifications sent while it was away are lost, and the store has
// what they announced. A connection silent for 30 s is pinged, so one
// that died without a word is found.
type Listener struct {
	cfg    *pgx.ConnConfig
	m      notify.Memory
	cancel context.CancelFunc
	done   chan struct{}
	pid    atomic.Uint32 // the server process of the listening connection
}

var _ notify.Notifier = (*Listener)(nil)

// Listen connects the listening connection of a node, with the settings
// of pool, and returns once it listens: Unavailable when it cannot. Call
// Close when done.
func Listen(ctx context.Context, pool *pgxpool.Pool) (*Listener, error) {
	l := &Listener{cfg: pool.Config().ConnConfig.Copy(), done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "pgnotify.Listen", "cannot listen for the events of tasks on the database", err)
	}
	run, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(run, conn)
	return l, nil
}

// Follow implements notify.Notifier.
func (l *Listener) Follow(tenant bulwark.TenantID, id string) (<-chan struct{}, func()) {
	return l.m.Follow(tenant, id)
}

// Close stops listening and closes the connection. Followers get no more
// wake-ups.
func (l *Listener) Close() {
	l.cancel()
	<-l.done
}

// connect opens a connection and LISTENs on it.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, l.cfg.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		closeConn(conn)
		return nil, err
	}
	l.pid.Store(conn.PgConn().PID())
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// run listens on conn, and on the connections that replace it, until ctx
// is done.
func (l *Listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	backoff := minBackoff
	for {
		since := time.Now()
		err := l.listen(ctx, conn)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		if time.Since(since) > maxBackoff {
			backoff = minBackoff // it served a while: not a connection failing at once again and again
		}
		slog.Warn("the connection listening for task events dropped; reconnecting", "err", err)
		for conn = nil; conn == nil; {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, maxBackoff)
			if conn, err = l.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				slog.Warn("reconnecting to listen for task events", "err", err, "retry_in", backoff)
			}
		}
		slog.Info("listening for task events again")
		l.m.WakeAll() // the notifications sent meanwhile are lost: every follower re-reads the store
	}
}

// listen dispatches the notifications that come on conn until it fails
// or ctx is done.
func (l *Listener) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, heartbeat)
		n, err := conn.WaitForNotification(wctx)
		silent := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil {
			if tenant, id, ok := parsePayload(n.Payload); ok && n.Channel == Channel {
				l.m.Notify(tenant, id)
			}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !silent || !pgconn.Timeout(err) || conn.IsClosed() {
			return err
		}
		// Silence: make sure the connection still works.
		pctx, cancel := context.WithTimeout(ctx, dialTimeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}
