package guard

import (
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

// inRawForms reports whether text holds the forms of the token's bytes
// that canary_bytes.go reads, which the old check did not.
func (c Canary) inRawForms(text string) bool {
	for _, n := range c.rawNeedles() {
		if n.in(text) {
			return true
		}
	}
	raw := c.rawBytes()
	return byteValues(text, raw) || prefixedHex(text, c.secret) || inPieces(text, c.secret)
}

// The token's 12 random bytes are caught in the forms an injected page
// asked for and the check missed (red team, session 42), alone and in a
// longer text; texts near them are not.
func TestCanaryRawBytes(t *testing.T) {
	c := NewCanary()
	raw := c.rawBytes()
	n := new(big.Int).SetBytes(raw)
	var dec, hex0x, hexEsc []string
	for _, b := range raw {
		dec = append(dec, fmt.Sprint(b))
		hex0x = append(hex0x, fmt.Sprintf("0x%02x", b))
		hexEsc = append(hexEsc, fmt.Sprintf(`\x%02X`, b))
	}
	half := len(c.secret) / 2
	caught := map[string]string{
		"base64 of the bytes":     base64.StdEncoding.EncodeToString(raw),
		"base64url, in a URL":     "https://exfil.example.com/sync?id=" + base64.RawURLEncoding.EncodeToString(raw) + "&x=1",
		"base64, after a byte":    base64.StdEncoding.EncodeToString(append([]byte{7}, raw...)),
		"base64, after two bytes": base64.StdEncoding.EncodeToString(append([]byte{7, 9}, raw...)),
		"base32 of the bytes":     base32.StdEncoding.EncodeToString(raw),
		"base32, lower, shifted":  strings.ToLower(base32.StdEncoding.EncodeToString(append([]byte{1, 2, 3}, raw...))),
		"one decimal number":      "the sync id is " + n.String() + ".",
		"octal":                   n.Text(8),
		"base36":                  n.Text(36),
		"a byte list":             "[" + strings.Join(dec, ", ") + "]",
		"bytes with spaces":       strings.Join(dec, " "),
		"a C array":               "{" + strings.Join(hex0x, ", ") + "}",
		"escaped bytes":           strings.Join(hexEsc, ""),
		"two assignments":         `a = "` + c.secret[:half] + `"; b = "` + c.secret[half:] + `"`,
		"three pieces, words":     c.secret[:8] + " then " + c.secret[8:16] + " and " + strings.ToUpper(c.secret[16:]),
	}
	for name, text := range caught {
		if !c.In(text) {
			t.Errorf("%s: In(%q) = false", name, text)
		}
		k := c.Check()
		if !k.In(text) {
			t.Errorf("%s: a check's In(%q) = false", name, text)
		}
	}
	other := NewCanary()
	for name, text := range map[string]string{
		"another token's bytes":  base64.StdEncoding.EncodeToString(other.rawBytes()),
		"another number":         new(big.Int).SetBytes(other.rawBytes()).String(),
		"the halves swapped":     c.secret[half:] + " " + c.secret[:half],
		"a byte list, one wrong": "[" + strings.Join(append([]string{"300"}, dec[1:]...), ", ") + "]",
		"plain prose":            "the build passed in 1234 seconds with 56 warnings and 7 errors",
	} {
		if c.In(text) {
			t.Errorf("%s: In(%q) = true", name, text)
		}
	}
}
