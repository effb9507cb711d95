// Package testfamily gates the families of tests that need more than Go:
// the real sandbox (BULWARK_TEST_SANDBOX=1), a browser
// (BULWARK_TEST_BROWSER=1) and a PostgreSQL server
// (BULWARK_TEST_POSTGRES=postgres://...). Elsewhere they skip, and the package's test
// binary says so once, in one line that names the variable that enables
// the family and what it needs, rather than once per test. `go test ./...`
// shows a passing package's output only with -v, so without -v the line
// goes to the terminal (/dev/tty) when there is one.
package testfamily

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Family is a set of tests that run only where Var=1, or, for a family
// with URL set, where Var holds a URL.
type Family struct {
	Name  string // "sandbox tests"
	Var   string // the environment variable that enables them
	Needs string // what the host needs for them
	URL   bool   // Var holds a URL of what the tests use, not 1
}

// The families.
var (
	Sandbox = Family{Name: "sandbox tests", Var: "BULWARK_TEST_SANDBOX",
		Needs: "Linux with user namespaces, Landlock, seccomp and cgroups, as root or as a user with a delegated cgroup (`bulwark sandbox check` says what is missing)"}
	Browser = Family{Name: "browser tests", Var: "BULWARK_TEST_BROWSER",
		Needs: "Debian's chromium at /usr/bin/chromium or $BULWARK_CHROMIUM (.ci/install-browser.sh installs it)"}
	Postgres = Family{Name: "PostgreSQL tests", Var: "BULWARK_TEST_POSTGRES", URL: true,
		Needs: "a PostgreSQL server where they may create and drop databases (.ci/run starts the machine's and sets the variable)"}
)

// Enabled reports whether the family's variable is 1 (for a URL family:
// is set).
func (f Family) Enabled() bool {
	if f.URL {
		return os.Getenv(f.Var) != ""
	}
	return os.Getenv(f.Var) == "1"
}

// Value is the family's variable: for a URL family, the URL.
func (f Family) Value() string { return os.Getenv(f.Var) }

// Reason is why the family is skipped and how to run it.
func (f Family) Reason() string {
	set := f.Var + "=1"
	if f.URL {
		set = f.Var + " to a URL"
	}
	return fmt.Sprintf("%s skipped: set %s to run them; they need %s", f.Name, set, f.Needs)
}

// Require skips the test unless the family is enabled, and returns the
// value of its variable (the URL of a family with a Value).
func (f Family) Require(t testing.TB) string {
	t.Helper()
	if !f.Enabled() {
		t.Skip(f.Reason())
	}
	return os.Getenv(f.Var)
}

// Main runs the package's tests (call it from TestMain), first printing
// one line for each family that is not enabled.
func Main(m *testing.M, families ...Family) {
	flag.Parse()
	Announce(families...)
	os.Exit(m.Run())
}

// packageDir is the folder of the package under test (go test runs the
// binary there) relative to the module's root: "tool/code".
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	}
	for root := wd; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			if rel, err := filepath.Rel(root, wd); err == nil && rel != "." {
				return filepath.ToSlash(rel)
			}
			return filepath.Base(wd)
		}
		if filepath.Dir(root) == root {
			return filepath.Base(wd)
		}
	}
}

// Announce prints one line for each family that is not enabled, naming
// the package under test: on stdout with -v, else on the terminal if
// there is one, else on stderr (shown when the package fails).
func Announce(families ...Family) {
	var lines []string
	pkg := packageDir()
	for _, f := range families {
		if !f.Enabled() {
			lines = append(lines, fmt.Sprintf("%s: %s\n", pkg, f.Reason()))
		}
	}
	if len(lines) == 0 {
		return
	}
	var w io.Writer = os.Stderr
	if testing.Verbose() {
		w = os.Stdout
	} else if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		w = tty
	}
	for _, l := range lines {
		io.WriteString(w, l)
	}
}
