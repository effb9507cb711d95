package secret

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func b64(e *base64.Encoding) func(string) string {
	return func(s string) string { return e.EncodeToString([]byte(s)) }
}

// encodings lists the forms in which a registered value must be masked.
var encodings = []struct {
	name string
	enc  func(string) string
}{
	{"raw", func(s string) string { return s }},
	{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
	{"HEX", func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }},
	{"query", url.QueryEscape},
	{"path", url.PathEscape},
	{"json", func(s string) string { b, _ := json.Marshal(s); return string(b) }},
	{"goquote", strconv.Quote},
	{"b64std", b64(base64.StdEncoding)},
	{"b64stdraw", b64(base64.RawStdEncoding)},
	{"b64url", b64(base64.URLEncoding)},
	{"b64urlraw", b64(base64.RawURLEncoding)},
	// The value inside a longer base64 text, at each alignment.
	{"b64std+1", func(s string) string { return base64.StdEncoding.EncodeToString([]byte("u" + s + "tail")) }},
	{"b64std+2", func(s string) string { return base64.StdEncoding.EncodeToString([]byte("uv" + s + "tail!")) }},
	{"b64std+3", func(s string) string { return base64.StdEncoding.EncodeToString([]byte("uvw" + s + "t")) }},
	{"b64url+1", func(s string) string { return base64.URLEncoding.EncodeToString([]byte("\xff" + s + "\xfe\xff")) }},
	{"b64url+2", func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte("\xff\xfe" + s)) }},
	{"basic-auth", func(s string) string { return base64.StdEncoding.EncodeToString([]byte("admin:" + s)) }},
	// Other languages' libraries (red team: these were not masked).
	{"encodeURIComponent", func(s string) string { return escapeBytes(s, "-_.!~*'()", "%%%02X") }},
	{"encodeURIComponent-lower", func(s string) string { return escapeBytes(s, "-_.!~*'()", "%%%02x") }},
	// Python's urllib.parse.quote, safe="/" (its default) and safe="" (red
	// team, session 42: an AWS-like key with / and + was not masked).
	{"python-quote", func(s string) string { return escapeBytes(s, "-._~/", "%%%02X") }},
	{"python-quote-nosafe", func(s string) string { return escapeBytes(s, "-._~", "%%%02X") }},
	{"System.Text.Json", func(s string) string { return jsonU(s, "\"&'+<>`", `\u%04X`) }},
	{"python-json", func(s string) string { return jsonU(s, "", `\u%04x`) }},
}

// escapeBytes writes s with every byte but ASCII letters, digits and those
// in keep as format writes it.
func escapeBytes(s, keep, format string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, format, c)
		}
	}
	return b.String()
}

// jsonU writes s as a JSON string body with the characters in esc, the
// control characters and all beyond ASCII (as UTF-16) written with format,
// the backslash as \\ and the quote, if not in esc, as \".
func jsonU(s, esc, format string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"' && !strings.ContainsRune(esc, r):
			b.WriteString(`\"`)
		case r < 0x20 || r >= 0x7f || strings.ContainsRune(esc, r):
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&b, format+format, 0xd800+r>>10, 0xdc00+r&0x3ff)
				continue
			}
			fmt.Fprintf(&b, format, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var registeredValues = []string{
	"hunter2-supersecret",
	"p@ss w0rd/with?odd&chars=\"<>\\",
	"Zx9",                    // too short: ignored
	"abcdef",                 // MinSecretLen exactly
	"\x00\x01binary\xff\xfe", // not text
	"ünïcødé-sécret",
	"wJalrXUtnFEMI/K7MDENG+bPxRfiCYzz!(x)",
	strings.Repeat("ab", 40),
}

func TestRegisteredEncodings(t *testing.T) {
	for _, v := range registeredValues {
		r := NewRedactor()
		r.SetDetection(false)
		r.Add("S", v)
		for _, e := range encodings {
			enc := e.enc(v)
			in := "before " + enc + " after"
			got := r.String(in)
			if len(v) < MinSecretLen {
				if got != in {
					t.Errorf("short value %q (%s): String(%q) = %q, want it unchanged", v, e.name, in, got)
				}
				continue
			}
			if !strings.Contains(got, "[REDACTED:S]") {
				t.Errorf("value %q (%s): String(%q) = %q, want a mask", v, e.name, in, got)
			}
			if leaked(got, v) {
				t.Errorf("value %q (%s): String(%q) = %q leaks it", v, e.name, in, got)
			}
			if !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
				t.Errorf("value %q (%s): String(%q) = %q, want the text around it kept", v, e.name, in, got)
			}
		}
	}
}

// leaked reports whether any 5-byte piece of v, in any encoding that
// spans the whole value, survives in s.
func leaked(s, v string) bool {
	for _, e := range encodings[:11] {
		enc := e.enc(v)
		if len(enc) >= 8 && strings.Contains(s, enc[1:len(enc)-1]) {
			return true
		}
	}
	return strings.Contains(s, v)
}

func TestAddRemove(t *testing.T) {
	r := NewRedactor()
	r.SetDetection(false)
	r.Add("A", "alpha-value-1")
	r.Add("B", "bravo-value-2")
	if got, want := r.String("alpha-value-1 bravo-value-2"), "[REDACTED:A] [REDACTED:B]"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	r.Add("A", "alpha-value-3") // replaces
	if got, want := r.String("alpha-value-1 alpha-value-3"), "alpha-value-1 [REDACTED:A]"; got != want {
		t.Errorf("after replacing A: String = %q, want %q", got, want)
	}
	r.Remove("A")
	r.Remove("missing")
	if got, want := r.String("alpha-value-3 bravo-value-2"), "alpha-value-3 [REDACTED:B]"; got != want {
		t.Errorf("after Remove(A): String = %q, want %q", got, want)
	}
	r.Add("odd name]\n", "charlie-value")
	if got, want := r.String("charlie-value"), "[REDACTED:odd_name__]"; got != want {
		t.Errorf("odd name: String = %q, want %q", got, want)
	}
}

func TestOverlappingValues(t *testing.T) {
	r := NewRedactor()
	r.SetDetection(false)
	r.Add("LONG", "secret-value-long")
	r.Add("SHORT", "secret-value")
	r.Add("TAIL", "value-long-tail-xyz")
	for _, tt := range []redactTest{
		{"secret-value-long", "[REDACTED:LONG]"},          // longest wins
		{"secret-value!", "[REDACTED:SHORT]!"},            // shorter when the longer does not fit
		{"secret-value-long-tail-xyz", "[REDACTED:LONG]"}, // overlaps merge: no tail leaks
		{"xsecret-valuesecret-value", "x[REDACTED:SHORT][REDACTED:SHORT]"},
	} {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnchangedIsSame(t *testing.T) {
	r := NewRedactor()
	r.Add("S", "never-appears-here")
	s := "nothing to see here, a=b"
	if got := r.String(s); got != s {
		t.Errorf("String(%q) = %q", s, got)
	}
	b := []byte(s)
	if got := r.Bytes(b); &got[0] != &b[0] {
		t.Error("Bytes with nothing to mask returned a copy")
	}
	in := []byte("x never-appears-here y")
	orig := string(in)
	if got, want := string(r.Bytes(in)), "x [REDACTED:S] y"; got != want {
		t.Errorf("Bytes = %q, want %q", got, want)
	}
	if string(in) != orig {
		t.Error("Bytes modified its input")
	}
}

func TestConcurrent(t *testing.T) {
	r := NewRedactor()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				name := fmt.Sprintf("G%dS%d", g, i)
				r.Add(name, "value-"+name+"-xyz")
				if i%3 == 0 {
					r.Remove(name)
				}
			}
		})
		wg.Go(func() {
			w := r.Writer(&strings.Builder{})
			for i := range 200 {
				s := fmt.Sprintf("line %d value-G%dS%d-xyz password=x%d\n", i, g, i%50, i)
				got := r.String(s)
				if strings.Contains(got, "password=x") {
					t.Errorf("String(%q) = %q: password not masked", s, got)
				}
				w.Write([]byte(s))
				st := r.NewStream()
				st.Push(s[:10])
				st.Push(s[10:])
				st.Flush()
			}
			w.Close()
		})
	}
	wg.Wait()
	// Every value still registered is masked.
	for g := range 4 {
		for i := range 50 {
			if i%3 == 0 {
				continue
			}
			v := fmt.Sprintf("value-G%dS%d-xyz", g, i)
			if got := r.String(v); got == v {
				t.Errorf("String(%q) not masked after concurrent Adds", v)
			}
		}
	}
}

// TestRedactorOf: every value of the map is masked under its name, and
// credential-looking strings are detected as with NewRedactor.
func TestRedactorOf(t *testing.T) {
	r := RedactorOf(map[string]string{"DB_PASS": "hunter2-correct-horse", "TOKEN": "plain-words-token-4711"})
	got := r.String("a hunter2-correct-horse b plain-words-token-4711 c")
	if got != "a [REDACTED:DB_PASS] b [REDACTED:TOKEN] c" {
		t.Errorf("RedactorOf masks %q", got)
	}
	if !r.Detection() {
		t.Error("RedactorOf turned detection off")
	}
	if RedactorOf(nil).String("nothing here") != "nothing here" {
		t.Error("RedactorOf(nil) changes text")
	}
}
