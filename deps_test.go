package bulwark_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are packages that the domain and the agent loop must not
// reach, even indirectly: they know nothing of HTTP, SQL or processes.
var forbiddenDeps = map[string][]string{
	"github.com/bulwark-agents/bulwark":       {"net/http", "database/sql", "os/exec", "net"},
	"github.com/bulwark-agents/bulwark/agent": {"net/http", "database/sql", "os/exec", "net"},
	// The interfaces of the limits and their memory implementations: the
	// server takes them without a database driver (pglimits has one).
	"github.com/bulwark-agents/bulwark/limits": {"net/http", "database/sql", "github.com/jackc/pgx/v5"},
}

func TestImportRules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH: cannot list dependencies")
	}
	for pkg, forbidden := range forbiddenDeps {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, f := range forbidden {
			if deps[f] {
				t.Errorf("%s depends on %s; keep it out of the domain and the agent loop", pkg, f)
			}
		}
	}
}
