package guard

import "strings"

// CanaryCheck looks for one canary in several texts that share pieces (a
// tool call's arguments, their strings and those put together), finding
// in each exactly what Canary.In finds. A run of base64 or hex that
// several of the texts hold is decoded once, and a decoded text looked in
// once. Not safe for use by two goroutines at once.
type CanaryCheck struct {
	c Canary
	// runs are the decodings of the runs of the texts (not of the text
	// they decode to) to replay, clean the decoded texts inNormalized
	// found nothing in; at most maxShared of each, looked through in turn
	// (a call's texts share a few).
	runs    []runDecoding
	clean   []string
	scratch []byte // the decoders' scratch, kept
	// mixedClean are texts of several lines inMixed found nothing in, at
	// most maxShared: a text that is a line of one of them is not read
	// again (inMixedShared).
	mixedClean []string
	// memo is inMixed's states after the words it read (wordMemo), made
	// when first needed.
	memo wordMemo
	// The first few of each, without an allocation each time one grows
	// (a write_file call of `bulwark bench agents` fills about these; with
	// eight each, the larger CanaryCheck cost more than it saved).
	runsBuf  [4]runDecoding
	cleanBuf [4]string
	mixedBuf [4]string
}

// maxShared bounds the decodings and decoded texts a CanaryCheck keeps.
const maxShared = 32

// Check returns a CanaryCheck for c.
func (c Canary) Check() *CanaryCheck {
	k := &CanaryCheck{c: c}
	k.runs, k.clean, k.mixedClean = k.runsBuf[:0], k.cleanBuf[:0], k.mixedBuf[:0]
	return k
}

// In is c.In(text).
func (k *CanaryCheck) In(text string) bool { return k.c.in(text, k) }

// inSegments reports whether inNormalized holds for a segment's text;
// with k, a text it found nothing in before is not looked in again.
func (c Canary) inSegments(segs []Segment, k *CanaryCheck) bool {
	for _, seg := range segs {
		if k != nil && k.isClean(seg.Text) {
			continue
		}
		if c.inNormalized(seg.Text) {
			return true
		}
		if k != nil && len(k.clean) < maxShared {
			k.clean = append(k.clean, seg.Text)
		}
	}
	return false
}

// inMixedShared is c.inMixed(text), skipping a text that is whole lines
// of a text inMixed found nothing in before (isLineOf).
func (c Canary) inMixedShared(text string, k *CanaryCheck) bool {
	if k == nil {
		return c.inMixed(text)
	}
	for _, j := range k.mixedClean {
		if isLineOf(text, j) {
			return false
		}
	}
	if k.memo == nil {
		k.memo = make(wordMemo)
	}
	if c.inMixedMemo(text, k.memo) {
		return true
	}
	// A text of one line holds no other as a line but itself.
	if len(k.mixedClean) < maxShared && strings.IndexByte(text, '\n') >= 0 {
		k.mixedClean = append(k.mixedClean, text)
	}
	return false
}

// isLineOf reports whether t is whole lines of j (one or more): j holds t
// with a line break or j's start before it and a line break or j's end
// after it.
//
// inMixed finds in j whatever it finds in such a t (so with j clean, t is):
// a line break is no word byte and no part of an escape (each of
// unescapeInPlace's ends in a hex or octal digit, '}' or ';', and holds
// nothing else but its lead), so t's words and escapes are the same in j,
// none read as an escape's digits for its first being after the line
// break, and a surrogate escape left waiting at t's end becomes a
// character that is no word byte either way. Reading t's words from the
// states j's text before them leaves matches all a pattern's prefix
// matched from nothing does, and more: a state k stands for the last k
// bytes read matching the pattern's first k, so from any state the
// pattern is found no later than from none (FuzzInMixedLineOf).
func isLineOf(t, j string) bool {
	if len(t) > len(j) {
		return false
	}
	for from := 0; from <= len(j); {
		i := strings.Index(j[from:], t)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(t)
		if (i == 0 || j[i-1] == '\n') && (end == len(j) || j[end] == '\n') {
			return true
		}
		from = i + 1
	}
	return false
}

func (k *CanaryCheck) isClean(s string) bool {
	for _, c := range k.clean {
		if c == s {
			return true
		}
	}
	return false
}

// decodeAll is decodeAll(text), replaying the runs k has decoded before
// (k may be nil).
func (k *CanaryCheck) decodeAll(text string) []Segment {
	if k == nil {
		return decodeAll(text)
	}
	d := decoder{budget: maxDecodedBytes, all: true, shared: k, scratch: k.scratch}
	d.walk(text, "", 0)
	k.scratch = d.scratch
	return d.out
}

// runDecoding is what decoding run, a run of a text, added (segs, nested
// ones included), starting with budget bytes left and count segments out,
// and the budget it spent. None of its segments was refused, so the same
// run decoded with at least as much budget left and at most as many
// segments out adds the same segments and spends the same: the decoding
// reads nothing else.
type runDecoding struct {
	run                  string
	segs                 []Segment
	budget, count, spent int
}

// decodeRun is decodeRunOnce, or for a run of the text itself (depth 0)
// what it added before when d shares a CanaryCheck's decodings and its
// bounds allow the same again.
func (d *decoder) decodeRun(run, prefix string, depth int) {
	k := d.shared
	if k == nil || depth > 0 {
		d.decodeRunOnce(run, prefix, depth)
		return
	}
	for _, r := range k.runs {
		if r.run == run && d.budget >= r.budget && len(d.out) <= r.count {
			d.out = append(d.out, r.segs...)
			d.budget -= r.spent
			return
		}
	}
	budget, count, refused := d.budget, len(d.out), d.refused
	d.decodeRunOnce(run, prefix, depth)
	if d.refused == refused && len(k.runs) < maxShared {
		k.runs = append(k.runs, runDecoding{run: run, segs: d.out[count:len(d.out):len(d.out)], budget: budget, count: count, spent: budget - d.budget})
	}
}
