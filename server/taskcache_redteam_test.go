package server

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestTaskCacheAfterAuthentication: a kept answer of GET
// /api/v1/tasks/{id} is served only to a request that the server would
// have answered without it. A key revoked, or a user deleted, by another
// process after the answer was kept gets 401, not the answer; so does a
// request without credentials. Another tenant gets what it would get
// without the cache, whatever spelling of the id it sends (case,
// percent-encoding, a trailing slash or dot, padding), and so does the
// task's own tenant. A key without the tasks scope is refused, and one
// that expired since is 401.
func TestTaskCacheAfterAuthentication(t *testing.T) {
	t.Parallel()
	changer := newEnv(t, rateLimitOff, withRuntime(t, ""))
	cacher := changer.otherNode(rateLimitOff, withRuntime(t, ""))
	plain := changer.otherNode(rateLimitOff, withRuntime(t, ""))
	plain.srv.views = nil // answers as without the cache
	ctx := context.Background()
	acme, other := changer.tenant("acme"), changer.tenant("other")
	task, err := changer.db.CreateTask(ctx, acme.id, bulwark.Task{Input: "the secret plan of acme", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/tasks/" + task.ID
	viewerCookie := cacher.login(acme.users[bulwark.RoleViewer].Email)
	keep := func() {
		t.Helper()
		for _, rq := range []req{{key: acme.keys[bulwark.RoleViewer]}, {cookie: viewerCookie}} {
			rq.method, rq.path = "GET", path
			for range 2 {
				if w := cacher.do(rq); w.Code != http.StatusOK {
					t.Fatalf("GET %s = %d %s", path, w.Code, w.Body)
				}
			}
		}
		if n := cacher.srv.views.len(); n != 1 {
			t.Fatalf("the server keeps %d answers, want 1: the test would not test the cache", n)
		}
	}
	keep()

	// Spellings of the id, by another tenant and by acme: the same
	// status (and body, when 200) as a server that keeps nothing.
	ids := []string{task.ID, strings.ToUpper(task.ID), "%" + strings.ToUpper(hexOf(task.ID[0])) + task.ID[1:],
		task.ID + "/", task.ID + "%2e", task.ID + "%2F", task.ID + "%20", "%20" + task.ID, task.ID + "%00",
		task.ID + "/.", "./" + task.ID, task.ID + "?x=1", task.ID + "#x"}
	for _, key := range []string{other.keys[bulwark.RoleOwner], acme.keys[bulwark.RoleViewer]} {
		for _, id := range ids {
			rq := req{method: "GET", path: "/api/v1/tasks/" + id, key: key}
			got, want := cacher.do(rq), plain.do(rq)
			if got.Code != want.Code || want.Code == http.StatusOK && got.Body.String() != want.Body.String() {
				t.Errorf("GET %s: the caching server answers %d %s; without the cache, %d %s", rq.path, got.Code, got.Body, want.Code, want.Body)
			}
			if key == other.keys[bulwark.RoleOwner] && strings.Contains(got.Body.String(), "secret plan") {
				t.Errorf("GET %s by another tenant shows acme's task: %s", rq.path, got.Body)
			}
		}
	}
	if w := cacher.do(req{method: "GET", path: path}); w.Code != http.StatusUnauthorized {
		t.Errorf("GET of a kept task without credentials = %d, want 401", w.Code)
	}
	// A key of acme whose scopes leave out tasks: refused as without the
	// cache. A key that expires: served until it does, then 401.
	scoped, _, err := IssueKey(ctx, changer.db, acme.id, KeySpec{Name: "keys only", Role: bulwark.RoleOwner, Scopes: []string{"keys"}, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	rq := req{method: "GET", path: path, key: scoped}
	if got, want := cacher.do(rq), plain.do(rq); got.Code != want.Code || got.Code == http.StatusOK {
		t.Errorf("GET of a kept task with a key without the tasks scope = %d %s; without the cache %d, want a refusal", got.Code, got.Body, want.Code)
	}
	expiring, _, err := IssueKey(ctx, changer.db, acme.id, KeySpec{Name: "brief", Role: bulwark.RoleViewer, Expires: changer.clock.Now().Add(time.Minute), CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if w := cacher.do(req{method: "GET", path: path, key: expiring}); w.Code != http.StatusOK {
		t.Fatalf("GET with a key that has not expired = %d %s", w.Code, w.Body)
	}
	changer.clock.Advance(2 * time.Minute)
	if w := cacher.do(req{method: "GET", path: path, key: expiring}); w.Code != http.StatusUnauthorized {
		t.Errorf("GET of a kept task with a key expired since = %d %s, want 401", w.Code, w.Body)
	}

	// Revoked and deleted by another process after the answer was kept.
	if err := changer.db.DeleteAPIKey(ctx, acme.id, acme.keyIDs[bulwark.RoleViewer]); err != nil {
		t.Fatal(err)
	}
	if w := cacher.do(req{method: "GET", path: path, key: acme.keys[bulwark.RoleViewer]}); w.Code != http.StatusUnauthorized {
		t.Errorf("GET of a kept task with a key revoked since = %d %s, want 401", w.Code, w.Body)
	}
	keep2 := cacher.do(req{method: "GET", path: path, cookie: viewerCookie})
	if keep2.Code != http.StatusOK {
		t.Fatalf("GET with the session = %d", keep2.Code)
	}
	if _, _, err := changer.db.DeleteUser(ctx, acme.id, acme.users[bulwark.RoleViewer].ID); err != nil {
		t.Fatal(err)
	}
	if w := cacher.do(req{method: "GET", path: path, cookie: viewerCookie}); w.Code != http.StatusUnauthorized {
		t.Errorf("GET of a kept task with the session of a user deleted since = %d %s, want 401", w.Code, w.Body)
	}
}

// hexOf is the two hex digits of b.
func hexOf(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// TestTaskCacheNotOnPostgres: a server over PostgreSQL keeps no task
// answers (the store has no task versions), so a change by another node
// is seen at once; TestTaskViewSeesChanges checks the answers themselves.
func TestTaskCacheNotOnPostgres(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, openPostgres(t), rateLimitOff, withRuntime(t, ""))
	if _, ok := e.db.(bulwark.TaskVersioner); ok {
		t.Fatal("the PostgreSQL store claims task versions: another node's change would need to move them")
	}
	if e.srv.views != nil {
		t.Fatal("a server over PostgreSQL keeps task answers")
	}
}

// TestTaskViewSeesTheCLI: the real `bulwark` binary, run as another
// process on the data folder of a server that kept a task's answer,
// cancels the task (`bulwark tasks cancel`, which ends a task no process
// runs); the server's next GET shows it canceled, not the kept answer.
func TestTaskViewSeesTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the bulwark binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "bulwark")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/bulwark").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	e, _, task, get := cachedRunningTask(t)
	cmd := exec.Command(bin, "tasks", "cancel", "--data", e.dir, "--tenant", "acme", task.ID)
	cmd.Env = append(os.Environ(), "BULWARK_MASTER_KEY_FILE="+filepath.Join(e.dir, "master.key"), "BULWARK_MASTER_KEY=", "BULWARK_DATABASE_URL=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bulwark tasks cancel: %v\n%s", err, out)
	}
	if v := get(); v.Status != bulwark.TaskCanceled {
		t.Errorf("after `bulwark tasks cancel` in another process, GET shows %s, want canceled", v.Status)
	}
}
