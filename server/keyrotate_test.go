package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestKeyRotation: the new token works at once, the old one until its
// grace period ends and not after; the new key keeps the old one's name,
// role, scopes and expiry; the rotation is audited.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	oldTok, old := e.issue(a.id, KeySpec{Name: "deploy", Role: bulwark.RoleMember, Scopes: []string{"tasks"}, Expires: e.clock.Now().Add(90 * 24 * time.Hour)})
	w := e.do(req{method: "POST", path: "/api/v1/keys/" + old.ID + "/rotate", key: a.keys[bulwark.RoleAdmin], body: `{"grace":"10m"}`})
	var rot rotateKeyResponse
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &rot) != nil {
		t.Fatalf("rotate = %d %s", w.Code, w.Body)
	}
	if k := rot.Key; k.ID == old.ID || k.Name != "deploy" || k.Role != bulwark.RoleMember || !slices.Equal(k.Scopes, []string{"tasks"}) || !k.Expires.Equal(old.Expires) {
		t.Errorf("the new key = %+v, want the old one's name, role, scopes and expiry", k)
	}
	if !rot.Old.Expires.Equal(e.clock.Now().Add(10 * time.Minute)) {
		t.Errorf("the old key expires %v, want in 10m", rot.Old.Expires)
	}
	me := func(tok string) int { return e.do(req{method: "GET", path: "/api/v1/me", key: tok}).Code }
	if me(rot.Token) != 200 || me(oldTok) != 200 {
		t.Errorf("during the grace period: new %d, old %d; want both 200", me(rot.Token), me(oldTok))
	}
	e.clock.Advance(10 * time.Minute)
	if me(oldTok) != 401 || me(rot.Token) != 200 {
		t.Errorf("after the grace period: old %d, new %d; want 401 and 200", me(oldTok), me(rot.Token))
	}
	recs := e.audited("key.rotate")
	if len(recs) != 1 || recs[0].Target != old.ID || recs[0].Details["new_key"] != rot.Key.ID || recs[0].Details["grace"] != "10m0s" {
		t.Errorf("key.rotate records = %+v", recs)
	}
	// An expired key is not rotated.
	if w := e.do(req{method: "POST", path: "/api/v1/keys/" + old.ID + "/rotate", key: a.keys[bulwark.RoleAdmin]}); w.Code != 409 {
		t.Errorf("rotating an expired key = %d, want 409", w.Code)
	}
	// The default grace is an hour; a key may rotate itself; "0s" ends the old one at once.
	w = e.do(req{method: "POST", path: "/api/v1/keys/" + rot.Key.ID + "/rotate", key: a.keys[bulwark.RoleAdmin]})
	var rot2 rotateKeyResponse
	json.Unmarshal(w.Body.Bytes(), &rot2)
	if w.Code != 201 || !rot2.Old.Expires.Equal(e.clock.Now().Add(defaultRotateGrace)) {
		t.Errorf("rotate without a grace = %d, old expires %v; want in %v", w.Code, rot2.Old.Expires, defaultRotateGrace)
	}
	selfTok, self := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Scopes: []string{"keys"}})
	w = e.do(req{method: "POST", path: "/api/v1/keys/" + self.ID + "/rotate", key: selfTok, body: `{"grace":"0s"}`})
	var rot3 rotateKeyResponse
	json.Unmarshal(w.Body.Bytes(), &rot3)
	if w.Code != 201 || me(selfTok) != 401 || me(rot3.Token) != 200 {
		t.Errorf("a key rotating itself with grace 0s = %d; old %d, new %d; want 201, 401, 200", w.Code, me(selfTok), me(rot3.Token))
	}
	for _, g := range []string{"-1m", "169h", "soon"} {
		if w := e.do(req{method: "POST", path: "/api/v1/keys/" + rot2.Key.ID + "/rotate", key: a.keys[bulwark.RoleAdmin], body: `{"grace":"` + g + `"}`}); w.Code != 400 {
			t.Errorf("grace %q = %d, want 400", g, w.Code)
		}
	}
}

// TestKeyRotationCannotEscalate: a rotation gives no more than creating
// a key would: not a key above the caller, not more scopes than the
// caller's, not a later expiry than the caller's, and not another
// tenant's key.
func TestKeyRotationCannotEscalate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	scopedTok, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Scopes: []string{"keys"}})
	expiringTok, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Expires: e.clock.Now().Add(time.Hour)})
	_, unscoped := e.issue(a.id, KeySpec{Role: bulwark.RoleMember})
	rotate := func(caller, id, body string) int {
		return e.do(req{method: "POST", path: "/api/v1/keys/" + id + "/rotate", key: caller, body: body}).Code
	}
	for _, c := range []struct {
		name, caller, id, body string
		want                   int
	}{
		{"admin rotating the owner's key", a.keys[bulwark.RoleAdmin], a.keyIDs[bulwark.RoleOwner], "", 403},
		{"scoped key rotating an unscoped key", scopedTok, unscoped.ID, "", 403},
		{"expiring key rotating a key that never expires", expiringTok, unscoped.ID, "", 403},
		{"expiring key, new key outliving it", expiringTok, unscoped.ID, `{"expires_in":"2h"}`, 403},
		{"B's owner rotating A's key", b.keys[bulwark.RoleOwner], unscoped.ID, "", 404},
		{"A's member", a.keys[bulwark.RoleMember], unscoped.ID, "", 403},
		{"expiring key, new key within its life", expiringTok, unscoped.ID, `{"expires_in":"30m"}`, 201},
	} {
		if got := rotate(c.caller, c.id, c.body); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
	// Refused rotations changed nothing: the owner's key still works.
	if w := e.do(req{method: "GET", path: "/api/v1/me", key: a.keys[bulwark.RoleOwner]}); w.Code != 200 {
		t.Errorf("the owner's key after refused rotations = %d", w.Code)
	}
	if n := len(e.audited("key.rotate_refused")); n == 0 {
		t.Error("refused rotations are not audited")
	}
}

// TestStaleKeys: keys older than the tenant's key_max_age_days are
// flagged in the list; 0 flags none. (The store dates keys by the real
// clock, the server reads the test clock, years later: every key is
// older than 30 days and younger than 3650.)
func TestStaleKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	list := func() keysResponse {
		w := e.do(req{method: "GET", path: "/api/v1/keys", key: a.keys[bulwark.RoleAdmin]})
		var kr keysResponse
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &kr) != nil {
			t.Fatalf("GET /keys = %d %s", w.Code, w.Body)
		}
		return kr
	}
	for _, c := range []struct {
		days  string
		stale bool
	}{{"", false}, {"3650", false}, {"30", true}, {"0", false}} {
		if c.days != "" {
			if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"key_max_age_days":` + c.days + `}`}); w.Code != 200 {
				t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
			}
		}
		for _, k := range list().Keys {
			if k.Stale != c.stale {
				t.Errorf("key_max_age_days %q: key %s stale = %v, want %v", c.days, k.Name, k.Stale, c.stale)
			}
		}
	}
	for _, bad := range []string{"-1", "3651"} {
		if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"key_max_age_days":` + bad + `}`}); w.Code != 400 {
			t.Errorf("key_max_age_days %s = %d, want 400", bad, w.Code)
		}
	}
}

var staleCases = []struct {
	age  time.Duration
	days int
	want bool
}{
	{29 * 24 * time.Hour, 30, false},
	{30 * 24 * time.Hour, 30, false},
	{30*24*time.Hour + time.Second, 30, true},
	{1000 * 24 * time.Hour, 0, false},
}

func TestStaleKey(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range staleCases {
		if got := StaleKey(bulwark.APIKey{Created: now.Add(-c.age)}, c.days, now); got != c.want {
			t.Errorf("StaleKey(age %v, max %d days) = %v, want %v", c.age, c.days, got, c.want)
		}
	}
}

// TestKeysMadeByARotatedKeyEndWithIt: a key made by a key expires no
// later than it, and a rotation makes the old key expire: the keys it
// made must stop when it does, and until then may hand on no later
// expiry, not outlive it detached from both the old key and the new.
func TestKeysMadeByARotatedKeyEndWithIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	parentTok, parent := e.issue(a.id, KeySpec{Name: "ci", Role: bulwark.RoleAdmin})
	w := e.do(req{method: "POST", path: "/api/v1/keys", key: parentTok, body: `{"name":"job","role":"admin"}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("create a key with the key = %d %s", w.Code, w.Body)
	}
	child := decode[createKeyResponse](t, w)
	if w := e.do(req{method: "POST", path: "/api/v1/keys/" + parent.ID + "/rotate", key: a.keys[bulwark.RoleOwner], body: `{"grace":"10m"}`}); w.Code != http.StatusCreated {
		t.Fatalf("rotate = %d %s", w.Code, w.Body)
	}
	// The keys list shows the made key's expiry as its chain gives it.
	var list keysResponse
	if w := e.do(req{method: "GET", path: "/api/v1/keys", key: a.keys[bulwark.RoleOwner]}); w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &list) != nil {
		t.Fatalf("list keys = %d %s", w.Code, w.Body)
	}
	for _, k := range list.Keys {
		if k.ID == child.Key.ID && !k.Expires.Equal(e.clock.Now().Add(10*time.Minute)) {
			t.Errorf("the made key is listed expiring %v, want its maker's %v", k.Expires, e.clock.Now().Add(10*time.Minute))
		}
	}
	me := func(tok string) int { return e.do(req{method: "GET", path: "/api/v1/me", key: tok}).Code }
	if got := me(child.Token); got != 200 {
		t.Errorf("the made key during the grace period = %d, want 200", got)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/keys", key: child.Token, body: `{"name":"grandchild","role":"member"}`}); w.Code != http.StatusForbidden {
		t.Errorf("the made key making a key that never expires, during the grace period = %d, want 403", w.Code)
	}
	e.clock.Advance(10 * time.Minute)
	if got := me(parentTok); got != 401 {
		t.Errorf("the old key after the grace period = %d, want 401", got)
	}
	if got := me(child.Token); got != 401 {
		t.Errorf("the key it made, after the grace period = %d, want 401", got)
	}
}

// TestRotationDoesNotHandOnAnotherUsersRights: a key carries the rights
// of the user who made it (their private memories, the tasks they own).
// Another user may revoke it, but a rotation would give them a key acting
// as that user: only the user whose rights it carries rotates it.
func TestRotationDoesNotHandOnAnotherUsersRights(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	bob := e.user(a.id, "bob@a.test", bulwark.RoleAdmin)
	bobCookie := e.login(bob.Email)
	origin := map[string]string{"Origin": "https://bulwark.test"}
	w := e.do(req{method: "POST", path: "/api/v1/keys", cookie: bobCookie, header: origin, body: `{"name":"bob's","role":"admin"}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("bob's key = %d %s", w.Code, w.Body)
	}
	bobKey := decode[createKeyResponse](t, w)
	if w := e.do(req{method: "POST", path: "/api/v1/memories", key: bobKey.Token, body: `{"text":"bob's private note"}`}); w.Code != http.StatusCreated {
		t.Fatalf("bob's memory = %d %s", w.Code, w.Body)
	}
	aliceCookie := e.login(a.users[bulwark.RoleAdmin].Email)
	for _, c := range []struct {
		name string
		r    req
	}{
		{"another admin's session", req{cookie: aliceCookie, header: origin}},
		{"the owner's key", req{key: a.keys[bulwark.RoleOwner]}},
	} {
		rq := c.r
		rq.method, rq.path, rq.body = "POST", "/api/v1/keys/"+bobKey.Key.ID+"/rotate", `{"grace":"1h"}`
		w := e.do(rq)
		if w.Code == http.StatusCreated {
			rot := decode[rotateKeyResponse](t, w)
			mem := e.do(req{method: "GET", path: "/api/v1/memories", key: rot.Token})
			t.Errorf("%s rotated bob's key (memories with the new key: %s), want 403", c.name, mem.Body)
			continue
		}
		if w.Code != http.StatusForbidden {
			t.Errorf("%s rotating bob's key = %d %s, want 403", c.name, w.Code, w.Body)
		}
	}
	// Bob rotates his own; anyone above may still revoke it.
	w = e.do(req{method: "POST", path: "/api/v1/keys/" + bobKey.Key.ID + "/rotate", cookie: bobCookie, header: origin})
	if w.Code != http.StatusCreated {
		t.Fatalf("bob rotating his own key = %d %s", w.Code, w.Body)
	}
	rot := decode[rotateKeyResponse](t, w)
	if w := e.do(req{method: "DELETE", path: "/api/v1/keys/" + rot.Key.ID, cookie: aliceCookie, header: origin}); w.Code != http.StatusNoContent {
		t.Errorf("another admin revoking bob's key = %d %s, want 204", w.Code, w.Body)
	}
}

// TestRotatedKeyEndsWithItsHolder: the new secret of a rotation is handed
// to the caller, so the new key is bound to the caller as a key the caller
// made is: a user who rotates a key that carried no user's rights (one
// the operator's chain made) holds a key that is capped by their role and
// ends with their removal. It outlived them (a red team: a deleted owner
// kept admin rights through a key rotated the day before). A key that
// rotates one keeps it carrying no user's rights.
func TestRotatedKeyEndsWithItsHolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	origin := map[string]string{"Origin": "https://bulwark.test"}
	leaver := e.user(a.id, "leaver@a.test", bulwark.RoleOwner)
	cookie := e.login(leaver.Email)
	rotate := func(r req, id string) rotateKeyResponse {
		t.Helper()
		r.method, r.path, r.body = "POST", "/api/v1/keys/"+id+"/rotate", `{"grace":"0s"}`
		w := e.do(r)
		if w.Code != http.StatusCreated {
			t.Fatalf("rotate %s = %d %s", id, w.Code, w.Body)
		}
		return decode[rotateKeyResponse](t, w)
	}
	rot := rotate(req{cookie: cookie, header: origin}, a.keyIDs[bulwark.RoleAdmin])
	if rot.Key.CreatorUser != leaver.ID {
		t.Errorf("the rotated key carries the rights of %q, want its holder %s", rot.Key.CreatorUser, leaver.ID)
	}
	users := func(tok string) int { return e.do(req{method: "GET", path: "/api/v1/users", key: tok}).Code }
	if got := users(rot.Token); got != http.StatusOK {
		t.Fatalf("the rotated admin key = %d on GET /api/v1/users, want 200", got)
	}
	// Demoted, its holder's rotated key is a viewer's too.
	if w := e.do(req{method: "PATCH", path: "/api/v1/users/" + leaver.ID, key: a.keys[bulwark.RoleOwner], body: `{"role":"viewer"}`}); w.Code != http.StatusOK {
		t.Fatalf("demote = %d %s", w.Code, w.Body)
	}
	if got := users(rot.Token); got != http.StatusForbidden {
		t.Errorf("the key rotated by a user demoted to viewer = %d on GET /api/v1/users, want 403", got)
	}
	// Removed, its holder's rotated key is gone.
	if w := e.do(req{method: "DELETE", path: "/api/v1/users/" + leaver.ID, key: a.keys[bulwark.RoleOwner]}); w.Code != http.StatusNoContent {
		t.Fatalf("delete user = %d %s", w.Code, w.Body)
	}
	if got := e.do(req{method: "GET", path: "/api/v1/me", key: rot.Token}).Code; got != http.StatusUnauthorized {
		t.Errorf("the key the removed user rotated = %d on GET /api/v1/me, want 401", got)
	}
	// The owner's key rotating the member key: no user's rights.
	byKey := rotate(req{key: a.keys[bulwark.RoleOwner]}, a.keyIDs[bulwark.RoleMember])
	if byKey.Key.CreatorUser != "" {
		t.Errorf("a key rotated by a key without a user carries %q's rights, want none", byKey.Key.CreatorUser)
	}
}
