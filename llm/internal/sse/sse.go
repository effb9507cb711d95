// Package sse reads a Server-Sent Events stream, as model providers send
// their streamed replies.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
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

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10)}
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

// readLine returns the next line without its end.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF && len(r.line) > 0 {
				return r.line, nil
			}
			return nil, err
		}
		if r.pending {
			r.pending = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return r.line, nil
		case '\r':
			r.pending = true
			return r.line, nil
		}
		if len(r.line) >= MaxLine {
			return nil, ErrLineTooLong
		}
		r.line = append(r.line, b)
	}
}
