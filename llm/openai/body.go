package openai

import (
	"net/http/httptrace"
	"sync"
)

// bodyWrites follows what net/http does with one Stream's request body,
// so that the conversation's next request may be encoded into the same
// array. net/http may still be writing a body after the round trip has
// returned (a server may answer before it has read the request, a round
// trip that failed leaves its write behind), and it retries on other
// connections with the same bytes. So the array is reused only once
// Stream is over and every connection got for the request (GotConn, which
// comes before each write) has seen its write end (WroteRequest, which
// net/http calls when a write has stopped reading the body, for HTTP/1
// and HTTP/2 alike). A connection whose write never ends keeps the array
// from being reused; it is then left to the garbage collector. The array
// belongs to one conversation (its llm.Cache) and is never shared with
// another.
type bodyWrites struct {
	mu    sync.Mutex
	conns int  // connections got for the request: each may write the body
	wrote int  // writes of the body that have ended
	over  bool // Stream has returned
}

// trace returns the hooks that count the connections and the writes.
func (w *bodyWrites) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) {
			w.mu.Lock()
			w.conns++
			w.mu.Unlock()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			w.mu.Lock()
			w.wrote++
			w.mu.Unlock()
		},
	}
}

// end says Stream has returned: no connection will be got for the request
// any more.
func (w *bodyWrites) end() {
	w.mu.Lock()
	w.over = true
	w.mu.Unlock()
}

// idle reports whether nothing reads the body any more. A nil bodyWrites
// (no body yet) is not idle.
func (w *bodyWrites) idle() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.over && w.conns == w.wrote
}
