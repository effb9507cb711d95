package secret

import (
	"io"
	"sync"
)

// A stage runs one scanner (registered values, or patterns) over a stream.
// Its buffer holds up to lookback bytes already handled (context for the
// matchers) followed by the bytes whose outcome is still open. The stage of
// registered values holds back the last bytes the longest encoding of a
// value could take, whatever they are (see needleSet.scan), so that what it
// passes on tells nothing of a value's prefix; the stage of patterns holds
// back a pattern in progress (patterns are no secret).
type stage struct {
	buf  []byte
	ctx  int // buf[:ctx] is context, already passed on
	open int // the last open bytes of the context were passed on undecided (Release)
}

// A scanner handles t[start:] (see needleSet.scan); t[from:start] was
// passed on undecided, and matches may start there too.
type scanner func(dst, t []byte, from, start int, eof bool) ([]byte, int, bool)

func patternScanner(dst, t []byte, _, start int, eof bool) ([]byte, int, bool) {
	return scanPatterns(dst, t, start, eof)
}

// push appends in to the stage and returns dst with what can be passed on.
// A nil scan passes everything through. With decide, the scanner decides
// everything it holds as if the text ended here; with end, the text does
// end, and the stage is emptied for a new one.
func (st *stage) push(dst, in []byte, decide, end bool, scan scanner) []byte {
	st.buf = append(st.buf, in...)
	stop := len(st.buf)
	if scan != nil {
		var changed bool
		var out []byte
		out, stop, changed = scan(dst, st.buf, st.ctx-st.open, st.ctx, decide || end)
		if changed {
			dst = out
		} else {
			dst = append(dst, st.buf[st.ctx:stop]...)
		}
	} else {
		dst = append(dst, st.buf[st.ctx:]...)
	}
	if end {
		st.buf, st.ctx, st.open = st.buf[:0], 0, 0
		return dst
	}
	switch {
	case decide:
		st.open = stop - st.ctx // passed on undecided: a match may start there yet
	case stop > st.ctx:
		st.open = 0 // the scan decided them before it went on
	}
	keep := max(0, stop-max(lookback, st.open))
	st.buf = st.buf[:copy(st.buf, st.buf[keep:])]
	st.ctx = stop - keep
	return dst
}

// Stream masks secrets in a text that arrives in pieces, such as a model's
// streamed reply or a command's output: Push returns what can be shown so
// far; Flush returns the rest. The concatenated output equals String of the
// concatenated input, however the text was split (as long as no value was
// added or removed meanwhile, and Release was not called).
//
// Push holds back the end of the text, where a secret could start: always
// as many bytes as the longest encoding of a registered value takes, plus
// a secret-looking pattern in progress. What it passes on depends on the
// length of the text, not on whether its end could start a registered
// value: else whoever watches the output, and can have it end in a guess,
// would learn a value a byte at a time. A caller whose text can stop for a
// while before its end (a command's live output) calls Release when it
// has: the same for every text, so as not to tell one from another.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	r      *Redactor
	s1, s2 stage
	mid    []byte
	out    []byte
}

// NewStream starts a Stream.
func (r *Redactor) NewStream() *Stream { return &Stream{r: r} }

// Push adds chunk and returns the masked text that is now settled.
func (s *Stream) Push(chunk string) string {
	return string(s.push([]byte(chunk), false, false))
}

// Flush returns the rest of the masked text and ends the stream; the
// Stream can then be used for a new one.
func (s *Stream) Flush() string { return string(s.push(nil, true, true)) }

// Release returns what is held back for registered values, whatever it is,
// and goes on with the text: a value or encoding complete in it is masked,
// the start of one is shown as it is, as any other text would be. A value
// whose output stops midway, until Release, so shows its start; if the
// text then completes it, the rest is masked. A secret-looking pattern in
// progress stays held back until its end.
func (s *Stream) Release() string { return string(s.push(nil, true, false)) }

// push runs both stages; the result is valid until the next call.
func (s *Stream) push(in []byte, decide, end bool) []byte {
	var s1 scanner
	if ns := s.r.set.Load(); !ns.empty() {
		s1 = ns.scan
	}
	var s2 scanner
	if s.r.Detection() {
		s2 = patternScanner
	}
	s.mid = s.s1.push(s.mid[:0], in, decide, end, s1)
	s.out = s.s2.push(s.out[:0], s.mid, end, end, s2)
	return s.out
}

// Writer returns a writer that masks secrets in what is written to it and
// writes the result to w. A secret split across Write calls is still
// masked: the writer holds back the last bytes, where one could start (as
// many as the longest registered encoding takes, and a pattern in
// progress), until the following bytes decide them. Close writes what is held back; it
// does not close w. Write reports len(p) written unless w fails. Writes
// from several goroutines are serialized.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser {
	return &writer{s: r.NewStream(), w: w}
}

type writer struct {
	mu     sync.Mutex
	s      *Stream
	w      io.Writer
	err    error
	closed bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	if w.err != nil {
		return 0, w.err
	}
	if out := w.s.push(p, false, false); len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			w.err = err
			return 0, err
		}
	}
	return len(p), nil
}

func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	out := w.s.push(nil, true, true)
	if w.err != nil {
		return w.err
	}
	if len(out) > 0 {
		if _, err := w.w.Write(out); err != nil {
			return err
		}
	}
	return nil
}
