package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark/secret"
)

// Options configure a Log.
type Options struct {
	// SigningKey signs checkpoints; nil means no checkpoints (and Verify
	// then cannot detect truncation).
	SigningKey ed25519.PrivateKey
	// CheckpointEvery is the number of records between checkpoints
	// (default 1000). Close signs one more for the records since the last.
	CheckpointEvery int
	// MaxBatch is the most records committed with one Store.Append (one
	// fsync) when appends arrive together (default 512). 1 commits every
	// record on its own. Durability is the same either way: Append returns
	// only once its record is stored.
	MaxBatch int
	// Redactor, if set, masks Target and Details values before they are
	// recorded.
	Redactor *secret.Redactor
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Log appends records to a Store, chaining their hashes and signing
// checkpoints. It is safe for concurrent use. Concurrent appends are
// committed together (group commit): one goroutine writes and syncs the
// records that queued while the previous batch was being written.
//
// A failed write leaves the Log failed: every later Append returns the
// error, since the log and the chain in memory may no longer agree. Callers
// should treat an audit failure as a failure of the audited action.
type Log struct {
	store Store
	opt   Options

	mu         sync.Mutex
	idle       sync.Cond // signaled when committing becomes false
	queue      []*pending
	committing bool
	seq        uint64
	head       Hash
	signed     uint64 // Size of the last checkpoint
	err        error
	closed     bool
}

type pending struct {
	rec  Record
	done chan error
}

// NewLog returns a Log that appends to s after the records s holds.
func NewLog(ctx context.Context, s Store, opt Options) (*Log, error) {
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = 1000
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 512
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	seq, head, err := s.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l := &Log{store: s, opt: opt, seq: seq, head: head, signed: seq}
	l.idle.L = &l.mu
	if cps, err := s.Checkpoints(ctx); err == nil && len(cps) > 0 {
		l.signed = cps[len(cps)-1].Size
	}
	return l, nil
}

// Append records r. It fills Seq, Time, PrevHash and Hash (any values the
// caller set there are replaced) and returns once r is durably stored. If
// ctx ends first, Append returns ctx's error, and r may still be recorded.
func (l *Log) Append(ctx context.Context, r Record) error {
	if red := l.opt.Redactor; red != nil {
		r.Target = red.String(r.Target)
		if r.Details != nil {
			d := make(map[string]string, len(r.Details))
			for k, v := range r.Details {
				d[k] = red.String(v)
			}
			r.Details = d
		}
	}
	p := &pending{rec: r, done: make(chan error, 1)}
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.err != nil:
		l.mu.Unlock()
		return l.err
	}
	l.queue = append(l.queue, p)
	if !l.committing {
		l.commit(ctx)
	}
	l.mu.Unlock()
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commit writes queued records in batches until the queue is empty. It is
// called with l.mu held and returns with it held; it releases it while
// the store writes.
func (l *Log) commit(ctx context.Context) {
	l.committing = true
	ctx = context.WithoutCancel(ctx)
	for len(l.queue) > 0 && l.err == nil {
		n := min(len(l.queue), l.opt.MaxBatch)
		batch := l.queue[:n:n]
		l.queue = l.queue[n:]
		seq, head := l.seq, l.head
		now := l.opt.Now()
		recs := make([]Record, 0, n)
		var err error
		for _, p := range batch {
			r := p.rec
			seq++
			r.Seq, r.Time, r.PrevHash = seq, now, head
			if r, _, err = seal(r); err != nil {
				break
			}
			head = r.Hash
			recs = append(recs, r)
		}
		if err == nil {
			l.mu.Unlock()
			err = l.store.Append(ctx, recs...)
			l.mu.Lock()
		}
		if err != nil {
			l.err = fmt.Errorf("audit log failed: %w", err)
		} else {
			l.seq, l.head = seq, head
			if l.seq-l.signed >= uint64(l.opt.CheckpointEvery) {
				if cerr := l.checkpoint(ctx); cerr != nil {
					l.err = fmt.Errorf("audit log failed: %w", cerr)
				}
			}
		}
		for _, p := range batch {
			p.done <- err
		}
	}
	for _, p := range l.queue {
		p.done <- l.err
	}
	l.queue = nil
	l.committing = false
	l.idle.Broadcast()
}

// checkpoint signs and stores a checkpoint of the current head; l.mu is
// held.
func (l *Log) checkpoint(ctx context.Context) error {
	if l.opt.SigningKey == nil || l.seq == l.signed {
		return nil
	}
	c := signCheckpoint(l.opt.SigningKey, l.seq, l.head, l.opt.Now())
	if err := l.store.AppendCheckpoint(ctx, c); err != nil {
		return err
	}
	l.signed = l.seq
	return nil
}

// Checkpoint signs a checkpoint of the records appended so far, if there
// are any since the last one and the Log has a signing key.
func (l *Log) Checkpoint(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.committing {
		l.idle.Wait()
	}
	if l.closed {
		return ErrClosed
	}
	return l.checkpoint(ctx)
}

// Head returns the Seq and Hash of the last record appended.
func (l *Log) Head() (uint64, Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// Close waits for appends in progress, signs a last checkpoint and closes
// the store.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for l.committing {
		l.idle.Wait()
	}
	var err error
	if l.err == nil {
		err = l.checkpoint(context.Background())
	}
	if cerr := l.store.Close(); err == nil {
		err = cerr
	}
	return err
}
