// Command vulngate reads govulncheck's JSON output (-format json) on
// standard input and fails when Bulwark's code reaches a vulnerability
// that the exceptions file does not name with a reason, or when the file
// names one that was not found (so an exception goes once the fix is in).
// Only findings down to a called function count, as in govulncheck's own
// text mode; the others are listed.
//
//	govulncheck -format json -db file://DIR ./... | vulngate .ci/vuln-exceptions
//
// The exceptions file holds one ID per line, a space and the reason;
// blank lines and lines starting with # are skipped.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// frame and finding are the parts of govulncheck's JSON that the gate reads.
type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

type message struct {
	Config  *json.RawMessage `json:"config"`
	SBOM    *json.RawMessage `json:"SBOM"`
	Finding *finding         `json:"finding"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: govulncheck -format json ... | vulngate EXCEPTIONS")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	exceptions, err := readExceptions(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	reached, other, err := readFindings(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(2)
	}
	if !gate(os.Stdout, reached, other, exceptions) {
		os.Exit(1)
	}
}

// readExceptions reads ID and reason per line.
func readExceptions(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(id, "GO-") || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("exceptions line %d: want a GO- id, a space and the reason", n)
		}
		out[id] = strings.TrimSpace(reason)
	}
	return out, sc.Err()
}

// readFindings returns, by ID, the first finding whose trace reaches a
// function (reached), and the IDs found only at package or module level.
func readFindings(r io.Reader) (reached map[string]finding, other []string, err error) {
	reached = map[string]finding{}
	seen := map[string]bool{}
	config, sbom := false, false
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("not govulncheck's JSON output: %w", err)
		}
		config = config || m.Config != nil
		sbom = sbom || m.SBOM != nil
		if m.Finding == nil || len(m.Finding.Trace) == 0 {
			continue
		}
		seen[m.Finding.OSV] = true
		if m.Finding.Trace[0].Function != "" {
			if _, ok := reached[m.Finding.OSV]; !ok {
				reached[m.Finding.OSV] = *m.Finding
			}
		}
	}
	// A scan that did not run must not read as clean: govulncheck's output
	// opens with its configuration and, once the packages are loaded, lists
	// the modules (SBOM); a run that failed to load them stops before that.
	if !config || !sbom {
		return nil, nil, fmt.Errorf("govulncheck's output lacks its configuration or module list: the scan did not run to the end")
	}
	for id := range seen {
		if _, ok := reached[id]; !ok {
			other = append(other, id)
		}
	}
	slices.Sort(other)
	return reached, other, nil
}

// gate reports and says whether the scan passes.
func gate(w io.Writer, reached map[string]finding, other []string, exceptions map[string]string) bool {
	ok := true
	ids := make([]string, 0, len(reached))
	for id := range reached {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f := reached[id]
		at := f.Trace[0]
		fn := at.Function
		if at.Receiver != "" {
			fn = strings.TrimPrefix(at.Receiver, "*") + "." + fn
		}
		where := fmt.Sprintf("%s@%s %s.%s", at.Module, at.Version, at.Package, fn)
		fix := f.FixedVersion
		if fix == "" {
			fix = "none yet"
		}
		if reason, ok := exceptions[id]; ok {
			fmt.Fprintf(w, "EXCEPTED  %s in %s (fixed in %s): %s\n", id, where, fix, reason)
			continue
		}
		ok = false
		fmt.Fprintf(w, "FAIL      %s in %s (fixed in %s): reached by Bulwark's code; upgrade, or name it in the exceptions file with a reason\n", id, where, fix)
	}
	for id := range exceptions {
		if _, found := reached[id]; !found {
			ok = false
			fmt.Fprintf(w, "FAIL      %s is in the exceptions file but was not found: remove it\n", id)
		}
	}
	if len(other) > 0 {
		fmt.Fprintf(w, "not reached (in a required module or an imported package, no call to it): %s\n", strings.Join(other, " "))
	}
	fmt.Fprintf(w, "vulngate: %d reached (%d excepted), %d not reached\n", len(reached), len(reached)-countFailed(reached, exceptions), len(other))
	return ok
}

func countFailed(reached map[string]finding, exceptions map[string]string) int {
	n := 0
	for id := range reached {
		if _, ok := exceptions[id]; !ok {
			n++
		}
	}
	return n
}
