package sqlite

import (
	"go/ast"
	"go/parser"
	"go/token"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// authWrite matches SQL that changes what authenticates a request: API
// keys, users, tenants' settings, tenants (disabling or deleting one).
var authWrite = regexp.MustCompile(`(?i)\b(UPDATE\s+(api_keys|users|settings|tenants)\b|DELETE\s+FROM\s+(api_keys|users|settings|tenants)\b|INSERT\s+INTO\s+settings\b|REPLACE\s+INTO\s+(api_keys|users|settings|tenants)\b)`)

// authWriteExempt are the functions allowed to write those tables outside
// db.authChange, and why.
var authWriteExempt = map[string]string{
	"TouchAPIKey": "only last_used, which authenticates nothing",
}

// TestAuthWritesMoveTheVersion: every function of the package whose SQL
// changes API keys, users, settings or tenants calls db.authChange, so
// that a server's cache sees the change at its next request. A method
// added later (key rotation, TOTP, disabling a tenant) that writes them
// without it fails here.
func TestAuthWritesMoveTheVersion(t *testing.T) {
	found := 0
	for f := range funcBodies(t) {
		if !authWrite.MatchString(f.body) {
			continue
		}
		found++
		if _, ok := authWriteExempt[f.name]; ok {
			continue
		}
		if !strings.Contains(f.body, "authChange(") {
			t.Errorf("%s: %s writes %q without db.authChange: a running server would keep using what it cached", f.file, f.name, authWrite.FindString(f.body))
		}
	}
	if found < 4 { // revoke, update and delete a user, settings, last use
		t.Errorf("found %d functions writing the authentication tables; the scan is broken", found)
	}
}

// scannedFunc is a function of the package's non-test files: its file,
// its name and the text of its body.
type scannedFunc struct{ file, name, body string }

// funcBodies yields every function of the package's non-test files, for
// the scans of which SQL a function runs.
func funcBodies(t *testing.T) iter.Seq[scannedFunc] {
	return func(yield func(scannedFunc) bool) {
		files, err := filepath.Glob("*.go")
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, name, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				body := string(src[fset.Position(fn.Body.Pos()).Offset:fset.Position(fn.Body.End()).Offset])
				if !yield(scannedFunc{name, fn.Name.Name, body}) {
					return
				}
			}
		}
	}
}
