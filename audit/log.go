package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark/secret"
)

// Options configure a Log.
type Options struct {
	// Chain names the chain the Log keeps, for its checkpoints: "" for
	// the system chain (or a log of its own), else a tenant id. Chains
	// sets it.
	Chain string
	// SigningKey signs checkpoints and keys each record's MAC; nil means
	// no checkpoints and no MACs (and Verify then cannot detect
	// truncation).
	SigningKey ed25519.PrivateKey
	// StrictMACs: every record of the chains must carry a MAC, as every
	// record a Log with SigningKey appends does. Set it for a signing key
	// made by a release that wrote MACs from the start (see
	// LoadOrCreateSigningKey); a key made before keeps older records
	// without one, which Chains' verifications then allow before a
	// chain's first record with a MAC.
	StrictMACs bool
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
	// Export, if set, is given each batch of records once it is stored,
	// as stored (masked, sealed, with their hashes), in the chain's order:
	// a Log hands it one batch at a time. It must not block (see
	// package audit/export, which queues and drops rather than wait).
	// Chains.Close closes it; Log.Close does not.
	Export Exporter
}

// Exporter takes stored records for a copy kept elsewhere (a SIEM).
// Export must return at once: it is called on the path that records
// actions, and the records are already stored whatever it does.
type Exporter interface {
	Export(recs []Record)
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
	mac   []byte // the key of the records' MACs (nil without a signing key)

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
	if len(opt.SigningKey) == ed25519.PrivateKeySize {
		l.mac = macKey(opt.SigningKey)
	}
	l.idle.L = &l.mu
	if cps, err := s.Checkpoints(ctx); err == nil && len(cps) > 0 {
		l.signed = cps[len(cps)-1].Size
	}
	return l, nil
}

// Append records r. It fills Seq, Time, PrevHash, Hash and MAC (any values the
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
		recs := make([]Record, len(batch))
		for i, p := range batch {
			recs[i] = p.rec
		}
		seq, head, signed := l.seq, l.head, l.signed
		l.mu.Unlock()
		seq, head, signed, err := l.write(ctx, recs, seq, head, signed)
		l.mu.Lock()
		var sticky *stickyError
		switch {
		case errors.As(err, &sticky):
			l.err = fmt.Errorf("audit log failed: %w", sticky.err)
			err = l.err
		case err != nil:
			err = fmt.Errorf("audit log failed: %w", err)
		default:
			l.seq, l.head, l.signed = seq, head, signed
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

// stickyError marks a failure after which the store and the chain in
// memory may disagree: the Log stops taking records.
type stickyError struct{ err error }

func (e *stickyError) Error() string { return e.err.Error() }

// write chains recs after seq and head, stores them, and signs a
// checkpoint when one is due (signed is the size of the last one). On a
// SharedStore it holds the store's lock throughout and reads the head
// under it, so that records other writers appended come before. It
// returns the new head; an error that leaves the store in doubt is a
// *stickyError (one before anything was written, such as a lock not had,
// is not).
func (l *Log) write(ctx context.Context, recs []Record, seq uint64, head Hash, signed uint64) (uint64, Hash, uint64, error) {
	if ss, ok := l.store.(SharedStore); ok {
		if err := ss.Lock(ctx); err != nil {
			return 0, Hash{}, 0, err
		}
		defer ss.Unlock()
		known, knownHead := seq, head
		var err error
		if seq, head, err = ss.Head(ctx); err != nil {
			return 0, Hash{}, 0, err
		}
		if err := wentBack(known, knownHead, seq, head); err != nil {
			return 0, Hash{}, 0, &stickyError{err}
		}
		signed = min(signed, seq)
	}
	now := l.opt.Now()
	for i, r := range recs {
		seq++
		r.Seq, r.Time, r.PrevHash = seq, now, head
		r, _, err := seal(r)
		if err != nil {
			return 0, Hash{}, 0, &stickyError{err}
		}
		if l.mac != nil {
			r.MAC = recordMAC(l.mac, l.opt.Chain, r.Hash)
		}
		head, recs[i] = r.Hash, r
	}
	if err := l.store.Append(ctx, recs...); err != nil {
		return 0, Hash{}, 0, &stickyError{err}
	}
	if l.opt.Export != nil {
		l.opt.Export.Export(recs)
	}
	if seq-signed >= uint64(l.opt.CheckpointEvery) {
		var err error
		if signed, err = l.sign(ctx, seq, head, signed); err != nil {
			return 0, Hash{}, 0, &stickyError{err}
		}
	}
	return seq, head, signed, nil
}

// wentBack reports a shared store whose head (seq, head) is behind the
// one this Log last wrote or saw (known, knownHead), or at the same place
// with another hash: records are only ever appended, so the chain was cut
// or rewritten under the running log (red team, session 44: the log
// chained on, and signed, whatever head the store gave, lending its MACs
// and checkpoints to a branch cut at a genuine record). The Log stops, as
// on a failed write: carrying on would vouch for the cut.
func wentBack(known uint64, knownHead Hash, seq uint64, head Hash) error {
	switch {
	case seq < known:
		return fmt.Errorf("the chain's stored head is record %d, behind record %d this log wrote or saw: records were removed under it", seq, known)
	case seq == known && head != knownHead:
		return fmt.Errorf("record %d of the chain is not the one this log wrote or saw: the chain was rewritten under it", seq)
	}
	return nil
}

// sign signs and stores a checkpoint of seq and head when there are
// records since the one of size signed, and returns the size of the last
// checkpoint.
func (l *Log) sign(ctx context.Context, seq uint64, head Hash, signed uint64) (uint64, error) {
	if l.opt.SigningKey == nil || seq == signed {
		return signed, nil
	}
	c := signCheckpoint(l.opt.SigningKey, l.opt.Chain, seq, head, l.opt.Now())
	if err := l.store.AppendCheckpoint(ctx, c); err != nil {
		return signed, err
	}
	return seq, nil
}

// checkpoint signs and stores a checkpoint of the current head (on a
// SharedStore, the head read under its lock); l.mu is held.
func (l *Log) checkpoint(ctx context.Context) error {
	if l.opt.SigningKey == nil {
		return nil
	}
	seq, head, signed := l.seq, l.head, l.signed
	if ss, ok := l.store.(SharedStore); ok {
		if err := ss.Lock(ctx); err != nil {
			return err
		}
		defer ss.Unlock()
		known, knownHead := seq, head
		var err error
		if seq, head, err = ss.Head(ctx); err != nil {
			return err
		}
		if err := wentBack(known, knownHead, seq, head); err != nil {
			l.err = fmt.Errorf("audit log failed: %w", err)
			return l.err
		}
		signed = min(signed, seq)
	}
	signed, err := l.sign(ctx, seq, head, signed)
	if err != nil {
		return err
	}
	l.seq, l.head, l.signed = seq, head, signed
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

// Head returns the Seq and Hash of the last record this Log appended or
// saw (on a SharedStore, others may have appended since: see
// Store.Head).
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
