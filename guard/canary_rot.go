package guard

import "github.com/bulwark-agents/bulwark/internal/lazy"

// Letters turned, digits shifted
//
// ROT13 turns the token's hex letters a-f into n-s ("OJX-PNANEL-..."),
// any ROT-n into another run of six, Atbash into z-u, and a Caesar shift
// of the digits turns each digit into another: the words inPlain reads
// hold none of the random part. inRotated reads a text's ASCII letters
// and digits, lowercased, in order (as inPlain reads them, without
// Normalize), as the steps from each letter to the letter before it
// (mod 26, its sign dropped: a turn to the right and one to the left,
// as Atbash's, give the same steps) and from each digit to the digit
// before it (mod 10): steps no rotation or shift of all letters, or of
// all digits, changes. Where the random part's steps (forwards, or
// backwards for the random part reversed) follow one another, the 24
// characters they end are compared with it: they must be it with all
// its letters turned the same way (one rotation, or one reflection
// x -> n-x, Atbash's among them) and all its digits shifted alike. A
// secret with one letter or one digit would read as itself with that
// character changed: a rotation needs two letters (a digit shift two
// digits), and a reflection three different letters, which no text one
// character off the secret can be made from (its letters keep two
// different ones as they were, which a reflection would swap).
//
// The cost is one pass over the text's bytes, with a step of a
// Knuth-Morris-Pratt search per letter or digit for each direction.
// Not read so: rotations of anything else (ROT47's is a needle), a
// rotated token encoded or split into pieces each its own way.

// rotStep is the symbol of a letter or digit in inRotated's reading: a
// step from the character of its kind before it, or rotFirst for the
// first of its kind.
const (
	rotDigit  = 1  // digits' steps are rotDigit+0..9
	rotLetter = 16 // letters' steps are rotLetter+0..13
	rotFirst  = 0
)

// rotPattern is one direction's steps, to be found in a text's.
type rotPattern struct {
	secret string // the random part as this direction reads it
	// steps are secret's steps from from on: the characters before it
	// hold the first letter and the first digit, whose steps depend on
	// what came before the secret in a text.
	steps []byte
	from  int
	fail  []int
	// letters and digits count secret's; reflect: a reflection of its
	// letters is read (see above).
	letters, digits int
	reflect         bool
}

func newRotPattern(secret string) *rotPattern {
	p := &rotPattern{secret: secret}
	firstLetter, firstDigit := -1, -1
	var count [26]int
	var lastL, lastD byte
	all := make([]byte, len(secret))
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		if isDigit(c) {
			if firstDigit < 0 {
				firstDigit = i
			}
			all[i] = rotStepOf(c, lastD, firstDigit < i)
			lastD = c
			p.digits++
			continue
		}
		if firstLetter < 0 {
			firstLetter = i
		}
		all[i] = rotStepOf(c, lastL, firstLetter < i)
		lastL = c
		p.letters++
		count[c-'a']++
	}
	// Any one letter taken away, two different ones must be left.
	distinct, once := 0, false
	for _, n := range count {
		if n > 0 {
			distinct++
			once = once || n == 1
		}
	}
	p.reflect = distinct >= 3 || distinct == 2 && !once
	p.from = max(firstLetter, firstDigit) + 1
	p.steps = all[p.from:]
	p.fail = make([]int, len(p.steps)+1)
	for k, j := 2, 0; k <= len(p.steps); k++ {
		for j > 0 && p.steps[k-1] != p.steps[j] {
			j = p.fail[j]
		}
		if p.steps[k-1] == p.steps[j] {
			j++
		}
		p.fail[k] = j
	}
	return p
}

// rotStepOf is c's step from last, the character of its kind before it
// (had: there was one).
func rotStepOf(c, last byte, had bool) byte {
	if !had {
		return rotFirst
	}
	if isDigit(c) {
		return rotDigit + (c-last+10)%10
	}
	d := (c - last + 26) % 26
	return rotLetter + min(d, 26-d)
}

// inRotated reports whether text holds the canary's random part, or the
// part reversed, with its letters turned and its digits shifted (see
// above).
func (c Canary) inRotated(text string) bool {
	m := c.matcher
	if m == nil || m.rot[0] == nil {
		return false // a Canary made otherwise than by NewCanary
	}
	if len(text) < len(c.secret) {
		return false
	}
	var ring [32]byte // the last letters and digits, for the comparison
	n := 0
	var lastL, lastD byte // the last letter's and digit's value, plus one
	var k [2]int
	p0, p1 := m.rot[0], m.rot[1]
	t := rotTablesOnce.Get()
	for i := 0; i < len(text); i++ {
		v := t.value[text[i]]
		var s byte
		switch {
		case v == 0:
			continue
		case v <= 10:
			s = t.digits[lastD][v]
			lastD = v
		default:
			v -= 10
			s = t.letters[lastL][v]
			lastL = v
		}
		ring[n%len(ring)] = text[i] | 0x20 // digits have the bit already
		n++
		if k == [2]int{} && s != p0.steps[0] && s != p1.steps[0] {
			continue // the commonest: no search under way, none begun
		}
		if p0.step(&k[0], s) && n >= len(p0.secret) && p0.turned(&ring, n) ||
			p1.step(&k[1], s) && n >= len(p1.secret) && p1.turned(&ring, n) {
			return true
		}
	}
	return false
}

// step moves the search's state *k on by the step s, and reports whether
// the steps are then all found.
func (p *rotPattern) step(k *int, s byte) bool {
	j := *k
	for j > 0 && p.steps[j] != s {
		j = p.fail[j]
	}
	if p.steps[j] == s {
		j++
	}
	if j == len(p.steps) {
		*k = p.fail[j]
		return true
	}
	*k = j
	return false
}

// rotTables are inRotated's, made on first use.
type rotTables struct {
	// value is a byte's value: a digit's plus one (1-10), an ASCII
	// letter's plus 11 (11-36), in either case; 0 for the others.
	value [256]byte
	// digits[last][v] is the step to the digit of value v-1 from the
	// one of last-1 (last 0: none before); letters the same for letters.
	digits  [11][11]byte
	letters [27][27]byte
}

var rotTablesOnce = lazy.Value[*rotTables]{New: func() *rotTables {
	t := new(rotTables)
	for c := range 256 {
		switch {
		case '0' <= c && c <= '9':
			t.value[c] = byte(c-'0') + 1
		case 'a' <= c|0x20 && c|0x20 <= 'z':
			t.value[c] = byte(c|0x20-'a') + 11
		}
	}
	for last := 1; last <= 10; last++ {
		for v := 1; v <= 10; v++ {
			t.digits[last][v] = rotStepOf('0'+byte(v-1), '0'+byte(last-1), true)
		}
	}
	for last := 1; last <= 26; last++ {
		for v := 1; v <= 26; v++ {
			t.letters[last][v] = rotStepOf('a'+byte(v-1), 'a'+byte(last-1), true)
		}
	}
	return t
}}

// turned reports whether the last len(p.secret) characters of ring (n
// read in all) are p.secret with its letters turned one way and its
// digits shifted alike.
func (p *rotPattern) turned(ring *[32]byte, n int) bool {
	shift, turn, sum := -1, -1, -1
	rotated, reflected := true, true
	for i := 0; i < len(p.secret); i++ {
		w, s := int(ring[(n-len(p.secret)+i)%len(ring)]), int(p.secret[i])
		if isDigit(byte(w)) != isDigit(byte(s)) {
			return false
		}
		if isDigit(byte(s)) {
			d := (w - s + 10) % 10
			if shift < 0 {
				shift = d
			}
			if d != shift {
				return false
			}
			continue
		}
		t, r := (w-s+26)%26, (w+s)%26
		if turn < 0 {
			turn, sum = t, r
		}
		rotated = rotated && t == turn
		reflected = reflected && r == sum
	}
	digits := shift <= 0 || p.digits >= 2
	letters := turn < 0 || rotated && (turn == 0 || p.letters >= 2) || reflected && p.reflect
	return digits && letters
}
