package transport

import (
	"bytes"
	"io"
	"net/http"
)

// Pieces is a request body read from pieces that are never changed once
// made: a model request is the kept encodings of the conversation's
// messages between a head and a tail, and copying them into one array
// per turn, only for the transport to copy that array again as it writes
// it, was the largest allocation of a turn and held ~10 KB per
// conversation while the model thought (BENCHMARKS.md, issue 17). A
// Pieces is read by one goroutine; Reopen gives another reader of the
// same bytes (for GetBody).
//
// net/http's own transport writes a body it does not know to be in
// memory after flushing the request's head on its own, one write (one
// TLS record) more per request: so HTTP.Do, and Lean when it hands a
// request to its standard transport, send a Pieces body as a
// bytes.Reader of its bytes (Lean writes it as it is).
type Pieces struct {
	parts [][]byte
	n     int64
	i     int // the part read next
	off   int // bytes of parts[i] read
}

// NewPieces returns a body of parts in order. Neither parts nor any part
// may be changed afterwards.
func NewPieces(parts [][]byte) *Pieces {
	var n int64
	for _, p := range parts {
		n += int64(len(p))
	}
	return &Pieces{parts: parts, n: n}
}

// Len is the body's length in bytes, read or not.
func (p *Pieces) Len() int64 { return p.n }

// Read implements io.Reader.
func (p *Pieces) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) && p.i < len(p.parts) {
		c := copy(b[n:], p.parts[p.i][p.off:])
		n += c
		if p.off += c; p.off == len(p.parts[p.i]) {
			p.i, p.off = p.i+1, 0
		}
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// WriteTo implements io.WriterTo: the unread parts, one Write each.
func (p *Pieces) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for p.i < len(p.parts) {
		c, err := w.Write(p.parts[p.i][p.off:])
		n += int64(c)
		if err != nil {
			p.off += c
			return n, err
		}
		p.i, p.off = p.i+1, 0
	}
	return n, nil
}

// Close implements io.Closer; it does nothing.
func (p *Pieces) Close() error { return nil }

// Reopen returns a reader of the whole body from its start.
func (p *Pieces) Reopen() *Pieces { return &Pieces{parts: p.parts, n: p.n} }

// Bytes returns the whole body in a new array.
func (p *Pieces) Bytes() []byte {
	b := make([]byte, 0, p.n)
	for _, part := range p.parts {
		b = append(b, part...)
	}
	return b
}

// SetBody makes p req's body, with its length and a GetBody that reads
// it again from the start.
func SetBody(req *http.Request, p *Pieces) {
	req.Body = p
	req.ContentLength = p.n
	req.GetBody = func() (io.ReadCloser, error) { return p.Reopen(), nil }
}

// inMemory returns req, or when its body is a Pieces, a shallow copy
// whose body is a bytes.Reader of the same bytes, which net/http writes
// with the head (see Pieces). The caller hands the copy to a transport
// that is not Lean.
func inMemory(req *http.Request) *http.Request {
	p, ok := req.Body.(*Pieces)
	if !ok {
		return req
	}
	b := p.Bytes()
	r := req.WithContext(req.Context()) // a shallow copy
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return r
}
