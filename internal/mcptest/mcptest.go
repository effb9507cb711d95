// Package mcptest finds the MCP reference servers and the inspector that
// the MCP tests run against: the npm packages pinned in tools/mcp,
// installed by .ci/mcp-peers.sh (npm ci) and copied to BULWARK_MCP_PEERS,
// a folder the sandbox can read (see the script). Without them a test skips,
// unless BULWARK_TEST_MCP is set (CI sets it), where it fails: CI must not
// pass by skipping.
package mcptest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Bin returns the absolute path of the executable name under
// tools/mcp/node_modules/.bin (mcp-server-everything,
// mcp-server-filesystem, mcp-inspector), skipping or failing t when it is
// not installed.
func Bin(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t), "node_modules", ".bin", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("BULWARK_TEST_MCP") != "" {
			t.Fatalf("%s is not installed (run .ci/mcp-peers.sh): %v", name, err)
		}
		t.Skipf("%s is not installed: run .ci/mcp-peers.sh, or set BULWARK_TEST_MCP=1 to make this a failure", name)
	}
	return p
}

// Dir returns the absolute path of the folder the peers are installed
// in (to give a sandboxed server read access to it): BULWARK_MCP_PEERS,
// else tools/mcp of this tree.
func Dir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BULWARK_MCP_PEERS"); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("mcptest: cannot find the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "tools", "mcp")
}

// Node returns the absolute path of the node executable the peers run
// on, failing or skipping t as Bin does when there is none.
func Node(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/node", "/usr/local/bin/node"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("BULWARK_TEST_MCP") != "" {
		t.Fatal("node is not installed")
	}
	t.Skip("node is not installed")
	return ""
}
