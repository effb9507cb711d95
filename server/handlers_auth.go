package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/limits"
	"github.com/bulwark-agents/bulwark/metrics"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Tenant is the name of the tenant to log in to; needed only when the
	// email has a user in several tenants.
	Tenant string `json:"tenant,omitempty"`
	// Code is the second factor: a code of the user's authenticator app
	// or a recovery code. Needed when the user's second factor is on;
	// ignored otherwise (so that it tells nothing).
	Code string `json:"code,omitempty"`
}

// msgBadLogin is the one answer to a wrong email, a wrong password, an
// unknown tenant, and an email that several tenants have when no tenant
// was named: which of these it was is not said.
const msgBadLogin = "the email or the password is wrong (if your email is in several tenants, name the tenant too)"

// login checks an email and password (and, if given, the tenant's name)
// and starts a session. Unknown emails and wrong passwords get the same
// answer after the same work (a hash against a dummy hash). Failures slow
// down the account named and the client's address (see throttlePolicy),
// never lock them; a browser with a device cookie for the account is
// slowed only by its own failures (device.go).
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	const op = "server.login"
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return bulwark.Errorf(bulwark.Invalid, op, "give an email and a password")
	}
	if len(req.Password) > maxLoginPasswordBytes || len(req.Email) > 254 || len(req.Tenant) > 100 || len(req.Code) > 64 {
		return bulwark.Errorf(bulwark.Invalid, op, msgBadLogin)
	}
	users, hashes, err := s.loginCandidates(r, req.Tenant, req.Email)
	if err != nil {
		return err
	}
	// Two kinds of keys count failures. The attempt's keys (the email's
	// and the client address's, or a device cookie's) say when it must
	// wait (429): they count the failures of attempts, whoever they were
	// at, so they move alike whether or not any tenant has the email. And
	// each candidate user has its own key (userKeys), counting every
	// check of its password that failed, however the attempt named the
	// tenant or did not; a candidate held back by its key is not checked,
	// and the attempt goes on as if its password did not match. That is
	// the answer a user no one can see would give, so the attacker who
	// holds the email in its own tenant learns nothing of the others,
	// and still gets no more guesses at each than its key allows.
	// With a device cookie for one of the candidates, its nonce stands
	// for that user's key and for the attempt's. With no candidate, the
	// attempt reads and counts a key of the email typed all the same
	// (no one else's), so that the store of the limits sees the same
	// work whether a user has the email or not.
	keys := []string{"acct|" + deviceLogin("", req.Email), "addr|" + clientAddr(r)}
	policies := []limits.Policy{accountPolicy, addressPolicy}
	userKeys := []string{"user|" + deviceLogin(req.Tenant, req.Email)}
	if len(users) > 0 {
		userKeys = make([]string, len(users))
	}
	for i, u := range users {
		userKeys[i] = "user|" + deviceAccount(u)
		if nonce := s.deviceNonce(r, deviceAccount(u)); nonce != "" {
			userKeys[i] = "dev|" + nonce
			keys, policies = []string{userKeys[i]}, []limits.Policy{devicePolicy}
		}
	}
	// One attempt at a time per email: the failures counted are read
	// before the password is hashed and written after, so attempts that
	// came together would each read the count before any of them wrote
	// it, and all be checked. Every attempt at the email takes this lock,
	// with a device cookie too: the users' keys it reads are shared by
	// every way of naming the tenant. Another email's attempts do not
	// wait; Config.Locks holds across nodes, and forgets a lock no one
	// holds or waits for.
	unlock, err := s.loginLock(r, "acct|"+deviceLogin("", req.Email))
	if err != nil {
		return err
	}
	defer unlock()
	var wait time.Duration
	for _, k := range keys {
		d, err := s.throttle.Wait(r.Context(), k)
		if err != nil {
			return bulwark.E(bulwark.Unavailable, op, msgThrottleDown, err)
		}
		wait = max(wait, d)
	}
	if wait > 0 {
		s.loginFailed(r, req.Email, "", "throttled")
		return rateLimited(op, "too many failed logins: wait before trying again", wait)
	}
	pad := strings.TrimSpace(req.Tenant) == ""
	open := func(i int) (bool, error) {
		d, err := s.throttle.Wait(r.Context(), userKeys[i])
		return d == 0, err
	}
	u, rehash, checked, err := s.checkLogin(r, users, hashes, req.Password, pad, open)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, op, msgThrottleDown, err)
	}
	factors, err := s.secondFactors(r.Context(), users)
	if err != nil {
		return err
	}
	failed, secondBy := "", ""
	if u.ID == "" {
		failed = "bad_credentials"
	} else if f, on := factors[u.ID]; on {
		switch secondBy, err = s.useSecondFactor(r.Context(), u, f, req.Code); {
		case err != nil:
			return err
		case strings.TrimSpace(req.Code) == "":
			failed = "second_factor_missing"
		case secondBy == "":
			failed = "bad_second_factor"
		}
	}
	if failed != "" {
		// A failure without a code is one answer, second_factor_required,
		// whatever failed: the password, or the missing code. So a login
		// without a code says neither whether the password was right nor
		// whether the account has a second factor (nor whether it
		// exists). With a code, every failure is msgBadLoginCode.
		var fail error = bulwark.Errorf(bulwark.Unauthenticated, op, msgBadLoginCode)
		if strings.TrimSpace(req.Code) == "" {
			fail = withCode(bulwark.Unauthenticated, op, codeSecondFactorRequired, msgSecondFactorRequired)
		}
		// Every candidate checked failed (a right password with no code,
		// or a wrong code, counts too); uncounted, a failure would be a
		// free guess.
		charge := map[string]limits.Policy{}
		for i, k := range keys {
			charge[k] = policies[i]
		}
		for i, k := range userKeys {
			if checked[i] {
				charge[k] = accountPolicy
			}
		}
		if err := s.settleLogin(r, charge, nil, pad); err != nil {
			s.loginFailed(r, req.Email, u.TenantID, failed)
			return bulwark.E(bulwark.Unavailable, op, msgThrottleDown, err)
		}
		s.loginFailed(r, req.Email, u.TenantID, failed)
		return fail
	}
	if rehash {
		if h, err := HashPassword(req.Password, s.cfg.Password); err == nil {
			if err := s.store.SetPasswordHash(r.Context(), u.TenantID, u.ID, h); err != nil {
				s.logger(r).Warn("cannot rehash a password", "user", u.ID, "err", err)
			}
		}
	}
	// The password was tried against the other candidates too, and
	// failed there: that is a guess at each of them. Else a user of the
	// victim's email in the attacker's own tenant would make every wrong
	// guess a success (its own), never slowed. Whether there were others
	// shows nowhere: their keys only decide whether they are checked.
	// The success forgets its own user's failures, and the attempt's but
	// the address's (one good password must not buy guesses at other
	// accounts). The email's key is the answer's throttle, not a guard:
	// each user's own key holds the guesses at it, so another tenant's
	// user with the same email, the attacker's own, wipes nothing that
	// protects the victim.
	charge, forget := map[string]limits.Policy{}, []string{}
	for i, k := range userKeys {
		if users[i].ID == u.ID && users[i].TenantID == u.TenantID {
			forget = append(forget, k)
		} else if checked[i] {
			charge[k] = accountPolicy
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "addr|") {
			forget = append(forget, k)
		}
	}
	if err := s.settleLogin(r, charge, forget, pad); err != nil {
		return bulwark.E(bulwark.Unavailable, op, msgThrottleDown, err)
	}
	sess, err := s.startSession(w, r, u)
	if err != nil {
		return err
	}
	s.setDeviceCookie(w, deviceAccount(u)) // a new nonce at each login
	r = r.WithContext(WithPrincipal(r.Context(), Principal{Tenant: u.TenantID, Role: u.Role, UserID: u.ID, SessionID: sess.ID}))
	details := map[string]string{"client": clientAddr(r), "session": sess.ID}
	if secondBy != "" {
		details["second_factor"] = secondBy
	}
	if err := s.audit(r, audit.Record{Action: "auth.login", Target: u.ID, Details: details}); err != nil {
		return err
	}
	enrol, err := s.mustEnrol(r.Context(), u)
	if err != nil {
		return err
	}
	_, u.TwoFactor = factors[u.ID]
	writeJSON(w, http.StatusOK, meResponse{Tenant: u.TenantID, Role: u.Role, User: &u, Session: &sessionView{sess.ID, sess.Created.Add(SessionMax)}, EnrolSecondFactor: enrol})
	return nil
}

// loginLock takes the lock of the throttle key key for a login (see
// login), waiting at most lockWait.
func (s *Server) loginLock(r *http.Request, key string) (func(), error) {
	ctx, cancel := context.WithTimeout(r.Context(), lockWait)
	defer cancel()
	unlock, err := s.locks.Lock(ctx, loginLock(key))
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, "server.login", msgLoginBusy, err)
	}
	return unlock, nil
}

// msgLoginBusy is the answer to a login that waited too long for the
// attempts at the same account before it.
const msgLoginBusy = "too many logins at this account at once: try again shortly"

// msgThrottleDown is the answer to a login whose failures cannot be
// counted or read (the shared store of the limits is down): refused, as
// an uncounted guess would be free.
const msgThrottleDown = "the server cannot check failed logins now: try again shortly"

// maxLoginTenants bounds how many users (of as many tenants) a login that
// names no tenant tries the password against.
const maxLoginTenants = 8

// loginCandidates returns the users an attempt may log in as, with their
// password hashes: with a tenant named, that tenant's user with the
// email; without one, the user of each tenant that has the email (at most
// maxLoginTenants).
func (s *Server) loginCandidates(r *http.Request, tenantName, email string) (users []bulwark.User, hashes []string, err error) {
	if strings.TrimSpace(tenantName) == "" {
		users, hashes, err = s.store.UsersByEmail(r.Context(), email, maxLoginTenants)
	} else {
		var t bulwark.Tenant
		t, err = s.store.TenantByName(r.Context(), strings.TrimSpace(tenantName))
		if err == nil {
			var one bulwark.User
			var hash string
			one, hash, err = s.store.TenantUserByEmail(r.Context(), t.ID, email)
			users, hashes = []bulwark.User{one}, []string{hash}
		}
	}
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return nil, nil, nil
	}
	return users, hashes, err
}

// checkLogin returns the user an attempt logs in as, among its candidate
// users (loginCandidates), and whether its password hash should be
// redone. When the attempt fails the User has no ID (and the TenantID of
// the one user it named, if it named one). A candidate is checked only
// when open says so (its failures do not hold it back): one held back is
// worked on as an unknown user is, against the dummy hashes alone, and
// checked[i] tells which were checked (with no candidate, checked[0]
// tells whether open(0) let the dummy work count). The attempt succeeds when exactly
// one candidate checked matches: so whether another tenant has
// the address never changes the answer (a tenant's admin who adds an
// address and logs in with it learns nothing), and a person in several
// tenants names the tenant only when the passwords are the same. An
// unknown tenant or email costs the same work as a wrong password: one
// check of each hash profile met (see loginwork.go).
//
// Without a tenant (pad), the attempt takes as long as the work of
// maxLoginTenants candidates, whatever the number of tenants with the
// email: what was not done is waited out, at this request's own pace per
// candidate. Otherwise a
// tenant's admin who adds an address to its tenant could time its own
// logins to learn how many other tenants have it. Waiting, not hashing,
// keeps a login from costing the server eight hashes.
//
// open is asked inside each candidate's work, so that its time (a read of
// the shared store of the limits) is waited out with the rest. An error of
// open fails the attempt (after the same work and wait).
func (s *Server) checkLogin(r *http.Request, users []bulwark.User, hashes []string, password string, pad bool, open func(i int) (bool, error)) (u bulwark.User, rehash bool, checked []bool, err error) {
	start, hashed := time.Now(), max(len(users), 1)
	checked = make([]bool, hashed)
	if pad {
		defer func() {
			if units := maxLoginTenants - hashed; units > 0 {
				s.loginPad(r.Context(), units, time.Since(start)/time.Duration(hashed))
			}
		}()
	}
	dummies, refused := s.loginWork.meet(hashes)
	for _, p := range refused {
		s.logger(r).Warn("a login checks a password hash whose costs it cannot match for unknown users: its users' logins take another time; rehash it (the user's next login does)", "profile", p)
	}
	matches := 0
	for i := range hashed {
		own := "" // the profile checked against the stored hash
		ok, oerr := open(i)
		if err == nil {
			err = oerr
		}
		checked[i] = ok && oerr == nil
		if i < len(users) && checked[i] {
			own = hashProfile(hashes[i])
			ok, re, verr := s.checkHash(hashes[i], password, s.cfg.Password)
			if verr != nil {
				s.logger(r).Error("a stored password hash cannot be read", "user", users[i].ID, "err", verr)
			}
			if ok {
				matches++
				u, rehash = users[i], re
			}
		}
		for _, d := range dummies {
			if d.profile == own {
				own = ""
				continue
			}
			s.checkHash(d.hash, password, s.cfg.Password) // the same work whatever the user's hash, or none
		}
	}
	if matches != 1 || err != nil {
		if len(users) == 1 { // a failure against one known user goes to its tenant's audit chain
			return bulwark.User{TenantID: users[0].TenantID}, false, checked, err
		}
		return bulwark.User{}, false, checked, err
	}
	return u, rehash, checked, nil
}

// settleLogin counts a failure at each key of charge, and forgets the
// failures of each key of forget. When pad (a login without a tenant),
// the failures counted at candidate users ("user|" keys) are made up to
// maxLoginTenants by waiting, for each one not counted, the time each
// write to the store of the limits took on average: so neither does
// their time tell how many tenants have the email. A failure that cannot
// be counted is an error (uncounted, it would be a free guess); one that
// cannot be forgotten is logged (the user logs in all the same, and its
// failures are forgotten FailureWindow after the last one).
func (s *Server) settleLogin(r *http.Request, charge map[string]limits.Policy, forget []string, pad bool) error {
	start, users := time.Now(), 0
	for k, p := range charge {
		if err := s.throttle.Fail(r.Context(), k, p); err != nil {
			return err
		}
		if strings.HasPrefix(k, "user|") {
			users++
		}
	}
	for _, k := range forget {
		if err := s.throttle.Reset(r.Context(), k); err != nil {
			s.logger(r).Error("cannot forget the failed logins of an account", "err", err)
		}
	}
	if ops := len(charge) + len(forget); pad && ops > 0 && users < maxLoginTenants {
		s.loginPad(r.Context(), maxLoginTenants-users, time.Since(start)/time.Duration(ops))
	}
	return nil
}

// sleepPad waits units times per, or until ctx ends.
func sleepPad(ctx context.Context, units int, per time.Duration) {
	t := time.NewTimer(time.Duration(units) * per)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// loginFailed counts and audits a failed login.
func (s *Server) loginFailed(r *http.Request, email string, tenant bulwark.TenantID, reason string) {
	s.sec.Inc(metrics.AuthFailed)
	s.auditRefusal(r, audit.Record{TenantID: string(tenant), Actor: "anonymous", Action: "auth.login_failed", Target: email,
		Outcome: audit.OutcomeDenied, Details: map[string]string{"client": clientAddr(r), "reason": reason}})
}

// logout ends the request's session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if err := s.store.DeleteSession(r.Context(), p.Tenant, p.SessionID); err != nil && bulwark.ErrorKind(err) != bulwark.NotFound {
		return err
	}
	clearSessionCookie(w)
	if err := s.audit(r, audit.Record{Action: "auth.logout", Target: p.SessionID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logoutAll ends every session of the request's user.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	n, err := s.store.DeleteUserSessions(r.Context(), p.Tenant, p.UserID)
	if err != nil {
		return err
	}
	clearSessionCookie(w)
	if err := s.audit(r, audit.Record{Action: "auth.logout_all", Target: p.UserID, Details: map[string]string{"sessions": strconv.Itoa(n)}}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meResponse struct {
	Tenant  bulwark.TenantID `json:"tenant_id"`
	Role    bulwark.Role     `json:"role"`
	User    *bulwark.User    `json:"user,omitempty"`
	Key     *bulwark.APIKey  `json:"key,omitempty"`
	Session *sessionView     `json:"session,omitempty"`
	// EnrolSecondFactor: the tenant requires a second factor and the user
	// has none on; until one is, only enrolment is open to the session.
	EnrolSecondFactor bool `json:"enrol_second_factor,omitempty"`
}

type sessionView struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"` // the absolute expiry; idle expiry comes sooner without requests
}

// me describes the caller.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	resp := meResponse{Tenant: p.Tenant, Role: p.Role}
	if p.UserID != "" {
		u, err := s.store.User(r.Context(), p.Tenant, p.UserID)
		if err != nil {
			return err
		}
		f, err := s.store.TOTP(r.Context(), p.Tenant, p.UserID)
		if err != nil && bulwark.ErrorKind(err) != bulwark.NotFound {
			return err
		}
		u.TwoFactor = err == nil && f.Enabled
		resp.User = &u
		resp.Session = &sessionView{ID: p.SessionID, Expires: p.SessionExpires}
		resp.EnrolSecondFactor = p.MustEnrol
	}
	if p.KeyID != "" {
		k, err := s.callerKey(r, p)
		if err != nil {
			return err
		}
		resp.Key = &k
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// callerKey is the stored description of the caller's API key (its name,
// prefix, creation), with the role it acts with now; an operator key,
// which no tenant lists, is described by what the principal holds.
func (s *Server) callerKey(r *http.Request, p Principal) (bulwark.APIKey, error) {
	k := bulwark.APIKey{ID: p.KeyID, TenantID: p.Tenant, Role: p.Role, Scopes: p.Scopes, Expires: p.Expires}
	if p.Tenant == "" {
		return k, nil
	}
	ks, err := s.store.ListAPIKeys(r.Context(), p.Tenant)
	if err != nil {
		return bulwark.APIKey{}, err
	}
	for _, stored := range ks {
		if stored.ID == p.KeyID {
			stored.Role = p.Role // the lower of the key's and its user's role
			return stored, nil
		}
	}
	return k, nil
}
