package guard

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/guard/internal/classify"
)

// SegmentKind says what a segment of a text is, since an instruction
// planted in a document shows most clearly against the kind of its
// neighbours (a sentence between table rows, a request in an email's body).
type SegmentKind uint8

// The kinds of segment.
const (
	KindProse  SegmentKind = iota // a sentence or a line of running text
	KindCode                      // a fenced or indented code block
	KindCell                      // a cell of a table row ("|"-separated, tab- or comma-separated)
	KindHeader                    // an email or HTTP header field ("Subject: ...")
	KindList                      // a list item or a Markdown heading
)

func (k SegmentKind) String() string {
	switch k {
	case KindCode:
		return "code"
	case KindCell:
		return "cell"
	case KindHeader:
		return "header"
	case KindList:
		return "list"
	}
	return "prose"
}

// Span is a segment of a text: text[Start:End].
type Span struct {
	Start, End int
	Kind       SegmentKind
}

// Limits of the segmenter: a segment longer than maxSegment bytes is cut
// (at a space when one is near), and a text gives at most maxSegs segments
// (the rest of a huge text is left to the whole-text classifier), so the
// cost of scoring stays linear and bounded.
const (
	maxSegment = 600
	maxSegs    = 4096
)

// Segments splits text into the spans the guard scores one by one:
// sentences and lines of prose, list items, fenced and indented code
// blocks, the cells of table rows and the fields of email headers. Spans
// are in order, do not overlap, lie within text, are never empty, and skip
// only blank space and table separators. It never fails: any byte string
// gives some segmentation.
func Segments(text string) []Span {
	var segs []Span
	add := func(start, end int, kind SegmentKind) {
		// Trim blanks; cut long spans.
		for start < end && isBlank(text[start]) {
			start++
		}
		for end > start && isBlank(text[end-1]) {
			end--
		}
		for start < end && len(segs) < maxSegs {
			e := end
			if e-start > maxSegment {
				e = cutAt(text, start, start+maxSegment)
			}
			segs = append(segs, Span{start, e, kind})
			start = e
			for start < end && isBlank(text[start]) {
				start++
			}
		}
	}
	inFence := false
	fenceStart := 0
	indentStart := -1 // start of a run of indented lines, or -1
	for pos := 0; pos < len(text) && len(segs) < maxSegs; {
		end := strings.IndexByte(text[pos:], '\n')
		next := len(text)
		if end < 0 {
			end = len(text)
		} else {
			end += pos
			next = end + 1
		}
		line := text[pos:end]
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			if inFence {
				add(fenceStart, end, KindCode)
				inFence = false
			} else {
				if indentStart >= 0 {
					add(indentStart, pos, KindCode)
					indentStart = -1
				}
				inFence, fenceStart = true, pos
			}
		case inFence:
		case indented(line) && trimmed != "":
			if indentStart < 0 {
				indentStart = pos
			}
		default:
			if indentStart >= 0 {
				add(indentStart, pos, KindCode)
				indentStart = -1
			}
			splitLine(text, pos, end, add)
		}
		pos = next
	}
	if inFence {
		add(fenceStart, len(text), KindCode)
	}
	if indentStart >= 0 {
		add(indentStart, len(text), KindCode)
	}
	return segs
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// indented reports whether line is part of an indented code block: four
// spaces or a tab before its text.
func indented(line string) bool {
	return strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t")
}

// cutAt returns a cut point in (start, limit]: the last space before
// limit when there is one in the second half, else limit moved back to a
// rune boundary.
func cutAt(text string, start, limit int) int {
	if i := strings.LastIndexByte(text[start:limit], ' '); i > (limit-start)/2 {
		return start + i + 1
	}
	for limit > start+1 && !utf8.RuneStart(text[limit]) {
		limit--
	}
	return limit
}

// splitLine adds the segments of the line text[start:end]: its cells when
// it is a table row, its fields when it holds email header fields, its
// sentences otherwise.
func splitLine(text string, start, end int, add func(int, int, SegmentKind)) {
	line := text[start:end]
	t := strings.TrimSpace(line)
	if t == "" {
		return
	}
	switch {
	case strings.Count(line, "|") >= 2 && !headerFields(line):
		if isSeparatorRow(t) {
			return
		}
		splitOn(text, start, end, '|', KindCell, add)
	case strings.Count(line, "\t") >= 2:
		splitOn(text, start, end, '\t', KindCell, add)
	case headerFields(line) || yamlKey(line) > 0 && headerFields(line[yamlKey(line):]):
		// "SUBJECT: ...|EMAIL_FROM: ...|CONTENT: ...", one "Subject: ..."
		// or a YAML field "- body: ..."
		cur := start + yamlKey(line)
		for cur <= end {
			j := strings.IndexByte(text[cur:end], '|')
			stop := end
			if j >= 0 {
				stop = cur + j
			}
			field := text[cur:stop]
			if isHeaderField(field) {
				k := strings.IndexByte(field, ':')
				add(cur, cur+k+1, KindHeader)
				sentences(text, cur+k+1, stop, KindProse, add)
			} else {
				sentences(text, cur, stop, KindProse, add)
			}
			if j < 0 {
				break
			}
			cur = stop + 1
		}
	case isListItem(t):
		sentences(text, start, end, KindList, add)
	default:
		sentences(text, start, end, KindProse, add)
	}
}

// splitOn adds the parts of text[start:end] between the separators sep.
func splitOn(text string, start, end int, sep byte, kind SegmentKind, add func(int, int, SegmentKind)) {
	cur := start
	for {
		j := strings.IndexByte(text[cur:end], sep)
		if j < 0 {
			add(cur, end, kind)
			return
		}
		add(cur, cur+j, kind)
		cur += j + 1
	}
}

// isSeparatorRow reports whether a table row is a rule: |---|:--:|.
func isSeparatorRow(t string) bool {
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '|', '-', ':', ' ', '+', '=':
		default:
			return false
		}
	}
	return true
}

// isHeaderField reports whether s starts like a header field: a name of
// letters, digits, '-' or '_' (no spaces, or one space in a short name
// such as "RECEIVED DATE") followed by a colon.
func isHeaderField(s string) bool {
	s = strings.TrimLeft(s, " \t")
	k := strings.IndexByte(s, ':')
	if k <= 0 || k > 24 {
		return false
	}
	spaces := 0
	for i := 0; i < k; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == ' ':
			spaces++
		default:
			return false
		}
	}
	if spaces > 1 {
		return false
	}
	name := strings.ToLower(s[:k])
	switch name {
	case "from", "to", "cc", "bcc", "subject", "date", "reply-to", "sender", "content-type", "message-id",
		"email_from", "received date", "content", "received", "x-mailer", "user-agent", "host", "accept",
		"authorization", "cookie", "set-cookie", "location", "server", "content-length":
		return true
	}
	// An upper-case name (SUBJECT, EMAIL_FROM) in a "|"-joined record.
	if spaces == 0 && strings.ToUpper(s[:k]) == s[:k] && k >= 2 && strings.ContainsAny(s[:k], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return true
	}
	// A YAML key ("body: ...", "- subject: ..."): its value is a segment
	// of its own.
	return spaces == 0 && k+1 < len(s) && s[k+1] == ' '
}

// yamlKey returns the length of a leading "- " of a YAML list item, so
// that "- body: text" is read as the field "body".
func yamlKey(line string) int {
	t := strings.TrimLeft(line, " \t")
	if strings.HasPrefix(t, "- ") {
		return len(line) - len(t) + 2
	}
	return 0
}

// headerFields reports whether line is one header field or fields joined
// by "|".
func headerFields(line string) bool {
	if !isHeaderField(line) {
		return false
	}
	for _, f := range strings.Split(line, "|")[1:] {
		if strings.TrimSpace(f) != "" && !isHeaderField(f) {
			// A table whose first cell ends in a colon is still a table
			// unless most parts are fields.
			return strings.Count(line, "|") < 2
		}
	}
	return true
}

// isListItem reports whether t (a trimmed line) is a list item or a
// Markdown heading.
func isListItem(t string) bool {
	if strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || strings.HasPrefix(t, "+ ") || strings.HasPrefix(t, "#") {
		return true
	}
	i := 0
	for i < len(t) && i < 3 && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(t) && (t[i] == '.' || t[i] == ')') && t[i+1] == ' '
}

// sentences adds the sentences of text[start:end]: a sentence ends after
// '.', '!' or '?' followed by a space, or after a full-width stop, and a
// stop between digits or after a one-letter word ("e.g.", "3.5") does not
// end one.
func sentences(text string, start, end int, kind SegmentKind, add func(int, int, SegmentKind)) {
	cur := start
	for i := start; i < end; {
		r, n := utf8.DecodeRuneInString(text[i:end])
		stop := false
		switch r {
		case '.', '!', '?':
			if i+n < end && (text[i+n] == ' ' || text[i+n] == '\t') && i-cur >= 3 && !abbrev(text, cur, i) {
				stop = true
			}
		case '。', '！', '？', '；':
			stop = true
		}
		i += n
		if stop {
			add(cur, i, kind)
			cur = i
		}
	}
	if cur < end {
		add(cur, end, kind)
	}
}

// abbrev reports whether the stop at text[i] ends an abbreviation or a
// number rather than a sentence: the word before it is one letter, or a
// known short abbreviation.
func abbrev(text string, from, i int) bool {
	j := i
	for j > from && text[j-1] != ' ' && text[j-1] != '\t' {
		j--
	}
	w := strings.ToLower(text[j:i])
	if len(w) <= 1 {
		return true
	}
	switch w {
	case "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "no", "fig", "cf", "approx", "inc", "st":
		return true
	}
	return false
}

// DetectPlanted names, in Reasons, the segment model: a segment that reads
// as an instruction to the reader planted in a document.
const DetectPlanted = "planted-instruction"

// SegmentInputs returns the segments of text as the segment model reads
// them. It is for the training command; Analyze is the way to score.
func SegmentInputs(text string) ([]Span, []classify.Seg) {
	segs := Segments(text)
	in := make([]classify.Seg, len(segs))
	for i, s := range segs {
		raw := text[s.Start:s.End]
		in[i] = classify.Seg{View: detectorView(Normalize(raw)), Kind: uint8(s.Kind), Script: classify.ScriptOf(raw)}
	}
	return segs, in
}

// scoreSegments scores every segment of text with the segment model and
// returns the top spans and the highest score, both on the scale of Score
// (the segment model's own threshold maps to DefaultThreshold).
// Phrases the detectors found cited in quotes are blanked, as for the
// classifier, so that an article about an attack is not scored as one.
func scoreSegments(text string, cited []string, m *classify.Model, threshold float64) ([]ScoredSpan, float64) {
	segs, in := SegmentInputs(text)
	if len(segs) == 0 {
		return nil, 0
	}
	for _, c := range cited {
		for i := range in {
			in[i].View = strings.ReplaceAll(in[i].View, c, " ")
		}
	}
	// A text of one or two segments is a prompt, not a document with
	// something planted in it: the whole-text classifier and the detectors
	// judge it.
	if len(segs) < 3 {
		return nil, 0
	}
	vecs := classify.SegVectors(in)
	scores := make([]float64, len(segs))
	best := 0.0
	for i, v := range vecs {
		if !wordy(in[i].View) {
			continue // "2.1", "--version}": too little to be an instruction
		}
		scores[i] = calibrate(m.ProbVec(v), m.ProbThreshold, threshold)
		best = max(best, scores[i])
	}
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	var spans []ScoredSpan
	for _, i := range order[:min(3, len(order))] {
		if scores[i] < 0.2 {
			break
		}
		s := segs[i]
		spans = append(spans, ScoredSpan{Start: s.Start, End: s.End, Kind: s.Kind.String(), Score: round(scores[i]), Text: clip(text[s.Start:s.End], 200)})
	}
	return spans, best
}

// Wordy is wordy, for the training command's calibration.
func Wordy(view string) bool { return wordy(view) }

// wordy reports whether a segment view holds at least three words of two
// letters or more, or some text in a script without spaces: the least an
// instruction takes.
func wordy(v string) bool {
	words, run := 0, 0
	for _, r := range v {
		switch {
		case r >= 0x2E80:
			return true
		case r >= 'a' && r <= 'z' || r >= 0x80 && unicode.IsLetter(r):
			run++
		default:
			if run >= 2 {
				words++
			}
			run = 0
		}
	}
	if run >= 2 {
		words++
	}
	return words >= 3
}

// calibrate maps a segment probability p to guard's score scale, linearly
// in two pieces so that the segment threshold st lands on the threshold t.
func calibrate(p, st, t float64) float64 {
	if st <= 0 || st >= 1 {
		return p
	}
	if p < st {
		return p / st * t
	}
	return t + (p-st)/(1-st)*(1-t)
}
