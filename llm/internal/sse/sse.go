// Package sse reads a Server-Sent Events stream, as model providers send
// their streamed replies.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync"
)

// MaxLine bounds one line of the stream; a longer line is an error.
const MaxLine = 4 << 20

// ErrLineTooLong is returned for a line longer than MaxLine.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one dispatched event. Data joins the event's data lines with "\n".
type Event struct {
	Event string // the "event:" field; "" for the default "message"
	Data  []byte
	ID    string
}

// Reader reads events from a stream. Comment lines (": keep-alive") and
// unknown fields are skipped. Lines may end in "\n", "\r\n" or "\r".
type Reader struct {
	br      *bufio.Reader
	data    []byte
	line    []byte
	pending bool // a "\r" ended the last line; skip a "\n" that follows
}

// readers keeps the Readers (and their 4 KiB buffers) that were closed,
// for the next stream: a model turn reads one stream, and the buffers were
// a good part of what a turn allocated.
var readers = sync.Pool{New: func() any { return &Reader{br: bufio.NewReaderSize(nil, 4<<10)} }}

// NewReader returns a Reader of r. Close it when done with it.
func NewReader(r io.Reader) *Reader {
	rd := readers.Get().(*Reader)
	rd.br.Reset(r)
	return rd
}

// Close gives the Reader's buffers back for reuse by another stream. The
// Reader, and the Data of the events it returned, must not be used after.
// It does not close the underlying reader.
func (r *Reader) Close() {
	r.br.Reset(nil)
	r.data, r.line, r.pending = r.data[:0], r.line[:0], false
	if cap(r.data) > 64<<10 || cap(r.line) > 64<<10 {
		r.data, r.line = nil, nil // an odd stream's long lines are not kept
	}
	readers.Put(r)
}

// Next returns the next event. It returns io.EOF at the end of the stream;
// an event the stream leaves unterminated at its end is still returned.
// The event's Data is valid until the next call.
func (r *Reader) Next() (Event, error) {
	var ev Event
	r.data = r.data[:0]
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && (hasData || ev.Event != "") {
				ev.Data = r.data
				return ev, nil
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !hasData && ev.Event == "" {
				continue
			}
			ev.Data = r.data
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			hasData = true
		case "event":
			ev.Event = string(value)
		case "id":
			ev.ID = string(value)
		}
	}
}

// readLine returns the next line without its end, valid until the next
// read. It looks for the end in the bytes already buffered, so a line costs
// a scan and at most one copy (none when it is buffered whole).
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				if err == io.EOF && len(r.line) > 0 {
					return r.line, nil
				}
				return nil, err
			}
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.pending {
			r.pending = false
			if buf[0] == '\n' {
				r.br.Discard(1)
				continue
			}
		}
		end := bytes.IndexByte(buf, '\n')
		if end < 0 {
			end = len(buf)
		}
		if cr := bytes.IndexByte(buf[:end], '\r'); cr >= 0 {
			end = cr
		}
		if len(r.line)+end > MaxLine {
			return nil, ErrLineTooLong
		}
		if end == len(buf) { // no end yet: keep the piece, read on
			r.line = append(r.line, buf...)
			r.br.Discard(len(buf))
			continue
		}
		r.pending = buf[end] == '\r'
		line := buf[:end]
		if len(r.line) > 0 {
			line = append(r.line, line...)
			r.line = line
		}
		r.br.Discard(end + 1)
		return line, nil
	}
}
