package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestCachedKeyAuthFileRemoved: with bulwark.db-auth removed while a
// server runs, a key it has cached and another process (`bulwark keys
// revoke`) then revokes, through a new file of its own, fails at the
// server's next request; the server still answers keys from the store.
func TestCachedKeyAuthFileRemoved(t *testing.T) {
	t.Parallel()
	server := newEnv(t)
	tn := server.tenant("acme")
	key, k, err := IssueKey(context.Background(), server.db, tn.id, KeySpec{Name: "cached", Role: bulwark.RoleAdmin, CreatedBy: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // fills the cache, then is served from it
		if w := server.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != http.StatusOK {
			t.Fatalf("request %d = %d %s", i+1, w.Code, w.Body)
		}
	}
	if err := os.Remove(filepath.Join(server.dir, "bulwark.db-auth")); err != nil {
		t.Fatal(err)
	}
	cli := server.otherNode()
	if err := cli.db.DeleteAPIKey(context.Background(), tn.id, k.ID); err != nil {
		t.Fatal(err)
	}
	if w := server.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != http.StatusUnauthorized {
		t.Errorf("the revoked key after the file was removed = %d, want 401", w.Code)
	}
	if w := server.do(req{method: "GET", path: "/api/v1/me", key: tn.keys[bulwark.RoleOwner]}); w.Code != http.StatusOK {
		t.Errorf("another key after the file was removed = %d, want 200 (read from the store)", w.Code)
	}
}
