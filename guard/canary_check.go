package guard

// CanaryCheck looks for one canary in several texts that share pieces (a
// tool call's arguments, their strings and those put together), finding
// in each exactly what Canary.In finds. A run of base64 or hex that
// several of the texts hold is decoded once, and its decoded text looked
// in once. Not safe for use by two goroutines at once.
type CanaryCheck struct {
	c       Canary
	runs    map[runKey]runDecoding // decodings of runs, to replay
	seen    map[string]bool        // inNormalized of decoded segments
	scratch []byte                 // the decoders' scratch, kept
}

// Check returns a CanaryCheck for c.
func (c Canary) Check() *CanaryCheck { return &CanaryCheck{c: c} }

// In is c.In(text).
func (k *CanaryCheck) In(text string) bool { return k.c.in(text, k) }

// inSegments reports whether inNormalized holds for a segment's text;
// with k, a text looked in before is not looked in again.
func (c Canary) inSegments(segs []Segment, k *CanaryCheck) bool {
	for _, seg := range segs {
		if k == nil {
			if c.inNormalized(seg.Text) {
				return true
			}
			continue
		}
		found, ok := k.seen[seg.Text]
		if !ok {
			found = c.inNormalized(seg.Text)
			if k.seen == nil {
				k.seen = map[string]bool{}
			}
			k.seen[seg.Text] = found
		}
		if found {
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
	if k.runs == nil {
		k.runs = map[runKey]runDecoding{}
	}
	d := decoder{budget: maxDecodedBytes, all: true, runs: k.runs, scratch: k.scratch}
	d.walk(text, "", 0)
	k.scratch = d.scratch
	return d.out
}

// runKey is a base64 or hex run found at a depth, under the encodings
// (prefix) it was found in.
type runKey struct {
	run, prefix string
	depth       int
}

// runDecoding is what decoding a run added (segs, nested ones included),
// starting with budget bytes left and count segments out, and the budget
// it spent. None of its segments was refused, so the same run decoded
// with at least as much budget left and at most as many segments out adds
// the same segments and spends the same: the decoding reads nothing else.
type runDecoding struct {
	segs                 []Segment
	budget, count, spent int
}

// decodeRun is decodeRunOnce, or what it added before when d.runs holds
// the run's decoding and its bounds allow the same again.
func (d *decoder) decodeRun(run, prefix string, depth int) {
	if d.runs == nil {
		d.decodeRunOnce(run, prefix, depth)
		return
	}
	key := runKey{run, prefix, depth}
	if r, ok := d.runs[key]; ok && d.budget >= r.budget && len(d.out) <= r.count {
		d.out = append(d.out, r.segs...)
		d.budget -= r.spent
		return
	}
	budget, count, refused := d.budget, len(d.out), d.refused
	d.decodeRunOnce(run, prefix, depth)
	if d.refused == refused {
		d.runs[key] = runDecoding{segs: d.out[count:len(d.out):len(d.out)], budget: budget, count: count, spent: budget - d.budget}
	}
}
