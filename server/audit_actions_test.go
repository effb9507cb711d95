package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Canaries of what people send; no audit record may hold one.
const (
	auditInputCanary   = "AuditInputCanary4Rk8Task"
	auditMessageCanary = "AuditMessageCanary7Pw2Turn"
	auditFileCanary    = "AuditFileCanary1Mz6Body"
	auditSecretCanary  = "AuditSecretCanary3Vb9Value"
	auditPassCanary    = "AuditPassCanary5Qn4Tried"
)

// TestSecurityActionsAudited drives every security-relevant action of a
// tenant through the server (keys, users, secrets, settings, logins,
// tasks created, canceled, continued and resumed, uploads, approval
// decisions) and checks that each has its record, in the tenant's own
// chain, naming who did it, and that no record holds what was sent (a
// task's input, a message, a file's content, a secret's value, a
// password).
func TestSecurityActionsAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.e
	owner := f.a.keys[bulwark.RoleOwner]
	ok := func(what string, w interface {
		Result() *http.Response
	}, body string) {
		t.Helper()
		if c := w.Result().StatusCode; c < 200 || c > 299 {
			t.Fatalf("%s = %d %s", what, c, body)
		}
	}
	call := func(method, path, body string) string {
		t.Helper()
		w := e.do(req{method: method, path: path, body: body, key: owner})
		ok(method+" "+path, w, w.Body.String())
		return w.Body.String()
	}

	var k createKeyResponse
	json.Unmarshal([]byte(call("POST", "/api/v1/keys", `{"name":"audited key","role":"viewer"}`)), &k)
	call("DELETE", "/api/v1/keys/"+k.Key.ID, "")
	var u bulwark.User
	json.Unmarshal([]byte(call("POST", "/api/v1/users", `{"email":"audited@a.test","role":"viewer","password":"`+testPassword+`"}`)), &u)
	call("PATCH", "/api/v1/users/"+u.ID, `{"role":"member"}`)
	call("DELETE", "/api/v1/users/"+u.ID, "")
	call("PUT", "/api/v1/secrets/AUDITED", `{"value":"`+auditSecretCanary+`"}`)
	call("DELETE", "/api/v1/secrets/AUDITED", "")
	e.login(f.a.users[bulwark.RoleMember].Email)
	e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(f.a.users[bulwark.RoleMember].Email, auditPassCanary)})

	// Tasks: one created (and canceled), one of the Agent Protocol, a
	// message that continues an ended task, an upload, a resumed task and
	// an approval decided.
	created := e.createTask(owner, "write:"+auditInputCanary)
	call("POST", "/api/v1/tasks/"+created.ID+"/cancel", "")
	e.do(req{method: "POST", path: "/ap/v1/agent/tasks", body: `{"input":"` + auditInputCanary + `"}`, key: owner})
	ended := f.doneTask()
	w := e.do(req{method: "PUT", path: "/api/v1/tasks/" + ended + "/files/up.txt", body: auditFileCanary, key: owner,
		header: map[string]string{"Content-Type": "application/octet-stream"}})
	ok("PUT file", w, w.Body.String())
	call("POST", "/api/v1/tasks/"+ended+"/messages", `{"text":"`+auditMessageCanary+`"}`)
	call("POST", "/api/v1/tasks/"+f.interruptedTask()+"/resume", "")
	waiting := f.waitingTask()
	call("POST", "/api/v1/tasks/"+waiting+"/approvals/"+f.approval, `{"decision":"allow"}`)
	var sched bulwark.Schedule
	json.Unmarshal([]byte(call("POST", "/api/v1/schedules", `{"cron":"@daily","input":"`+auditInputCanary+`"}`)), &sched)
	call("PUT", "/api/v1/schedules/"+sched.ID, `{"cron":"@hourly","input":"`+auditInputCanary+`"}`)
	call("DELETE", "/api/v1/schedules/"+sched.ID, "")
	call("PUT", "/api/v1/settings", `{"model":"openai:audited-model"}`) // last: it clears the policy the waiting task needs

	want := map[string]string{ // action: its target, "" for any
		"key.create": k.Key.ID, "key.revoke": k.Key.ID,
		"user.create": u.ID, "user.role_change": u.ID, "user.delete": u.ID,
		"secret.set": "", "secret.delete": "", "settings.update": "",
		"auth.login": "", "auth.login_failed": "",
		"task.create": created.ID, "task.cancel_requested": created.ID,
		"task.message": ended, "task.continue": ended, "file.upload": ended,
		"task.resume": f.interrupted, "approval.decide": waiting,
		"schedule.create": sched.ID, "schedule.update": sched.ID, "schedule.delete": sched.ID,
	}
	canaries := []string{auditInputCanary, auditMessageCanary, auditFileCanary, auditSecretCanary, auditPassCanary}
	ctx := context.Background()
	if e.srv.unauth != nil {
		e.srv.unauth.Flush(ctx, true)
	}
	chains, _ := e.audits.List(ctx)
	for _, c := range chains {
		for r, err := range e.audits.Store(c).Read(ctx, 1) {
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(r)
			for _, can := range canaries {
				if strings.Contains(string(b), can) {
					t.Errorf("the audit record %s holds %q: %s", r.Action, can, b)
				}
			}
			target, wanted := want[r.Action]
			if !wanted || r.TenantID != string(f.a.id) || target != "" && r.Target != target {
				continue
			}
			if r.Action != "auth.login_failed" && !strings.HasPrefix(r.Actor, "key:") && !strings.HasPrefix(r.Actor, "user:") {
				t.Errorf("the record %s names no actor: %+v", r.Action, r)
			}
			delete(want, r.Action)
		}
	}
	for action, target := range want {
		t.Errorf("no %s record of %s in tenant A's chain", action, target)
	}
}

// TestAgentProtocolMessageAudited: input sent to a running task through
// the Agent Protocol's step route is a message like POST .../messages,
// and is audited like one (its size, not its text).
func TestAgentProtocolMessageAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.e
	owner := f.a.keys[bulwark.RoleOwner]
	id := f.waitingTask()
	done := make(chan int, 1)
	go func() {
		w := e.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + id + "/steps", body: `{"input":"` + auditMessageCanary + `"}`, key: owner})
		done <- w.Code
	}()
	var recs []string
	for range 500 {
		recs = recs[:0]
		for _, r := range e.audited("task.message") {
			if r.Target == id && r.TenantID == string(f.a.id) {
				b, _ := json.Marshal(r)
				recs = append(recs, string(b))
			}
		}
		if len(recs) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.do(req{method: "POST", path: "/api/v1/tasks/" + id + "/approvals/" + f.approval, body: `{"decision":"allow"}`, key: owner})
	if code := <-done; code != http.StatusOK {
		t.Errorf("the step with input = %d", code)
	}
	if len(recs) != 1 {
		t.Fatalf("task.message records of the Agent Protocol input: %q, want one", recs)
	}
	if strings.Contains(recs[0], auditMessageCanary) {
		t.Errorf("the record holds the message: %s", recs[0])
	}
}
