package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os/exec"
	"strings"
	"testing"
)

// wrapLines breaks s into lines of width, joined by sep, as encoders do.
func wrapLines(s string, width int, sep string) string {
	var lines []string
	for len(s) > width {
		lines, s = append(lines, s[:width]), s[width:]
	}
	return strings.Join(append(lines, s), sep)
}

// wrappedForms lists the needles of value that may be broken into lines.
func wrappedForms(value string) []string {
	var out []string
	for _, nd := range needlesFor("V", value) {
		if nd.flags&wrapOK != 0 {
			out = append(out, nd.text)
		}
	}
	return out
}

// checkWrapped fails the test if out, its line breaks taken out, still
// holds a form of value that may be broken into lines.
func checkWrapped(t *testing.T, what, value, in, out string) {
	t.Helper()
	joined := strings.NewReplacer("\r", "", "\n", "", `\r`, "", `\n`, "").Replace(out)
	for _, f := range wrappedForms(value) {
		if strings.Contains(joined, f) {
			t.Fatalf("%s: the value's form %q is left in\n%s\nfrom\n%s", what, f, out, in)
		}
	}
	if !strings.Contains(out, "[REDACTED:V]") {
		t.Fatalf("%s: no mask in\n%s", what, out)
	}
}

// TestWrappedBase64: a value's base64 and hex are masked also when broken
// into lines where the encoder wraps them (the base64 command and MIME at
// 76, PEM at 64, GitHub's contents API at 60 in JSON, xxd -p at 60), at
// every place of the value in the encoded text: every offset mod 3 and
// every place of a line break in its encoding (red team: whoever writes
// the text before the value chooses where the break falls).
func TestWrappedBase64(t *testing.T) {
	const value = "hunter2-supersecret"
	r := NewRedactor()
	r.Add("V", value)
	r.SetDetection(false)
	for pad := range 80 {
		data := strings.Repeat("x", pad) + value + strings.Repeat("y", 90)
		b64 := base64.StdEncoding.EncodeToString([]byte(data))
		block := &pem.Block{Type: "DATA", Bytes: []byte(data)}
		for name, text := range map[string]string{
			"base64":  wrapLines(b64, 76, "\n") + "\n",
			"MIME":    "Content-Transfer-Encoding: base64\r\n\r\n" + wrapLines(b64, 76, "\r\n") + "\r\n",
			"PEM":     string(pem.EncodeToMemory(block)),
			"GitHub":  `{"content":"` + wrapLines(b64, 60, `\n`) + `\n","encoding":"base64"}`,
			"xxd -p":  wrapLines(hex.EncodeToString([]byte(data)), 60, "\n") + "\n",
			"in line": "data: " + wrapLines(base64.RawURLEncoding.EncodeToString([]byte(data)), 76, "\n"),
		} {
			checkWrapped(t, name+" with "+strings.Repeat("x", pad), value, text, r.String(text))
		}
	}
}

// TestWrappedBase64Command: the same with what the base64 command prints.
func TestWrappedBase64Command(t *testing.T) {
	if _, err := exec.LookPath("base64"); err != nil {
		t.Skip("no base64 command")
	}
	const value = "hunter2-supersecret"
	r := NewRedactor()
	r.Add("V", value)
	for pad := range 12 {
		for _, args := range [][]string{nil, {"-w", "64"}} {
			data := strings.Repeat("x", 70+pad) + value + "\n"
			cmd := exec.Command("base64", args...)
			cmd.Stdin = strings.NewReader(data)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(out, []byte("\n")) < 2 {
				t.Fatalf("base64 %v printed one line: %q", args, out)
			}
			checkWrapped(t, "base64 "+strings.Join(args, " "), value, string(out), r.String(string(out)))
			if got := viaStream(r, strings.Split(string(out), "")...); got != r.String(string(out)) {
				t.Errorf("base64 %v byte by byte through a Stream = %q, want %q", args, got, r.String(string(out)))
			}
		}
	}
}

// TestWrappedLeavesTextAlone: line breaks between words, or after short
// runs of base64 characters, join nothing.
func TestWrappedLeavesTextAlone(t *testing.T) {
	const value = "hunter2-supersecret"
	r := NewRedactor()
	r.Add("V", value)
	r.SetDetection(false)
	b64 := base64.StdEncoding.EncodeToString([]byte(value))
	for _, in := range []string{
		b64[:10] + "\n" + b64[10:],                            // a short line: not a wrapped block
		"aaaaaaa bbbbbbbbbbbbbb" + "\n" + b64[:3],             // the start of the value only
		"xxxxxxxxxxxxxxxxxxxx" + b64[:10] + "\n\n" + b64[10:], // a blank line ends a block
		"xxxxxxxxxxxxxxxxxxxx" + b64[:10] + "\n " + b64[10:],  // so does a space
	} {
		if got := r.String(in); got != in {
			t.Errorf("String(%q) = %q, want it unchanged", in, got)
		}
	}
}

// TestWrappedStreamSplits: a Stream holds back enough for the longest
// needle broken as often as a block allows (a JSON-escaped CRLF every 16
// characters), so that it gives String's result however the text is split.
func TestWrappedStreamSplits(t *testing.T) {
	const value = "s3cr3t-value-of-forty-bytes-0123456789ab"
	r := NewRedactor()
	r.Add("V", value)
	r.SetDetection(false)
	for pad := range 9 {
		data := []byte(strings.Repeat("x", pad) + value + "yyyyyyyy")
		for _, text := range []string{
			wrapLines(hex.EncodeToString(data), 16, `\r\n`),
			wrapLines(base64.StdEncoding.EncodeToString(data), 16, `\r\n`),
		} {
			want := r.String(text)
			checkWrapped(t, "lines of 16", value, text, want)
			for size := 1; size < len(text); size++ {
				var chunks []string
				for s := text; len(s) > 0; s = s[min(size, len(s)):] {
					chunks = append(chunks, s[:min(size, len(s))])
				}
				if got := viaStream(r, chunks...); got != want {
					t.Fatalf("%q in chunks of %d through a Stream:\n got %q\nwant %q", text, size, got, want)
				}
			}
		}
	}
}

// TestWrappedInsideAnother: a value whose base64 crosses a line break is
// masked also when it starts inside another value's base64 that crosses
// it too (absorbing the character it shares with what follows): the
// masks of both are merged.
func TestWrappedInsideAnother(t *testing.T) {
	const a = "first-secret-Aa1"
	aNeedle := base64.RawStdEncoding.EncodeToString([]byte(a))[:21] // 16 bytes: 21 whole characters
	const bRest = "c2Vjb25kLXNlY3JldC1C"
	b, err := base64.RawStdEncoding.DecodeString(aNeedle[13:] + bRest) // b's base64 starts inside a's
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedactor()
	r.SetDetection(false)
	r.Add("A", a)
	r.Add("B", string(b))
	text := strings.Repeat("x", 24) + aNeedle + "\n" + bRest + "\n"
	got := r.String(text)
	if strings.Contains(got, aNeedle) || strings.Contains(got, bRest[1:9]) {
		t.Errorf("String(%q) = %q, want both values masked", text, got)
	}
}
