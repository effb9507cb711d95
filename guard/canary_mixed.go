package guard

import (
	"bytes"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Pieces written each their own way
//
// In finds a token written in one encoding, and one split into pieces of
// the same encoding (inReassembled). A token cut in two with each half
// encoded on its own in an encoding whose output does not join
// (base32's padding, base64's), or each half in another way (one plain,
// one base64; one hex, one URL-encoded), reads as neither: inMixed reads
// the text a word at a time, a word being a run of the bytes base64,
// base32 and hex are written with, and lets each word stand for itself or
// for what it decodes to as hex, base64 or base32, whichever puts the
// canary's random part together with the words before and after it. The
// escapes that need no word of their own (%XX, \xNN, \uXXXX, &#NN;, ...)
// are undone in place first. A word cannot be skipped (a reading must be
// text, with a letter or a digit: decodeText, hasAlnum): the pieces must follow one
// another, with only separators between them, so that no text spells the
// random part out of scattered words (it is 96 random bits: words that
// happen to decode to it in order do not occur by chance).

// inMixed reports whether text holds the canary's random part in words
// each plain or decoded on its own (once or twice: word), as text is
// written and with its escapes undone (once or twice). (Backwards it is
// not looked for: a token reversed and then cut and encoded piece by
// piece is left to the model's refusal; it would double the cost.)
func (c Canary) inMixed(text string) bool { return c.inMixedMemo(text, nil) }

// inMixedMemo is inMixed, keeping in memo (if not nil) the states each
// word leaves from the states before it, and taking them from there when
// a word is read again from the same states: the texts of a CanaryCheck
// (a call's arguments, their strings, those joined) share most words.
func (c Canary) inMixedMemo(text string, memo wordMemo) bool {
	if c.secret == "" || len(c.secret) > maxPattern {
		return false
	}
	m := c.matcher
	if m == nil { // a Canary made otherwise than by NewCanary
		m = newPieceMatcher(c.secret)
	}
	var buf [128]byte // where most words are decoded, kept off the heap
	var at cutStates  // cuts', for every word
	if m.in(text, buf[:0], &at, memo) {
		return true
	}
	// Escapes undone, and undone again (an escape of an escape: "%5Cx41",
	// "&#x25;41").
	u := unescapeInPlace(text)
	if u == text {
		return false
	}
	if m.in(u, buf[:0], &at, memo) {
		return true
	}
	u2 := unescapeInPlace(u)
	return u2 != u && m.in(u2, buf[:0], &at, memo)
}

// maxPattern bounds the pattern's length: a set of states is a uint64.
const maxPattern = 63

// wordMemo maps a word and the states it was read from (with cuts: at
// not nil) to the states word left after it, having found nothing. word
// reads nothing else: at and scratch it writes before it reads.
type wordMemo map[wordKey]states

type wordKey struct {
	cur states
	w   string
}

// maxMemo bounds the words a wordMemo keeps.
const maxMemo = 4096

// pieceMatcher looks for a pattern (the random part, lowercase hex)
// across words: states are the lengths of pattern matched so far, as
// Knuth-Morris-Pratt counts them, a set of them since each word may be
// read more than one way. It is made on the stack, once per text.
type pieceMatcher struct {
	pat  string
	fail [maxPattern + 1]uint8 // fail[k]: the longest proper prefix of pat[:k] that is also its suffix
	// token matches the whole token (its prefix's letters, then the
	// secret) for cuts; nil in the token's own.
	token *pieceMatcher
	// terces is pat reversed, for inPlain (kept here, not in Canary,
	// which every method of the check copies).
	terces string
	// rot are inRotated's patterns, the random part forwards and
	// backwards; nil in the token's own.
	rot [2]*rotPattern
}

// newPieceMatcher returns the matcher of secret, with its token's.
func newPieceMatcher(secret string) *pieceMatcher {
	m := new(pieceMatcher)
	m.init(secret)
	if len(secret) > 1 {
		m.rot = [2]*rotPattern{newRotPattern(secret), newRotPattern(reverse(secret))}
		if len(m.rot[0].steps) == 0 || len(m.rot[1].steps) == 0 {
			m.rot = [2]*rotPattern{} // its last character the first of its kind: too few steps to look for
		}
	}
	if len(tokenLetters)+len(secret) <= maxPattern {
		m.token = new(pieceMatcher)
		m.token.init(tokenLetters + secret)
	}
	return m
}

// tokenLetters are the letters of canaryPrefix, as run reads them.
const tokenLetters = "bwkcanary"

func (m *pieceMatcher) init(secret string) {
	m.pat, m.terces = secret, reverse(secret)
	for k, j := 2, uint8(0); k <= len(secret); k++ {
		for j > 0 && secret[k-1] != secret[j] {
			j = m.fail[j]
		}
		if secret[k-1] == secret[j] {
			j++
		}
		m.fail[k] = j
	}
}

// states is a set of match lengths, bit k for length k.
type states uint64

// in reads text a word at a time, decoding words in scratch.
func (m *pieceMatcher) in(text string, scratch []byte, at *cutStates, memo wordMemo) bool {
	_, found := m.words(1, text, base64Bytes.Get(), scratch, at, memo) // nothing matched yet
	return found
}

// words reads text from cur a word at a time, a word being a run of bytes
// inWord accepts; the others are separators, skipped. With at (not
// nil), a word's decoding is read again (word) and the word read as
// pieces with nothing between them (cuts, in at), and memo, if not nil,
// keeps what word found for each word and the states before it.
func (m *pieceMatcher) words(cur states, text string, inWord *byteSet, scratch []byte, at *cutStates, memo wordMemo) (states, bool) {
	for i := 0; i < len(text); {
		if !inWord[text[i]] {
			i++
			continue
		}
		j := i
		for j < len(text) && inWord[text[j]] {
			j++
		}
		var next states
		var found bool
		if i > 0 && strings.IndexByte(`%\#`, text[i-1]) >= 0 {
			// Part of an escape (%XX, \xNN, \uXXXX, &#NN;), which
			// unescapeInPlace undoes: read as written, never decoded on
			// its own, or each escape of a run could be read either way
			// and a text one digit off the canary be taken for it.
			next, found = m.escapeWord(cur, text, i, j)
		} else if memo == nil || at == nil {
			next, found = m.word(cur, text[i:j], scratch, at, nil)
		} else if n, ok := memo[wordKey{cur, text[i:j]}]; ok {
			next = n // read before from these states: found nothing
		} else {
			next, found = m.word(cur, text[i:j], scratch, at, memo)
			if !found && len(memo) < maxMemo {
				memo[wordKey{cur, text[i:j]}] = next
			}
		}
		if found {
			return next, true
		}
		cur, i = next, j
	}
	return cur, false
}

// escapeWord reads text[i:j], a word after the '%', '\' or '#' of an
// escape, as written, from cur. A match may go on through the escape's
// own characters but not begin inside them: "%32", the escape of a "2",
// is "32" as written, the first two characters of a random part that
// begins so, and "%30", "%31", ... likewise for every "3" and a digit
// (the token with its first character changed, its pieces escaped, then
// the rest its own way, was taken for it), where the escape ends its
// word or what follows in the word is not a letter or digit: a '%' or
// '\' written before text that runs on ("%830070cc..." for a random part
// "830070cc...") may be no escape, and is read as written throughout.
func (m *pieceMatcher) escapeWord(cur states, text string, i, j int) (states, bool) {
	from := i - 1
	if text[from] == '#' && from > 0 {
		from-- // "&#"
	}
	_, n := escapeAt(text[from:])
	own := min(max(from+n-i, 0), j-i) // the escape's characters in the word
	if i+own < j && isWordPart(text[i+own]) {
		// Letters or digits run on after it: maybe no escape but a
		// '%' before text ("%830070cc..."), read as written.
		next, found := run(m, cur, text[i:j])
		return begunInside(next, text[i:j]), found
	}
	next, found := run(m, cur, text[i:i+own])
	if found {
		return next, true
	}
	next &^= states(1)<<(alnums(text[i:i+own])+1) - 2 // begun inside it
	if next, found = run(m, next|1, text[i+own:j]); found {
		return next, true
	}
	return begunInside(next, text[i:j]), false
}

// isWordPart is isBase64Byte without the punctuation that may also
// separate pieces ("half1/half2", "half1-half2").
func isWordPart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '='
}

var wordPartBytes = lazy.Value[*byteSet]{New: func() *byteSet { s := setOf(isWordPart); return &s }}

// hasAlnum reports whether decoded bytes have a letter or a digit.
func hasAlnum(b []byte) bool {
	return bytes.ContainsFunc(b, func(r rune) bool {
		return 'a' <= r|0x20 && r|0x20 <= 'z' || '0' <= r && r <= '9'
	})
}

// The readings of a word besides itself.
const (
	readHex = iota
	readBase64
	readBase64URL
	readBase32
	readBase32Hex
	wordReadings
)

// readingsOf returns the readings w may be decoded in, as bits 1<<e: those
// whose alphabet holds all of w (which isBase64Byte accepts). punct
// reports whether w has any of "+/-_".
func readingsOf(w string) (readings uint, punct bool) {
	readings = 1<<wordReadings - 1
	var plusSlash, dashUnder bool
	for i := 0; i < len(w); i++ {
		switch ch := w[i]; {
		case '0' <= ch && ch <= '9':
			if ch < '2' || ch > '7' {
				readings &^= 1 << readBase32
			}
		case 'a' <= ch|0x20 && ch|0x20 <= 'z':
			if ch|0x20 > 'f' {
				readings &^= 1 << readHex
			}
			if ch|0x20 > 'v' {
				readings &^= 1 << readBase32Hex
			}
		case ch == '=':
			readings &^= 1 << readHex
		default: // + / - _
			readings &^= 1<<readHex | 1<<readBase32 | 1<<readBase32Hex
			plusSlash = plusSlash || ch == '+' || ch == '/'
			dashUnder = dashUnder || ch == '-' || ch == '_'
		}
	}
	if len(w)%2 != 0 {
		readings &^= 1 << readHex
	}
	// One base64 alphabet: the URL one only for a word that needs it.
	if dashUnder {
		readings &^= 1 << readBase64
	} else {
		readings &^= 1 << readBase64URL
	}
	if plusSlash {
		readings &^= 1 << readBase64URL
	}
	return readings, plusSlash || dashUnder
}

// word returns the states after w, read plain and as each encoding it
// decodes in, from cur; found reports that a reading completed a pattern.
// With at, a decoding is also read as a text is (nested), once: a piece
// encoded twice (hex then base64, %XX then base64, base64 then hex).
func (m *pieceMatcher) word(cur states, w string, scratch []byte, at *cutStates, memo wordMemo) (next states, found bool) {
	if next, found = run(m, cur, w); found {
		return next, true
	}
	next = begunInside(next, w)
	readings, punct := readingsOf(w)
	if punct {
		// Read also as the words between that punctuation (which has
		// none: isWordPart).
		n, found := m.words(cur, w, wordPartBytes.Get(), scratch, at, memo)
		if found {
			return n, true
		}
		next |= n
	}
	if at != nil {
		n, found := m.cuts(cur, w, scratch, at)
		if found {
			return next, true
		}
		next |= n
	}
	for e := range wordReadings {
		if readings&(1<<e) == 0 {
			continue
		}
		decoded, ok := decodeText(scratch[:0], w, e)
		if !ok || !hasAlnum(decoded) {
			continue
		}
		n, found := run(m, cur, decoded)
		if found {
			return next, true
		}
		next |= begunInside(n, decoded)
		if at != nil {
			n, found := m.nested(cur, string(decoded), decoded[len(decoded):])
			if found {
				return next, true
			}
			next |= n
		}
	}
	return next, false
}

// begunInside drops from n, the states after reading s, those begun
// inside hex of text (afterHexText: the hex of "BWK-CANARY-3e36" ends in
// "3336", the first four characters of a random part "3336..."), and
// those of fewer than minPiece characters matched that began inside s,
// after other letters or digits of it, but for the token's own ("bwkcanary"),
// which a token cut just after its prefix leaves: a word that ends in a
// character or three of the pattern by chance (base64 of a token with
// its first character changed, "...WS00", ends in the right one) would
// begin it, and the next word go on with it.
func begunInside[S string | []byte](n states, s S) states {
	for long := n &^ (1<<minPiece - 1); long != 0; long &= long - 1 {
		if k := bits.TrailingZeros64(uint64(long)); afterHexText(s, len(s), k) {
			n = n&^(1<<k) | 1
		}
	}
	if n&(1<<minPiece-2) == 0 {
		return n // the commonest: no such state
	}
	for k := 1; k < minPiece; k++ {
		if n&(1<<k) == 0 {
			continue
		}
		// Skip the k characters matched, back from the end; then
		// what is before them must be nothing or the token's letters.
		i, left := len(s), k
		for i > 0 && left > 0 {
			i--
			if alnums(s[i:i+1]) == 1 {
				left--
			}
		}
		before := i
		j, t := i, len(tokenLetters)
		for j > 0 && t > 0 {
			j--
			if c := s[j] | 0x20; alnums(s[j:j+1]) == 1 {
				if t--; c != tokenLetters[t] {
					break
				}
			}
		}
		if alnums(s[:before]) > 0 && !(t == 0 && alnums(s[:j]) == 0) {
			n = n&^(1<<k) | 1 // read as nothing matched
		}
	}
	return n
}

// Pieces with no separator between them
//
// A word may also be pieces written one after the other with nothing
// between them, each its own way ("QldLLUNBTkFSWS1h" then hex): cuts
// reads it so. A piece is read a block at a time (a block of characters
// decodes on its own: one character plain, two of hex, four of base64,
// eight of base32; a piece may end in a shorter block, padded or not),
// and after any of its blocks it may end and the next piece begin, in
// any reading. Every piece goes on with the pattern: the first begins
// where the word does, from the states the words before left (cur), and
// each of its blocks, as each of a later piece's, must leave part of the
// pattern matched (one character or more), or the piece is read no
// further; a later piece goes on with each state it begins with, never
// falling back to a match begun in the pieces before (extend), and must
// match minPiece characters before another may follow it. In text that holds no token a reading ends at once, at
// its first block (its first byte must begin a pattern: begins): about a
// block's decoding per reading and word, and never more than a reading
// of the word a block at a time per position where a piece ended part
// way into the pattern. The pattern is the secret (read on from the
// words before) and, from the word's start, the whole token
// (tokenLetters, then the secret), so that a cut in the token's prefix
// ("BWK-C" then "ANARY-..." each its own way) leaves part of a pattern
// matched too. A first piece read plain may also begin after other text
// in the word ("note0123abcd" then hex), once it has matched minPiece
// characters (plainInside: one step of Knuth-Morris-Pratt a character),
// but not inside hex of text (afterHexText). A word's first piece, in an
// encoding, that begins the pattern with fewer than minPiece characters
// is not gone on with by a piece whose encoding reads its characters as
// text (headFor). Those, and fromPieceStart, keep a near token (one
// character of the random part changed) from being read as the canary:
// the changed character's encoding, read another way, may give the right
// one, and hex digits are the random part's own characters.
// A word longer than maxCutWord is read so in its first maxCutWord
// characters only (a token cut from the word's start, text glued after
// it). Not read so: a first piece in an encoding begun after other text
// in the word (every position, in each reading: the cost would grow
// with the word's length times the readings), and a piece decoded twice
// (nested reads a whole word's decoding, not a piece's).

// maxCutWord bounds the words cuts reads: its states are on the stack
// (cutStates, one for a text). A token is 70 characters in hex, its
// longest single encoding.
const maxCutWord = 128

// cutStates are the states cuts keeps, per position of a word: the
// states a piece may begin with there (s), and the secret's that a
// word's short first piece left (head, headOf): a piece in an encoding
// that reads the characters before it as whole blocks of a few hex
// digits does not go on with those (headFor).
type cutStates struct {
	s    [maxCutWord + 1]statePair
	head [maxCutWord + 1]states
}

// keep adds p, the states a piece left at position j, to those a piece
// may begin with there, but for those of the secret in head, which are
// the head's (headFor).
func (at *cutStates) keep(j int, p statePair, head states) {
	at.head[j] |= p[0] & head
	at.s[j][0] |= p[0] &^ head
	at.s[j][1] |= p[1]
}

// headOf returns the states of the secret that a piece, which read read
// letters and digits, leaves as head states (cutStates): in a word's
// first piece (first) of fewer than minPiece, all, in an encoding, and
// read plain, those that went on from the words before (more than read:
// the hex of "2", "32", read plain after a "c" the word before gave, for
// a random part "c324..."; one begun at the word's start, "39" then hex
// for "39f3...", is the canary's own).
func headOf(first bool, read, e int) states {
	switch {
	case !first || read >= minPiece:
		return 0
	case e == blockPlain:
		return ^(states(1)<<(read+1) - 1)
	}
	return ^states(0)
}

// headFor returns the states a piece in reading e (blockPlain: plain)
// begins with at position i of w: the head states there (headOf) are
// gone on with unless the piece, in an encoding, would read all the
// characters before it, from the word's start, as whole blocks of fewer
// than minPiece hex digits: those are a near token's, written in that
// reading, read otherwise at its start (hex's "64", "d", is base32hex's
// "1": the hex of a token whose first character was changed to "d"
// would spell the canary; "32", the hex of a "2", read plain after a
// "c", spells "c32" of "c324..."). A later piece must match minPiece
// characters for the same reason; so a token's first characters written
// on their own in one encoding and glued to the rest in another that
// reads them as hex digits are not found (base32hex's "1", unpadded,
// then hex), nor two or three plain characters glued to hex after the
// token's start in the word before.
func (at *cutStates) headFor(w string, i, e int, scratch []byte) statePair {
	p := at.s[i]
	if h := at.head[i]; h != 0 {
		if e == blockPlain {
			return statePair{p[0] | h, p[1]}
		}
		from := i // where the run of e's characters that ends at i begins
		for from > 0 && charValue(e, w[from-1]) >= 0 {
			from--
		}
		if from > 0 || i%blockChars[e] != 0 {
			p[0] |= h // not whole blocks of e from the word's start
		} else if d, ok := decodeText(scratch[:0], w[:i], e); !ok || len(d) >= minPiece || !isHexDigits(d) {
			p[0] |= h
		}
	}
	return p
}

// blockChars is the characters of one block in each reading; blockPlain
// is the plain reading's.
var blockChars = [wordReadings]int{readHex: 2, readBase64: 4, readBase64URL: 4, readBase32: 8, readBase32Hex: 8}

const blockPlain = wordReadings

// isShortBlock reports whether r characters of reading e (fewer than a
// block) decode to whole bytes with fewer bits left over than a
// character holds: a piece may end in them, unpadded or padded.
func isShortBlock(e, r int) bool {
	bitsPer := [wordReadings]int{readHex: 4, readBase64: 6, readBase64URL: 6, readBase32: 5, readBase32Hex: 5}[e]
	return r > 0 && (r*bitsPer)%8 < bitsPer
}

// cuts returns the states after w read as pieces with nothing between
// them (see above), from cur, each with part of the pattern matched;
// found reports that they completed it, or the token's (from nothing
// matched).
func (m *pieceMatcher) cuts(cur states, w string, scratch []byte, at *cutStates) (next states, found bool) {
	full := w
	if len(w) > maxCutWord {
		// Only pieces that end in the first maxCutWord characters: a
		// token written from the word's start, before other text
		// glued to it. The states at the word's end are not known.
		w = w[:maxCutWord]
	}
	// Where a plain piece begun inside the word has matched minPiece
	// characters or more, another may follow it.
	last, found := m.plainInside(w, at)
	if found {
		return 0, true
	}
	if cur == 1 && last == 0 && !m.mayBegin(w) {
		return 0, false // the commonest word: no reading's first byte begins a pattern
	}
	if last == 0 {
		clear(at.s[:len(w)+1])
		clear(at.head[:len(w)+1])
	}
	// A piece may begin at the word's start whatever the words before
	// left: a later piece does not fall back (extend) to a match begun
	// there ("A", read as the "a" of a random part "aa04...", then "a"
	// and the hex of "a04...").
	at.s[0] = statePair{cur | 1, 1}
	if m.token == nil {
		at.s[0][1] = 0
	}
	for i := 0; i <= last && i < len(w); i++ {
		if at.s[i] == (statePair{}) && at.head[i] == 0 {
			continue
		}
		for e := 0; e <= blockPlain; e++ {
			start := at.headFor(w, i, e, scratch)
			// From nothing matched, the first byte must begin a pattern.
			fresh := start[0]&^1 == 0 && start[1]&^1 == 0
			if start == (statePair{}) || e < blockPlain && charValue(e, w[i]) < 0 || e == blockPlain && fresh && !m.begins(w[i]) {
				continue // not a first character
			}
			end, found := m.piece(at, w, full, i, e, start, scratch)
			if found {
				return 0, true
			}
			last = max(last, end)
		}
	}
	if len(full) > len(w) {
		return 0, false
	}
	// The token's states past its letters are the secret's, which the
	// next word goes on with (the token's matcher does not go on past
	// the word): hex of "BWK-CANARY-", then the random part's first
	// characters as they are.
	end := at.s[len(w)]
	return end[0] | at.head[len(w)] | end[1]>>len(tokenLetters), false
}

// plainInside clears at for w and sets, after each letter or digit of
// w, the states of a plain piece begun anywhere in w (after other
// characters of it: "note0123abcd" then hex) that have minPiece
// characters or more matched there; last is the last position it set,
// or 0, and found reports that the piece completed a pattern (which the
// plain reading of the word finds too). One step of Knuth-Morris-Pratt
// a character, for the secret and for the token.
func (m *pieceMatcher) plainInside(w string, at *cutStates) (last int, found bool) {
	var k [2]uint8
	pats := [2]*pieceMatcher{m, m.token}
	// Until a pattern's first character, in either case, nothing
	// matches: start there (most words have none).
	from := len(w)
	for _, p := range pats {
		if p == nil {
			continue
		}
		c := p.pat[0]
		for _, b := range [2]byte{c, c &^ 0x20} {
			if i := strings.IndexByte(w[:from], b); i >= 0 {
				from = i
			}
		}
	}
	for j := from; j < len(w); j++ {
		ch, ok := lowerAlnum(w[j])
		if !ok {
			continue
		}
		for t, p := range pats {
			if p == nil {
				continue
			}
			q := k[t]
			for q > 0 && p.pat[q] != ch {
				q = p.fail[q]
			}
			if p.pat[q] == ch {
				q++
			}
			if int(q) == len(p.pat) {
				return 0, true
			}
			k[t] = q
			if q >= minPiece && (t == 1 || !afterHexText(w, j+1, int(q))) {
				if last == 0 {
					clear(at.s[:len(w)+1])
					clear(at.head[:len(w)+1])
				}
				at.s[j+1][t] |= 1 << q
				last = j + 1
			}
		}
	}
	return last, false
}

// isHexDigits reports whether d is all hex digits, as a random part is.
func isHexDigits(d []byte) bool {
	for _, c := range d {
		if unhex(c) > 15 {
			return false
		}
	}
	return true
}

// afterHexText reports whether the plain piece of w that ends at end
// with q letters and digits begins inside hex of text: after pairs of
// hex digits, from where they begin, that decode to printable ASCII, or
// inside the last of them ("3|2" of "332", the random part "23..."). A
// hex digit is a character of the random part too, and the hex of a
// digit d is "3d": in the hex of a token whose first character was
// changed, the pair of its second, read plain, is the random part's
// first two characters where they are "3" and that digit, and the pairs
// after spell the rest of it (hex of "BWK-CANARY-62", then "0d8b..." as
// it is, for "320d8b..."). A piece so begun is not read; one after other
// text is ("zq615d" then hex), and the token's (its letters after hex of
// text, read on by the token's matcher from there).
func afterHexText[S string | []byte](w S, end, q int) bool {
	start := end
	for q > 0 && start > 0 {
		if start--; alnums(w[start:start+1]) == 1 {
			q--
		}
	}
	from := start
	for from > 0 && unhex(w[from-1]) < 16 {
		from--
	}
	to := start // the pairs before the piece, and the one it begins inside
	if (start-from)%2 != 0 {
		to++
	}
	if from == start || to > len(w) || unhex(w[to-1]) > 15 {
		return false
	}
	for i := from; i < to; i += 2 {
		if !isText(unhex(w[i])<<4 | unhex(w[i+1])) {
			return false
		}
	}
	return true
}

// statePair is the states of the secret's matcher and of the token's.
type statePair [2]states

// runPair reads d from p with m and m's token matcher; later: as a
// later piece does, going on with each state or ending it (extend).
func runPair[S string | []byte](m *pieceMatcher, p statePair, d S, later bool) (statePair, bool) {
	read := run[S]
	if later {
		read = extend[S]
	}
	var found bool
	if p[0] != 0 {
		if p[0], found = read(m, p[0], d); found {
			return p, true
		}
	}
	if p[1] != 0 {
		if p[1], found = read(m.token, p[1], d); found {
			return p, true
		}
	}
	return p, false
}

// extend reads s from each state of cur as a later piece must, going on
// with the pattern: a state whose next characters are not s's letters
// and digits ends, where run would fall back to a shorter match, begun
// inside the pieces before (the hex of a token whose first character
// was changed to "f", "66", read plain as the right "66", then the hex
// of the rest from "6f..." read on from its first "6").
func extend[S string | []byte](m *pieceMatcher, cur states, s S) (next states, found bool) {
	p := m.pat
	for set := cur; set != 0; set &= set - 1 {
		k := bits.TrailingZeros64(uint64(set))
		for j := 0; j < len(s) && k >= 0; j++ {
			ch, ok := lowerAlnum(s[j])
			switch {
			case !ok:
			case p[k] != ch:
				k = -1
			case k+1 == len(p):
				return next, true
			default:
				k++
			}
		}
		if k >= 0 {
			next |= 1 << k
		}
	}
	return next, false
}

// begins reports whether c, read from nothing matched, may begin the
// secret or the token: it is the first character of either, or no letter
// or digit (run skips it).
func (m *pieceMatcher) begins(c byte) bool {
	l := c | 0x20
	if !('a' <= l && l <= 'z' || '0' <= c && c <= '9') {
		return true
	}
	if 'a' <= l && l <= 'z' {
		c = l
	}
	return c == m.pat[0] || m.token != nil && c == m.token.pat[0]
}

// mayBegin reports whether w's first byte, plain or in a reading, may
// begin a pattern (begins).
func (m *pieceMatcher) mayBegin(w string) bool {
	if m.begins(w[0]) {
		return true
	}
	for e := range wordReadings {
		if len(w) < 2 {
			break
		}
		v0, v1 := charValue(e, w[0]), charValue(e, w[1])
		if v0 < 0 || v1 < 0 {
			continue
		}
		bitsPer := [wordReadings]int{readHex: 4, readBase64: 6, readBase64URL: 6, readBase32: 5, readBase32Hex: 5}[e]
		c := byte((v0<<bitsPer | v1) >> (2*bitsPer - 8))
		if isText(c) && m.begins(c) {
			return true
		}
	}
	return false
}

// isText reports whether c is a byte decodeText keeps: printable ASCII,
// a tab or a line break.
func isText(c byte) bool {
	return ' ' <= c && c <= '~' || c == '\t' || c == '\n' || c == '\r'
}

// progress keeps the states of p with part of a pattern matched.
func progress(p statePair) statePair { return statePair{p[0] &^ 1, p[1] &^ 1} }

// piece reads the pieces of w in reading e (blockPlain: plain) that begin
// at i, adding to at the states each leaves where it ends, the last of
// which it returns, from start, the states at i its reading begins with
// (headFor). w is the word, or its first maxCutWord characters, of full.
func (m *pieceMatcher) piece(at *cutStates, w, full string, i, e int, start statePair, scratch []byte) (last int, found bool) {
	fresh := start[0]&^1 == 0 && start[1]&^1 == 0
	// A piece after another may end only once it matched minPiece
	// characters (or completes a pattern).
	matched, read := 0, 0 // read: the piece's letters and digits
	if i == 0 {
		matched = minPiece
	}
	for j, s := i, start; j < len(w) && s != (statePair{}); {
		if e == blockPlain {
			if fresh && j == i && !m.begins(w[j]) {
				return last, false
			}
			if s, found = runPair(m, s, w[j:j+1], i > 0); found {
				return last, i == 0 || matched+1 >= minPiece || endsWord(full, j+1)
			}
			matched += alnums(w[j : j+1])
			read += alnums(w[j : j+1])
			j++
			if s = progress(s); matched >= minPiece {
				at.keep(j, fromPieceStart(s, read), headOf(i == 0, read, e))
				last = j
			}
			continue
		}
		// One block, a character at a time: where it could end short
		// (then padded or not), the piece may end there.
		b, bitsPer := blockChars[e], [wordReadings]int{readHex: 4, readBase64: 6, readBase64URL: 6, readBase32: 5, readBase32Hex: 5}[e]
		d := scratch[:0]
		var acc uint32
		nbits, r := 0, 0
		for ; r < b && j+r < len(w); r++ {
			v := charValue(e, w[j+r])
			if v < 0 {
				break
			}
			acc = acc<<bitsPer | uint32(v)
			if nbits += bitsPer; nbits >= 8 {
				nbits -= 8
				c := byte(acc >> nbits)
				if !isText(c) {
					break
				}
				d = append(d, c)
				if fresh && j == i && len(d) == 1 && !m.begins(c) {
					return last, false
				}
			}
			if r+1 < b && isShortBlock(e, r+1) {
				end := j + r + 1
				for end < len(w) && w[end] == '=' {
					end++
				}
				n, found := runPair(m, s, d, i > 0)
				if found && (i == 0 || matched+alnums(d) >= minPiece || endsWord(full, end)) {
					return last, true
				}
				// Unpadded, the bits left over must be zero, as every
				// encoder writes them: else the characters of a
				// block would end a piece and, read again in another
				// way, begin the next.
				canonical := acc&(1<<nbits-1) == 0 || end > j+r+1
				if n = fromPieceStart(progress(n), read+alnums(d)); n != (statePair{}) && canonical && matched+alnums(d) >= minPiece {
					at.keep(end, n, headOf(i == 0, read+alnums(d), e))
					last = max(last, end)
				}
			}
		}
		if r < b {
			break
		}
		if s, found = runPair(m, s, d, i > 0); found {
			return last, i == 0 || matched+alnums(d) >= minPiece || endsWord(full, j+b)
		}
		matched += alnums(d)
		read += alnums(d)
		j += b
		if s = progress(s); matched >= minPiece {
			at.keep(j, fromPieceStart(s, read), headOf(i == 0, read, e))
			last = max(last, j)
		}
	}
	return last, false
}

// fromPieceStart drops from p, the states after read letters and digits
// of a piece, those of fewer than minPiece characters matched that began
// inside it, after some of its letters or digits (fewer matched than
// read; a state that went on from before the piece has more than read,
// one begun at its start as many). Only a word's first piece has such
// states: later pieces go on with the pattern (extend). A first piece
// may begin the pattern, and a plain one begun inside the word with
// minPiece characters matched or more is plainInside's, as begunInside
// keeps for a word; else the piece after would go on from its first
// characters read as nothing: the hex of a token whose first character
// was changed to "f" ("66"), read plain, ends in the right "6", and hex
// again from its next pair spells the rest.
func fromPieceStart(p statePair, read int) statePair {
	if read < 2 {
		return p
	}
	drop := states(1)<<min(read, minPiece) - 2 // lengths 1 to min(read, minPiece)-1
	// But for the secret's begun just after the token's letters, where
	// the token's matcher has them and as many more ("BWK-CANARY-0",
	// hex, then "4a7" plain).
	keep := p[1] >> len(tokenLetters)
	return statePair{p[0] &^ (drop &^ keep), p[1] &^ drop}
}

// endsWord reports whether w has no letter or digit from i on: a piece
// that completes a pattern with fewer than minPiece characters of it
// must end the word (else the first character of a hex pair, "3" of a
// digit's "3d", read plain, would complete a token whose last character
// was changed).
func endsWord(w string, i int) bool { return alnums(w[i:]) == 0 }

// minPiece is how many characters of a pattern a piece that follows
// another must match before it may end and another follow it: else, a
// text a character or two off the token would be taken for it, the
// wrong characters read in another way, each of which can give the right
// one by chance (a block of hex one time in 16). The last piece, which
// completes the pattern, may be shorter: a token with one of its last
// few characters changed, written in pieces with nothing between them,
// may be taken for it (it holds 92 of its 96 bits), when that piece
// ends its word (endsWord).
const minPiece = 4

// alnums counts the ASCII letters and digits of s, which run reads.
func alnums[S string | []byte](s S) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; 'a' <= c && c <= 'z' || '0' <= s[i] && s[i] <= '9' {
			n++
		}
	}
	return n
}

// nested reads a word's decoding as inMixed reads a text, as it is and with
// its escapes undone, its words plain or decoded but not nested again: the
// cost stays linear in the text (each reading of a word that decodes to
// text is read once more, in at most wordReadings+1 ways).
func (m *pieceMatcher) nested(cur states, text string, scratch []byte) (states, bool) {
	next, found := m.words(cur, text, base64Bytes.Get(), scratch, nil, nil)
	if found {
		return next, true
	}
	if u := unescapeInPlace(text); u != text {
		n, found := m.words(cur, u, base64Bytes.Get(), scratch, nil, nil)
		if found {
			return next, true
		}
		next |= n
	}
	return next, false
}

// run reads s from each state of cur, as inPlain reads text: its ASCII
// letters, lowercased, and digits; anything else is skipped.
func run[S string | []byte](m *pieceMatcher, cur states, s S) (next states, found bool) {
	p := m.pat
	for set := cur; set != 0; set &= set - 1 {
		k := uint8(bits.TrailingZeros64(uint64(set)))
		for j := 0; j < len(s); j++ {
			ch, ok := lowerAlnum(s[j])
			if !ok {
				continue
			}
			for k > 0 && p[k] != ch {
				k = m.fail[k]
			}
			if p[k] == ch {
				k++
			}
			if int(k) == len(p) {
				return next, true
			}
		}
		next |= 1 << k
	}
	return next, false
}

// decodeText appends w decoded in reading e, each run between '='
// padding on its own (two pieces encoded apart and written together,
// "QldLLQ==Q0FO", read as their two texts). It gives up at the first byte
// that is not printable ASCII (tabs and line breaks aside): that is no
// piece of a token written out, and it is what most words of prose decode
// to, at once. A reading must be text: read through, bytes that are not
// would let a word vanish and pieces far apart join. A word shorter than
// a block must end in zero bits, as encoders write them. (encoding/base64 and
// base32 decode a word whole, and base32 copies it first: most of
// inMixed's time and allocations, a word at a time.)
func decodeText(dst []byte, w string, e int) ([]byte, bool) {
	bitsPer := [wordReadings]int{readHex: 4, readBase64: 6, readBase64URL: 6, readBase32: 5, readBase32Hex: 5}[e]
	n := len(dst)
	for rest := w; rest != ""; {
		first := rest == w
		chunk := nextChunk(&rest)
		if (len(chunk)*bitsPer)%8 >= bitsPer { // a character left over
			return dst[:n], false
		}
		var acc uint32
		nbits := 0
		for i := 0; i < len(chunk); i++ {
			v := charValue(e, chunk[i])
			if v < 0 {
				return dst[:n], false
			}
			acc = acc<<bitsPer | uint32(v)
			if nbits += bitsPer; nbits >= 8 {
				nbits -= 8
				b := byte(acc >> nbits)
				if b < ' ' && b != '\t' && b != '\n' && b != '\r' || b > '~' {
					return dst[:n], false
				}
				dst = append(dst, b)
			}
		}
		if acc&(1<<nbits-1) != 0 && first && rest == "" && len(chunk) < blockChars[e] {
			// A word of less than one block whose bits left over are
			// not zero, as no encoder writes them: "RY", base64, is
			// "E" only so ("CANARY-" read as the random part's first
			// character). (Longer words may end in text glued to them,
			// "...YQ1", and a run after others in text glued after
			// padding, "...===id": read as they were.)
			return dst[:n], false
		}
	}
	return dst, true
}

// charValue is the value of ch in reading e's alphabet (base32's in
// either case), or -1.
func charValue(e int, ch byte) int {
	l := ch | 0x20
	switch e {
	case readHex:
		if v := unhex(ch); v < 16 {
			return int(v)
		}
	case readBase64, readBase64URL:
		switch {
		case 'A' <= ch && ch <= 'Z':
			return int(ch - 'A')
		case 'a' <= ch && ch <= 'z':
			return int(ch-'a') + 26
		case '0' <= ch && ch <= '9':
			return int(ch-'0') + 52
		case ch == '+' && e == readBase64, ch == '-' && e == readBase64URL:
			return 62
		case ch == '/' && e == readBase64, ch == '_' && e == readBase64URL:
			return 63
		}
	case readBase32:
		switch {
		case 'a' <= l && l <= 'z':
			return int(l - 'a')
		case '2' <= ch && ch <= '7':
			return int(ch-'2') + 26
		}
	case readBase32Hex:
		switch {
		case '0' <= ch && ch <= '9':
			return int(ch - '0')
		case 'a' <= l && l <= 'v':
			return int(l-'a') + 10
		}
	}
	return -1
}

// nextChunk cuts from *rest the run before the next '=', and the '=' run
// after it, and returns the run.
func nextChunk(rest *string) string {
	s := *rest
	i := strings.IndexByte(s, '=')
	if i < 0 {
		*rest = ""
		return s
	}
	j := i
	for j < len(s) && s[j] == '=' {
		j++
	}
	*rest = s[j:]
	return s[:i]
}

// unescapeInPlace undoes, where they stand, the escapes that spell one
// character each: %XX and %uXXXX, \xNN, \uXXXX (surrogate pairs joined),
// \u{X...}, \UXXXXXXXX, octal \NNN, and &#NN; and &#xNN;. Text without a
// '%', '\' or '&' comes back as is.
func unescapeInPlace(text string) string {
	// Three IndexByte, not ContainsAny, which looks a byte at a time.
	if !hasByte(text, '%') && !hasByte(text, '\\') && !hasByte(text, '&') {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	var high rune // a high surrogate waiting for its pair
	for i := 0; i < len(text); {
		r, n := escapeAt(text[i:])
		if n == 0 {
			if high != 0 {
				b.WriteRune(utf8.RuneError)
				high = 0
			}
			b.WriteByte(text[i])
			i++
			continue
		}
		i += n
		switch {
		case 0xD800 <= r && r < 0xDC00:
			high = r
			continue
		case 0xDC00 <= r && r < 0xE000 && high != 0:
			r = (high-0xD800)<<10 + (r - 0xDC00) + 0x10000
		}
		high = 0
		if r < utf8.RuneSelf {
			b.WriteByte(byte(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapeAt decodes the escape s starts with, and returns its character
// and length; n is 0 when s does not start with one. \xNN and %XX give a
// byte, which for values past 0x7f is written as the character of that
// code.
func escapeAt(s string) (r rune, n int) {
	hexAt := func(from, digits int) (rune, bool) {
		if len(s) < from+digits {
			return 0, false
		}
		v, err := strconv.ParseUint(s[from:from+digits], 16, 32)
		return rune(v), err == nil && v <= utf8.MaxRune
	}
	switch {
	case strings.HasPrefix(s, "%u"), strings.HasPrefix(s, `\u`) && !strings.HasPrefix(s, `\u{`):
		if v, ok := hexAt(2, 4); ok {
			return v, 6
		}
	case strings.HasPrefix(s, "%"):
		if v, ok := hexAt(1, 2); ok {
			return v, 3
		}
	case strings.HasPrefix(s, `\x`):
		if v, ok := hexAt(2, 2); ok {
			return v, 4
		}
	case strings.HasPrefix(s, `\U`):
		if v, ok := hexAt(2, 8); ok {
			return v, 10
		}
	case strings.HasPrefix(s, `\u{`):
		if end := strings.IndexByte(s, '}'); end > 3 && end <= 9 {
			if v, ok := hexAt(3, end-3); ok {
				return v, end + 1
			}
		}
	case strings.HasPrefix(s, `\`):
		if len(s) >= 4 && '0' <= s[1] && s[1] <= '3' && isOctal(s[2]) && isOctal(s[3]) {
			v, _ := strconv.ParseUint(s[1:4], 8, 8)
			return rune(v), 4
		}
	case strings.HasPrefix(s, "&#"):
		end := strings.IndexByte(s, ';')
		if end < 3 || end > 10 {
			return 0, 0
		}
		digits, base := s[2:end], 10
		if digits[0] == 'x' || digits[0] == 'X' {
			digits, base = digits[1:], 16
		}
		if v, err := strconv.ParseUint(digits, base, 32); err == nil && v <= utf8.MaxRune {
			return rune(v), end + 1
		}
	}
	return 0, 0
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// lowerAlnum returns c in lower case if it is an ASCII letter or digit,
// and whether it is one.
func lowerAlnum(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A', true
	case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
		return c, true
	}
	return 0, false
}
