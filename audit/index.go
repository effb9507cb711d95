package audit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
)

// The index of a file log, PATH.idx, holds the offset in PATH of each
// record's line, 8 bytes big-endian each, so that Read can start at any
// record without reading those before it. It is a cache: it is neither
// synced nor trusted. Read checks that the line an entry points to holds
// the record it should, and reads from the start when it does not; the
// writer checks its last entry when it opens the log, and rebuilds the
// index when that entry is wrong.

const indexEntry = 8

// readEntry returns the offset of line k (from 1) from the index ix.
func readEntry(ix *os.File, k int64) (int64, error) {
	var b [indexEntry]byte
	if _, err := ix.ReadAt(b[:], (k-1)*indexEntry); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(b[:])), nil
}

// indexedLine returns where line k of f starts, according to ix, and the
// line's length, when that line is there (it starts a line, ends before
// end, and holds the record with Seq k).
func indexedLine(f, ix *os.File, k, end int64) (off, n int64, ok bool) {
	off, err := readEntry(ix, k)
	if err != nil || off < 0 || off >= end {
		return 0, 0, false
	}
	if off > 0 {
		var b [1]byte
		if _, err := f.ReadAt(b[:], off-1); err != nil || b[0] != '\n' {
			return 0, 0, false
		}
	}
	line, err := bufio.NewReader(io.NewSectionReader(f, off, end-off)).ReadBytes('\n')
	if err != nil {
		return 0, 0, false
	}
	r, err := DecodeRecord(line)
	if err != nil || r.Seq != uint64(k) {
		return 0, 0, false
	}
	return off, int64(len(line)), true
}

// syncIndex makes the index of s cover every whole line before s.end:
// it keeps the entries up to the last one that checks, and adds the rest by
// reading the lines after it.
func (s *FileStore) syncIndex() error {
	fi, err := s.ix.Stat()
	if err != nil {
		return err
	}
	n := fi.Size() / indexEntry
	var pos int64
	if n > 0 {
		off, l, ok := indexedLine(s.f, s.ix, n, s.end)
		if ok {
			pos = off + l
		} else {
			n = 0
		}
	}
	if err := s.ix.Truncate(n * indexEntry); err != nil {
		return err
	}
	var offs []int64
	br := bufio.NewReaderSize(io.NewSectionReader(s.f, pos, s.end-pos), 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			break // an unfinished line is not indexed
		}
		if err != nil {
			return err
		}
		offs = append(offs, pos)
		pos += int64(len(line))
	}
	s.ixN = n
	return s.writeIndex(offs)
}

// writeIndex adds offs to the index after its s.ixN entries.
func (s *FileStore) writeIndex(offs []int64) error {
	if len(offs) == 0 {
		return nil
	}
	b := make([]byte, 0, len(offs)*indexEntry)
	for _, o := range offs {
		b = binary.BigEndian.AppendUint64(b, uint64(o))
	}
	if _, err := s.ix.WriteAt(b, s.ixN*indexEntry); err != nil {
		return err
	}
	s.ixN += int64(len(offs))
	return nil
}
