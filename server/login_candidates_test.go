package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/limits"
)

// countChecks counts the checks of a password against the hash of the
// user of tenant (by name) with email.
func countChecks(e *env, tenant, email string) *atomic.Int32 {
	e.t.Helper()
	_, hash, err := e.db.TenantUserByEmail(context.Background(), e.tenantID(e.t.(*testing.T), tenant), email)
	if err != nil {
		e.t.Fatal(err)
	}
	var n atomic.Int32
	check := e.srv.checkHash
	e.srv.checkHash = func(h, pw string, p PasswordParams) (bool, bool, error) {
		if h == hash {
			n.Add(1)
		}
		return check(h, pw, p)
	}
	return &n
}

// oracleStep is one login of a tenant admin who has made a user of its
// own tenant ("a") with the victim's email and a password it chose.
type oracleStep struct {
	tenant  string        // "" names none; "b" is the victim's tenant
	own     bool          // its own password, else a wrong guess
	device  bool          // with the device cookie of its last success
	advance time.Duration // the clock moves first
}

// oracleAnswers runs steps against a fresh installation of tenants a and
// b, where b has a user with the email or not, and returns what each
// login answered: the status, the wait and the error, with nothing that
// differs between installations anyway (ids, times).
func oracleAnswers(t *testing.T, victim bool, steps []oracleStep) []string {
	e := newEnv(t, highRates)
	a, b := e.tenant("a"), e.tenant("b")
	const email, pw = "victim@example.com", "my own chosen passphrase here"
	if victim {
		e.user(b.id, email, bulwark.RoleOwner)
	}
	w := e.do(req{method: "POST", path: "/api/v1/users", key: a.keys[bulwark.RoleAdmin], body: `{"email":"` + email + `","password":"` + pw + `"}`})
	if w.Code != http.StatusCreated {
		t.Fatalf("create = %d %s", w.Code, w.Body)
	}
	var answers []string
	dev := ""
	for i, s := range steps {
		e.clock.Advance(s.advance)
		guess := pw
		if !s.own {
			guess = fmt.Sprintf("wrong guess %d!", i)
		}
		cookie := ""
		if s.device {
			cookie = dev
		}
		body := fmt.Sprintf(`{"email":%q,"password":%q,"tenant":%q}`, email, guess, s.tenant)
		rq := req{method: "POST", path: "/api/v1/login", body: body, remote: fmt.Sprintf("198.51.100.%d:1", i%200+1)}
		if cookie != "" {
			rq.header = map[string]string{"Cookie": deviceCookie + "=" + cookie, "Sec-Fetch-Site": "same-origin"}
		}
		w := e.do(rq)
		if c := deviceFrom(t, w); c != nil {
			dev = c.Value
		}
		answer := fmt.Sprintf("%d wait=%q", w.Code, w.Header().Get("Retry-After"))
		if w.Code != http.StatusOK {
			d := errorOf(t, w)
			answer += " " + d.Code + " " + d.Message
		}
		answers = append(answers, answer)
	}
	return answers
}

// TestLoginNoCrossTenantOracle: a tenant's admin makes a user of its own
// tenant with the victim's email and a password it chose, then logs in
// as it may: without a tenant, naming its own, naming the victim's, with
// its password or wrong ones, with its device cookie or without, fast or
// slow. Every answer must be the same whether or not another tenant has
// a user with the email. It once was not: with the email in two tenants,
// a success counted as a failure at the others, and only a sole holder's
// success forgot the failures.
func TestLoginNoCrossTenantOracle(t *testing.T) {
	t.Parallel()
	own := func(n int) []oracleStep { // n logins without a tenant, its own password
		s := make([]oracleStep, n)
		for i := range s {
			s[i] = oracleStep{own: true}
		}
		return s
	}
	scripts := map[string][]oracleStep{
		"its own password five times, no tenant": own(5),
		"naming its tenant: fail, fail, succeed, fail": {
			{tenant: "a"}, {tenant: "a"}, {tenant: "a", own: true}, {tenant: "a"}, {tenant: "a"}, {tenant: "a", own: true},
		},
		"guesses at the victim's tenant, then its own": {
			{tenant: "b"}, {tenant: "b"}, {tenant: "b"}, {advance: time.Second, tenant: "a", own: true},
			{tenant: "b"}, {own: true}, {}, {tenant: "a"}, {own: true},
		},
		"its own tenant held back, then no tenant": {
			{tenant: "a"}, {tenant: "a"}, {tenant: "a"}, {own: true}, {}, {advance: time.Minute, own: true}, {own: true},
		},
		"with its device cookie": {
			{own: true}, {device: true}, {device: true}, {device: true}, {device: true, own: true},
			{advance: 2 * time.Second, device: true, own: true}, {device: true, own: true}, {own: true}, {tenant: "b", device: true},
		},
	}
	rng := rand.New(rand.NewPCG(35, 1))
	tenants := []string{"", "", "a", "b"}
	advances := []time.Duration{0, 0, 0, time.Second, 3 * time.Second, 31 * time.Second}
	for r := range 3 {
		var s []oracleStep
		for range 60 {
			s = append(s, oracleStep{tenant: tenants[rng.IntN(len(tenants))], own: rng.IntN(2) == 0, device: rng.IntN(3) == 0, advance: advances[rng.IntN(len(advances))]})
		}
		scripts[fmt.Sprintf("random %d", r)] = s
	}
	for name, steps := range scripts {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			taken, fresh := oracleAnswers(t, true, steps), oracleAnswers(t, false, steps)
			for i := range steps {
				if taken[i] != fresh[i] {
					t.Errorf("step %d %+v: another tenant has the email: %s; none has: %s\n(all answers: %v\n and %v)", i, steps[i], taken[i], fresh[i], taken, fresh)
					break
				}
			}
		})
	}
}

// TestLoginGuessesHeldPerUser: guesses at a victim's user are checked no
// more often than its own key allows, however the attacker names the
// tenant or not, from addresses of its own each time, and whatever its
// own user with the same email (in its own tenant) does in between: its
// successes without a tenant are guesses at the victim too, and do not
// forget the victim's failures.
func TestLoginGuessesHeldPerUser(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		steps []string // "a": a guess naming the victim's tenant, "": naming none, "own": the attacker's success without a tenant, "own b": naming its tenant
	}{
		{"naming the tenant", []string{"a", "a", "a", "a", "a", "a"}},
		{"naming none", []string{"", "", "", "", "", ""}},
		{"both ways", []string{"a", "", "a", "", "a", "", "a", ""}},
		{"with the attacker's successes", []string{"a", "own", "", "own b", "a", "own", "", "own b", "a", "", "own"}},
		{"the attacker's successes alone", []string{"own", "own", "own", "own", "own", "own"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, email := sharedEmailEnv(t) // the victim in a, the attacker's own user in b
			victim := countChecks(e, "a", email)
			for i, s := range c.steps {
				switch s {
				case "own":
					loginAs(e, email, otherPassword, "", 100+i, "")
				case "own b":
					loginAs(e, email, otherPassword, "b", 100+i, "")
				default:
					loginAs(e, email, fmt.Sprintf("wrong guess %d!", i), s, 100+i, "")
				}
			}
			if n := victim.Load(); n != int32(accountPolicy.Free+1) {
				t.Errorf("%d of %d attempts checked against the victim's user, want %d (the free failures and the one that starts the wait)", n, len(c.steps), accountPolicy.Free+1)
			}
			// Neither way, its right password is checked before the wait.
			for i, tenant := range []string{"a", ""} {
				if code, _ := loginAs(e, email, testPassword, tenant, 200+i, ""); code == http.StatusOK {
					t.Errorf("the victim's right password naming %q during its wait = 200, want it held back", tenant)
				}
			}
		})
	}
}

// TestLoginSuccessForgetsOwnFailures: a person with users of one email in
// two tenants, with other passwords. Logging in to one forgets that one's
// failures, not the other's; the other's success forgets its own.
func TestLoginSuccessForgetsOwnFailures(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t) // testPassword in a, otherPassword in b
	inA := countChecks(e, "a", email)
	// Logins without a tenant to b each try the password at a too, and
	// fail there: a's user is held back after the free failures.
	for i := range 5 {
		if code, _ := loginAs(e, email, otherPassword, "", i, ""); code != http.StatusOK {
			t.Fatalf("login %d to b without a tenant = %d, want 200", i, code)
		}
	}
	if code, _ := loginAs(e, email, testPassword, "a", 10, ""); code == http.StatusOK || inA.Load() != int32(accountPolicy.Free+1) {
		t.Fatalf("a's right password after b's logins: %d, checked %d times; want held back after %d", code, inA.Load(), accountPolicy.Free+1)
	}
	// Its wait served, a logs in, and starts over: its next failures are
	// free again, which they would not be had b's successes not been
	// counted apart, or had a's own success not forgotten them.
	e.clock.Advance(accountPolicy.MaxDelay)
	if code, _ := loginAs(e, email, testPassword, "a", 11, ""); code != http.StatusOK {
		t.Fatalf("a's right password after its wait = %d, want 200", code)
	}
	before := inA.Load()
	for i := range accountPolicy.Free {
		if code, _ := loginAs(e, email, "wrong password!", "a", 20+i, ""); code != http.StatusUnauthorized {
			t.Fatalf("a's failure %d after its success = %d, want 401", i, code)
		}
	}
	if code, _ := loginAs(e, email, testPassword, "a", 30, ""); code != http.StatusOK || inA.Load() != before+int32(accountPolicy.Free)+1 {
		t.Errorf("a's right password after %d free failures = %d (checked %d times since its success), want 200 after %d checks", accountPolicy.Free, code, inA.Load()-before, accountPolicy.Free+1)
	}
	// b's success did not wipe a's failures, nor a's b's: fail at a until
	// held back, succeed at b (the email's wait served), and a is still
	// held back.
	for i := range accountPolicy.Free + 1 {
		loginAs(e, email, "wrong password!", "a", 40+i, "")
	}
	e.clock.Advance(accountPolicy.Base)
	if code, _ := loginAs(e, email, otherPassword, "b", 50, ""); code != http.StatusOK {
		t.Fatalf("b's login = %d, want 200", code)
	}
	before = inA.Load()
	loginAs(e, email, "wrong password!", "a", 51, "")
	if code, _ := loginAs(e, email, testPassword, "a", 52, ""); code == http.StatusOK || inA.Load() != before+1 {
		t.Errorf("a after b's success: the right password = %d, %d checked; want it held back after 1 check (b's success kept a's failures)", code, inA.Load()-before)
	}
}

// opLog is a Throttle that writes down the kind of each call.
type opLog struct {
	limits.Throttle
	mu  sync.Mutex
	ops []string
}

func (l *opLog) log(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *opLog) Wait(ctx context.Context, key string) (time.Duration, error) {
	l.log("wait")
	return l.Throttle.Wait(ctx, key)
}

func (l *opLog) Fail(ctx context.Context, key string, p limits.Policy) error {
	l.log("fail")
	return l.Throttle.Fail(ctx, key, p)
}

func (l *opLog) Reset(ctx context.Context, key string) error {
	l.log("reset")
	return l.Throttle.Reset(ctx, key)
}

// TestLoginStoreWorkAlike: a login naming another tenant makes the same
// calls to the store of the limits (in PostgreSQL, each a round trip)
// whether that tenant has a user with the email or not, so that their
// time does not tell either. (Without a tenant, what the calls did not do
// is waited out: TestTenantlessLoginTakesConstantWork.)
func TestLoginStoreWorkAlike(t *testing.T) {
	t.Parallel()
	calls := func(victim bool) []string {
		l := &opLog{Throttle: limits.NewMemoryThrottle(time.Now, 1000)}
		e := newEnv(t, rateLimitOff, func(c *Config) { c.Throttle = l })
		e.tenant("a")
		b := e.tenant("b")
		if victim {
			e.user(b.id, "victim@example.com", bulwark.RoleOwner)
		}
		for i := range accountPolicy.Free + 2 {
			loginAs(e, "victim@example.com", "wrong guess!", "b", i, "")
		}
		return l.ops
	}
	if taken, fresh := calls(true), calls(false); !reflect.DeepEqual(taken, fresh) {
		t.Errorf("guesses naming a tenant: with a user there, the limits saw %v; without, %v", taken, fresh)
	}
}
