package guard

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
}

// maxShared bounds the decodings and decoded texts a CanaryCheck keeps.
const maxShared = 32

// Check returns a CanaryCheck for c.
func (c Canary) Check() *CanaryCheck { return &CanaryCheck{c: c} }

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
