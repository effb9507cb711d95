package secret

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// Encoders break base64 and hex into lines: MIME and the base64 command
// at 76 characters, PEM at 64, GitHub's contents API at 60 (with the line
// break JSON-escaped), xxd -p at 60. Whoever places a value in such a text
// (what comes before it) chooses where a break falls in its encoding, and
// neither part is a needle. So the needle scan also looks for base64 and
// hex needles (wrapOK) in a joined view of each block of lines: base64
// characters broken by line breaks (LF, CRLF, or their JSON escapes)
// that each follow at least minWrap of them, as a wrapped line does. A
// match is masked from its first character to its last, the breaks in it
// with it. The masks of the egress proxy allow the same breaks (see
// sandbox/egress: rule.wrapped).

const (
	minWrap  = 16       // base64 characters before a line break that a block may hold
	maxBreak = 4        // longest line break: `\r\n`, escaped
	wrapOK   = uint8(2) // needle: may be broken into lines
)

// wrapHold is how many bytes a needle of n bytes can take with line breaks
// in it: one at most every minWrap characters.
func wrapHold(n int) int { return n + maxBreak*(n/minWrap+1) }

// breakAt returns the length of the line break at t[p:] (LF, CRLF, or
// their JSON escapes), or 0.
func breakAt(t []byte, p int) int {
	switch {
	case t[p] == '\n':
		return 1
	case t[p] == '\r' && p+1 < len(t) && t[p+1] == '\n':
		return 2
	case t[p] != '\\' || p+1 == len(t):
		return 0
	case t[p+1] == 'n':
		return 2
	case t[p+1] == 'r' && p+3 < len(t) && t[p+2] == '\\' && t[p+3] == 'n':
		return 4
	}
	return 0
}

// wrappedBreak returns the length of the line break at t[p:] if it breaks
// a block of base64 lines: it follows minWrap base64 characters and a
// base64 character follows it. Otherwise it returns 0.
func wrappedBreak(t []byte, p int) int {
	if p < minWrap {
		return 0
	}
	l := breakAt(t, p)
	if l == 0 || p+l >= len(t) || !b64Char[t[p+l]] {
		return 0
	}
	for q := p - 1; q >= p-minWrap; q-- { // from the end: most lines end in other characters
		if !b64Char[t[q]] {
			return 0
		}
	}
	return l
}

// wrapMatch is a needle found across line breaks: t[start:end] is masked.
type wrapMatch struct {
	start, end int
	label      string
}

// breakFinder finds where line breaks may start in t: at an LF (or the
// CR before it) or a backslash. It remembers the next of each, so that a
// text is searched once.
type breakFinder struct {
	t      []byte
	nl, bs int // next LF and backslash at or after the last k; len(t) for none
}

// next returns the first p >= k where a line break may start, or -1.
func (f *breakFinder) next(k int) int {
	n := len(f.t)
	if f.nl < k {
		f.nl = n
		if i := bytes.IndexByte(f.t[k:], '\n'); i >= 0 {
			f.nl = k + i
		}
	}
	if f.bs < k {
		f.bs = n
		if i := bytes.IndexByte(f.t[k:], '\\'); i >= 0 {
			f.bs = k + i
		}
	}
	p := min(f.nl, f.bs)
	if p == n {
		return -1
	}
	if p == f.nl && p > k && f.t[p-1] == '\r' {
		return p - 1 // CRLF
	}
	return p
}

// wrapped returns the needles that start in t[from:lim] and cross a line
// break of a block of base64 lines, in the order of their starts (they
// may overlap: the needle scan merges overlapping matches). Every
// one starting before lim ends within t when lim is len(t) or at least
// hold() before it.
func (ns *needleSet) wrapped(t []byte, from, lim int) []wrapMatch {
	var out []wrapMatch
	var viewBuf [512]byte
	var segBuf [16][2]int
	bf := breakFinder{t: t, nl: -1, bs: -1}
	for k := from; k < lim; {
		p := bf.next(k)
		if p < 0 {
			break
		}
		l := wrappedBreak(t, p)
		if l == 0 {
			k = p + 1
			continue
		}
		// The block starts at the base64 characters before p (none
		// before from: no needle starts there) and runs on over lines.
		s := p
		for s > k && b64Char[t[s-1]] {
			s--
		}
		if s >= lim {
			break
		}
		view, segs := viewBuf[:0], segBuf[:0] // segs: where each line starts in view and in t
		lastBreak := 0                        // in view
		e := s
		for {
			a := e
			for e < len(t) && b64Char[t[e]] {
				e++
			}
			segs = append(segs, [2]int{len(view), a})
			view = append(view, t[a:e]...)
			if e == len(t) {
				break
			}
			l := wrappedBreak(t, e)
			if l == 0 {
				break
			}
			lastBreak = len(view)
			e += l
		}
		toT := func(v int) int {
			i := sort.Search(len(segs), func(i int) bool { return segs[i][0] > v }) - 1
			return segs[i][1] + v - segs[i][0]
		}
		// A needle that crosses a break starts before the last one, at
		// most the longest needle before the first.
		j := max(0, segs[min(1, len(segs)-1)][0]-ns.maxLen-3)
		for ; j < lastBreak && j+4 <= len(view); j++ {
			key := binary.LittleEndian.Uint32(view[j:])
			h := bloomHash(key)
			if ns.bloom[h>>6]&(1<<(h&63)) == 0 {
				continue
			}
			a := toT(j)
			if a >= lim {
				break
			}
			end, label := ns.matchWrapped(view, j, key)
			if end < 0 {
				continue
			}
			if b := toT(end-1) + 1; b-a > end-j {
				out = append(out, wrapMatch{a, b, label})
			} // else the needle scan finds it where it is
			// Another may start inside it: the scan merges the two.
		}
		k = max(e, p+1)
	}
	return out
}

// matchWrapped returns the end of the longest needle that may be broken
// into lines at view[j:] (-1 for none), view being a block of lines joined.
// k holds its first four bytes.
func (ns *needleSet) matchWrapped(view []byte, j int, k uint32) (int, string) {
	for _, nd := range ns.table[k] {
		l := len(nd.text)
		if nd.flags&wrapOK == 0 || l > len(view)-j || string(view[j:j+l]) != nd.text {
			continue
		}
		end := j + l
		if nd.flags&b64Ext != 0 {
			end, _ = extendBase64(view, end, true)
		}
		return end, nd.label
	}
	return -1, ""
}
