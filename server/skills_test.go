package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestSkillsAPI: a skill is uploaded, listed (with the operator's), read
// back, replaced and deleted; each change is audited; an upload that is
// not a skill is refused with a message that says why; a name the
// operator has is stored with a warning that the operator's wins; another
// tenant's skill is not found.
func TestSkillsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, func(c *Config) {
		c.OperatorSkills = []OperatorSkill{{Name: "house-style", Description: "The operator's style."}}
	})
	a, b := e.tenant("a"), e.tenant("b")
	admin, viewer := a.keys[bulwark.RoleAdmin], a.keys[bulwark.RoleViewer]
	do := func(key, method, path, body string) (int, string) {
		t.Helper()
		w := e.do(req{method: method, path: path, body: body, key: key})
		return w.Code, w.Body.String()
	}
	if code, body := do(admin, "POST", "/api/v1/skills", skillUpload("pdf-forms")); code != http.StatusCreated || !strings.Contains(body, `"files":["SKILL.md","ref/notes.md"]`) {
		t.Fatalf("POST = %d %s", code, body)
	}
	if code, _ := do(admin, "POST", "/api/v1/skills", skillUpload("pdf-forms")); code != http.StatusConflict {
		t.Errorf("POST of an existing name = %d, want 409", code)
	}
	if code, _ := do(admin, "PUT", "/api/v1/skills/pdf-forms", skillUpload("pdf-forms")); code != http.StatusOK {
		t.Errorf("PUT replacing = %d, want 200", code)
	}
	code, body := do(viewer, "GET", "/api/v1/skills", "")
	var list skillsResponse
	json.Unmarshal([]byte(body), &list)
	if code != 200 || len(list.Skills) != 1 || list.Skills[0].Name != "pdf-forms" || list.Skills[0].Description != "A skill." ||
		len(list.Operator) != 1 || list.Operator[0].Name != "house-style" {
		t.Errorf("GET list = %d %s", code, body)
	}
	if code, body := do(viewer, "GET", "/api/v1/skills/pdf-forms", ""); code != 200 || !strings.Contains(body, "Do it well.") || !strings.Contains(body, `"ref/notes.md":"notes"`) {
		t.Errorf("GET one = %d %s", code, body)
	}
	// The operator's name: stored, with the warning.
	if code, body := do(admin, "PUT", "/api/v1/skills/house-style", skillUpload("house-style")); code != http.StatusCreated || !strings.Contains(body, `"shadowed":true`) || !strings.Contains(body, "operator") {
		t.Errorf("PUT of the operator's name = %d %s", code, body)
	}
	// Refused, with the reason.
	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/skills", `{"files":{"SKILL.md":"no front matter"}}`, "front matter"},
		{"/api/v1/skills", `{"files":{"SKILL.md":"---\nname: x\n---\n"}}`, "description"},
		{"/api/v1/skills", `{"files":{"README.md":"x"}}`, "SKILL.md"},
		{"/api/v1/skills", `{"files":{"SKILL.md":"---\nname: x\ndescription: d\n---\n","../escape.md":"x"}}`, "inside the skill"},
		{"/api/v1/skills", `{"files":{"SKILL.md":"---\nname: x\ndescription: d\n---\n","/etc/cron.d/x":"x"}}`, "inside the skill"},
		{"/api/v1/skills", `{"files":{"SKILL.md":"---\nname: Bad Name\ndescription: d\n---\n"}}`, "lowercase"},
		{"/api/v1/skills/other-name", skillUpload("pdf-forms"), `not \"other-name\"`},
		{"/api/v1/skills", `{"files":{"SKILL.md":"---\nname: big\ndescription: d\n---\n","big.md":"` + strings.Repeat("x", 300<<10) + `"}}`, "over the limit"},
	} {
		method := "POST"
		if c.path != "/api/v1/skills" {
			method = "PUT"
		}
		if code, body := do(admin, method, c.path, c.body); code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s %s %.60s = %d %s; want 400 saying %q", method, c.path, c.body, code, body, c.want)
		}
	}
	// Viewers read, admins write.
	if code, _ := do(viewer, "PUT", "/api/v1/skills/mine", skillUpload("mine")); code != http.StatusForbidden {
		t.Errorf("PUT as a viewer = %d, want 403", code)
	}
	// Another tenant.
	for _, m := range []string{"GET", "DELETE"} {
		if code, _ := do(b.keys[bulwark.RoleOwner], m, "/api/v1/skills/pdf-forms", ""); code != http.StatusNotFound {
			t.Errorf("%s of A's skill by B = %d, want 404", m, code)
		}
	}
	if code, body := do(b.keys[bulwark.RoleOwner], "GET", "/api/v1/skills", ""); strings.Contains(body, "pdf-forms") {
		t.Errorf("B's list = %d %s", code, body)
	}
	if code, _ := do(admin, "DELETE", "/api/v1/skills/pdf-forms", ""); code != http.StatusNoContent {
		t.Errorf("DELETE = %d", code)
	}
	if code, _ := do(admin, "GET", "/api/v1/skills/pdf-forms", ""); code != http.StatusNotFound {
		t.Errorf("GET after DELETE = %d", code)
	}
	if code, _ := do(admin, "GET", "/api/v1/skills/..%2f..%2fetc", ""); code != http.StatusNotFound {
		t.Errorf("GET of a path-like name = %d, want 404", code)
	}
	if n, u, d := len(e.audited("skill.create")), len(e.audited("skill.update")), len(e.audited("skill.delete")); n != 2 || u != 1 || d != 1 {
		t.Errorf("audited create/update/delete = %d/%d/%d, want 2/1/1", n, u, d)
	}
}

// TestSkillsHoldNoSecretValues: a skill is shown to every member of the
// tenant, viewers included, so one whose files hold a secret's value is
// refused, as the settings' MCP document is; one that held a value
// before the secret was set is shown masked. Text that only looks like a
// credential (examples in documentation) is accepted.
func TestSkillsHoldNoSecretValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	admin, viewer := a.keys[bulwark.RoleAdmin], a.keys[bulwark.RoleViewer]
	if err := e.db.SetSecret(context.Background(), a.id, oracleSecret, oracleValue); err != nil {
		t.Fatal(err)
	}
	upload := func(name, notes string) string {
		return `{"files":{"SKILL.md":"---\nname: ` + name + `\ndescription: A skill.\n---\nDo it well.","ref/notes.md":"` + notes + `"}}`
	}
	w := e.do(req{method: "POST", path: "/api/v1/skills", key: admin, body: upload("leaky", "token "+oracleValue)})
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), oracleValue) {
		t.Errorf("POST a skill holding a secret's value = %d %s, want 400", w.Code, w.Body)
	}
	example := `export API_KEY=sk-proj-EXAMPLEexampleEXAMPLEexample0123456789`
	if w := e.do(req{method: "POST", path: "/api/v1/skills", key: admin, body: upload("fine", example)}); w.Code != http.StatusCreated {
		t.Fatalf("POST a skill with an example key = %d %s, want 201", w.Code, w.Body)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/skills", key: admin, body: upload("later", "value later-set-value-4f9a")}); w.Code != http.StatusCreated {
		t.Fatalf("POST = %d %s", w.Code, w.Body)
	}
	if err := e.db.SetSecret(context.Background(), a.id, "LATER", "later-set-value-4f9a"); err != nil {
		t.Fatal(err)
	}
	w = e.do(req{method: "GET", path: "/api/v1/skills/later", key: viewer})
	if w.Code != 200 || strings.Contains(w.Body.String(), "later-set-value-4f9a") || !strings.Contains(w.Body.String(), "[REDACTED:LATER]") {
		t.Errorf("GET a skill holding a secret set since = %d %s, want it masked", w.Code, w.Body)
	}
	// A description and a path are shown in the list too.
	body := `{"files":{"SKILL.md":"---\nname: described\ndescription: Deploys with desc-later-value-7c1e.\n---\nDo it.","desc-later-value-7c1e/a.md":"x"}}`
	if w := e.do(req{method: "POST", path: "/api/v1/skills", key: admin, body: body}); w.Code != http.StatusCreated {
		t.Fatalf("POST = %d %s", w.Code, w.Body)
	}
	if err := e.db.SetSecret(context.Background(), a.id, "DESC", "desc-later-value-7c1e"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/skills", "/api/v1/skills/described"} {
		w = e.do(req{method: "GET", path: path, key: viewer})
		if w.Code != 200 || strings.Contains(w.Body.String(), "desc-later-value-7c1e") || !strings.Contains(w.Body.String(), "Deploys with [REDACTED:DESC]") {
			t.Errorf("GET %s, a description and a path holding a secret set since = %d %s, want them masked", path, w.Code, w.Body)
		}
	}
}
