package llmtest

import (
	"bytes"
	"context"
	"strconv"
	"sync/atomic"
)

// Prepare returns t marked so that the server makes its OpenAI reply once
// and reuses it for every request it answers with t, putting in only the
// request's number and the time: for benchmarks, whose turns repeat and
// whose fake server shares the CPU with what is measured. The reply is
// the same bytes as without it (each reuse is checked against a fresh
// reply once, when it is made). It applies to Buffered replies without a
// stream error, Hang or usage; others are made each time. t and what it
// points to must not change afterwards.
func Prepare(t Turn) Turn {
	t.prep = new(prepared)
	return t
}

type prepared struct {
	tmpl atomic.Pointer[template]
}

// template is a reply made with sentinel numbers for the request number
// and the time, cut where they were.
type template struct {
	model string
	q     Quirk
	bad   bool // the sentinels could not be told from the reply's text
	parts []tmplPart
}

type tmplPart struct {
	text []byte
	then byte // what follows: 0 nothing, 'n' the request number, 't' the time
}

const (
	sentinelN       = 918273645546372819
	sentinelCreated = 827364554637281946
)

// render appends the reply to dst, or returns false when the prepared
// reply does not apply (another model or quirks than the first request's,
// or a reply whose text holds a sentinel).
func (p *prepared) render(dst []byte, t Turn, q Quirk, req *Request, created int64) ([]byte, bool) {
	tm := p.tmpl.Load()
	if tm == nil {
		tm = makeTemplate(t, q, req)
		if !p.tmpl.CompareAndSwap(nil, tm) {
			tm = p.tmpl.Load()
		}
	}
	if tm.bad || tm.model != req.Model || tm.q != q {
		return dst, false
	}
	return tm.fill(dst, req.N, created), true
}

func (tm *template) fill(dst []byte, n int, created int64) []byte {
	for _, p := range tm.parts {
		dst = append(dst, p.text...)
		switch p.then {
		case 'n':
			dst = strconv.AppendInt(dst, int64(n), 10)
		case 't':
			dst = strconv.AppendInt(dst, created, 10)
		}
	}
	return dst
}

func makeTemplate(t Turn, q Quirk, req *Request) *template {
	tm := &template{model: req.Model, q: q}
	var b []byte
	out := &sseWriter{gather: &b}
	streamOpenAI(context.Background(), out, t, q, req, sentinelN, sentinelCreated)
	sn, st := []byte(strconv.Itoa(sentinelN)), []byte(strconv.Itoa(sentinelCreated))
	for len(b) > 0 {
		i, j := bytes.Index(b, sn), bytes.Index(b, st)
		switch {
		case i < 0 && j < 0:
			tm.parts = append(tm.parts, tmplPart{text: b})
			b = nil
		case j < 0 || (i >= 0 && i < j):
			tm.parts = append(tm.parts, tmplPart{text: b[:i], then: 'n'})
			b = b[i+len(sn):]
		default:
			tm.parts = append(tm.parts, tmplPart{text: b[:j], then: 't'})
			b = b[j+len(st):]
		}
	}
	// Check: the template filled in must be the reply made afresh, for
	// numbers unlike the sentinels (a reply whose text holds a sentinel's
	// digits would differ).
	var fresh []byte
	streamOpenAI(context.Background(), &sseWriter{gather: &fresh}, t, q, req, 7, 1700000000)
	if !bytes.Equal(tm.fill(nil, 7, 1700000000), fresh) {
		tm.bad = true
	}
	return tm
}
