package sqlite

import (
	"go/ast"
	"go/parser"
	"go/token"
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
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := 0
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
			if !authWrite.MatchString(body) {
				continue
			}
			found++
			if _, ok := authWriteExempt[fn.Name.Name]; ok {
				continue
			}
			if !strings.Contains(body, "authChange(") {
				t.Errorf("%s: %s writes %q without db.authChange: a running server would keep using what it cached", name, fn.Name.Name, authWrite.FindString(body))
			}
		}
	}
	if found < 4 { // revoke, update and delete a user, settings, last use
		t.Errorf("found %d functions writing the authentication tables; the scan is broken", found)
	}
}
