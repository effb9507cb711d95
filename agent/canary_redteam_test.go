package agent

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/guard"
)

// oldHasCanary is hasCanary as it was before 29b683f, decoding the
// arguments a token at a time whatever they are: the oracle the rewritten
// check is held to.
func (r *run) oldHasCanary(raw, args json.RawMessage) bool {
	c := r.taint.canary
	if c.In(string(raw)) {
		return true
	}
	a := tokenStrings(args)
	keys, values := a.keys, a.values
	for _, s := range append(keys, values...) {
		if c.In(s) {
			return true
		}
	}
	if len(values) < 2 {
		return false
	}
	if c.In(strings.Join(values, "\n")) {
		return true
	}
	slices.Reverse(values)
	return c.In(strings.Join(values, "\n"))
}

// hasCanaryBeforeAllocs is hasCanary as it was before 0f3ac56 (fewer
// allocations), verbatim: that rewrite must reach the same verdict on
// every input, not only catch what oldHasCanary caught.
func (r *run) hasCanaryBeforeAllocs(raw, args json.RawMessage) bool {
	c := r.taint.canary
	if c.In(string(raw)) {
		return true
	}
	a := decodedStrings(args)
	keys, values := a.keys, a.values
	for _, s := range append(keys, values...) {
		if c.In(s) {
			return true
		}
	}
	if len(keys) >= 2 && c.In(strings.Join(keys, "\n")) {
		return true
	}
	if len(keys) >= 1 && len(a.strs) >= 2 && c.In(strings.Join(a.strs, "\n")) {
		return true
	}
	if len(a.strValues) >= 2 && len(a.strValues) < len(values) && c.In(strings.Join(a.strValues, "\n")) {
		return true
	}
	if len(values) < 2 {
		return false
	}
	if c.In(strings.Join(values, "\n")) {
		return true
	}
	slices.Reverse(values)
	return c.In(strings.Join(values, "\n"))
}

// hasCanaryUnshared is hasCanary before it shared one guard.CanaryCheck
// between its texts, verbatim: each text was looked in with Canary.In on
// its own. The shared check must reach its verdict on every input.
func (r *run) hasCanaryUnshared(raw, args json.RawMessage) bool {
	c := r.taint.canary
	if c.In(string(raw)) {
		return true
	}
	a := decodedStrings(args)
	keys, values := a.keys, a.values
	for _, s := range keys {
		if c.In(s) {
			return true
		}
	}
	for _, s := range values {
		if c.In(s) {
			return true
		}
	}
	if len(keys) >= 2 && c.In(strings.Join(keys, "\n")) {
		return true
	}
	if len(keys) >= 1 && len(a.strs) >= 2 && c.In(strings.Join(a.strs, "\n")) {
		return true
	}
	if len(a.strValues) >= 2 && len(a.strValues) < len(values) && c.In(strings.Join(a.strValues, "\n")) {
		return true
	}
	if len(values) < 2 {
		return false
	}
	if c.In(strings.Join(values, "\n")) {
		return true
	}
	slices.Reverse(values)
	return c.In(strings.Join(values, "\n"))
}

// TestHasCanaryShares: the check of a bench write_file call decodes the
// content's run, which five of its texts hold, once, and so allocates
// less than the check of each text on its own.
func TestHasCanaryShares(t *testing.T) {
	args, _ := json.Marshal(map[string]string{"path": "step-3.txt", "content": strings.Repeat("x", 64)})
	r := &run{}
	r.taint.canary = guard.NewCanary()
	shared := testing.AllocsPerRun(50, func() { r.hasCanary(args, args) })
	alone := testing.AllocsPerRun(50, func() { r.hasCanaryUnshared(args, args) })
	if shared >= alone {
		t.Errorf("hasCanary made %v allocations, the check of each text alone %v: nothing shared", shared, alone)
	}
}

// checkSameArgs fails t when the canary check of args differs from the
// old one, or when decodedStrings differs from the token decoder.
func checkSameArgs(t testing.TB, r *run, args []byte) {
	t.Helper()
	got0, want0 := decodedStrings(args), tokenStrings(args)
	if !sameStrings(got0, want0) {
		t.Fatalf("decodedStrings(%q) = %q; token decoder %q", args, got0, want0)
	}
	old, got := r.oldHasCanary(args, args), r.hasCanary(args, args)
	if prev := r.hasCanaryBeforeAllocs(args, args); prev != got {
		t.Fatalf("hasCanary(%q) = %v, before 0f3ac56 %v", args, got, prev)
	}
	if alone := r.hasCanaryUnshared(args, args); alone != got {
		t.Fatalf("hasCanary(%q) = %v, each text checked alone %v", args, got, alone)
	}
	if old && !got {
		t.Fatalf("regression: the old check caught the canary in %q, the new one misses it", args)
	}
	// The check now also reads keys and strings together in document
	// order (a token split between two keys, or around a number): more
	// found than before only where such a joined text holds the token.
	if !old && got {
		c := r.taint.canary
		if !c.In(strings.Join(got0.keys, "\n")) && !c.In(strings.Join(got0.strs, "\n")) && !c.In(strings.Join(got0.strValues, "\n")) {
			t.Errorf("hasCanary(%q) = true, old false, and no joined text holds the token", args)
		}
	}
}

// jsonEscapeAll writes s as a JSON string with every character escaped
// as \uXXXX (surrogate pairs past U+FFFF).
func jsonEscapeAll(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r > 0xFFFF {
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04X`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			continue
		}
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	b.WriteByte('"')
	return b.String()
}

// quote writes s as a JSON string in one of several ways: plainly, every
// character escaped, "/" escaped, or with its bytes as they are (invalid
// UTF-8 too).
func quote(rng *rand.Rand, s string) string {
	switch rng.IntN(4) {
	case 0:
		return jsonEscapeAll(s)
	case 1:
		q, _ := json.Marshal(s)
		return strings.ReplaceAll(string(q), "/", `\/`)
	case 2:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
	}
	q, _ := json.Marshal(s)
	return string(q)
}

// TestCanaryRedTeamArgs builds tool arguments hiding the token (or its
// random part) in keys and values, whole or split between two of them,
// JSON-escaped in several ways and encoded in the ways guard.Canary.In
// undoes, at depth, next to numbers, literals and duplicate keys, valid
// and broken; the rewritten check must reach the old one's verdict on
// each.
func TestCanaryRedTeamArgs(t *testing.T) {
	r := &run{}
	r.taint.canary = guard.NewCanary()
	token := r.taint.canary.String()
	secret := strings.TrimPrefix(token, "BWK-CANARY-")
	encs := []func(string) string{
		func(s string) string { return s },
		strings.ToUpper,
		func(s string) string { return hex.EncodeToString([]byte(s)) },
		func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte("a" + s)) },
		func(s string) string {
			var b strings.Builder
			for _, r := range s {
				b.WriteRune(0xE0000 + r)
			}
			return b.String()
		},
		func(s string) string { return strings.Join(strings.Split(s, ""), " ") },
		func(s string) string { return strings.Join(strings.Split(s, ""), "\xf3") },
		func(s string) string { return jsonEscapeAll(s)[1 : len(jsonEscapeAll(s))-1] }, // \u escapes as text
	}
	rng := rand.New(rand.NewPCG(3, 4))
	iters := 5000
	if testing.Short() {
		iters = 1000
	}
	caught := 0
	for range iters {
		p := token
		if rng.IntN(2) == 0 {
			p = secret
		}
		cut := rng.IntN(len(p) + 1)
		a, b := encs[rng.IntN(len(encs))](p[:cut]), encs[rng.IntN(len(encs))](p[cut:])
		var pieces [2]string
		pieces[0], pieces[1] = quote(rng, a), quote(rng, b)
		var doc string
		switch rng.IntN(8) {
		case 0: // key and value
			doc = `{` + pieces[0] + `:` + pieces[1] + `}`
		case 1: // two values, the second deep in arrays
			doc = `{"path":` + pieces[0] + `,"content":` + strings.Repeat("[", 40) + pieces[1] + strings.Repeat("]", 40) + `}`
		case 2: // duplicate keys
			doc = `{"a":` + pieces[0] + `,"a":` + pieces[1] + `,"a":1e3}`
		case 3: // numbers and literals around, top-level array
			doc = `[-0.5e+2,` + pieces[0] + `,true,null,false,{"n":` + pieces[1] + `},12]`
		case 4: // two keys
			doc = `{` + pieces[0] + `:null,` + pieces[1] + `:[]}`
		case 5: // broken JSON: truncated
			doc = `{"path":` + pieces[0] + `,"content":` + pieces[1]
		case 6: // broken JSON: single quotes, trailing comma
			doc = `{'path':` + pieces[0] + `,"content":` + pieces[1] + `,}`
		case 7: // whitespace and nesting deeper than the walk's stack
			doc = " \n" + strings.Repeat(`{"k":`, 20) + pieces[0] + `,"v":` + pieces[1] + strings.Repeat("}", 20) + "\t"
		}
		checkSameArgs(t, r, []byte(doc))
		if t.Failed() {
			return
		}
		if r.oldHasCanary([]byte(doc), []byte(doc)) {
			caught++
		}
	}
	t.Logf("%d arguments, the old check caught %d", iters, caught)
}

// FuzzHasCanaryOldNew holds the canary check to the old one on arguments
// made of any text with the token, or a piece of it, put in (and so, in
// valid JSON, in a key, a value, or between them).
func FuzzHasCanaryOldNew(f *testing.F) {
	f.Add(`{"path":"`, `","content":"x"}`, uint8(30))
	f.Add(`{"`, `":1}`, uint8(11))
	f.Add(`["\u0042`, `\ud800"]`, uint8(5))
	f.Add(`{"a":"\xf3`, `\"", "b":[[[1]]]}`, uint8(34))
	r := &run{}
	r.taint.canary = guard.NewCanary()
	token := r.taint.canary.String()
	f.Fuzz(func(t *testing.T, before, after string, cut uint8) {
		p := token
		if int(cut) < len(p) {
			p = p[:cut] + `","x":"` + p[cut:] // split across two strings
		}
		checkSameArgs(t, r, []byte(before+p+after))
		checkSameArgs(t, r, []byte(before+after))
	})
}

// TestCanarySplitAcrossKeysAndNumbers: the splits the red team found the
// check missing before it read the strings together in document order: a
// token split between two keys, between a key and its value, and between
// two values with a number or a literal between them. Each must be caught,
// and the same arguments without the token must not be.
func TestCanarySplitAcrossKeysAndNumbers(t *testing.T) {
	r := &run{}
	r.taint.canary = guard.NewCanary()
	token := r.taint.canary.String()
	h := len(token) / 2
	a, b := token[:h], token[h:]
	for _, f := range []string{
		`{%q:1,%q:2}`,
		`{"path":"x","content":{%q:%q}}`,
		`{"a":%q,"b":1,"c":%q}`,
		`{"a":%q,"b":[true,null,3.5],"c":%q}`,
		`[%q,{"n":7},%q]`,
	} {
		args := []byte(fmt.Sprintf(f, a, b))
		if !json.Valid(args) {
			t.Fatalf("invalid test arguments %s", args)
		}
		if !r.hasCanary(args, args) {
			t.Errorf("the token split in %s is not caught", args)
		}
		clean := []byte(fmt.Sprintf(f, "alpha", "beta"))
		if r.hasCanary(clean, clean) {
			t.Errorf("%s is taken for the token", clean)
		}
	}
}
