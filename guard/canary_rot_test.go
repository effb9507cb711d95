package guard

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
)

// seededCanaries returns n canaries made from seed, the same every run.
func seededCanaries(seed uint64, n int) []Canary {
	r := rand.New(rand.NewPCG(seed, 0x62776b))
	out := make([]Canary, n)
	for i := range out {
		b := make([]byte, 12)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = canaryOf(hex.EncodeToString(b))
	}
	return out
}

// mapText turns each ASCII letter of s with letter and each digit with
// digit (their values 0-25, 0-9), keeping case.
func mapText(s string, letter, digit func(int) int) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = 'a' + byte(letter(int(c-'a')))
		case 'A' <= c && c <= 'Z':
			b[i] = 'A' + byte(letter(int(c-'A')))
		case '0' <= c && c <= '9':
			b[i] = '0' + byte(digit(int(c-'0')))
		}
	}
	return string(b)
}

func rotN(n int) func(int) int   { return func(v int) int { return (v + n) % 26 } }
func shiftN(n int) func(int) int { return func(v int) int { return (v + n) % 10 } }
func same(v int) int             { return v }
func atbash(v int) int           { return 25 - v }

// TestCanaryRotated: the token with its letters turned (ROT13, every
// ROT-n, Atbash, Atbash then ROT-n), its digits shifted, or both, as it
// is or reversed, in ROT47, in upper case, inside other text, is found,
// for many canaries; a near token (one character of the random part
// changed) so turned is not, nor is the text around it.
func TestCanaryRotated(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	missed, taken, skipped := 0, 0, 0
	for ci, c := range seededCanaries(1, n) {
		near := []byte(c.token)
		i := len(canaryPrefix) + ci%len(c.secret)
		near[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", near[i])+1+ci%15)%16]
		type way struct {
			name          string
			letter, digit func(int) int
			read          bool // the secret's letters and digits let it be read
		}
		p := c.matcher.rot[0]
		rot, refl, shift := p.letters >= 2, p.reflect, p.digits >= 2
		ways := []way{
			{"ROT13", rotN(13), same, rot},
			{"ROT" + string(rune('1'+ci%9)), rotN(1 + ci%9), same, rot},
			{"ROT" + string(rune('a'+ci%16)), rotN(10 + ci%16), same, rot},
			{"Atbash", atbash, same, refl},
			{"Atbash+ROT", func(v int) int { return rotN(ci % 26)(atbash(v)) }, same, refl},
			{"digits+3", same, shiftN(3 + ci%7), shift},
			{"ROT13, digits+5", rotN(13), shiftN(5), rot && shift},
		}
		for _, w := range ways {
			if !w.read {
				skipped++
				continue
			}
			for _, rev := range []bool{false, true} {
				tok, wrong := c.token, string(near)
				if rev {
					tok, wrong = reverse(tok), reverse(wrong)
				}
				for _, wrap := range []string{"%s", "Here it is: %s, as asked.", "%s\n"} {
					text := strings.Replace(wrap, "%s", mapText(tok, w.letter, w.digit), 1)
					if !c.In(text) || !c.In(strings.ToUpper(text)) {
						if missed++; missed <= 10 {
							t.Errorf("%s (reversed: %v) of %s: %q not found", w.name, rev, c.token, text)
						}
					}
					text = strings.Replace(wrap, "%s", mapText(wrong, w.letter, w.digit), 1)
					if c.In(text) {
						if taken++; taken <= 10 {
							t.Errorf("%s (reversed: %v) of %s, a near token: %q taken for the canary", w.name, rev, wrong, text)
						}
					}
				}
			}
		}
		if !c.In("x " + rot47(c.token) + " y") {
			t.Errorf("ROT47 of %s: %q not found", c.token, rot47(c.token))
		}
	}
	if missed+taken > 20 {
		t.Errorf("%d missed, %d taken in all", missed, taken)
	}
	if skipped > n/4 {
		t.Errorf("%d of %d ways not read: the test proves little", skipped, 7*n)
	}
}

// TestCanaryRotatedFewLetters: a secret with one letter, or two letters
// alike, reads as itself with one character changed once rotations and
// reflections are allowed: a text one character off it is not taken.
func TestCanaryRotatedFewLetters(t *testing.T) {
	for _, tc := range []struct {
		secret, text string
		want         bool
	}{
		{"012345678901234567890a12", "012345678901234567890b12", false}, // one letter: no rotation
		{"012345678901234567890a12", "012345678901234567890a12", true},
		{"0123456789012345678c0a12", "0123456789012345678e0a12", false}, // a reflection of two letters
		{"0123456789012345678c0a12", "0123456789012345678p0n12", true},  // ROT13
		{"01234567890123456a8c0a12", "01234567890123456e8c0e12", false}, // a reflection of two different letters
		{"01234567890123456a8c0b12", "01234567890123456z8x0y12", true},  // Atbash of three
		{"abcdefabcdefabcdefabcde1", "abcdefabcdefabcdefabcde2", false}, // one digit: no shift
		{"1234567890123456789b0123", "2345678901234567890b1234", true},  // digits shifted
		{"0123456789012345678c0a12", "0123456789012345678x0z12", false}, // a reflection of two letters, one once
		{"0123456789012345a78c0a1c", "0123456789012345z78x0z1x", true},  // Atbash of two letters, each twice
	} {
		c := canaryOf(tc.secret)
		if got := c.In(tc.text); got != tc.want {
			t.Errorf("canary %s: In(%q) = %v, want %v", tc.secret, tc.text, got, tc.want)
		}
	}
}

// BenchmarkCanaryInRotated is inRotated alone on BenchmarkCanaryInResult's
// 16 KiB of documentation and source.
func BenchmarkCanaryInRotated(b *testing.B) {
	c := NewCanary()
	long := benchText()[:16<<10]
	b.SetBytes(int64(len(long)))
	for b.Loop() {
		c.inRotated(long)
	}
}
