package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// cookieHeaders make a cookie request look as a browser's same-origin
// request does.
var cookieHeaders = map[string]string{"Origin": "https://bulwark.test", "Sec-Fetch-Site": "same-origin"}

// mintKey makes a key through the API and returns its token and record.
func (e *env) mintKey(rq req) (string, bulwark.APIKey, *httptest.ResponseRecorder) {
	e.t.Helper()
	rq.method, rq.path = "POST", "/api/v1/keys"
	if rq.cookie != "" {
		rq.header = cookieHeaders
	}
	w := e.do(rq)
	var resp createKeyResponse
	if w.Code == http.StatusCreated {
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			e.t.Fatal(err)
		}
	}
	return resp.Token, resp.Key, w
}

// issue makes a key of tenant t directly in the store.
func (e *env) issue(t bulwark.TenantID, spec KeySpec) (string, bulwark.APIKey) {
	e.t.Helper()
	if spec.Name == "" {
		spec.Name = "test key"
	}
	if spec.CreatedBy == "" {
		spec.CreatedBy = "test"
	}
	tok, k, err := IssueKey(context.Background(), e.db, t, spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, k
}

// A key with scopes ["keys"] that expires in an hour makes only keys
// within those scopes and that hour.
var keyDelegationCases = []struct {
	name string
	body string
	want int
}{
	{"unscoped, no expiry", `{"name":"k","role":"admin"}`, http.StatusForbidden},
	{"unscoped, 30m", `{"name":"k","role":"admin","expires_in":"30m"}`, http.StatusForbidden},
	{"its scopes, no expiry", `{"name":"k","role":"admin","scopes":["keys"]}`, http.StatusForbidden},
	{"its scopes, 2h", `{"name":"k","role":"admin","scopes":["keys"],"expires_in":"2h"}`, http.StatusForbidden},
	{"another scope, 30m", `{"name":"k","role":"admin","scopes":["keys","secrets"],"expires_in":"30m"}`, http.StatusForbidden},
	{"a higher role", `{"name":"k","role":"owner","scopes":["keys"],"expires_in":"30m"}`, http.StatusForbidden},
	{"its scopes, 30m", `{"name":"k","role":"admin","scopes":["keys"],"expires_in":"30m"}`, http.StatusCreated},
	{"its scopes, 30m, lower role", `{"name":"k","role":"viewer","scopes":["keys"],"expires_in":"30m"}`, http.StatusCreated},
}

func TestKeyDelegationNeverWidens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	limited, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Scopes: []string{"keys"}, Expires: e.clock.Now().Add(time.Hour)})
	for _, c := range keyDelegationCases {
		tok, k, w := e.mintKey(req{key: limited, body: c.body})
		if w.Code != c.want {
			t.Errorf("%s: POST /api/v1/keys %s with a [keys] 1h key = %d %s, want %d", c.name, c.body, w.Code, w.Body, c.want)
			continue
		}
		if w.Code != http.StatusCreated {
			continue
		}
		if len(k.Scopes) != 1 || k.Scopes[0] != "keys" || k.Expires.IsZero() || k.Expires.After(e.clock.Now().Add(time.Hour)) {
			t.Errorf("%s: the new key is %+v", c.name, k)
		}
		if w := e.do(req{method: "GET", path: "/api/v1/secrets", key: tok}); w.Code != http.StatusForbidden {
			t.Errorf("%s: the new key reads secrets: %d", c.name, w.Code)
		}
	}
	// An hour later the limited key has expired, and so have its keys.
	e.clock.Advance(time.Hour)
	if w := e.do(req{method: "GET", path: "/api/v1/keys", key: limited}); w.Code != http.StatusUnauthorized {
		t.Errorf("the limited key after its hour = %d, want 401", w.Code)
	}
}

// A key or session gives a user at most its own role, and only when its
// scopes cover what the role reaches and it does not expire.
var userDelegationCases = []struct {
	name    string
	role    bulwark.Role
	scopes  []string
	expires bool
	give    string
	want    int
}{
	{"[users] key, admin user", bulwark.RoleAdmin, []string{"users"}, false, "admin", http.StatusForbidden},
	{"[users] key, viewer user", bulwark.RoleAdmin, []string{"users"}, false, "viewer", http.StatusForbidden},
	{"[users,tasks,settings] key, member", bulwark.RoleAdmin, []string{"users", "tasks", "settings"}, false, "member", http.StatusCreated},
	{"[users,tasks,settings] key, admin", bulwark.RoleAdmin, []string{"users", "tasks", "settings"}, false, "admin", http.StatusForbidden},
	{"expiring unscoped key, member", bulwark.RoleAdmin, nil, true, "member", http.StatusForbidden},
	{"unscoped admin key, admin", bulwark.RoleAdmin, nil, false, "admin", http.StatusCreated},
	{"unscoped admin key, owner", bulwark.RoleAdmin, nil, false, "owner", http.StatusForbidden},
}

func TestUserDelegationNeverWidens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	for i, c := range userDelegationCases {
		spec := KeySpec{Role: c.role, Scopes: c.scopes}
		if c.expires {
			spec.Expires = e.clock.Now().Add(time.Hour)
		}
		key, _ := e.issue(a.id, spec)
		email := "new" + string(rune('a'+i)) + "@a.test"
		w := e.do(req{method: "POST", path: "/api/v1/users", key: key,
			body: `{"email":"` + email + `","role":"` + c.give + `","password":"` + testPassword + `"}`})
		if w.Code != c.want {
			t.Errorf("%s: create a %s = %d %s, want %d", c.name, c.give, w.Code, w.Body, c.want)
		}
		// Raising a user is giving a role too.
		if c.give == "viewer" {
			continue
		}
		viewer := e.user(a.id, "raise"+string(rune('a'+i))+"@a.test", bulwark.RoleViewer)
		w = e.do(req{method: "PATCH", path: "/api/v1/users/" + viewer.ID, key: key, body: `{"role":"` + c.give + `"}`})
		if want := c.want; (want == http.StatusCreated) != (w.Code == http.StatusOK) {
			t.Errorf("%s: raise a viewer to %s = %d %s, want %d", c.name, c.give, w.Code, w.Body, want)
		}
	}
}

// TestOwnerProtected: an admin cannot revoke an owner's keys, nor demote
// or delete an owner; an owner can.
func TestOwnerProtected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	owner := a.users[bulwark.RoleOwner]
	_, ownersKey := e.issue(a.id, KeySpec{Role: bulwark.RoleMember, CreatorUser: owner.ID})
	_, madeByOwnerKey := e.issue(a.id, KeySpec{Role: bulwark.RoleMember, CreatorKey: a.keyIDs[bulwark.RoleOwner]})
	admin := a.keys[bulwark.RoleAdmin]
	refused := []req{
		{method: "DELETE", path: "/api/v1/keys/" + ownersKey.ID},                // a key of the owner user
		{method: "DELETE", path: "/api/v1/keys/" + madeByOwnerKey.ID},           // a key made by an owner key
		{method: "DELETE", path: "/api/v1/keys/" + a.keyIDs[bulwark.RoleOwner]}, // the tenant's first owner key
		{method: "PATCH", path: "/api/v1/users/" + owner.ID, body: `{"role":"member"}`},
		{method: "DELETE", path: "/api/v1/users/" + owner.ID},
	}
	for _, rq := range refused {
		rq.key = admin
		if w := e.do(rq); w.Code != http.StatusForbidden {
			t.Errorf("%s %s as an admin = %d %s, want 403", rq.method, rq.path, w.Code, w.Body)
		}
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", key: a.keys[bulwark.RoleOwner]}); w.Code != http.StatusOK {
		t.Errorf("the owner's key after the admin's attempts = %d", w.Code)
	}
	if got := e.audited("key.revoke_refused"); len(got) != 1 {
		t.Errorf("key.revoke_refused records = %d, want 1 (sampled)", len(got))
	}
	// An admin still manages what is below or beside them.
	if w := e.do(req{method: "DELETE", path: "/api/v1/keys/" + a.keyIDs[bulwark.RoleMember], key: admin}); w.Code != http.StatusNoContent {
		t.Errorf("an admin revoking a member key = %d %s", w.Code, w.Body)
	}
	// The owner may do all of it.
	for _, rq := range refused[:3] {
		rq.key = a.keys[bulwark.RoleOwner]
		if w := e.do(rq); w.Code != http.StatusNoContent {
			t.Errorf("%s %s as the owner = %d %s, want 204", rq.method, rq.path, w.Code, w.Body)
		}
	}
}

// TestDemotionBoundsKeys: a key's rights follow its user's current role;
// deleting the user ends the user's keys (and keys they made) and
// sessions.
func TestDemotionBoundsKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	u := e.user(a.id, "dana@a.test", bulwark.RoleAdmin)
	cookie := e.login(u.Email)
	tok, k, w := e.mintKey(req{cookie: cookie, body: `{"name":"dana's key","role":"admin"}`})
	if w.Code != http.StatusCreated || k.CreatorUser != u.ID {
		t.Fatalf("dana mints a key: %d %s", w.Code, w.Body)
	}
	child, ck, w := e.mintKey(req{key: tok, body: `{"name":"made by dana's key","role":"admin"}`})
	if w.Code != http.StatusCreated || ck.CreatorUser != u.ID {
		t.Fatalf("dana's key mints a key: %d %s", w.Code, w.Body)
	}
	for _, key := range []string{tok, child} {
		if w := e.do(req{method: "GET", path: "/api/v1/secrets", key: key}); w.Code != http.StatusOK {
			t.Fatalf("dana's admin key reads secrets: %d %s", w.Code, w.Body)
		}
	}
	owner := a.keys[bulwark.RoleOwner]
	if w := e.do(req{method: "PATCH", path: "/api/v1/users/" + u.ID, key: owner, body: `{"role":"member"}`}); w.Code != http.StatusOK {
		t.Fatalf("demote dana: %d %s", w.Code, w.Body)
	}
	for _, key := range []string{tok, child} {
		if w := e.do(req{method: "GET", path: "/api/v1/secrets", key: key}); w.Code != http.StatusForbidden {
			t.Errorf("a key of demoted dana reads secrets: %d, want 403", w.Code)
		}
		var me meResponse
		w := e.do(req{method: "GET", path: "/api/v1/me", key: key})
		if json.Unmarshal(w.Body.Bytes(), &me); me.Role != bulwark.RoleMember {
			t.Errorf("/me of a key of demoted dana: role %q, want member", me.Role)
		}
	}
	cookie = e.login(u.Email)
	if w := e.do(req{method: "DELETE", path: "/api/v1/users/" + u.ID, key: owner}); w.Code != http.StatusNoContent {
		t.Fatalf("delete dana: %d %s", w.Code, w.Body)
	}
	for _, key := range []string{tok, child} {
		if w := e.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != http.StatusUnauthorized {
			t.Errorf("a key of deleted dana = %d, want 401", w.Code)
		}
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}); w.Code != http.StatusUnauthorized {
		t.Errorf("a session of deleted dana = %d, want 401", w.Code)
	}
	recs := e.audited("user.delete")
	if len(recs) != 1 || recs[0].Target != u.ID || recs[0].Details["keys_revoked"] != "2" || recs[0].Details["sessions_ended"] != "1" {
		t.Errorf("user.delete records = %+v", recs)
	}
}

// TestDeleteUserRules: nobody deletes a user above them; the last owner
// stays; a user may delete themselves otherwise.
func TestDeleteUserRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	owner := a.users[bulwark.RoleOwner]
	cookie := e.login(owner.Email)
	self := req{method: "DELETE", path: "/api/v1/users/" + owner.ID, cookie: cookie, header: cookieHeaders}
	if w := e.do(self); w.Code != http.StatusConflict {
		t.Errorf("the last owner deletes themselves = %d %s, want 409", w.Code, w.Body)
	}
	e.user(a.id, "second-owner@a.test", bulwark.RoleOwner)
	w := e.do(self)
	if w.Code != http.StatusNoContent || sessionFrom(t, w) != "" {
		t.Errorf("an owner of two deletes themselves = %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "DELETE", path: "/api/v1/users/" + a.users[bulwark.RoleAdmin].ID, key: a.keys[bulwark.RoleMember]}); w.Code != http.StatusForbidden {
		t.Errorf("a member deletes an admin = %d, want 403", w.Code)
	}
	if w := e.do(req{method: "DELETE", path: "/api/v1/users/u_nobody", key: a.keys[bulwark.RoleAdmin]}); w.Code != http.StatusNotFound {
		t.Errorf("delete an unknown user = %d, want 404", w.Code)
	}
}

// TestSettingsKeyNeedsSecretsScope: the model's API key is a secret; a
// key scoped to settings alone cannot set it.
func TestSettingsKeyNeedsSecretsScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	settingsOnly, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Scopes: []string{"settings"}})
	both, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Scopes: []string{"settings", "secrets"}})
	for _, c := range []struct {
		key, body string
		want      int
	}{
		{settingsOnly, `{"model":"openai:gpt-4o","api_key":"sk-a-new-provider-key"}`, http.StatusForbidden},
		{settingsOnly, `{"model":"openai:gpt-4o"}`, http.StatusOK},
		{both, `{"model":"openai:gpt-4o","api_key":"sk-a-new-provider-key"}`, http.StatusOK},
	} {
		if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: c.key, body: c.body}); w.Code != c.want {
			t.Errorf("PUT settings %s = %d %s, want %d", c.body, w.Code, w.Body, c.want)
		}
	}
}

// TestRevokeEndsMadeKeys: revoking a key revokes the keys it made, and
// theirs: a delegation never outlives the delegator.
func TestRevokeEndsMadeKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	parent, pk := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin})
	child, _, w := e.mintKey(req{key: parent, body: `{"name":"child","role":"admin"}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("mint: %d %s", w.Code, w.Body)
	}
	grandchild, gk, w := e.mintKey(req{key: child, body: `{"name":"grandchild","role":"member"}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("mint: %d %s", w.Code, w.Body)
	}
	if gk.CreatorKey == "" {
		t.Errorf("the grandchild does not name the key that made it: %+v", gk)
	}
	if w := e.do(req{method: "DELETE", path: "/api/v1/keys/" + pk.ID, key: a.keys[bulwark.RoleOwner]}); w.Code != http.StatusNoContent {
		t.Fatalf("revoke the parent: %d %s", w.Code, w.Body)
	}
	for name, key := range map[string]string{"parent": parent, "child": child, "grandchild": grandchild} {
		if w := e.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != http.StatusUnauthorized {
			t.Errorf("the %s after revoking the parent = %d, want 401", name, w.Code)
		}
	}
}
