package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

func deviceFrom(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == deviceCookie {
			return c
		}
	}
	return nil
}

// TestDeviceCookieBeatsLockout: failures from an attacker slow the
// account down for everyone without its device cookie, but not for the
// browser that logged in before; that browser's own failures slow it
// alone; a forged or another account's device cookie is worth nothing.
func TestDeviceCookieBeatsLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleOwner].Email
	login := func(pw, remote, device string) *httptest.ResponseRecorder {
		rq := req{method: "POST", path: "/api/v1/login", body: loginBody(email, pw), remote: remote}
		if device != "" {
			rq.header = map[string]string{"Cookie": deviceCookie + "=" + device, "Sec-Fetch-Site": "same-origin"}
		}
		return e.do(rq)
	}
	w := login(testPassword, "192.0.2.50:1", "")
	dev := deviceFrom(t, w)
	if w.Code != 200 || dev == nil {
		t.Fatalf("first login = %d, device cookie %v; want 200 and a device cookie", w.Code, dev)
	}
	if !dev.Secure || !dev.HttpOnly || dev.SameSite != http.SameSiteStrictMode || dev.Path != "/" || dev.Domain != "" || !strings.HasPrefix(dev.Name, "__Host-") {
		t.Errorf("device cookie %+v: want __Host-, Secure, HttpOnly, SameSite=Strict, Path=/, no Domain", dev)
	}
	// An attacker elsewhere fails until the account is slowed down.
	for i := 0; i < 3; i++ {
		login("wrong password!", "198.51.100.9:1", "")
	}
	if w := login(testPassword, "203.0.113.1:1", ""); w.Code != http.StatusTooManyRequests {
		t.Fatalf("a new browser after the attacker's failures = %d, want 429", w.Code)
	}
	// The owner's browser is not slowed.
	if w := login(testPassword, "192.0.2.50:1", dev.Value); w.Code != 200 {
		t.Errorf("the browser with the device cookie = %d %s, want 200", w.Code, w.Body)
	} else if next := deviceFrom(t, w); next != nil {
		dev = next
	}
	// Forged cookies are not trusted: another account's, a changed MAC.
	other := deviceFrom(t, e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(a.users[bulwark.RoleViewer].Email, testPassword), remote: "192.0.2.60:1"}))
	parts := strings.Split(dev.Value, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	for name, v := range map[string]string{"another account's": other.Value, "a forged": forged, "garbage": "x.y.z"} {
		if w := login(testPassword, "192.0.2.50:1", v); w.Code != http.StatusTooManyRequests {
			t.Errorf("%s device cookie = %d, want 429 like any browser", name, w.Code)
		}
	}
	// The browser's own failures slow it down, and only it.
	for i := 0; i < 3; i++ {
		if w := login("wrong password!", "192.0.2.50:1", dev.Value); w.Code != 401 {
			t.Fatalf("own failure %d with the device cookie = %d, want 401", i, w.Code)
		}
	}
	if w := login(testPassword, "192.0.2.50:1", dev.Value); w.Code != http.StatusTooManyRequests {
		t.Errorf("after its own failures, the device = %d, want 429", w.Code)
	}
	if w := login(testPassword, "192.0.2.61:1", other.Value); w.Code != http.StatusTooManyRequests {
		// other is for another account: this one's throttle applies.
		t.Errorf("another account's cookie = %d, want 429", w.Code)
	}
}
