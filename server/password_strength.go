package server

import (
	_ "embed"
	"math"
	"strings"
	"sync"
	"unicode"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// commonPasswords is the list of common and breached passwords new
// passwords are checked against: the 49,233 passwords of the frequency
// list of @zxcvbn-ts/language-common 4.1.3 (MIT licence, see
// passwords/LICENSE.txt), lower case, most common first.
//
//go:embed passwords/common.txt
var commonPasswords string

var (
	commonOnce sync.Once
	commonRank map[string]int // password -> rank, from 1
)

func commonPasswordRank(s string) int {
	commonOnce.Do(func() {
		commonRank = make(map[string]int, 50_000)
		for i, w := range strings.Split(strings.TrimSpace(commonPasswords), "\n") {
			if _, ok := commonRank[w]; !ok {
				commonRank[w] = i + 1
			}
		}
	})
	return commonRank[s]
}

// minPasswordBits is the least strength estimate a new password must
// reach: about 10^12 guesses, far beyond an online attack and costly
// offline against argon2id.
const minPasswordBits = 40

// passwordBits estimates how many bits of guessing pw resists, as
// zxcvbn does in spirit: the cheapest way to spell pw out of pieces an
// attacker tries first. Pieces are words of the common-password list
// (cost: log2 of the word's rank, plus a bit for capitals), the user's own
// words (the email and its parts: 1 bit), runs of one character, ascending
// or descending sequences (abcd, 9876), keyboard walks (qwerty, asdf,
// 1qaz), a repeat of the piece just before, and any single character
// (cost: log2 of the size of its class: 10 digits, 26 letters, 33
// symbols, more for other scripts). The estimate is the cheapest
// segmentation's total.
func passwordBits(pw string, userWords []string) float64 {
	orig := []rune(pw)
	low := []rune(strings.ToLower(pw))
	if len(low) != len(orig) {
		low = orig // a case mapping that changed the length: compare as given
	}
	n := len(low)
	user := map[string]bool{}
	for _, w := range userWords {
		if w = strings.ToLower(w); len([]rune(w)) >= 3 {
			user[w] = true
		}
	}
	best := make([]float64, n+1)
	for i := 1; i <= n; i++ {
		best[i] = math.Inf(1)
	}
	for i := 0; i < n; i++ {
		if math.IsInf(best[i], 1) {
			continue
		}
		relax := func(j int, cost float64) {
			if c := best[i] + cost; c < best[j] {
				best[j] = c
			}
		}
		relax(i+1, charBits(orig[i]))
		for j := i + 3; j <= n && j-i <= 40; j++ {
			piece := string(low[i:j])
			if user[piece] {
				relax(j, 1)
			}
			if r := commonPasswordRank(piece); r > 0 && j-i >= 4 {
				relax(j, math.Log2(float64(r)+1)+capsBits(orig[i:j]))
			}
			if k := j - i; i >= k && string(low[i-k:i]) == piece {
				relax(j, 1) // the piece just before, again
			}
		}
		if j := runEnd(low, i, func(a, b rune) bool { return a == b }); j-i >= 3 {
			for k := i + 3; k <= j; k++ {
				relax(k, charBits(orig[i])+math.Log2(float64(k-i)))
			}
		}
		for _, step := range []rune{1, -1} {
			if j := runEnd(low, i, func(a, b rune) bool { return b-a == step }); j-i >= 3 {
				for k := i + 3; k <= j; k++ {
					relax(k, charBits(orig[i])+1+math.Log2(float64(k-i)))
				}
			}
		}
		if j := runEnd(low, i, keyboardAdjacent); j-i >= 4 {
			for k := i + 4; k <= j; k++ {
				relax(k, math.Log2(float64(len(keyboardRows)*10))+2+math.Log2(float64(k-i)))
			}
		}
	}
	return best[n]
}

// runEnd returns the end of the longest run from i in which each pair of
// neighbours satisfies next.
func runEnd(s []rune, i int, next func(a, b rune) bool) int {
	j := i + 1
	for j < len(s) && next(s[j-1], s[j]) {
		j++
	}
	return j
}

func charBits(r rune) float64 {
	switch {
	case r >= '0' && r <= '9':
		return math.Log2(10)
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		return math.Log2(26)
	case r < 0x80:
		return math.Log2(33)
	case unicode.IsLetter(r):
		return math.Log2(100)
	}
	return math.Log2(50)
}

// capsBits is what capitals add to a word: nothing in lower case, a bit
// for a first capital or all capitals, else a bit per capital.
func capsBits(w []rune) float64 {
	upper := 0
	for _, r := range w {
		if unicode.IsUpper(r) {
			upper++
		}
	}
	switch {
	case upper == 0:
		return 0
	case upper == len(w) || (upper == 1 && unicode.IsUpper(w[0])):
		return 1
	}
	return float64(upper)
}

// keyboardRows are the rows of a US keyboard, shifted and not.
var keyboardRows = []string{"`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "~!@#$%^&*()_+", "QWERTYUIOP{}|", "ASDFGHJKL:\"", "ZXCVBNM<>?"}

// keyPos is the row and column of every key, built on first use.
var keyPos = lazy.Value[map[rune][2]int]{New: func() map[rune][2]int {
	m := map[rune][2]int{}
	for row, keys := range keyboardRows {
		for col, r := range keys {
			if _, ok := m[r]; !ok {
				m[r] = [2]int{row % 4, col}
			}
		}
	}
	return m
}}

// keyboardAdjacent reports whether b is next to a on the keyboard: in the
// same row, or the row above or below (where keys are offset by about
// half a key).
func keyboardAdjacent(a, b rune) bool {
	pa, ok1 := keyPos.Get()[a]
	pb, ok2 := keyPos.Get()[b]
	if !ok1 || !ok2 || a == b {
		return false
	}
	dr, dc := pb[0]-pa[0], pb[1]-pa[1]
	switch dr {
	case 0:
		return dc == 1 || dc == -1
	case 1, -1:
		return dc >= -1 && dc <= 1
	}
	return false
}
