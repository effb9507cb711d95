package audit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
)

// Store keeps records and checkpoints. Log is its only writer (one Log per
// store, unless the store is a SharedStore) and calls Append with records
// in Seq order; implementations need not check the
// chain (Verify does). The file store is OpenFile; SQL stores implement
// the same interface.
type Store interface {
	// Append stores recs, in order, after the records already stored.
	// When it returns nil they must survive a crash (the file store calls
	// fsync). On error some of recs may have been stored.
	Append(ctx context.Context, recs ...Record) error
	// Read yields the stored records from the fromSeq-th on (all of them
	// for 0 or 1), in stored order, up to the last one whose Append
	// returned. In an intact log the fromSeq-th record is the one with
	// that Seq; stores keep an index so that Read starts there without
	// reading what comes before. A record that cannot be decoded is
	// yielded as a *CorruptError, and reading stops after it.
	Read(ctx context.Context, fromSeq uint64) iter.Seq2[Record, error]
	// Head returns the Seq and Hash of the last stored record (0 and the
	// zero Hash when there is none).
	Head(ctx context.Context) (seq uint64, hash Hash, err error)
	// AppendCheckpoint stores c durably after the checkpoints stored.
	AppendCheckpoint(ctx context.Context, c Checkpoint) error
	// Checkpoints returns the stored checkpoints in stored order; one that
	// cannot be decoded is an error wrapping a *CorruptError.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	// Close releases the store.
	Close() error
}

// SharedStore is a Store that other writers, in other processes, may
// append to as well (FileStore: the server and the CLI on one data
// folder; pgaudit's: the nodes on one database). Log holds its lock around reading the head, appending and
// signing a checkpoint, so that writers take turns and each chains its
// records after the others'.
type SharedStore interface {
	Store
	// Lock waits for the store's append lock (for a bounded time) and
	// reads again what other writers added. Unlock releases it.
	Lock(ctx context.Context) error
	Unlock() error
}

// CorruptError reports stored data that cannot be decoded.
type CorruptError struct {
	Where string // "record", "checkpoint"
	Index int    // its position in the store, from 1 (a line number for files)
	Err   error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s %d: %v", e.Where, e.Index, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrClosed is returned for operations on a closed Log or Store.
var ErrClosed = errors.New("audit log closed")

// MemoryStore is a Store in memory, for tests. Its Lines and
// CheckpointLines hold the stored forms, so tests can tamper with them.
type MemoryStore struct {
	mu              sync.Mutex
	Lines           [][]byte
	CheckpointLines [][]byte
	closed          bool
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (m *MemoryStore) Append(_ context.Context, recs ...Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for _, r := range recs {
		line, err := EncodeRecord(r)
		if err != nil {
			return err
		}
		m.Lines = append(m.Lines, line)
	}
	return nil
}

func (m *MemoryStore) Read(ctx context.Context, fromSeq uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		m.mu.Lock()
		lines := append([][]byte(nil), m.Lines...)
		m.mu.Unlock()
		first := int(max(fromSeq, 1)) - 1
		for i := first; i < len(lines); i++ {
			if err := ctx.Err(); err != nil {
				yield(Record{}, err)
				return
			}
			r, err := DecodeRecord(lines[i])
			if err != nil {
				yield(Record{}, &CorruptError{"record", i + 1, err})
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (m *MemoryStore) Head(context.Context) (uint64, Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.Lines) == 0 {
		return 0, Hash{}, nil
	}
	r, err := DecodeRecord(m.Lines[len(m.Lines)-1])
	if err != nil {
		return 0, Hash{}, &CorruptError{"record", len(m.Lines), err}
	}
	return r.Seq, r.Hash, nil
}

func (m *MemoryStore) AppendCheckpoint(_ context.Context, c Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	line, err := EncodeCheckpoint(c)
	if err != nil {
		return err
	}
	m.CheckpointLines = append(m.CheckpointLines, line)
	return nil
}

func (m *MemoryStore) Checkpoints(context.Context) ([]Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return decodeCheckpoints(m.CheckpointLines)
}

func decodeCheckpoints(lines [][]byte) ([]Checkpoint, error) {
	var cps []Checkpoint
	for i, line := range lines {
		c, err := DecodeCheckpoint(line)
		if err != nil {
			return cps, &CorruptError{"checkpoint", i + 1, err}
		}
		cps = append(cps, c)
	}
	return cps, nil
}

func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
