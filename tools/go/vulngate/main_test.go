package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// testdata/vulnerable.json holds the configuration, module list and findings of govulncheck -format json on
// ../testdata/vulnerable: GO-2021-0113 reached (language.Parse), other
// findings of golang.org/x/text and the standard library at module or
// package level only.
func findings(t *testing.T) (map[string]finding, []string) {
	t.Helper()
	f, err := os.Open("testdata/vulnerable.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	reached, other, err := readFindings(f)
	if err != nil {
		t.Fatal(err)
	}
	return reached, other
}

func TestReadFindings(t *testing.T) {
	reached, other := findings(t)
	if len(reached) != 1 || reached["GO-2021-0113"].Trace[0].Function != "Parse" {
		t.Errorf("reached = %+v, want GO-2021-0113 through Parse only", reached)
	}
	for _, id := range other {
		if id == "GO-2021-0113" {
			t.Errorf("GO-2021-0113 is listed as not reached as well")
		}
	}
	if len(other) == 0 {
		t.Errorf("no finding short of a call was read; the sample has them")
	}
}

var gateTests = []struct {
	name       string
	exceptions map[string]string
	pass       bool
	want       string
}{
	{"a reached finding fails", nil, false, "FAIL      GO-2021-0113 in golang.org/x/text@v0.3.6 golang.org/x/text/language.Parse (fixed in v0.3.7)"},
	{"an exception with its reason passes", map[string]string{"GO-2021-0113": "fixture"}, true, "EXCEPTED  GO-2021-0113"},
	{"a stale exception fails", map[string]string{"GO-2021-0113": "fixture", "GO-2020-0001": "gone"}, false, "GO-2020-0001 is in the exceptions file but was not found"},
}

func TestGate(t *testing.T) {
	reached, other := findings(t)
	for _, tt := range gateTests {
		var out bytes.Buffer
		if got := gate(&out, reached, other, tt.exceptions); got != tt.pass || !strings.Contains(out.String(), tt.want) {
			t.Errorf("%s: gate = %v, want %v, with %q in:\n%s", tt.name, got, tt.pass, tt.want, out.String())
		}
	}
}

func TestReadExceptions(t *testing.T) {
	ex, err := readExceptions(strings.NewReader("# comment\n\nGO-2026-6599 the toolchain: Go 1.26.9 fixes it\n"))
	if err != nil || ex["GO-2026-6599"] != "the toolchain: Go 1.26.9 fixes it" || len(ex) != 1 {
		t.Errorf("readExceptions = %v, %v", ex, err)
	}
	for _, bad := range []string{"GO-2026-6599\n", "CVE-2026-1 reason\n"} {
		if _, err := readExceptions(strings.NewReader(bad)); err == nil {
			t.Errorf("readExceptions(%q) accepted a line without a GO- id and a reason", bad)
		}
	}
	// Output of a scan that did not run is refused, not read as clean.
	for _, bad := range []string{"not json", "", `{"progress": {"message": "Scanning your code"}}`,
		`{"config": {"scanner_name": "govulncheck"}}`} { // a run that failed to load the packages
		if _, _, err := readFindings(strings.NewReader(bad)); err == nil {
			t.Errorf("readFindings(%q) accepted what is not a govulncheck scan", bad)
		}
	}
}
