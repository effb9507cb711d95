package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileStore keeps the log in a file of JSON lines, one record a line (see
// EncodeRecord), opened with O_APPEND, and its checkpoints in a second
// file beside it, PATH.checkpoints. Append writes a batch of records with
// one write and makes it durable with one fsync before returning. A third
// file, PATH.idx, indexes the records' offsets (see index.go).
//
// Several processes may append to one log (the server and the CLI on one
// data folder): a writer holds an exclusive flock on the records file only
// while it appends (see Lock), and reads the head under it, so writers
// take turns and the chain stays one chain. Readers take a shared lock
// for the moment they look at the file's size, so they never see half a
// record.
//
// A process that crashed while writing may leave an unfinished last line.
// That write was never acknowledged, so the next Append cuts it off; until
// then Read reports it as corrupt. (A record cut off this way is still
// missed by Verify if a checkpoint covers it.)
type FileStore struct {
	wmu      sync.Mutex // held from Lock to Unlock: one appender in this process
	mu       sync.Mutex
	held     bool // the append lock is held (Lock returned, Unlock not yet)
	path     string
	readOnly bool
	f, cf    *os.File
	ix       *os.File // the index; nil when a read-only store finds none
	ixN      int64    // entries in the index (writer, under the lock)
	end      int64    // records file: where the last whole line ends (writer, under the lock)
	torn     int64    // records file: where an unfinished last line starts, or -1
	ctorn    int64    // checkpoints file: the same
	closed   bool

	// The last record's Seq and Hash, known to end the records file when
	// it ends at hAt (writer): saves reading it again under each lock.
	hSeq  uint64
	hHash Hash
	hAt   int64
	ixAt  int64 // where the records file ended when the index last covered it
}

// OpenFile opens or creates (mode 0600) the log at path for reading and
// appending. Other processes may have it open for appending too: see Lock.
func OpenFile(path string) (*FileStore, error) { return openFile(path, false) }

// OpenFileReadOnly opens the log at path for Read, Head and Checkpoints
// only.
func OpenFileReadOnly(path string) (*FileStore, error) { return openFile(path, true) }

var _ SharedStore = (*FileStore)(nil)

func openFile(path string, readOnly bool) (*FileStore, error) {
	flag := os.O_RDWR | os.O_CREATE | os.O_APPEND
	if readOnly {
		flag = os.O_RDONLY
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	s := &FileStore{path: path, readOnly: readOnly, f: f, torn: -1, ctorn: -1, hAt: -1, ixAt: -1}
	s.cf, err = os.OpenFile(path+".checkpoints", flag, 0o600)
	if err != nil && !(readOnly && errors.Is(err, os.ErrNotExist)) {
		f.Close()
		return nil, fmt.Errorf("open audit log checkpoints: %w", err)
	}
	if !readOnly && errors.Is(statErr, os.ErrNotExist) {
		// Make the new files' names durable too.
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	if readOnly {
		if s.torn, err = tornTail(f); err == nil && s.cf != nil {
			s.ctorn, err = tornTail(s.cf)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open audit log: %w", err)
		}
		s.ix, _ = os.Open(path + ".idx") // none: Read reads from the start
		return s, nil
	}
	if s.ix, err = os.OpenFile(path+".idx", os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("open audit log index: %w", err)
	}
	// Bring the index up to date (and see that the lock can be had).
	if err := s.Lock(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	s.Unlock()
	return s, nil
}

// lockWait is how long a writer waits for the append lock of a log that
// another process is appending to before it gives up.
var lockWait = 10 * time.Second

// errLockBusy is the cause of a lock not had within lockWait.
var errLockBusy = errors.New("another process has kept it locked for too long (a bulwark older than this one holds the lock as long as it runs: stop or upgrade it)")

// waitLock takes a lock on f, shared or exclusive, waiting up to lockWait.
func waitLock(f *os.File, exclusive bool) error {
	deadline := time.Now().Add(lockWait)
	pause := 100 * time.Microsecond
	for {
		ok, err := tryLock(f, exclusive)
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errLockBusy
		}
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Millisecond)
	}
}

// Lock takes the log's append lock, waiting (up to lockWait) while another
// process or FileStore appends, and reads again where the log and its
// index end. Append and AppendCheckpoint take it themselves when it is not
// held; Log holds it around reading the head, appending and signing, so
// that no other writer comes between. Unlock releases it.
func (s *FileStore) Lock(context.Context) error {
	s.mu.Lock()
	err := s.writable()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.wmu.Lock()
	if err := waitLock(s.f, true); err != nil {
		s.wmu.Unlock()
		return fmt.Errorf("lock audit log %s: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(); err != nil {
		unlockFile(s.f)
		s.wmu.Unlock()
		return fmt.Errorf("lock audit log %s: %w", s.path, err)
	}
	s.held = true
	return nil
}

// Unlock releases the lock Lock took.
func (s *FileStore) Unlock() error {
	s.mu.Lock()
	held := s.held
	s.held = false
	s.mu.Unlock()
	if !held {
		return fmt.Errorf("audit log %s: unlock of a log not locked", s.path)
	}
	err := unlockFile(s.f)
	s.wmu.Unlock()
	return err
}

// refresh reads where the files end, as other writers left them, and
// brings the index up to date; s.mu and the lock are held.
func (s *FileStore) refresh() error {
	var err error
	if s.torn, err = tornTail(s.f); err != nil {
		return err
	}
	if s.ctorn, err = tornTail(s.cf); err != nil {
		return err
	}
	if s.end, err = s.f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	if s.torn >= 0 {
		s.end = s.torn
	}
	if s.ix != nil && s.end != s.ixAt {
		if s.syncIndex() != nil {
			// The index is a cache: without it Read reads from the start.
			s.ix.Close()
			s.ix, s.ixN = nil, 0
		}
		s.ixAt = s.end
	}
	return nil
}

// locked runs fn with the append lock, taking it for fn when it is not
// held already.
func (s *FileStore) locked(ctx context.Context, fn func() error) error {
	s.mu.Lock()
	held := s.held
	s.mu.Unlock()
	if !held {
		if err := s.Lock(ctx); err != nil {
			return err
		}
		defer s.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	return fn()
}

// snapshot returns the size of f (the records file, opened for reading)
// and of the index, read under a shared lock, so that no append is half
// done in it: an append of this process or another waits, or is waited
// for. It must not be called while this store holds the append lock.
func (s *FileStore) snapshot(f *os.File) (end, ixN int64, err error) {
	if err := waitLock(f, false); err != nil {
		return 0, 0, err
	}
	defer unlockFile(f)
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	ix := s.ix
	s.mu.Unlock()
	if ix != nil {
		if xi, err := ix.Stat(); err == nil {
			ixN = xi.Size() / indexEntry
		}
	}
	return fi.Size(), ixN, nil
}

// tornTail returns where an unfinished last line starts, or -1 when the
// file is empty or ends with a newline.
func tornTail(f *os.File) (int64, error) {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil || end == 0 {
		return -1, err
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], end-1); err != nil {
		return -1, err
	}
	if last[0] == '\n' {
		return -1, nil
	}
	start, err := lineStart(f, end)
	return start, err
}

// lineStart returns the offset just after the last newline before end.
func lineStart(f *os.File, end int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for pos := end; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
	}
	return 0, nil
}

// cutTorn removes an unfinished last line of f before an append.
func cutTorn(f *os.File, torn *int64) error {
	if *torn < 0 {
		return nil
	}
	if err := f.Truncate(*torn); err != nil {
		return err
	}
	*torn = -1
	return nil
}

func (s *FileStore) writable() error {
	switch {
	case s.closed:
		return ErrClosed
	case s.readOnly:
		return fmt.Errorf("audit log %s: opened read-only", s.path)
	}
	return nil
}

func (s *FileStore) Append(ctx context.Context, recs ...Record) error {
	var buf []byte
	for _, r := range recs {
		line, err := EncodeRecord(r)
		if err != nil {
			return err
		}
		buf = append(buf, line...)
	}
	return s.locked(ctx, func() error {
		if err := cutTorn(s.f, &s.torn); err != nil {
			return fmt.Errorf("append to audit log: %w", err)
		}
		offs := make([]int64, 0, len(recs))
		for o, rest := s.end, buf; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n') + 1
			offs = append(offs, o)
			o, rest = o+int64(i), rest[i:]
		}
		if _, err := s.f.Write(buf); err != nil {
			return fmt.Errorf("append to audit log: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("append to audit log: sync: %w", err)
		}
		s.end += int64(len(buf))
		if n := len(recs); n > 0 {
			s.hSeq, s.hHash, s.hAt = recs[n-1].Seq, recs[n-1].Hash, s.end
		}
		if s.ix != nil && s.writeIndex(offs) != nil {
			// The index is a cache: without it Read reads from the start.
			s.ix.Close()
			s.ix, s.ixN = nil, 0
		}
		s.ixAt = s.end
		return nil
	})
}

func (s *FileStore) Read(ctx context.Context, fromSeq uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		f, err := os.Open(s.path)
		if err != nil {
			yield(Record{}, fmt.Errorf("read audit log: %w", err))
			return
		}
		defer f.Close()
		end, ixN, err := s.snapshot(f)
		s.mu.Lock()
		ix := s.ix
		s.mu.Unlock()
		if err != nil {
			yield(Record{}, fmt.Errorf("read audit log: %w", err))
			return
		}
		want := int64(max(fromSeq, 1))
		pos, n := int64(0), int64(1)
		if want > 1 && ix != nil && ixN > 0 {
			k := min(want, ixN)
			if off, _, ok := indexedLine(f, ix, k, end); ok {
				pos, n = off, k
			}
		}
		br := bufio.NewReaderSize(io.NewSectionReader(f, pos, end-pos), 64<<10)
		for ; ; n++ {
			line, err := br.ReadBytes('\n')
			if len(line) == 0 && err == io.EOF {
				return
			}
			if err != nil && err != io.EOF {
				yield(Record{}, fmt.Errorf("read audit log: %w", err))
				return
			}
			if err := ctx.Err(); err != nil {
				yield(Record{}, err)
				return
			}
			if line[len(line)-1] != '\n' {
				yield(Record{}, &CorruptError{"record", int(n), errors.New("unfinished last line")})
				return
			}
			if n < want {
				continue
			}
			r, derr := DecodeRecord(line)
			if derr != nil {
				yield(Record{}, &CorruptError{"record", int(n), derr})
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// Head reads the last record; a writer takes the append lock for it when
// it does not hold it (see Lock).
func (s *FileStore) Head(ctx context.Context) (seq uint64, h Hash, err error) {
	if !s.readOnly {
		err = s.locked(ctx, func() error {
			seq, h, err = s.head()
			return err
		})
		return seq, h, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, Hash{}, ErrClosed
	}
	return s.head()
}

// head reads the last record; s.mu is held.
func (s *FileStore) head() (uint64, Hash, error) {
	end, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, Hash{}, fmt.Errorf("audit log head: %w", err)
	}
	if s.torn >= 0 {
		end = s.torn
	}
	if end == 0 {
		return 0, Hash{}, nil
	}
	if end == s.hAt {
		return s.hSeq, s.hHash, nil
	}
	start, err := lineStart(s.f, end-1)
	if err != nil {
		return 0, Hash{}, fmt.Errorf("audit log head: %w", err)
	}
	line := make([]byte, end-start)
	if _, err := s.f.ReadAt(line, start); err != nil {
		return 0, Hash{}, fmt.Errorf("audit log head: %w", err)
	}
	r, err := DecodeRecord(line)
	if err != nil {
		return 0, Hash{}, fmt.Errorf("audit log head: %w", &CorruptError{"record", -1, err})
	}
	if !s.readOnly {
		s.hSeq, s.hHash, s.hAt = r.Seq, r.Hash, end
	}
	return r.Seq, r.Hash, nil
}

func (s *FileStore) AppendCheckpoint(ctx context.Context, c Checkpoint) error {
	line, err := EncodeCheckpoint(c)
	if err != nil {
		return err
	}
	return s.locked(ctx, func() error {
		if err := cutTorn(s.cf, &s.ctorn); err != nil {
			return fmt.Errorf("append audit checkpoint: %w", err)
		}
		if _, err := s.cf.Write(line); err != nil {
			return fmt.Errorf("append audit checkpoint: %w", err)
		}
		if err := s.cf.Sync(); err != nil {
			return fmt.Errorf("append audit checkpoint: sync: %w", err)
		}
		return nil
	})
}

func (s *FileStore) Checkpoints(context.Context) ([]Checkpoint, error) {
	data, err := s.readCheckpoints()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			cps, _ := decodeCheckpoints(lines)
			return cps, &CorruptError{"checkpoint", len(lines) + 1, errors.New("unfinished last line")}
		}
		lines = append(lines, data[:i+1])
		data = data[i+1:]
	}
	return decodeCheckpoints(lines)
}

// readCheckpoints reads the checkpoints file under a shared lock of the
// log (see snapshot), so that it holds no checkpoint half written.
func (s *FileStore) readCheckpoints() ([]byte, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := waitLock(f, false); err != nil {
		return nil, err
	}
	defer unlockFile(f)
	return os.ReadFile(s.path + ".checkpoints")
}

func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.f.Close()
	if s.ix != nil {
		s.ix.Close()
	}
	if s.cf != nil {
		if cerr := s.cf.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
