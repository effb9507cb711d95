package secret

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var testSecrets = map[string]string{
	"API_KEY":  "sk-live-123456",
	"_x9":      `quote " and \ and <tag> & {{secret:API_KEY}}`,
	"EMPTYISH": "  ",
}

var substituteTests = []struct {
	in, want string
	err      string // part of the error message; "" means success
}{
	{`{"path":"a.txt"}`, `{"path":"a.txt"}`, ""},
	{`{"h":"Bearer {{secret:API_KEY}}"}`, `{"h":"Bearer sk-live-123456"}`, ""},
	{`{"a":{"b":["x","{{secret:API_KEY}}{{secret:API_KEY}}"]},"n":1.50}`, `{"a":{"b":["x","sk-live-123456sk-live-123456"]},"n":1.50}`, ""},
	{`["{{secret:_x9}}"]`, `["quote \" and \\ and <tag> & {{secret:API_KEY}}"]`, ""}, // not expanded twice, no HTML escaping
	{`"{{secret:EMPTYISH}}"`, `"  "`, ""},
	{`{"{{secret:API_KEY}}":"key left alone"}`, `{"{{secret:API_KEY}}":"key left alone"}`, ""},
	{`{"c":"\u007b{secret:API_KEY}}"}`, `{"c":"sk-live-123456"}`, ""}, // escaped braces are still a placeholder
	{`{"c":"{{secret:NOPE}}"}`, "", `unknown secret "NOPE"`},
	{`{"c":"{{secret:bad-name}}"}`, "", "malformed"},
	{`{"c":"{{secret:API_KEY"}`, "", "malformed"},
	{`{"c":"{{secret:}}"}`, "", "malformed"},
	{`{"c":"{{secret:API_KEY}}"`, "", "not valid JSON"},
	{`{"c":1} {"d":2}`, "", "not valid JSON"},
	{`nope`, "", "not valid JSON"},
	{`{"big":12345678901234567890123}`, `{"big":12345678901234567890123}`, ""},
	{`{"n":12345678901234567890123,"s":"{{secret:API_KEY}}"}`, `{"n":12345678901234567890123,"s":"sk-live-123456"}`, ""},
}

func TestSubstitute(t *testing.T) {
	for _, tc := range substituteTests {
		got, err := Substitute(json.RawMessage(tc.in), testSecrets)
		if tc.err != "" {
			if err == nil || !strings.Contains(bulwark.ErrorMessage(err), tc.err) || bulwark.ErrorKind(err) != bulwark.Invalid {
				t.Errorf("Substitute(%s) = %s, %v; want an Invalid error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Substitute(%s): %v", tc.in, err)
			continue
		}
		if !jsonEqual(t, got, []byte(tc.want)) {
			t.Errorf("Substitute(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestSubstituteErrorHidesValues(t *testing.T) {
	_, err := Substitute(json.RawMessage(`{"a":"{{secret:API_KEY}}","b":"{{secret:MISSING}}"}`), testSecrets)
	if err == nil || strings.Contains(err.Error(), testSecrets["API_KEY"]) {
		t.Errorf("error %v: want an error that holds no secret value", err)
	}
}

func TestPlaceholders(t *testing.T) {
	got := Placeholders(json.RawMessage(`{"a":["{{secret:B}} {{secret:A}}"],"b":"{{secret:B}}{{secret:bad-}}"}`))
	if want := []string{"B", "A"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Placeholders = %q, want %q", got, want)
	}
}

var validNameTests = []struct {
	name string
	ok   bool
}{
	{"A", true}, {"_", true}, {"api_key_2", true}, {strings.Repeat("a", 64), true},
	{"", false}, {"1A", false}, {"a-b", false}, {"a b", false}, {"é", false},
	{strings.Repeat("a", 65), false}, {"A\n", false},
}

func TestValidName(t *testing.T) {
	for _, tc := range validNameTests {
		if got := ValidName(tc.name); got != tc.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("result %s is not JSON: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("want %s is not JSON: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// FuzzSubstitute checks that Substitute never panics, returns JSON when it
// succeeds, leaves arguments without placeholders as they were, and puts in
// the value of every placeholder it accepts.
func FuzzSubstitute(f *testing.F) {
	for _, tc := range substituteTests {
		f.Add(tc.in)
	}
	values := map[string]string{"K": "VALUE-OF-K"}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Substitute(json.RawMessage(in), values)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Substitute(%q) = %q: not JSON", in, out)
		}
		if names := Placeholders(json.RawMessage(in)); len(names) == 0 {
			var x, y any
			json.Unmarshal([]byte(in), &x)
			json.Unmarshal(out, &y)
			if !reflect.DeepEqual(x, y) {
				t.Fatalf("Substitute(%q) = %q: changed arguments without placeholders", in, out)
			}
		} else if !strings.Contains(string(out), "VALUE-OF-K") {
			t.Fatalf("Substitute(%q) = %q: the placeholders %q were not replaced", in, out, names)
		}
	})
}

var substituteSomeTests = []struct {
	in, want string
	ok       bool
}{
	{`{"c":"a {{secret:A}} b {{secret:B}}"}`, `{"c":"a value-a b {{secret:B}}"}`, true},
	{`{"c":"{{secret:B}}"}`, `{"c":"{{secret:B}}"}`, true},
	{`{"c":"{{secret:bad-name}}"}`, ``, false},
	{`{"c":`, ``, false},
}

// SubstituteSome puts in only the secrets it is given and leaves the
// placeholders of the others for the egress proxy.
func TestSubstituteSome(t *testing.T) {
	for _, tt := range substituteSomeTests {
		got, err := SubstituteSome(json.RawMessage(tt.in), map[string]string{"A": "value-a"})
		if tt.ok != (err == nil) || tt.ok && string(got) != tt.want {
			t.Errorf("SubstituteSome(%s) = %s, %v; want %s (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
