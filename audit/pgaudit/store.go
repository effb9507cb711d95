package pgaudit

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark/audit"
)

// lockSpace is the first key of the chains' session advisory locks (the
// two-int4 key space, apart from schemaLock's): "AUDT". The second is a
// hash of the chain's name; two chains whose names share it share a lock,
// which only makes their writers take turns.
const lockSpace int32 = 0x41554454

// readPage is how many records Read fetches per query.
const readPage = 500

// readQuery reads a page of records from a number on, through the
// primary key's index.
const readQuery = `SELECT seq, line FROM audit_records WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3`

// Store is one chain in PostgreSQL: an audit.SharedStore. Read and
// Checkpoints use connections of the pool; Append and AppendCheckpoint use
// the connection that holds the chain's lock (taking the lock for
// themselves when it is not held), and so does Head while it is held. It
// is safe for concurrent use.
type Store struct {
	b     *Backend
	chain string
	key   int32 // the second key of the chain's advisory lock

	wmu sync.Mutex // held from Lock to Unlock: one holder in this process

	mu     sync.Mutex // guards what follows, and the use of conn
	conn   *pgxpool.Conn
	closed bool
}

var _ audit.SharedStore = (*Store)(nil)

func (b *Backend) store(chain string) *Store {
	h := fnv.New32a()
	h.Write([]byte(chain))
	return &Store{b: b, chain: chain, key: int32(h.Sum32())}
}

// errLockBusy is the cause of a lock not had in time.
var errLockBusy = errors.New("another writer has kept the chain locked for too long")

// Lock waits (up to 10 s) for the chain's lock, which writers on every
// node take, and holds it, on a connection of its own, until Unlock. A
// holder that keeps PostgreSQL waiting for over 30 s (a node that
// stalled or vanished) loses its connection, and with it the lock.
func (s *Store) Lock(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || s.b.readOnly {
		return s.refuse()
	}
	s.wmu.Lock()
	conn, err := s.lock(ctx)
	if err != nil {
		s.wmu.Unlock()
		return fmt.Errorf("lock audit chain %q: %w", s.chain, err)
	}
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	return nil
}

func (s *Store) refuse() error {
	if s.b.readOnly {
		return errors.New("audit chain opened read-only")
	}
	return audit.ErrClosed
}

// lock takes a connection and the chain's session lock on it.
func (s *Store) lock(ctx context.Context) (*pgxpool.Conn, error) {
	wctx, cancel := context.WithTimeout(ctx, s.b.lockWait)
	defer cancel()
	conn, err := s.b.pool.Acquire(wctx)
	if err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("no database connection in time: %w", err)
		}
		return nil, err
	}
	_, err = conn.Exec(wctx, `SELECT pg_advisory_lock($1, $2), set_config('idle_session_timeout', $3, false)`,
		lockSpace, s.key, millis(s.b.stall))
	if err != nil {
		// The lock may have been granted as the wait ended: close the
		// connection, which releases it, rather than pool it.
		destroy(conn)
		if wctx.Err() != nil && ctx.Err() == nil {
			return nil, errLockBusy
		}
		return nil, err
	}
	return conn, nil
}

// Unlock releases the lock Lock took, and the connection.
func (s *Store) Unlock() error {
	s.mu.Lock()
	conn := s.conn
	s.conn = nil
	s.mu.Unlock()
	if conn == nil {
		return fmt.Errorf("audit chain %q: unlock of a chain not locked", s.chain)
	}
	defer s.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.b.lockWait)
	defer cancel()
	var released bool
	err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2), set_config('idle_session_timeout',
		(SELECT reset_val FROM pg_settings WHERE name = 'idle_session_timeout'), false)`, lockSpace, s.key).Scan(&released, nil)
	if err != nil || !released {
		// Closing the connection releases whatever it holds.
		destroy(conn)
		if err == nil {
			err = errors.New("the lock was not held (its connection was lost)")
		}
		return fmt.Errorf("unlock audit chain %q: %w", s.chain, err)
	}
	conn.Release()
	return nil
}

// destroy closes conn rather than return it to the pool.
func destroy(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), defaultLockWait)
	defer cancel()
	conn.Conn().Close(ctx)
	conn.Release()
}

// millis writes d as a PostgreSQL setting.
func millis(d time.Duration) string {
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// write runs f in a transaction on the connection that holds the lock,
// taking the lock around it when it is not held, and commits durably:
// with synchronous_commit raised to on if the server has it off.
func (s *Store) write(ctx context.Context, f func(tx pgx.Tx) error) error {
	s.mu.Lock()
	held := s.conn != nil
	closed := s.closed
	s.mu.Unlock()
	if closed || s.b.readOnly {
		return s.refuse()
	}
	if !held {
		if err := s.Lock(ctx); err != nil {
			return err
		}
		defer s.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return fmt.Errorf("audit chain %q: unlocked while writing", s.chain)
	}
	return pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT set_config('idle_in_transaction_session_timeout', $1, true),
			CASE WHEN current_setting('synchronous_commit') = 'off' THEN set_config('synchronous_commit', 'on', true) END`,
			millis(s.b.stall))
		if err != nil {
			return err
		}
		return f(tx)
	})
}

// Append implements audit.Store: the records are committed when it
// returns. A record whose Seq is stored already is refused.
func (s *Store) Append(ctx context.Context, recs ...audit.Record) error {
	if len(recs) == 0 {
		return nil
	}
	seqs := make([]int64, len(recs))
	lines := make([]string, len(recs))
	for i, r := range recs {
		line, err := audit.EncodeRecord(r)
		if err != nil {
			return err
		}
		seqs[i], lines[i] = int64(r.Seq), string(line[:len(line)-1])
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO audit_records (chain, seq, line)
			SELECT $1, r.seq, r.line FROM unnest($2::bigint[], $3::text[]) AS r(seq, line)`, s.chain, seqs, lines)
		return err
	})
	if err != nil {
		return fmt.Errorf("append to audit chain %q: %w", s.chain, err)
	}
	return nil
}

// Read implements audit.Store. It reads readPage records per query, by
// the primary key, so that it starts at fromSeq without reading what is
// before and holds no connection while the caller works.
func (s *Store) Read(ctx context.Context, fromSeq uint64) iter.Seq2[audit.Record, error] {
	return func(yield func(audit.Record, error) bool) {
		next := int64(max(fromSeq, 1))
		for {
			rows, err := s.b.pool.Query(ctx, readQuery, s.chain, next, readPage)
			if err != nil {
				yield(audit.Record{}, fmt.Errorf("read audit chain %q: %w", s.chain, err))
				return
			}
			page, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
			if err != nil {
				yield(audit.Record{}, fmt.Errorf("read audit chain %q: %w", s.chain, err))
				return
			}
			for _, p := range page {
				r, err := audit.DecodeRecord([]byte(p.Line))
				if err != nil {
					yield(audit.Record{}, &audit.CorruptError{Where: "record", Index: int(p.N), Err: err})
					return
				}
				if !yield(r, nil) {
					return
				}
				next = p.N + 1
			}
			if len(page) < readPage {
				return
			}
		}
	}
}

// row is a stored line and its number (seq or n).
type row struct {
	N    int64
	Line string
}

// Head implements audit.Store. While the lock is held it reads through
// the lock's connection, so that a writer needs no second connection
// (with as many chains written at once as the pool has connections, a
// second one might never come).
func (s *Store) Head(ctx context.Context) (uint64, audit.Hash, error) {
	const q = `SELECT seq, line FROM audit_records WHERE chain = $1 ORDER BY seq DESC LIMIT 1`
	var p row
	s.mu.Lock()
	var err error
	if s.conn != nil {
		err = s.conn.QueryRow(ctx, q, s.chain).Scan(&p.N, &p.Line)
		s.mu.Unlock()
	} else {
		s.mu.Unlock()
		err = s.b.pool.QueryRow(ctx, q, s.chain).Scan(&p.N, &p.Line)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, audit.Hash{}, nil
	}
	if err != nil {
		return 0, audit.Hash{}, fmt.Errorf("read audit chain %q: %w", s.chain, err)
	}
	r, err := audit.DecodeRecord([]byte(p.Line))
	if err != nil {
		return 0, audit.Hash{}, &audit.CorruptError{Where: "record", Index: int(p.N), Err: err}
	}
	return r.Seq, r.Hash, nil
}

// AppendCheckpoint implements audit.Store.
func (s *Store) AppendCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	line, err := audit.EncodeCheckpoint(c)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (chain, n, line)
			SELECT $1, coalesce(max(n), 0) + 1, $2 FROM audit_checkpoints WHERE chain = $1`, s.chain, string(line[:len(line)-1]))
		return err
	})
	if err != nil {
		return fmt.Errorf("append to audit chain %q: %w", s.chain, err)
	}
	return nil
}

// Checkpoints implements audit.Store.
func (s *Store) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := s.b.pool.Query(ctx, `SELECT n, line FROM audit_checkpoints WHERE chain = $1 ORDER BY n`, s.chain)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints of %q: %w", s.chain, err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints of %q: %w", s.chain, err)
	}
	var cps []audit.Checkpoint
	for _, p := range all {
		c, err := audit.DecodeCheckpoint([]byte(p.Line))
		if err != nil {
			return cps, &audit.CorruptError{Where: "checkpoint", Index: int(p.N), Err: err}
		}
		cps = append(cps, c)
	}
	return cps, nil
}

// Close implements audit.Store: it releases the lock if it is held, and
// leaves the pool open.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	held := s.conn != nil
	s.mu.Unlock()
	if held {
		return s.Unlock()
	}
	return nil
}
