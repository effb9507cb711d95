package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/totp"
)

// Two-factor login: a user turns on a second factor (TOTP, RFC 6238) in
// two steps, POST /api/v1/me/totp (a pending secret, shown once) and
// POST /api/v1/me/totp/confirm with a code of it (the factor is on, and
// recovery codes are shown once). Login then needs a code, or a recovery
// code; each works once (the last accepted time step is in the store, so
// a code replayed on another node is refused too). See login for what a
// login without a code is told.

// Error codes of the second factor, for API clients.
const (
	// codeSecondFactorRequired: a login without "code" failed. It is the
	// answer whether the password was right or not, and whether the user
	// has a second factor or not: only a login that succeeds tells.
	codeSecondFactorRequired = "second_factor_required"
	// codeEnrolSecondFactor: the tenant requires a second factor and the
	// session's user has none yet; only enrolment is open.
	codeEnrolSecondFactor = "second_factor_enrolment_required"
	// codeBadSecondFactor: a wrong code to turn the second factor off.
	codeBadSecondFactor = "bad_second_factor"
)

const msgSecondFactorRequired = "log in with the code of your authenticator app (or a recovery code) as \"code\", " +
	"if your account has a second factor; if it has none, the email or the password is wrong " +
	"(if your email is in several tenants, name the tenant too)"

const msgBadLoginCode = "the email, the password or the code is wrong (if your email is in several tenants, name the tenant too)"

const msgEnrolSecondFactor = "your tenant requires a second factor: turn one on first (POST /api/v1/me/totp, then /api/v1/me/totp/confirm; in the UI, Account)"

// recoveryCodeCount is how many recovery codes a user gets.
const recoveryCodeCount = 10

// recoveryEncoding is made on first use, not by the package's init, which
// every command runs.
var recoveryEncoding = lazy.Value[*base32.Encoding]{New: func() *base32.Encoding { return base32.StdEncoding.WithPadding(base32.NoPadding) }}

// newRecoveryCode returns a recovery code: 80 random bits as 16 base32
// letters and digits in groups of four, "abcd-efgh-ijkl-mnop".
func newRecoveryCode() string {
	var b [10]byte
	rand.Read(b[:])
	s := strings.ToLower(recoveryEncoding.Get().EncodeToString(b[:]))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// recoveryHash is how a recovery code is stored: its SHA-256 (80 random
// bits need no slow hash), bound to the user, so that a hash copied to
// another user's row is not that user's code.
func recoveryHash(userID, code string) []byte {
	h := sha256.Sum256([]byte("bulwark recovery code\x00" + userID + "\x00" + code))
	return h[:]
}

// normalizeCode reads what a person typed as a code: spaces and dashes
// dropped, lower case. A TOTP code is six digits; anything else is tried
// as a recovery code.
func normalizeCode(code string) (norm string, isTOTP bool) {
	norm = strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code)))
	if len(norm) == totp.Digits && strings.Trim(norm, "0123456789") == "" {
		return norm, true
	}
	if len(norm) == 16 {
		norm = norm[0:4] + "-" + norm[4:8] + "-" + norm[8:12] + "-" + norm[12:16]
	}
	return norm, false
}

// useSecondFactor checks code against f, the second factor of user u,
// and uses it up: a TOTP code within a step of now whose step is later
// than the last accepted, or a recovery code not used yet. It returns
// how the user passed ("totp" or "recovery_code"), or "" when the code
// does not pass.
func (s *Server) useSecondFactor(ctx context.Context, u bulwark.User, f bulwark.TOTP, code string) (string, error) {
	norm, isTOTP := normalizeCode(code)
	if norm == "" || len(norm) > 64 {
		return "", nil
	}
	if isTOTP {
		step, ok := totp.Match(f.Secret, norm, s.now())
		if !ok {
			return "", nil
		}
		fresh, err := s.store.UseTOTPStep(ctx, u.TenantID, u.ID, step)
		if err != nil || !fresh {
			return "", err
		}
		return "totp", nil
	}
	ok, err := s.store.UseRecoveryCode(ctx, u.TenantID, u.ID, recoveryHash(u.ID, norm))
	if err != nil || !ok {
		return "", err
	}
	return "recovery_code", nil
}

// secondFactors reads the second factors that are on of the users a
// login may log in as, by user id. It reads them all, whether the
// password matches or not, so that the work of a login does not say.
func (s *Server) secondFactors(ctx context.Context, users []bulwark.User) (map[string]bulwark.TOTP, error) {
	on := map[string]bulwark.TOTP{}
	for _, u := range users {
		f, err := s.store.TOTP(ctx, u.TenantID, u.ID)
		if bulwark.ErrorKind(err) == bulwark.NotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		if f.Enabled {
			on[u.ID] = f
		}
	}
	return on, nil
}

// mustEnrol reports whether the user u must turn on a second factor
// before anything else: the tenant requires one and u's is not on.
func (s *Server) mustEnrol(ctx context.Context, u bulwark.User) (bool, error) {
	st, err := s.store.Settings(ctx, u.TenantID)
	if err != nil || !st.RequireTwoFactor {
		return false, err
	}
	f, err := s.store.TOTP(ctx, u.TenantID, u.ID)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return !f.Enabled, nil
}

type beginTOTPResponse struct {
	Secret     string `json:"secret"`      // base32, for typing into an app
	OTPAuthURL string `json:"otpauth_url"` // for a QR code (GET /api/v1/me/totp/qr draws it)
}

type beginTOTPRequest struct {
	// Password is the user's password: a stolen session alone must not
	// add a second factor that would lock the user out.
	Password string `json:"password"`
}

// beginTOTP makes a new pending second factor for the session's user and
// shows its secret, this once. A pending factor is asked for nowhere
// until confirmTOTP turns it on; a new one replaces it. It needs the
// user's password.
func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request) error {
	const op = "server.beginTOTP"
	p, _ := PrincipalFrom(r.Context())
	var req beginTOTPRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.store.User(r.Context(), p.Tenant, p.UserID)
	if err != nil {
		return err
	}
	if err := s.checkOwnPassword(r, op, u, req.Password); err != nil {
		return err
	}
	t, err := s.store.Tenant(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	secret := totp.NewSecret()
	if err := s.store.PutPendingTOTP(r.Context(), p.Tenant, p.UserID, secret); err != nil {
		if bulwark.ErrorKind(err) == bulwark.Conflict {
			return bulwark.Errorf(bulwark.Conflict, op, "your second factor is already on: to change it, turn it off first (DELETE /api/v1/me/totp with a code)")
		}
		return err
	}
	if err := s.audit(r, audit.Record{Action: "totp.enrol_start", Target: p.UserID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, beginTOTPResponse{Secret: totp.EncodeSecret(secret), OTPAuthURL: totpURL(t, u, secret)})
	return nil
}

// totpURL is the otpauth URL of a user's secret: issuer Bulwark, the
// account named by email and tenant (a person may be in several).
func totpURL(t bulwark.Tenant, u bulwark.User, secret []byte) string {
	return totp.URL("Bulwark", u.Email+" ("+t.Name+")", secret)
}

type codeRequest struct {
	Code string `json:"code"`
}

type confirmTOTPResponse struct {
	// RecoveryCodes each log in once in place of a code: shown this once.
	RecoveryCodes []string `json:"recovery_codes"`
}

// confirmTOTP turns the pending second factor on with a code of it, and
// returns the recovery codes. The user's other sessions end (one stolen
// before would outlive the new factor); this one is renewed.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request) error {
	const op = "server.confirmTOTP"
	p, _ := PrincipalFrom(r.Context())
	var req codeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	noPending := bulwark.Errorf(bulwark.Conflict, op, "no second factor waits to be confirmed: start with POST /api/v1/me/totp")
	f, err := s.store.TOTP(r.Context(), p.Tenant, p.UserID)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return noPending
	}
	if err != nil {
		return err
	}
	if f.Enabled {
		return noPending
	}
	norm, isTOTP := normalizeCode(req.Code)
	step, ok := totp.Match(f.Secret, norm, s.now())
	if !isTOTP || !ok {
		return bulwark.Errorf(bulwark.Invalid, op, "the code is wrong: give the 6 digits your app shows now (check that the device's clock is right)")
	}
	codes := make([]string, recoveryCodeCount)
	hashes := make([][]byte, recoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = recoveryHash(p.UserID, codes[i])
	}
	if err := s.store.EnableTOTP(r.Context(), p.Tenant, p.UserID, step, hashes); err != nil {
		if bulwark.ErrorKind(err) == bulwark.Conflict {
			return noPending
		}
		return err
	}
	u, err := s.store.User(r.Context(), p.Tenant, p.UserID)
	if err != nil {
		return err
	}
	n, err := s.store.DeleteUserSessions(r.Context(), p.Tenant, p.UserID)
	if err != nil {
		return err
	}
	if _, err := s.startSession(w, r, u); err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "totp.enable", Target: p.UserID,
		Details: map[string]string{"recovery_codes": strconv.Itoa(len(codes)), "sessions_ended": strconv.Itoa(n)}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, confirmTOTPResponse{RecoveryCodes: codes})
	return nil
}

// deleteMyTOTP turns the session user's second factor off (or drops a
// pending one). A factor that is on needs a current code or a recovery
// code: a stolen session alone must not remove it. Wrong codes count
// toward the account's failed logins, and are slowed down as those are.
func (s *Server) deleteMyTOTP(w http.ResponseWriter, r *http.Request) error {
	const op = "server.deleteMyTOTP"
	p, _ := PrincipalFrom(r.Context())
	var req codeRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
	}
	ctx := r.Context()
	f, err := s.store.TOTP(ctx, p.Tenant, p.UserID)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return bulwark.Errorf(bulwark.NotFound, op, "you have no second factor")
	}
	if err != nil {
		return err
	}
	how := "pending"
	if f.Enabled {
		u, err := s.store.User(ctx, p.Tenant, p.UserID)
		if err != nil {
			return err
		}
		if req.Code == "" {
			return bulwark.Errorf(bulwark.Invalid, op, "give a current code of your authenticator app (or a recovery code) as \"code\"")
		}
		ok, err := s.guardOwnSecret(r, op, u, "too many wrong codes: wait before trying again", func() (bool, error) {
			var err error
			how, err = s.useSecondFactor(ctx, u, f, req.Code)
			return how != "", err
		})
		if err != nil {
			return err
		}
		if !ok {
			s.auditRefusal(r, audit.Record{Action: "totp.disable_refused", Target: p.UserID, Outcome: audit.OutcomeDenied,
				Details: map[string]string{"client": clientAddr(r)}})
			return withCode(bulwark.PermissionDenied, op, codeBadSecondFactor, "the code is wrong, or was used already")
		}
	}
	if err := s.store.DeleteTOTP(ctx, p.Tenant, p.UserID); err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "totp.disable", Target: p.UserID, Details: map[string]string{"with": how}}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// totpQR draws the otpauth URL of the session user's pending second
// factor as a QR code, an SVG image for the enrolment page. Once the
// factor is on, its secret is shown nowhere again: NotFound.
func (s *Server) totpQR(w http.ResponseWriter, r *http.Request) error {
	const op = "server.totpQR"
	p, _ := PrincipalFrom(r.Context())
	f, err := s.store.TOTP(r.Context(), p.Tenant, p.UserID)
	if err == nil && f.Enabled || bulwark.ErrorKind(err) == bulwark.NotFound {
		return bulwark.Errorf(bulwark.NotFound, op, "no second factor waits to be confirmed")
	}
	if err != nil {
		return err
	}
	u, err := s.store.User(r.Context(), p.Tenant, p.UserID)
	if err != nil {
		return err
	}
	t, err := s.store.Tenant(r.Context(), p.Tenant)
	if err != nil {
		return err
	}
	svg, err := qrSVG(totpURL(t, u, f.Secret))
	if err != nil {
		return bulwark.E(bulwark.Internal, op, "", err)
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(svg)
	return nil
}

// resetUserTOTP removes a user's second factor, for a user who lost it:
// the user logs in with the password alone (or must enrol again, where
// the tenant requires a factor). The user's sessions end. Nobody resets
// the factor of a user above them, nor their own (DELETE /api/v1/me/totp,
// with a code, does that: else a stolen session or key could remove it).
func (s *Server) resetUserTOTP(w http.ResponseWriter, r *http.Request) error {
	const op = "server.resetUserTOTP"
	p, _ := PrincipalFrom(r.Context())
	ctx := r.Context()
	p, err := s.currentRights(ctx, p)
	if err != nil {
		return err
	}
	target, err := s.store.User(ctx, p.Tenant, r.PathValue("id"))
	if err != nil {
		return err
	}
	if target.ID == p.RightsUser() {
		return bulwark.Errorf(bulwark.PermissionDenied, op, "to turn off your own second factor, use DELETE /api/v1/me/totp with a code")
	}
	if !p.Role.AtLeast(target.Role) {
		return s.refuse(r, p, metrics.ForbiddenRoute, "totp.reset_refused",
			bulwark.Errorf(bulwark.PermissionDenied, op, "you cannot reset the second factor of a user above you"))
	}
	if err := s.store.DeleteTOTP(ctx, p.Tenant, target.ID); err != nil {
		if bulwark.ErrorKind(err) == bulwark.NotFound {
			return bulwark.Errorf(bulwark.NotFound, op, "the user has no second factor")
		}
		return err
	}
	n, err := s.store.DeleteUserSessions(ctx, p.Tenant, target.ID)
	if err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "totp.reset", Target: target.ID, Details: map[string]string{"sessions_ended": strconv.Itoa(n)}}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkOwnPassword checks the password of u, the session's user, before a
// change a stolen session alone must not make. Wrong passwords count
// toward the account's failed logins, and are slowed down as those are
// (guardOwnSecret).
func (s *Server) checkOwnPassword(r *http.Request, op string, u bulwark.User, password string) error {
	if password == "" || len(password) > maxLoginPasswordBytes {
		return bulwark.Errorf(bulwark.Invalid, op, "give your password as \"password\"")
	}
	ok, err := s.guardOwnSecret(r, op, u, "too many failed attempts: wait before trying again", func() (bool, error) {
		_, hash, err := s.store.TenantUserByEmail(r.Context(), u.TenantID, u.Email)
		if err != nil {
			return false, err
		}
		ok, _, _ := s.checkHash(hash, password, s.cfg.Password)
		return ok, nil
	})
	if err != nil {
		return err
	}
	if !ok {
		s.auditRefusal(r, audit.Record{Action: "totp.password_refused", Target: u.ID, Outcome: audit.OutcomeDenied,
			Details: map[string]string{"client": clientAddr(r)}})
		return bulwark.Errorf(bulwark.PermissionDenied, op, "the password is wrong")
	}
	return nil
}

// guardOwnSecret runs check, a check of a secret of u (its password, a
// code of its second factor) made through u's session, as a login's
// check is made: one at a time for the email (the login's lock), not at
// all while the wait of the email's key or of u's own key is not served
// (429, with wait), and a failure charged to both. u's own key is the
// one a login charges with every failed check of u's password and codes,
// and that no other user's good login forgets: the email's key alone
// was wiped by a good login of an attacker's own user of the same email
// in another tenant, and guesses through a stolen session went on.
func (s *Server) guardOwnSecret(r *http.Request, op string, u bulwark.User, waitMsg string, check func() (bool, error)) (bool, error) {
	ctx := r.Context()
	acct := "acct|" + deviceLogin("", u.Email)
	unlock, err := s.loginLock(r, acct)
	if err != nil {
		return false, err
	}
	defer unlock()
	keys := []string{acct, "user|" + deviceAccount(u)}
	var wait time.Duration
	for _, k := range keys {
		d, err := s.throttle.Wait(ctx, k)
		if err != nil {
			return false, bulwark.E(bulwark.Unavailable, op, msgThrottleDown, err)
		}
		wait = max(wait, d)
	}
	if wait > 0 {
		return false, rateLimited(op, waitMsg, wait)
	}
	ok, err := check()
	if err != nil || ok {
		return ok, err
	}
	for _, k := range keys {
		if err := s.throttle.Fail(ctx, k, accountPolicy); err != nil {
			return false, bulwark.E(bulwark.Unavailable, op, msgThrottleDown, err)
		}
	}
	return false, nil
}
