package classify

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// SegDim is the number of hashed feature buckets of the segment model.
const SegDim = 1 << 16

// Seg is one segment of a document as the segment model reads it: its
// detector view (normalized, lowercased), its kind (guard's SegmentKind)
// and its script as read from the original text.
type Seg struct {
	View   string
	Kind   uint8
	Script Script
}

// Script is the dominant writing system of a text, as far as the segment
// model cares: a sentence in another script than its neighbours is a
// change of language inside a document.
type Script uint8

// Scripts.
const (
	ScriptNone Script = iota
	ScriptLatin
	ScriptCyrillic
	ScriptCJK // Han, kana, hangul
	ScriptOther
)

// ScriptOf returns the dominant script of s (the original text, before
// guard folds homoglyphs).
func ScriptOf(s string) Script {
	var n [5]int
	for _, r := range s {
		switch {
		case r < 0x80:
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
				n[ScriptLatin]++
			}
		case unicode.Is(unicode.Latin, r):
			n[ScriptLatin]++
		case unicode.Is(unicode.Cyrillic, r):
			n[ScriptCyrillic]++
		case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r):
			n[ScriptCJK] += 2 // a CJK character carries about a word
		case unicode.IsLetter(r):
			n[ScriptOther]++
		}
	}
	best := ScriptNone
	for s := ScriptLatin; s <= ScriptOther; s++ {
		if n[s] > n[best] {
			best = s
		}
	}
	return best
}

// stop words are left out of the topic overlap between a segment and its
// document: "what is the" says nothing about the topic.
var stopWords = lazy.Value[map[string]bool]{New: func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but of to in on at by for with from as is are was were be been
	this that these those it its what which who whom how why when where there here can could would should will shall may
	might must do does did have has had not no yes you your yours i me my we our they them their he she his her
	please about into over under than then so if also just any all some each more most very out up down`) {
		m[w] = true
	}
	return m
}}

// Languages told apart by their most common words, for the feature "this
// segment is in another language than the document". Made on first use.
var langWords = lazy.Value[map[string]string]{New: func() map[string]string {
	return map[string]string{
		"the": "en", "and": "en", "is": "en", "of": "en", "you": "en", "your": "en", "what": "en", "with": "en",
		"der": "de", "die": "de", "das": "de", "und": "de", "ist": "de", "nicht": "de", "sie": "de", "ihre": "de", "mit": "de",
		"le": "fr", "les": "fr", "et": "fr", "est": "fr", "vous": "fr", "votre": "fr", "des": "fr", "une": "fr", "pour": "fr",
		"el": "es", "los": "es", "las": "es", "y": "es", "es": "es", "su": "es", "usted": "es", "por": "es", "una": "es", "tu": "es",
	}
}}

// docInfo is what the segment features know about the whole document.
type docInfo struct {
	words  map[string]int // content words of the document, with counts
	script Script
	lang   string
	total  int // content words in the document
}

// tokens splits a view into words: runs of letters and digits.
func tokens(v string) []string {
	var out []string
	start := -1
	for i, r := range v {
		word := r < 0x80 && ('a' <= r && r <= 'z' || '0' <= r && r <= '9' || 'A' <= r && r <= 'Z') ||
			r >= 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r))
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			out = append(out, v[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, v[start:])
	}
	return out
}

// contentWords calls f with the words of toks that carry a topic.
func contentWords(toks []string, f func(string)) {
	stop := stopWords.Get()
	for _, w := range toks {
		if len(w) >= 4 && !stop[w] {
			f(w)
		}
	}
}

func langOf(toks []string) string {
	var en, de, fr, es int
	lang := langWords.Get()
	for _, w := range toks {
		switch lang[w] {
		case "en":
			en++
		case "de":
			de++
		case "fr":
			fr++
		case "es":
			es++
		}
	}
	best, bn := "", 1
	for _, c := range []struct {
		l string
		n int
	}{{"en", en}, {"de", de}, {"fr", fr}, {"es", es}} {
		if c.n > bn {
			best, bn = c.l, c.n
		}
	}
	return best
}

// SegVectors returns the feature vector of every segment of a document:
// the segment's own words and word pairs, its first words (imperatives),
// its final punctuation (questions), and its context: its kind and its
// neighbours' kinds, how much of its vocabulary the rest of the document
// shares (a request unrelated to the document around it shares none),
// whether its script or language differs from the document's, and whether
// it stands alone. Its cue classes (cues.go: addressee, action asked for,
// links, paths) come alone, in pairs and with that context; links and
// e-mail addresses are one word each ("zurl", "zmail"), so that the hosts
// of the training attacks are not what the model learns.
func SegVectors(segs []Seg) []Vector {
	d := docInfo{words: map[string]int{}}
	var scripts [5]int
	langs := map[string]int{}
	own := make([]map[string]int, len(segs)) // content words per segment
	lang := make([]string, len(segs))
	toks := make([][]string, len(segs))
	cues := make([]CueSet, len(segs))
	cued := 0 // segments with two kinds of cue or more
	for i, s := range segs {
		toks[i] = tokens(abstractTokens(s.View))
		if cues[i] = Cues(s.View, toks[i]); cues[i].strength() >= 2 {
			cued++
		}
		own[i] = map[string]int{}
		contentWords(toks[i], func(w string) { d.words[w]++; d.total++; own[i][w]++ })
		scripts[s.Script] += len(s.View)
		if lang[i] = langOf(toks[i]); lang[i] != "" {
			langs[lang[i]] += len(s.View)
		}
	}
	for sc := ScriptLatin; sc <= ScriptOther; sc++ {
		if scripts[sc] > scripts[d.script] {
			d.script = sc
		}
	}
	bl := 0
	for _, l := range []string{"en", "de", "fr", "es"} {
		if langs[l] > bl {
			d.lang, bl = l, langs[l]
		}
	}
	// How many segments speak to the reader: in a prompt or a role-play
	// set-up most do, in a document planted with one instruction few do.
	second := 0
	sp := make([]bool, len(segs))
	for i, s := range segs {
		if sp[i] = secondPerson(s.View); sp[i] {
			second++
		}
	}
	out := make([]Vector, len(segs))
	var f featurizer
	for i, s := range segs {
		f.reset()
		prev, next := uint8(255), uint8(255)
		if i > 0 {
			prev = segs[i-1].Kind
		}
		if i+1 < len(segs) {
			next = segs[i+1].Kind
		}
		ov := f.segment(s, toks[i], own[i], lang[i], prev, next, &d, len(segs))
		others := second
		if sp[i] {
			others--
		}
		o2 := "others2p=some"
		switch {
		case others == 0:
			o2 = "others2p=0"
		case others <= 2:
			o2 = "others2p=few"
		case others*3 >= len(segs):
			o2 = "others2p=most"
		}
		f.tag(o2)
		oc := cued
		if cues[i].strength() >= 2 {
			oc--
		}
		ocb := "otherscued=0"
		switch {
		case oc > 0 && oc*4 >= len(segs):
			ocb = "otherscued=many"
		case oc > 0:
			ocb = "otherscued=few"
		}
		f.cues(cues[i], o2, ov, ocb)
		switch i {
		case 0:
			f.tag("pos=first")
		case len(segs) - 1:
			f.tag("pos=last")
		}
		out[i] = f.vector()
	}
	return out
}

// secondPerson reports whether a segment view addresses its reader.
func secondPerson(v string) bool {
	for _, w := range []string{"you", "your", "du ", "dein", "sie ", "ihre", "vous", "votre", "tu ", "usted", "你", "您", "ты", "вы", "твой", "ваш", "あなた"} {
		if i := strings.Index(v, w); i >= 0 && (i == 0 || !isWordByte(v[i-1])) {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// referents are what an instruction points at when it is about the text
// it sits in ("summarize this article", "the following code"): a prompt
// that comes with its data, rather than a request planted in data.
var referents = lazy.Value[map[string]bool]{New: func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`text article passage paragraph summary sentence sentences context review document email
	table code snippet block excerpt words data question questions story conversation dialog dialogue list information options
	statement statements premise hypothesis tweet title page post message file output input answer`) {
		m[w] = true
	}
	return m
}}

// reference returns the noun an instruction points at with "this",
// "these", "the following", "above", "below" or "given", or "".
func reference(words []string) string {
	refs := referents.Get()
	for i, w := range words {
		switch w {
		case "this", "these", "following", "above", "below", "given", "preceding", "attached":
			for j := i + 1; j < len(words) && j <= i+2; j++ {
				if refs[words[j]] {
					return words[j]
				}
			}
		}
	}
	return ""
}

// featurizer collects the hashed features of one segment.
type featurizer struct {
	raw []uint32 // buckets, with repeats
}

func (f *featurizer) reset() { f.raw = f.raw[:0] }

func hashStr(seed uint32, s string) uint32 {
	h := seed
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * prime
	}
	return h
}

const (
	seedSegWord = 0x1b873593
	seedSegPair = 0xcc9e2d51
	seedSegTag  = 0xe6546b64
	seedSegRune = 0x85ebca6b
)

func (f *featurizer) addHash(h uint32, _ float32) { f.raw = append(f.raw, h%SegDim) }

// tag adds a named feature.
func (f *featurizer) tag(name string) { f.addHash(hashStr(seedSegTag, name), 1) }

// vector counts the buckets: log(1+count) each, scaled to unit length,
// in bucket order.
func (f *featurizer) vector() Vector {
	slices.Sort(f.raw)
	var v Vector
	for i := 0; i < len(f.raw); {
		j := i + 1
		for j < len(f.raw) && f.raw[j] == f.raw[i] {
			j++
		}
		v.Idx = append(v.Idx, f.raw[i])
		v.Val = append(v.Val, float32(log1p(float32(j-i))))
		i = j
	}
	var norm float64
	for _, x := range v.Val {
		norm += float64(x * x)
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for k := range v.Val {
			v.Val[k] *= inv
		}
	}
	return v
}

var kindNames = []string{"prose", "code", "cell", "header", "list"}

func kindName(k uint8) string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "none"
}

// cues adds the cue classes of a segment, alone, in pairs, and with its
// context: how many other segments speak to the reader or carry cues, and
// how much of its vocabulary the document shares.
func (f *featurizer) cues(c CueSet, others2p, ov, otherscued string) {
	n := c.strength()
	st := "cues=" + string(rune('0'+n))
	f.tag(st)
	f.tag(st + "|" + others2p)
	f.tag(st + "|" + ov)
	f.tag(st + "|" + otherscued)
	var names [numCues + 1]string
	k := 0
	c.names(func(name string) { names[k] = name; k++ })
	for i := 0; i < k; i++ {
		a := names[i]
		f.tag("cue=" + a)
		f.tag("cue=" + a + "|" + others2p)
		f.tag("cue=" + a + "|" + ov)
		for j := i + 1; j < k; j++ {
			f.tag("cc=" + a + "+" + names[j])
		}
	}
}

// abstractTokens replaces links and e-mail addresses by a word of their
// class, so that the attacker hosts of the training attacks are not what
// the model learns.
func abstractTokens(v string) string {
	if !strings.Contains(v, "://") && !strings.Contains(v, "www.") && !strings.Contains(v, "@") {
		return v
	}
	var b strings.Builder
	for i, w := range strings.Fields(v) {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch {
		case strings.Contains(w, "://") || strings.HasPrefix(w, "www."):
			b.WriteString("zurl")
		case strings.Contains(w, "@") && strings.Contains(w, "."):
			b.WriteString("zmail")
		default:
			b.WriteString(w)
		}
	}
	return b.String()
}

// segment adds the features of one segment and returns its topic-overlap
// bucket.
func (f *featurizer) segment(s Seg, words []string, own map[string]int, lang string, prev, next uint8, d *docInfo, nsegs int) string {
	v := s.View
	if len(words) > 120 {
		words = words[:120]
	}
	var ph uint32
	for i, w := range words {
		h := hashStr(seedSegWord, w)
		f.addHash(h, 1)
		if i > 0 {
			f.addHash((ph*31+h)^seedSegPair, 1)
		}
		ph = h
	}
	// Rune pairs for scripts without spaces between words.
	var pr rune
	n := 0
	for _, r := range v {
		if r >= 0x2E80 {
			if pr != 0 {
				f.addHash(hashStr(seedSegRune, string([]rune{pr, r})), 1)
			}
			pr = r
			if n++; n > 200 {
				break
			}
		} else {
			pr = 0
		}
	}
	k := kindName(s.Kind)
	f.tag("kind=" + k)
	if r := reference(words); r != "" {
		f.tag("ref")
		f.tag("ref=" + r)
	}
	f.tag("ctx=" + kindName(prev) + ">" + k + "<" + kindName(next))
	if prev != s.Kind && next != s.Kind {
		f.tag("unlike-neighbours=" + k)
	}
	if len(words) > 0 {
		f.tag("w0=" + words[0])
		f.tag("w0k=" + k + ":" + words[0])
		if len(words) > 1 {
			f.tag("w01=" + words[0] + " " + words[1])
		}
	}
	t := strings.TrimRight(v, " \t\r\n\"')]*")
	if r, _ := utf8.DecodeLastRuneInString(t); r != utf8.RuneError {
		switch r {
		case '?', '？':
			f.tag("end=?")
			f.tag("end=?:" + k)
		case '.', '。':
			f.tag("end=.")
		case '!', '！':
			f.tag("end=!")
		case ':':
			f.tag("end=:")
		}
	}
	switch nw := len(words); {
	case nw <= 2:
		f.tag("len<=2")
	case nw <= 6:
		f.tag("len<=6")
	case nw <= 15:
		f.tag("len<=15")
	case nw <= 40:
		f.tag("len<=40")
	default:
		f.tag("len>40")
	}
	// Topic overlap with the rest of the document.
	rest := d.total
	for _, c := range own {
		rest -= c
	}
	ov := "alone"
	switch {
	case nsegs == 1 || rest < 8:
		f.tag("alone")
		f.tag("alone:" + k)
	case len(own) == 0:
		ov = "ov=nocontent"
		f.tag(ov)
	default:
		shared := 0
		for w, c := range own {
			if d.words[w] > c {
				shared++
			}
		}
		r := float64(shared) / float64(len(own))
		b := "ov=0"
		switch {
		case r >= 0.67:
			b = "ov=high"
		case r >= 0.34:
			b = "ov=mid"
		case r > 0:
			b = "ov=low"
		}
		ov = b
		f.tag(b)
		f.tag(b + ":" + k)
		if len(own) >= 3 {
			f.tag(b + ":3+")
		}
	}
	if s.Script != ScriptNone && d.script != ScriptNone && s.Script != d.script {
		f.tag("script-change")
	}
	if l := lang; l != "" && d.lang != "" && l != d.lang {
		f.tag("lang-change")
		f.tag("lang-change:" + l)
	}
	f.tag("bias")
	return ov
}

// SegModel is the segment model: logistic regression over SegVectors.
// Its Threshold is the segment probability from which guard calls a
// document an injection, tuned on benign documents.
type SegModel = Model
