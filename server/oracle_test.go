package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

// The secret of tenant A that the oracle tests guess, and a wrong guess
// of the same shape.
const (
	oracleSecret = "SECRET_TOKEN"
	oracleValue  = "h7kq2vx9wz4m"
	oracleGuess  = "p3nd8rt6ya1c"
)

// oracleBodies are request bodies that carry a guess in the places a
// client controls: unknown field names, their values, values of the wrong
// type, nested names, list entries.
var oracleBodies = []struct{ name, method, path, body string }{
	{"unknown field name", "POST", "/api/v1/login", `{"email":"a@b.test","password":"x","GUESS":1}`},
	{"unknown field value", "POST", "/api/v1/login", `{"email":"a@b.test","password":"x","note":"GUESS"}`},
	{"wrong type", "POST", "/api/v1/login", `{"email":["GUESS"],"password":"x"}`},
	{"email and password", "POST", "/api/v1/login", `{"email":"GUESS@b.test","password":"GUESS"}`},
	{"email only", "POST", "/api/v1/login", `{"email":"GUESS"}`},
	{"syntax error", "POST", "/api/v1/login", `{"GUESS":`},
	{"trailing data", "POST", "/api/v1/login", `{"email":"a@b.test","password":"x"} "GUESS"`},
	{"key name", "POST", "/api/v1/keys", `{"name":"GUESS","scopes":["GUESS"]}`},
	{"key role", "POST", "/api/v1/keys", `{"name":"k","role":"GUESS"}`},
	{"key nested", "POST", "/api/v1/keys", `{"name":"k","GUESS":{"GUESS":"GUESS"}}`},
	{"settings lists", "PUT", "/api/v1/settings", `{"allowed_commands":["GUESS x"],"allowed_domains":["GUESS/"]}`},
	{"settings model", "PUT", "/api/v1/settings", `{"model":"GUESS:x"}`},
	{"settings nested", "PUT", "/api/v1/settings", `{"policy":{"rules":[{"tool":"x","GUESS":"deny"}]}}`},
	{"settings type", "PUT", "/api/v1/settings", `{"limits":{"max_steps":"GUESS"}}`},
	{"task model", "POST", "/api/v1/tasks", `{"input":"x","model":"GUESS:m"}`},
	{"user role", "POST", "/api/v1/users", `{"email":"n@n.test","role":"GUESS","password":"GUESS"}`},
	{"secret path", "DELETE", "/api/v1/secrets/GUESS", ``},
	{"task path", "GET", "/api/v1/tasks/GUESS", ``},
	{"user path", "PATCH", "/api/v1/users/GUESS", `{"role":"viewer"}`},
	{"no such route", "GET", "/api/v1/GUESS", ``},
	{"key path", "DELETE", "/api/v1/keys/GUESS", ``},
	{"user delete path", "DELETE", "/api/v1/users/GUESS", ``},
	{"secret put path", "PUT", "/api/v1/secrets/GUESS.x", `{"value":"GUESS","hosts":["GUESS.example"]}`},
	{"secret hosts", "PUT", "/api/v1/secrets/S", `{"value":"a value long enough","hosts":["GUESS/x"]}`},
	{"file path", "GET", "/api/v1/tasks/GUESS/files/GUESS.txt", ``},
	{"upload path", "PUT", "/api/v1/tasks/GUESS/files/GUESS.txt", `GUESS`},
	{"approval path", "POST", "/api/v1/tasks/GUESS/approvals/GUESS", `{"allow":true}`},
	{"task message", "POST", "/api/v1/tasks/GUESS/messages", `{"text":"GUESS"}`},
	{"events query", "GET", "/api/v1/tasks/GUESS/events?after=GUESS", ``},
	{"list query", "GET", "/api/v1/tasks?status=GUESS&cursor=GUESS&limit=GUESS", ``},
	{"audit query", "GET", "/api/v1/audit?since=GUESS&action=GUESS", ``},
	{"method", "PATCH", "/api/v1/tasks/GUESS", `{"GUESS":1}`},
	{"ap task", "GET", "/ap/v1/agent/tasks/GUESS", ``},
	{"ap step", "GET", "/ap/v1/agent/tasks/GUESS/steps/GUESS", ``},
	{"ap artifact", "GET", "/ap/v1/agent/tasks/GUESS/artifacts/GUESS", ``},
	{"ap create", "POST", "/ap/v1/agent/tasks", `{"input":"GUESS","GUESS":{"GUESS":1}}`},
	{"ap steps body", "POST", "/ap/v1/agent/tasks/GUESS/steps", `{"input":"GUESS","additional_input":"GUESS"}`},
	{"ap list query", "GET", "/ap/v1/agent/tasks?current_page=GUESS&page_size=GUESS", ``},
}

var requestIDs = regexp.MustCompile(`"request_id":"[^"]*"`)

// answer is what a client sees of a response, the request id aside.
func answer(w *httptest.ResponseRecorder) string {
	h := w.Header().Clone()
	h.Del("X-Request-Id")
	var b strings.Builder
	h.Write(&b)
	return w.Result().Status + "\n" + b.String() + "\n" + requestIDs.ReplaceAllString(w.Body.String(), `"request_id":""`)
}

// TestNoSecretOracle: a guess of a tenant's secret value gets an answer
// byte for byte the same (request id aside) as a wrong guess, for a
// client that has not logged in and for an owner of another tenant. An
// answer may repeat a guess of the shape of a field name (an unknown
// field's name, see fieldShape): with each guess written back as GUESS
// the answers must still be the same, so that nothing was masked in one
// and not the other.
func TestNoSecretOracle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, highRates)
	a, b := e.tenant("a"), e.tenant("b")
	if err := e.db.SetSecret(context.Background(), a.id, oracleSecret, oracleValue); err != nil {
		t.Fatal(err)
	}
	for i, c := range oracleBodies {
		for j, who := range []string{"anonymous", "other tenant"} {
			ask := func(guess, remote string) *httptest.ResponseRecorder {
				rq := req{method: c.method, path: strings.ReplaceAll(c.path, "GUESS", guess),
					body: strings.ReplaceAll(c.body, "GUESS", guess), remote: remote}
				if rq.body == "" && c.method != "GET" && c.method != "DELETE" {
					rq.body = "{}"
				}
				if who == "other tenant" {
					rq.key = b.keys[bulwark.RoleOwner]
				}
				return e.do(rq)
			}
			// Each pair from its own address, so that rate limits treat
			// both the same.
			remote := fmt.Sprintf("198.51.100.%d:1", 2*i+j+1)
			real, wrong := ask(oracleValue, remote), ask(oracleGuess, remote)
			got := strings.ReplaceAll(answer(real), oracleValue, "GUESS")
			want := strings.ReplaceAll(answer(wrong), oracleGuess, "GUESS")
			if got != want {
				t.Errorf("%s, %s: the answer to the real secret differs from a wrong guess:\n%s\n--- want\n%s", c.name, who, got, want)
			}
			if strings.Contains(real.Body.String(), "REDACTED") || strings.Contains(real.Body.String(), oracleSecret) {
				t.Errorf("%s, %s: the answer names the secret: %s", c.name, who, real.Body)
			}
		}
	}
	if n := e.counter(metrics.SecretMasked); n != 0 {
		t.Errorf("secret_masked = %v, want 0: no answer should have had to mask anything", n)
	}
}

// TestErrorsRepeatNothing: error messages name no field, value or path
// the client chose, except an unknown field's name of the shape of the
// server's own (fieldShape).
func TestErrorsRepeatNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	const marker = "Zq9-marker" // not of fieldShape: never repeated
	for _, c := range oracleBodies {
		rq := req{method: c.method, path: strings.ReplaceAll(c.path, "GUESS", marker),
			body: strings.ReplaceAll(c.body, "GUESS", marker), key: a.keys[bulwark.RoleOwner]}
		if strings.HasPrefix(c.path, "/api/v1/login") {
			rq.key = ""
		}
		w := e.do(rq)
		if w.Code < 400 {
			t.Errorf("%s: %s %s = %d, want an error", c.name, c.method, c.path, w.Code)
		}
		if strings.Contains(w.Body.String(), marker) {
			t.Errorf("%s: the error repeats what the client sent: %s", c.name, w.Body)
		}
	}
	// What a client is told instead is still useful.
	w := e.do(req{method: "POST", path: "/api/v1/keys", key: a.keys[bulwark.RoleOwner], body: `{"name":"k","nmae":"x"}`})
	if msg := errorOf(t, w).Message; w.Code != 400 || !strings.Contains(msg, "name, role, scopes, expires_in") {
		t.Errorf("unknown field: %d %q, want 400 listing the fields", w.Code, msg)
	}

	w = e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleOwner], body: `{"limits":{"max_steps":"ten"}}`})
	if msg := errorOf(t, w).Message; w.Code != 400 || !strings.Contains(msg, "limits.max_steps") {
		t.Errorf("wrong type: %d %q, want 400 naming limits.max_steps", w.Code, msg)
	}
}

// TestMaskingCountedPerTenant: an answer that has to mask a secret masks
// it with the tenant's own secrets, counts for that tenant, and a burst
// of them from one client is refused and audited.
func TestMaskingCountedPerTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.tenant("a"), e.tenant("b")
	if err := e.db.SetSecret(context.Background(), a.id, oracleSecret, oracleValue); err != nil {
		t.Fatal(err)
	}
	// A route whose error carries a value from elsewhere (an upstream
	// answer, say): the last line of defence is the mask.
	err := e.srv.Handle(Route{Method: "GET", Pattern: "/test/echo", Side: API, Role: bulwark.RoleViewer,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return bulwark.Errorf(bulwark.Invalid, "test", "upstream said %s", r.URL.Query().Get("v"))
		}})
	if err != nil {
		t.Fatal(err)
	}
	w := e.do(req{method: "GET", path: "/test/echo?v=" + oracleValue, key: b.keys[bulwark.RoleViewer]})
	if got := errorOf(t, w).Message; got != "upstream said "+oracleValue {
		t.Errorf("B's answer = %q: masked with A's secrets", got)
	}
	w = e.do(req{method: "GET", path: "/test/echo?v=" + oracleValue, key: a.keys[bulwark.RoleViewer], remote: "198.51.100.7:1"})
	if got := errorOf(t, w).Message; got != "upstream said [REDACTED:"+oracleSecret+"]" {
		t.Errorf("A's answer = %q, want the secret masked", got)
	}
	if n := testCounter(e.srv.sec.TenantCounter(metrics.SecretMasked, string(a.id))); n != 1 {
		t.Errorf("A's secret_masked = %v, want 1", n)
	}
	if n := testCounter(e.srv.sec.TenantCounter(metrics.SecretMasked, string(b.id))); n != 0 {
		t.Errorf("B's secret_masked = %v, want 0", n)
	}
	var last *httptest.ResponseRecorder
	for range badInputBurst + 1 {
		last = e.do(req{method: "GET", path: "/test/echo?v=" + oracleValue, key: a.keys[bulwark.RoleViewer], remote: "198.51.100.7:1"})
	}
	if last.Code != http.StatusTooManyRequests || strings.Contains(last.Body.String(), "REDACTED") {
		t.Errorf("after a burst of masked answers: %d %s, want 429 without the mask", last.Code, last.Body)
	}
	recs := e.audited("request.bad_input_limited")
	if len(recs) != 1 || recs[0].TenantID != string(a.id) || recs[0].Details["reason"] != secretMasked {
		t.Errorf("audit records of the burst = %+v, want one of A with reason %s", recs, secretMasked)
	}
}

// TestBadJSONBurstLimited: a client that keeps sending bodies that do not
// decode is refused (429) and audited; another client is not.
func TestBadJSONBurstLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var last *httptest.ResponseRecorder
	for i := range badInputBurst + 1 {
		last = e.do(req{method: "POST", path: "/api/v1/login", body: `{"x` + strings.Repeat("y", i) + `":1}`, remote: "198.51.100.9:1"})
	}
	if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") == "" {
		t.Errorf("after %d bad bodies: %d %s, want 429 with Retry-After", badInputBurst+1, last.Code, last.Body)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: `{"x":1}`, remote: "198.51.100.10:1"}); w.Code != http.StatusBadRequest {
		t.Errorf("another client's bad body = %d, want 400", w.Code)
	}
	recs := e.audited("request.bad_input_limited")
	if len(recs) != 1 || recs[0].Details["client"] != "198.51.100.9" || recs[0].Details["reason"] != badJSON {
		t.Errorf("audit records = %+v, want one for the client, reason %s", recs, badJSON)
	}
}

// highRates keeps the request rate limits out of a test's way, but not
// the limits of bad input.
func highRates(c *Config) {
	c.RateLimits = bulwark.RateLimitSettings{PerKey: 1000, PerTenant: 1000, Burst: 1000}
}

// testCounter reads a counter's value.
func testCounter(c *metrics.Counter) float64 { return float64(c.Value()) }

// TestMaskedAnswersBudgetedPerUserAndTenant: inside a tenant, a caller
// can write a guess at a secret's value where it comes back (here a
// memory, stored and shown masked) and see whether it comes back masked.
// Such answers are budgeted per user and per tenant, not only per
// address: a caller that spreads its requests over many addresses is
// refused once its own budget is spent, callers that spread over many
// keys once the tenant's is; the refusals and the masks are audited;
// another tenant is not touched.
func TestMaskedAnswersBudgetedPerUserAndTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, highRates)
	a, b := e.tenant("a"), e.tenant("b")
	ctx := context.Background()
	for _, tn := range []*tenant{a, b} {
		if err := e.db.SetSecret(ctx, tn.id, oracleSecret, oracleValue); err != nil {
			t.Fatal(err)
		}
	}
	// Keys of A's members, each a caller of its own.
	var keys []string
	for i := range 5 {
		tok, _, err := IssueKey(ctx, e.db, a.id, KeySpec{Name: fmt.Sprintf("guesser %d", i), Role: bulwark.RoleMember, CreatedBy: "test"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok)
	}
	addr := 0
	next := func() string { addr++; return fmt.Sprintf("10.%d.%d.%d:1", addr>>16&255, addr>>8&255, addr&255) }
	// guess writes the right guess as a memory with key, from a new
	// address each time, until refused; it returns the masked answers had.
	guess := func(key string) (n int, refused bool) {
		for range 2 * maskTenantBurst {
			w := e.do(req{method: "POST", path: "/api/v1/memories", key: key, remote: next(),
				body: `{"text":"guess ` + oracleValue + `","scope":"user"}`})
			switch {
			case w.Code == http.StatusTooManyRequests:
				if strings.Contains(w.Body.String(), "REDACTED") || strings.Contains(w.Body.String(), oracleValue) {
					t.Errorf("a refusal shows the memory: %s", w.Body)
				}
				return n, true
			case w.Code != 201 || !strings.Contains(w.Body.String(), "[REDACTED:"+oracleSecret+"]"):
				t.Fatalf("POST memory = %d %s, want it masked", w.Code, w.Body)
			}
			n++
		}
		return n, false
	}
	n, refused := guess(keys[0])
	if !refused || n > maskUserBurst {
		t.Fatalf("a member had %d masked answers from as many addresses, refused: %v; want a refusal within %d", n, refused, maskUserBurst)
	}
	total := n
	for _, k := range keys[1:] {
		n, refused := guess(k)
		total += n
		if !refused {
			t.Fatalf("a member's key was never refused")
		}
	}
	// Refill while the test runs is a few at most.
	if total > maskTenantBurst+5 {
		t.Errorf("tenant A had %d masked answers over %d keys, want at most about %d", total, len(keys), maskTenantBurst)
	}
	if n, _ := guess(b.keys[bulwark.RoleMember]); n == 0 {
		t.Errorf("tenant B's masked answers were refused for A's guesses")
	}
	var limits []string
	for _, rec := range e.audited("request.bad_input_limited") {
		if rec.TenantID == string(a.id) && rec.Details["reason"] == secretMasked {
			limits = append(limits, rec.Details["limit"])
		}
	}
	if !slices.Contains(limits, "user") || !slices.Contains(limits, "tenant") {
		t.Errorf("A's refusals audited with limits %q, want user and tenant", limits)
	}
	masks := 0
	for _, rec := range e.audited("secret.masked_answer") {
		if rec.TenantID == string(a.id) && rec.Details["where"] == "memory" {
			masks++
		}
	}
	if masks < len(keys) {
		t.Errorf("%d masked answers of A audited, want one at least for each of its %d callers", masks, len(keys))
	}
}

// TestTaskInputGuessesBudgeted: a task's input and the messages sent to
// it come back masked in its events, so one that holds a secret's value
// is charged as a masked answer when it is sent: a caller spreading its
// guesses over many addresses is refused once its budget is spent.
func TestTaskInputGuessesBudgeted(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t, func(c *Config) { c.RateLimitOff = false }, highRates)
	if err := te.db.SetSecret(context.Background(), te.a.id, oracleSecret, oracleValue); err != nil {
		t.Fatal(err)
	}
	// A guess that is wrong is never charged.
	for i := range maskUserBurst + 5 {
		if w := te.do(req{method: "POST", path: "/api/v1/tasks", key: te.key, remote: fmt.Sprintf("10.8.0.%d:1", i+1),
			body: `{"input":"guess ` + oracleGuess + `"}`}); w.Code != 201 {
			t.Fatalf("POST task with a wrong guess = %d %s", w.Code, w.Body)
		}
	}
	refused := 0
	for i := range maskUserBurst + 1 {
		w := te.do(req{method: "POST", path: "/api/v1/tasks", key: te.key, remote: fmt.Sprintf("10.8.1.%d:1", i+1),
			body: `{"input":"guess ` + oracleValue + `"}`})
		if w.Code == http.StatusTooManyRequests {
			refused++
		} else if w.Code != 201 {
			t.Fatalf("POST task = %d %s", w.Code, w.Body)
		}
	}
	if refused == 0 {
		t.Errorf("%d tasks with the secret's value as input from as many addresses, none refused", maskUserBurst+1)
	}
	if recs := te.audited("secret.masked_answer"); len(recs) == 0 || recs[0].Details["where"] != "task input" {
		t.Errorf("audited %+v, want secret.masked_answer where=task input", recs)
	}
}

// TestTaskInputStoredMasked: a secret's value written into a task's
// input or a message is masked before it is stored (the agent masks
// both before the model sees them anyway): the task, the task list, the
// Agent Protocol's task and schedules show it to every member of the
// tenant, who must not read a secret there.
func TestTaskInputStoredMasked(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	if err := te.db.SetSecret(context.Background(), te.a.id, oracleSecret, oracleValue); err != nil {
		t.Fatal(err)
	}
	v := te.createTask(te.key, "hang "+oracleValue)
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	if w := te.do(req{method: "POST", path: "/api/v1/schedules", key: te.key,
		body: `{"cron":"0 3 * * *","input":"do ` + oracleValue + `"}`}); w.Code != 201 {
		t.Fatalf("POST schedule = %d %s", w.Code, w.Body)
	}
	if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/messages", key: te.key, body: `{"text":"also ` + oracleValue + `"}`}); w.Code >= 300 {
		t.Fatalf("POST message = %d %s", w.Code, w.Body)
	}
	for _, p := range []string{"/api/v1/tasks/" + v.ID, "/api/v1/tasks", "/ap/v1/agent/tasks/" + v.ID, "/ap/v1/agent/tasks", "/api/v1/schedules"} {
		w := te.do(req{method: "GET", path: p, key: te.a.keys[bulwark.RoleViewer]})
		if w.Code != 200 || strings.Contains(w.Body.String(), oracleValue) || !strings.Contains(w.Body.String(), "[REDACTED:"+oracleSecret+"]") {
			t.Errorf("GET %s as a viewer = %d %s, want the secret masked", p, w.Code, w.Body)
		}
	}
}

// TestOneMemberCannotSpendTheTenantsMaskedBudget: the tenant's budget of
// masked answers is shared by its members, so one member must not be able
// to spend it and have the others' masked answers (an honest download of
// a file that holds a secret) refused. One member's keys all carry the
// member's rights and draw on its one budget, which is smaller than the
// tenant's and checked first: however many keys and addresses the member
// uses, another member still has masked answers.
func TestOneMemberCannotSpendTheTenantsMaskedBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, highRates)
	a := e.tenant("a")
	if err := e.db.SetSecret(context.Background(), a.id, oracleSecret, oracleValue); err != nil {
		t.Fatal(err)
	}
	greedy, other := a.users[bulwark.RoleMember], a.users[bulwark.RoleAdmin]
	var keys []string
	for range 4 {
		tok, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleMember, CreatorUser: greedy.ID})
		keys = append(keys, tok)
	}
	otherKey, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleMember, CreatorUser: other.ID})
	addr := 0
	guess := func(key string) int {
		addr++
		return e.do(req{method: "POST", path: "/api/v1/memories", key: key, remote: fmt.Sprintf("10.9.%d.%d:1", addr>>8&255, addr&255),
			body: `{"text":"guess ` + oracleValue + `","scope":"user"}`}).Code
	}
	had := 0
	for i := range 2 * maskTenantBurst {
		if guess(keys[i%len(keys)]) == 201 {
			had++
		}
	}
	if had == 0 || had > maskUserBurst+2 {
		t.Fatalf("one member had %d masked answers over %d keys, want at most about %d", had, len(keys), maskUserBurst)
	}
	if code := guess(otherKey); code != 201 {
		t.Errorf("after one member's %d masked answers, another member's = %d, want 201", 2*maskTenantBurst, code)
	}
}

// TestOneMemberCannotSpendTheMaskedBudgetOfItsAddress: members often
// share an address (an office's NAT, a proxy whose forwarding header is
// not trusted). A member who keeps asking for masked answers from it,
// refused once its own budget is spent, must not have the masked answers
// of the others there refused: those of a colleague, or of a member of
// another tenant. Masked answers are budgeted per user and per tenant,
// which are the callers whose guesses they count; the address budget is
// for bodies that do not decode.
func TestOneMemberCannotSpendTheMaskedBudgetOfItsAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, highRates)
	a, b := e.tenant("a"), e.tenant("b")
	for _, tn := range []*tenant{a, b} {
		if err := e.db.SetSecret(context.Background(), tn.id, oracleSecret, oracleValue); err != nil {
			t.Fatal(err)
		}
	}
	greedy, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleMember, CreatorUser: a.users[bulwark.RoleMember].ID})
	colleague, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleMember, CreatorUser: a.users[bulwark.RoleAdmin].ID})
	neighbour, _ := e.issue(b.id, KeySpec{Role: bulwark.RoleMember, CreatorUser: b.users[bulwark.RoleMember].ID})
	const office = "203.0.113.5:1"
	guess := func(key string) int {
		return e.do(req{method: "POST", path: "/api/v1/memories", key: key, remote: office,
			body: `{"text":"guess ` + oracleValue + `","scope":"user"}`}).Code
	}
	had := 0
	for range 3 * maskUserBurst {
		if guess(greedy) == 201 {
			had++
		}
	}
	if had == 0 || had > maskUserBurst+2 {
		t.Fatalf("the member had %d masked answers, want its budget of about %d", had, maskUserBurst)
	}
	for who, key := range map[string]string{"a colleague": colleague, "another tenant's member": neighbour} {
		if code := guess(key); code != 201 {
			t.Errorf("after one member's %d masked answers from the address, %s's there = %d, want 201", 3*maskUserBurst, who, code)
		}
	}
}
