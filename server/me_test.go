package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestMeDescribesTheCaller: GET /api/v1/me says when the session ends and
// which key is used (its name and prefix, when it was made), never a
// zero time or empty fields for what the server knows.
func TestMeDescribesTheCaller(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	w := e.do(req{method: "GET", path: "/api/v1/me", cookie: e.login(a.users[bulwark.RoleOwner].Email)})
	var me meResponse
	if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil || w.Code != 200 {
		t.Fatalf("GET /me by session = %d %s", w.Code, w.Body)
	}
	if me.Session == nil || me.Session.Expires.IsZero() || !me.Session.Expires.After(e.clock.Now()) {
		t.Errorf("session in /me = %+v, want its expiry", me.Session)
	}
	w = e.do(req{method: "GET", path: "/api/v1/me", key: a.keys[bulwark.RoleAdmin]})
	me = meResponse{}
	if err := json.Unmarshal(w.Body.Bytes(), &me); err != nil || w.Code != 200 || me.Key == nil {
		t.Fatalf("GET /me by key = %d %s", w.Code, w.Body)
	}
	if k := me.Key; k.ID != a.keyIDs[bulwark.RoleAdmin] || k.Prefix == "" || k.Name == "" || k.Created.IsZero() || k.Role != bulwark.RoleAdmin {
		t.Errorf("key in /me = %+v, want the stored key (name, prefix, created)", k)
	}
}

// TestLoginWithoutOriginSaysWhatToDo: curl posting to /api/v1/login sends
// no Origin; the refusal is not "cross-origin" (it is not) but says what a
// script sends instead, and reads whole (not masked as a secret).
func TestLoginWithoutOriginSaysWhatToDo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(a.users[bulwark.RoleOwner].Email, testPassword),
		header: map[string]string{"Sec-Fetch-Site": "-"}})
	msg := errorOf(t, w).Message
	if w.Code != 403 || !strings.Contains(msg, "no Origin header") || !strings.Contains(msg, "Origin: the server's address") ||
		!strings.Contains(msg, "in the Authorization header as Bearer bwk_...") {
		t.Errorf("login without Origin = %d %q, want a 403 that says to send Origin or use a key", w.Code, msg)
	}
	w = e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(a.users[bulwark.RoleOwner].Email, testPassword),
		header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if msg := errorOf(t, w).Message; w.Code != 403 || msg != "cross-origin request refused" {
		t.Errorf("cross-site login = %d %q, want cross-origin request refused", w.Code, msg)
	}
}
