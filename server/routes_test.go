package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

// fixture is two tenants, A and B, with a key and a user of every role,
// an operator key, and records of A that B must never reach.
type fixture struct {
	e        *env
	a, b     *tenant
	operator string
	spareKey string // a key of A, for DELETE
	sessions map[*tenant]map[bulwark.Role]string

	done, waiting string // tasks of A: one that has ended, one waiting for an approval
	interrupted   string // a task of A that a restart interrupted
	approval      string // the approval the waiting task waits for
	schedule      string // a schedule of A
	memory        string // a tenant-wide memory of A
}

const (
	aSecret = "A_ONLY_SECRET"
	aValue  = "a-only-value-7f3k9"
	aModel  = "openai:a-only-model"
	aFile   = "a-only-file-content-2c8e1"
	// aSchedule is the input of A's schedule.
	aSchedule = "a-only-schedule-input-5e1b7"
	// aMCP is A's MCP servers: their name and host are markers too.
	aMCPServer = "a-only-mcp-9d4"
	aMCPHost   = "a-only-mcp-host.example"
	aMemory    = "a-only-memory-5e2d"
	// aSkill is A's skill: its name, description and files are markers.
	aSkill     = "a-only-skill-4h7"
	aSkillText = "a-only-skill-body-8w2"
	aSkillFile = "a-only-skill-file-3j5"
	aMCP       = `{"mcpServers":{"` + aMCPServer + `":{"url":"https://` + aMCPHost + `/mcp","headers":{"Authorization":"Bearer {{secret:` + aSecret + `}}"}}}}`
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, openSQLite)
}

// newFixtureOn is newFixture over the store open opens.
func newFixtureOn(t *testing.T, open storeOpener) *fixture {
	t.Helper()
	ctx := context.Background()
	e := newEnvOn(t, open, rateLimitOff, withRuntime(t, ""))
	f := &fixture{e: e, a: e.tenant("a"), b: e.tenant("b"), sessions: map[*tenant]map[bulwark.Role]string{}}
	var err error
	if f.operator, _, err = IssueKey(ctx, e.db, "", KeySpec{Name: "operator", CreatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	_, k, err := IssueKey(ctx, e.db, f.a.id, KeySpec{Name: "spare", Role: bulwark.RoleViewer, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f.spareKey = k.ID
	if err := e.db.SetSecret(ctx, f.a.id, aSecret, aValue); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.PutSkill(ctx, f.a.id, bulwark.StoredSkill{Name: aSkill, Description: "A's own skill " + aSkillText,
		Files: map[string]string{"SKILL.md": "---\nname: " + aSkill + "\ndescription: A's own skill.\n---\n" + aSkillText, "ref.md": aSkillFile}}); err != nil {
		t.Fatal(err)
	}
	askNotes := bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Pattern: "notes/*", Decision: bulwark.Ask}}}
	if _, err := e.db.PutSettings(ctx, f.a.id, bulwark.Settings{Model: aModel, Policy: askNotes, MCP: json.RawMessage(aMCP)}); err != nil {
		t.Fatal(err)
	}
	f.session(f.a, bulwark.RoleOwner) // A's login is in the audit log
	return f
}

// session returns a session cookie of the tenant's user of role.
func (f *fixture) session(t *tenant, role bulwark.Role) string {
	if f.sessions[t] == nil {
		f.sessions[t] = map[bulwark.Role]string{}
	}
	if c := f.sessions[t][role]; c != "" {
		return c
	}
	c := f.e.login(t.users[role].Email)
	f.sessions[t][role] = c
	return c
}

// doneTask returns the id of a task of A that wrote out.txt and ended,
// made on first use.
func (f *fixture) doneTask() string {
	if f.e == nil { // a bare fixture (TestSecurityHeadersEverywhere): no task
		return "t_none"
	}
	if f.done == "" {
		v := f.e.createTask(f.a.keys[bulwark.RoleOwner], "write:"+aFile)
		f.e.waitTask(f.a.keys[bulwark.RoleOwner], v.ID, ended)
		f.done = v.ID
	}
	return f.done
}

// waitingTask returns the id of a task of A waiting for an approval,
// made on first use.
func (f *fixture) waitingTask() string {
	if f.e == nil {
		return "t_none"
	}
	if f.waiting == "" {
		v := f.e.createTask(f.a.keys[bulwark.RoleOwner], "ask: the notes")
		f.approval = f.e.waitApproval(f.a.keys[bulwark.RoleOwner], v.ID).ID
		f.waiting = v.ID
	}
	return f.waiting
}

// interruptedTask returns the id of a task of A that a restart
// interrupted, made on first use.
func (f *fixture) interruptedTask() string {
	if f.e == nil {
		return "t_none"
	}
	if f.interrupted == "" {
		t, err := f.e.db.CreateTask(context.Background(), f.a.id, bulwark.Task{Input: "cut short", Status: bulwark.TaskInterrupted})
		if err != nil {
			f.e.t.Fatal(err)
		}
		f.interrupted = t.ID
	}
	return f.interrupted
}

// scheduleOfA returns the id of a schedule of A, made on first use.
func (f *fixture) scheduleOfA() string {
	if f.e == nil {
		return "sch_none"
	}
	if f.schedule == "" {
		sc, err := f.e.db.CreateSchedule(context.Background(), f.a.id, bulwark.Schedule{Cron: "@every 1h", Timezone: "UTC",
			Input: aSchedule, OwnerUser: f.a.users[bulwark.RoleOwner].ID, NextRun: time.Now().Add(time.Hour)})
		if err != nil {
			f.e.t.Fatal(err)
		}
		f.schedule = sc.ID
	}
	return f.schedule
}

func aSchedulePath(f *fixture) string { return "/api/v1/schedules/" + f.scheduleOfA() }

// memoryOf returns the id of a tenant-wide memory of A, made on first
// use, holding aMemory.
func (f *fixture) memoryOf() string {
	if f.e == nil {
		return "mem_none"
	}
	if f.memory == "" {
		m, err := f.e.db.AddMemory(context.Background(), f.a.id, bulwark.Memory{Text: "remember " + aMemory, Tags: []string{aMemory}})
		if err != nil {
			f.e.t.Fatal(err)
		}
		f.memory = m.ID
	}
	return f.memory
}

// memoryPath is a matrix path naming A's memory (made first).
func memoryPath(suffix string) func(*fixture) string {
	return func(f *fixture) string { return "/api/v1/memories/" + f.memoryOf() + suffix }
}

// done and waiting are matrix paths under a task of A.
func done(suffix string) func(*fixture) string {
	return func(f *fixture) string { return "/api/v1/tasks/" + f.doneTask() + suffix }
}

func waiting(suffix string) func(*fixture) string {
	return func(f *fixture) string { return "/api/v1/tasks/" + f.waitingTask() + suffix }
}

func apDone(suffix string) func(*fixture) string {
	return func(f *fixture) string { return "/ap/v1/agent/tasks/" + f.doneTask() + suffix }
}

// withDone is a path that makes A's ended task first, so that B's
// answer is checked for it.
func withDone(p string) func(*fixture) string {
	return func(f *fixture) string { f.doneTask(); return p }
}

// multipartBody is an Agent Protocol artifact upload.
const multipartBody = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.txt\"\r\nContent-Type: text/plain\r\n\r\nuploaded\r\n--XYZ--\r\n"

// markers are strings of tenant A that no answer to B may hold.
func (f *fixture) markers() []string {
	m := []string{string(f.a.id), aSecret, aValue, aModel, f.spareKey, aFile, aMCPServer, aMCPHost, aSchedule, aMemory, aSkill, aSkillText, aSkillFile}
	for _, id := range []string{f.done, f.waiting, f.approval, f.interrupted, f.schedule, f.memory} {
		if id != "" {
			m = append(m, id)
		}
	}
	for _, role := range bulwark.TenantRoles {
		m = append(m, f.a.keyIDs[role], f.a.users[role].ID, f.a.users[role].Email, f.a.keys[role])
	}
	return m
}

// matrixCase is how the security matrix calls one route: a path naming
// tenant A's records, and a valid body.
type matrixCase struct {
	path    func(f *fixture) string
	body    string
	ownsIDs bool              // the path names a record of A: B gets 404
	ownBody string            // the body of A's call, when body cannot be used twice
	header  map[string]string // more headers (a body that is not JSON)
	ownCode int               // A's owner's answer, when not 2xx
}

func fixed(p string) func(*fixture) string { return func(*fixture) string { return p } }

// matrix has a case for every route of the table; TestRouteMatrix fails
// for a route without one. Add yours here.
var matrix = map[string]matrixCase{
	"GET /healthz": {path: fixed("/healthz")},
	"GET /readyz":  {path: fixed("/readyz")},
	"GET /metrics": {path: fixed("/metrics"), header: map[string]string{"Host": "localhost:8080"}},

	"GET /api/v1/openapi.json": {path: fixed("/api/v1/openapi.json")},

	"POST /api/v1/login":           {path: fixed("/api/v1/login"), body: `{"email":"owner@a.test","password":"` + testPassword + `"}`},
	"POST /api/v1/logout":          {path: fixed("/api/v1/logout")},
	"POST /api/v1/logout-all":      {path: fixed("/api/v1/logout-all")},
	"GET /api/v1/me":               {path: fixed("/api/v1/me")},
	"POST /api/v1/me/totp":         {path: fixed("/api/v1/me/totp"), body: `{"password":"` + testPassword + `"}`},
	"POST /api/v1/me/totp/confirm": {path: fixed("/api/v1/me/totp/confirm"), body: `{"code":"000000"}`, ownCode: http.StatusConflict},
	"GET /api/v1/me/totp/qr":       {path: fixed("/api/v1/me/totp/qr"), ownCode: http.StatusNotFound},
	"DELETE /api/v1/me/totp":       {path: fixed("/api/v1/me/totp"), ownCode: http.StatusNotFound},

	"GET /api/v1/keys":              {path: fixed("/api/v1/keys")},
	"POST /api/v1/keys":             {path: fixed("/api/v1/keys"), body: `{"name":"new key","role":"viewer"}`},
	"DELETE /api/v1/keys/{id}":      {path: func(f *fixture) string { return "/api/v1/keys/" + f.spareKey }, ownsIDs: true},
	"POST /api/v1/keys/{id}/rotate": {path: func(f *fixture) string { return "/api/v1/keys/" + f.spareKey + "/rotate" }, body: `{"grace":"1m"}`, ownsIDs: true},

	"GET /api/v1/secrets":           {path: fixed("/api/v1/secrets")},
	"PUT /api/v1/secrets/{name}":    {path: fixed("/api/v1/secrets/" + aSecret), body: `{"value":"another-value-123"}`},
	"DELETE /api/v1/secrets/{name}": {path: fixed("/api/v1/secrets/" + aSecret), ownsIDs: true},

	"GET /api/v1/memories":         {path: func(f *fixture) string { f.memoryOf(); return "/api/v1/memories?q=" + aMemory }},
	"POST /api/v1/memories":        {path: fixed("/api/v1/memories"), body: `{"text":"a new memory","tags":["x"],"scope":"tenant"}`},
	"GET /api/v1/memories/{id}":    {path: memoryPath(""), ownsIDs: true},
	"PUT /api/v1/memories/{id}":    {path: memoryPath(""), body: `{"text":"edited memory","tags":[]}`, ownsIDs: true},
	"DELETE /api/v1/memories/{id}": {path: memoryPath(""), ownsIDs: true},
	"GET /api/v1/skills":           {path: fixed("/api/v1/skills")},
	"POST /api/v1/skills":          {path: fixed("/api/v1/skills"), body: skillUpload("new-skill")},
	"GET /api/v1/skills/{name}":    {path: fixed("/api/v1/skills/" + aSkill), ownsIDs: true},
	"PUT /api/v1/skills/{name}":    {path: fixed("/api/v1/skills/" + aSkill), body: skillUpload(aSkill)},
	"DELETE /api/v1/skills/{name}": {path: fixed("/api/v1/skills/" + aSkill), ownsIDs: true},

	"GET /api/v1/users": {path: fixed("/api/v1/users")},
	"POST /api/v1/users": {path: fixed("/api/v1/users"), body: `{"email":"new@new.test","role":"viewer","password":"` + testPassword + `"}`,
		ownBody: `{"email":"other@new.test","role":"viewer","password":"` + testPassword + `"}`},
	"PATCH /api/v1/users/{id}": {path: func(f *fixture) string { return "/api/v1/users/" + f.a.users[bulwark.RoleMember].ID },
		body: `{"role":"viewer"}`, ownsIDs: true},
	"DELETE /api/v1/users/{id}": {path: func(f *fixture) string { return "/api/v1/users/" + f.a.users[bulwark.RoleMember].ID },
		ownsIDs: true},
	"DELETE /api/v1/users/{id}/totp": {path: func(f *fixture) string { return "/api/v1/users/" + f.a.users[bulwark.RoleMember].ID + "/totp" },
		ownsIDs: true, ownCode: http.StatusNotFound},

	"GET /api/v1/tenants":           {path: fixed("/api/v1/tenants")},
	"GET /api/v1/operator/security": {path: fixed("/api/v1/operator/security")},
	"POST /api/v1/tenants":          {path: fixed("/api/v1/tenants"), body: `{"name":"new tenant"}`},

	"GET /api/v1/settings": {path: fixed("/api/v1/settings")},
	"PUT /api/v1/settings": {path: fixed("/api/v1/settings"), body: `{"model":"openai:other-model","mcp":{"mcpServers":{"other":{"command":"other-server"}}}}`},

	"GET /api/v1/audit":        {path: fixed("/api/v1/audit")},
	"GET /api/v1/security":     {path: fixed("/api/v1/security?window=week")},
	"GET /api/v1/audit/verify": {path: fixed("/api/v1/audit/verify")},

	"POST /api/v1/tasks":               {path: fixed("/api/v1/tasks"), body: `{"input":"hello","limits":{"max_steps":5,"max_duration":"1m"}}`},
	"GET /api/v1/tasks":                {path: withDone("/api/v1/tasks")},
	"GET /api/v1/tasks/{id}":           {path: done(""), ownsIDs: true},
	"POST /api/v1/tasks/{id}/cancel":   {path: waiting("/cancel"), ownsIDs: true},
	"POST /api/v1/tasks/{id}/messages": {path: waiting("/messages"), body: `{"text":"a message"}`, ownsIDs: true},
	"POST /api/v1/tasks/{id}/resume": {path: func(f *fixture) string { return "/api/v1/tasks/" + f.interruptedTask() + "/resume" },
		ownsIDs: true},
	"GET /api/v1/tasks/{id}/steps":           {path: done("/steps"), ownsIDs: true},
	"GET /api/v1/tasks/{id}/events":          {path: done("/events"), ownsIDs: true},
	"GET /api/v1/tasks/{id}/approvals":       {path: waiting("/approvals"), ownsIDs: true},
	"GET /api/v1/tasks/{id}/files":           {path: done("/files"), ownsIDs: true},
	"GET /api/v1/tasks/{id}/files/{path...}": {path: done("/files/out.txt"), ownsIDs: true},
	"PUT /api/v1/tasks/{id}/files/{path...}": {path: done("/files/up.txt"), body: "uploaded text", ownsIDs: true,
		header: map[string]string{"Content-Type": "application/octet-stream"}},
	"POST /api/v1/tasks/{id}/approvals/{aid}": {path: func(f *fixture) string {
		id := f.waitingTask()
		return "/api/v1/tasks/" + id + "/approvals/" + f.approval
	}, body: `{"decision":"allow"}`, ownsIDs: true},

	"POST /api/v1/schedules":        {path: fixed("/api/v1/schedules"), body: `{"cron":"@every 1h","input":"hello","timezone":"Europe/Paris"}`},
	"GET /api/v1/schedules":         {path: func(f *fixture) string { f.scheduleOfA(); return "/api/v1/schedules" }},
	"GET /api/v1/schedules/{id}":    {path: aSchedulePath, ownsIDs: true},
	"PUT /api/v1/schedules/{id}":    {path: aSchedulePath, body: `{"cron":"@daily","input":"changed"}`, ownsIDs: true},
	"DELETE /api/v1/schedules/{id}": {path: aSchedulePath, ownsIDs: true},

	"POST /ap/v1/agent/tasks":                          {path: fixed("/ap/v1/agent/tasks"), body: `{"input":"hello","additional_input":{"x":1}}`},
	"GET /ap/v1/agent/tasks":                           {path: withDone("/ap/v1/agent/tasks?current_page=1&page_size=5")},
	"GET /ap/v1/agent/tasks/{task_id}":                 {path: apDone(""), ownsIDs: true},
	"GET /ap/v1/agent/tasks/{task_id}/steps":           {path: apDone("/steps?page=1&pageSize=5"), ownsIDs: true},
	"POST /ap/v1/agent/tasks/{task_id}/steps":          {path: apDone("/steps"), ownsIDs: true},
	"GET /ap/v1/agent/tasks/{task_id}/steps/{step_id}": {path: apDone("/steps/step-1"), ownsIDs: true},
	"GET /ap/v1/agent/tasks/{task_id}/artifacts":       {path: apDone("/artifacts"), ownsIDs: true},
	"POST /ap/v1/agent/tasks/{task_id}/artifacts": {path: apDone("/artifacts"), body: multipartBody, ownsIDs: true,
		header: map[string]string{"Content-Type": "multipart/form-data; boundary=XYZ"}},
	"GET /ap/v1/agent/tasks/{task_id}/artifacts/{artifact_id}": {path: func(f *fixture) string {
		id := f.doneTask()
		return "/ap/v1/agent/tasks/" + id + "/artifacts/" + bulwark.ArtifactID(id, "out.txt")
	}, ownsIDs: true},

	// The web UI (pages.go): page shells and assets hold no data; any
	// caller gets them, and the data comes from the API routes above.
	"GET /{$}":              {path: fixed("/")},
	"GET /login":            {path: fixed("/login")},
	"GET /tasks":            {path: fixed("/tasks")},
	"GET /tasks/new":        {path: fixed("/tasks/new")},
	"GET /tasks/{id}":       {path: fixed("/tasks/t_x")},
	"GET /tasks/{id}/files": {path: fixed("/tasks/t_x/files")},
	"GET /settings":         {path: fixed("/settings")},
	"GET /keys":             {path: fixed("/keys")},
	"GET /secrets":          {path: fixed("/secrets")},
	"GET /schedules":        {path: fixed("/schedules")},
	"GET /memories":         {path: fixed("/memories")},
	"GET /skills":           {path: fixed("/skills")},
	"GET /users":            {path: fixed("/users")},
	"GET /audit":            {path: fixed("/audit")},
	"GET /security":         {path: fixed("/security")},
	"GET /account":          {path: fixed("/account")},
	"GET /assets/{path...}": {path: fixed("/assets/v/app.js")},

	// MCP (mcp.go): B's owner lists its tasks, never A's; GET is the
	// stream a stateless server does not have.
	"POST /mcp": {path: withDone("/mcp"), body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{}}}`,
		header: map[string]string{"Accept": "application/json, text/event-stream"}},
	"GET /mcp": {path: fixed("/mcp"), header: map[string]string{"Accept": "text/event-stream"}, ownCode: http.StatusMethodNotAllowed},
}

// ways are the credentials a route's side takes.
func ways(rt Route) []string {
	switch rt.Side {
	case API:
		return []string{"key"}
	case Browser:
		return []string{"session"}
	case BrowserOrAPI:
		return []string{"key", "session"}
	}
	return []string{"none"}
}

// as builds a request of tenant t's role, by way.
func (f *fixture) as(t *tenant, role bulwark.Role, way string, rq req) req {
	switch way {
	case "key":
		rq.key = t.keys[role]
	case "session":
		rq.cookie = f.session(t, role)
	}
	return rq
}

// TestRouteMatrix checks every route of the table: without credentials
// it is 401; a viewer gets 403 where the route needs more; tenant B using
// A's ids gets 404 and never sees A's data; tenant roles get 403 on the
// operator's routes; and A's owner (or the operator) is served.
func TestRouteMatrix(t *testing.T) {
	t.Parallel()
	routeMatrix(t, func(*testing.T) storeOpener { return openSQLite })
}

// TestRouteMatrixPostgres is TestRouteMatrix over PostgreSQL, each case
// on a fresh database: tenant isolation is the store's too (every query
// scoped by tenant), so it is checked on both.
func TestRouteMatrixPostgres(t *testing.T) {
	testfamily.Postgres.Require(t)
	t.Parallel()
	routeMatrix(t, func(t *testing.T) storeOpener { return openPostgres(t) })
}

// routeMatrix runs the matrix's checks of every route, over the store
// that store(t) opens for each case.
func routeMatrix(t *testing.T, store func(*testing.T) storeOpener) {
	srv := newEnv(t).srv
	seen := map[string]bool{}
	for _, rt := range srv.Routes() {
		seen[rt.String()] = true
		c, ok := matrix[rt.String()]
		if !ok {
			t.Errorf("route %s has no case in the security matrix (routes_test.go): add one", rt)
			continue
		}
		for _, way := range ways(rt) {
			t.Run(rt.String()+"/"+way, func(t *testing.T) {
				t.Parallel()
				checkRoute(t, rt, c, way, store(t))
			})
		}
	}
	for k := range matrix {
		if !seen[k] {
			t.Errorf("the matrix has a case for %s, which is not a route", k)
		}
	}
}

func checkRoute(t *testing.T, rt Route, c matrixCase, way string, open storeOpener) {
	f := newFixtureOn(t, open)
	e := f.e
	base := req{method: rt.Method, path: c.path(f), body: c.body, remote: "127.0.0.1:4000", header: c.header}

	if rt.Role != "" {
		if w := e.do(base); w.Code != http.StatusUnauthorized {
			t.Errorf("%s without credentials = %d %s, want 401", rt, w.Code, w.Body)
		}
		if w := e.do(f.as(f.a, bulwark.RoleViewer, way, base)); !bulwark.RoleViewer.AtLeast(rt.Role) && w.Code != http.StatusForbidden {
			t.Errorf("%s as A's viewer (%s) = %d %s, want 403", rt, way, w.Code, w.Body)
		}
	}
	switch {
	case rt.Role == bulwark.RoleOperator:
		for _, role := range bulwark.TenantRoles {
			if w := e.do(f.as(f.b, role, way, base)); w.Code != http.StatusForbidden {
				t.Errorf("%s as B's %s = %d, want 403", rt, role, w.Code)
			}
		}
	case rt.Role != "":
		w := e.do(f.as(f.b, bulwark.RoleOwner, way, base))
		if c.ownsIDs && w.Code != http.StatusNotFound {
			t.Errorf("%s as B's owner with A's id = %d %s, want 404", rt, w.Code, w.Body)
		}
		if w.Code >= 500 {
			t.Errorf("%s as B's owner = %d %s", rt, w.Code, w.Body)
		}
		for _, m := range f.markers() {
			if strings.Contains(base.path, m) {
				continue // B named it itself
			}
			if strings.Contains(w.Body.String(), m) || strings.Contains(w.Header().Get("Set-Cookie"), m) {
				t.Errorf("%s as B's owner shows A's %q: %s", rt, m, w.Body)
			}
		}
		if vals, err := e.db.SecretValues(context.Background(), f.a.id); err != nil || vals[aSecret] != aValue {
			t.Errorf("after %s as B's owner, A's secrets are %v, %v", rt, vals, err)
		}
		// The operator key has no tenant: tenant routes refuse it.
		if rt.Side != Browser {
			if w := e.do(req{method: rt.Method, path: base.path, body: base.body, key: f.operator}); w.Code != http.StatusForbidden {
				t.Errorf("%s with the operator key = %d, want 403", rt, w.Code)
			}
		}
	}
	// Last, as it may change A's records: A's owner (or the operator) is
	// served.
	own := f.as(f.a, bulwark.RoleOwner, way, base)
	if rt.Role == bulwark.RoleOperator {
		own = req{method: rt.Method, path: base.path, body: base.body, key: f.operator, remote: base.remote}
	}
	if c.ownBody != "" {
		own.body = c.ownBody
	}
	if w := e.do(own); c.ownCode != 0 && w.Code != c.ownCode {
		t.Errorf("%s as A's owner (%s) = %d %s, want %d", rt, way, w.Code, w.Body, c.ownCode)
	} else if c.ownCode == 0 && (w.Code < 200 || w.Code > 299) {
		t.Errorf("%s as A's owner (%s) = %d %s, want 2xx", rt, way, w.Code, w.Body)
	}
}

func TestRouteCheck(t *testing.T) {
	t.Parallel()
	h := func(http.ResponseWriter, *http.Request) error { return nil }
	bad := []Route{
		{Method: "GET", Pattern: "/x", Side: BrowserOrAPI, Handler: h}, // no role
		{Method: "GET", Pattern: "/x", Side: Public, Role: bulwark.RoleViewer, Handler: h},
		{Method: "GET", Pattern: "/x", Side: BrowserOrAPI, Role: bulwark.RoleOperator, Handler: h},
		{Method: "GET", Pattern: "/x", Side: API, Role: "root", Handler: h},
		{Method: "TRACE", Pattern: "/x", Side: Public, Handler: h},
		{Method: "GET", Pattern: "x", Side: Public, Handler: h},
		{Method: "GET", Pattern: "/x", Side: Public},
		{Method: "GET", Pattern: "/x", Handler: h},
		{Method: "GET", Pattern: "/healthz", Side: Public, Handler: h}, // taken
	}
	srv := newEnv(t).srv
	for _, rt := range bad {
		if err := srv.Handle(rt); err == nil {
			t.Errorf("Handle(%s, side %s, role %q) = nil, want an error", rt, rt.Side, rt.Role)
		}
	}
	srv.Handler()
	if err := srv.Handle(Route{Method: "GET", Pattern: "/late", Side: Public, Handler: h}); err == nil {
		t.Error("Handle after Handler = nil, want an error")
	}
}

// skillUpload is the body of a skill upload named name.
func skillUpload(name string) string {
	return `{"files":{"SKILL.md":"---\nname: ` + name + `\ndescription: A skill.\n---\nDo it well.","ref/notes.md":"notes"}}`
}
