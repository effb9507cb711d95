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
)

// FileStore keeps the log in a file of JSON lines, one record a line (see
// EncodeRecord), opened with O_APPEND, and its checkpoints in a second
// file beside it, PATH.checkpoints. Append writes a batch of records with
// one write and makes it durable with one fsync before returning.
//
// A process that crashed while writing may leave an unfinished last line.
// That write was never acknowledged, so the next Append cuts it off; until
// then Read reports it as corrupt. (A record cut off this way is still
// missed by Verify if a checkpoint covers it.)
type FileStore struct {
	mu       sync.Mutex
	path     string
	readOnly bool
	f, cf    *os.File
	torn     int64 // records file: where an unfinished last line starts, or -1
	ctorn    int64 // checkpoints file: the same
	closed   bool
}

// OpenFile opens or creates (mode 0600) the log at path for reading and
// appending. It takes an exclusive lock on the file, so that a second
// writer fails here rather than fork the chain.
func OpenFile(path string) (*FileStore, error) { return openFile(path, false) }

// OpenFileReadOnly opens the log at path for Read, Head and Checkpoints
// only, without a lock, so that a running server's log can be verified.
func OpenFileReadOnly(path string) (*FileStore, error) { return openFile(path, true) }

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
	s := &FileStore{path: path, readOnly: readOnly, f: f}
	if !readOnly {
		if err := lockFile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("open audit log %s: in use by another process (%v)", path, err)
		}
	}
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
	if s.torn, err = tornTail(f); err == nil && s.cf != nil {
		s.ctorn, err = tornTail(s.cf)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return s, nil
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

func (s *FileStore) Append(_ context.Context, recs ...Record) error {
	var buf []byte
	for _, r := range recs {
		line, err := EncodeRecord(r)
		if err != nil {
			return err
		}
		buf = append(buf, line...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	if err := cutTorn(s.f, &s.torn); err != nil {
		return fmt.Errorf("append to audit log: %w", err)
	}
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("append to audit log: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("append to audit log: sync: %w", err)
	}
	return nil
}

func (s *FileStore) Read(ctx context.Context, fromSeq uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		f, err := os.Open(s.path)
		if err != nil {
			yield(Record{}, fmt.Errorf("read audit log: %w", err))
			return
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 64<<10)
		for n := 1; ; n++ {
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
				yield(Record{}, &CorruptError{"record", n, errors.New("unfinished last line")})
				return
			}
			r, derr := DecodeRecord(line)
			if derr != nil {
				yield(Record{}, &CorruptError{"record", n, derr})
				return
			}
			if r.Seq >= fromSeq && !yield(r, nil) {
				return
			}
		}
	}
}

func (s *FileStore) Head(context.Context) (uint64, Hash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, Hash{}, ErrClosed
	}
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
	return r.Seq, r.Hash, nil
}

func (s *FileStore) AppendCheckpoint(_ context.Context, c Checkpoint) error {
	line, err := EncodeCheckpoint(c)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
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
}

func (s *FileStore) Checkpoints(context.Context) ([]Checkpoint, error) {
	data, err := os.ReadFile(s.path + ".checkpoints")
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

func (s *FileStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.f.Close()
	if s.cf != nil {
		if cerr := s.cf.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
