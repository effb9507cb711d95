package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Device cookies, as OWASP's "Slow Down Online Guessing Attacks with
// Device Cookies" describes them: a browser that has logged in to an
// account holds a cookie naming that account, a random nonce and an HMAC
// of both under the server's device key. A login attempt that brings a
// valid device cookie for the account it names is not slowed by the
// failures of other clients on that account (an attacker guessing
// elsewhere cannot lock its owner out); its own failures are counted per
// cookie nonce, and slow down that browser alone.
const (
	deviceCookie   = "__Host-bulwark_device"
	deviceLifetime = 180 * 24 * time.Hour
	deviceNonceLen = 16
)

// deviceLogin names an account in the login throttle's keys: the tenant
// named at login ("" when none was) and the email, both normalised.
func deviceLogin(tenant, email string) string {
	return strings.ToLower(strings.TrimSpace(tenant)) + "\n" + strings.ToLower(strings.TrimSpace(email))
}

// deviceAccount is what a device cookie vouches for: the one user (of one
// tenant) it was given to at login, not the email typed, which users of
// other tenants may share.
func deviceAccount(u bulwark.User) string {
	return string(u.TenantID) + "\n" + u.ID
}

func (s *Server) deviceMAC(login, nonce string) []byte {
	m := hmac.New(sha256.New, s.deviceKey)
	m.Write([]byte("bulwark device cookie v1\n" + nonce + "\n" + login))
	return m.Sum(nil)
}

// setDeviceCookie gives the browser a new device cookie for login.
func (s *Server) setDeviceCookie(w http.ResponseWriter, login string) {
	b := make([]byte, deviceNonceLen)
	rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	b64 := base64.RawURLEncoding
	v := b64.EncodeToString([]byte(login)) + "." + nonce + "." + b64.EncodeToString(s.deviceMAC(login, nonce))
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: v, Path: "/", MaxAge: int(deviceLifetime / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// deviceNonce returns the nonce of the request's device cookie when the
// cookie is valid for login, or "".
func (s *Server) deviceNonce(r *http.Request, login string) string {
	c, err := r.Cookie(deviceCookie)
	if err != nil || len(c.Value) > 1024 {
		return ""
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return ""
	}
	b64 := base64.RawURLEncoding
	name, err1 := b64.DecodeString(parts[0])
	mac, err2 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(parts[1]) != b64.EncodedLen(deviceNonceLen) {
		return ""
	}
	if !hmac.Equal(mac, s.deviceMAC(string(name), parts[1])) || string(name) != login {
		return ""
	}
	return parts[1]
}
