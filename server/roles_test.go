package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// refusedByRoute is the message of the route's own role and scope check.
const refusedByRoute = "your role does not allow this"

// TestRouteRolesAndScopes checks every route of the table against its
// declared role and scope, generated from the table: each tenant role
// below the route's is refused (403), the route's own role is served
// (2xx), the roles above it pass the route's check; an owner key with a
// single scope is refused on the routes of every other scope and passes on
// its own scope's (and on routes of no scope). Tenant roles and scoped
// keys are refused on the operator's routes.
func TestRouteRolesAndScopes(t *testing.T) {
	t.Parallel()
	for _, rt := range newEnv(t).srv.Routes() {
		if rt.Role == "" {
			continue // public: TestRouteMatrix
		}
		c, ok := matrix[rt.String()]
		if !ok {
			continue // TestRouteMatrix fails for it
		}
		for _, way := range ways(rt) {
			t.Run(rt.String()+"/"+way, func(t *testing.T) {
				t.Parallel()
				checkRoles(t, rt, c, way)
			})
		}
	}
}

func checkRoles(t *testing.T, rt Route, c matrixCase, way string) {
	f := newFixture(t)
	e := f.e
	base := req{method: rt.Method, path: c.path(f), body: c.body, remote: "127.0.0.1:4000", header: c.header}
	if c.ownBody != "" {
		base.body = c.ownBody
	}
	// Keys of A's owner with one scope each.
	scoped := map[string]string{}
	if way == "key" {
		for _, sc := range Scopes {
			tok, _, err := IssueKey(context.Background(), e.db, f.a.id, KeySpec{Name: sc + " only", Role: bulwark.RoleOwner, Scopes: []string{sc}, CreatedBy: "test"})
			if err != nil {
				t.Fatal(err)
			}
			scoped[sc] = tok
		}
	}
	refused := func(w *httptest.ResponseRecorder) bool {
		return w.Code == http.StatusForbidden && strings.Contains(w.Body.String(), refusedByRoute)
	}

	if rt.Role == bulwark.RoleOperator {
		for _, role := range bulwark.TenantRoles {
			if w := e.do(f.as(f.a, role, way, base)); !refused(w) {
				t.Errorf("%s as A's %s = %d %s, want 403", rt, role, w.Code, w.Body)
			}
		}
		for sc, key := range scoped {
			if w := e.do(withKey(base, key)); !refused(w) {
				t.Errorf("%s with an owner key of scope %s = %d %s, want 403", rt, sc, w.Code, w.Body)
			}
		}
		return
	}

	// Below the route's role, refused; then the route's role itself is
	// served, before anything else may change A's records.
	var above []bulwark.Role
	for _, role := range bulwark.TenantRoles {
		switch {
		case !role.AtLeast(rt.Role):
			if w := e.do(f.as(f.a, role, way, base)); !refused(w) {
				t.Errorf("%s as A's %s (%s) = %d %s, want 403: the route needs %s", rt, role, way, w.Code, w.Body, rt.Role)
			}
		case role == rt.Role:
			if w := e.do(f.as(f.a, role, way, base)); (w.Code < 200 || w.Code > 299) && (c.ownCode == 0 || w.Code != c.ownCode) {
				t.Errorf("%s as A's %s (%s), the least role it allows = %d %s, want 2xx", rt, role, way, w.Code, w.Body)
			}
		default:
			above = append(above, role)
		}
	}
	// The rest may find the records changed (a user deleted, a task
	// canceled): they must pass the route's check, whatever the handler
	// answers then.
	for _, role := range above {
		if w := e.do(f.as(f.a, role, way, base)); w.Code == http.StatusUnauthorized || refused(w) || w.Code >= 500 {
			t.Errorf("%s as A's %s (%s) = %d %s, want it past the route's check", rt, role, way, w.Code, w.Body)
		}
	}
	for _, sc := range Scopes {
		key, ok := scoped[sc]
		if !ok {
			continue
		}
		w := e.do(withKey(base, key))
		switch {
		case rt.Scope != "" && rt.Scope != sc:
			if !refused(w) {
				t.Errorf("%s (scope %s) with an owner key of scope %s = %d %s, want 403", rt, rt.Scope, sc, w.Code, w.Body)
			}
		case w.Code == http.StatusUnauthorized || refused(w) || w.Code >= 500:
			t.Errorf("%s (scope %q) with an owner key of scope %s = %d %s, want it past the route's check", rt, rt.Scope, sc, w.Code, w.Body)
		}
	}
}

func withKey(rq req, key string) req {
	rq.key, rq.cookie = key, ""
	return rq
}

// declared is the access each authenticated route is meant to have: its
// least role, its scope and its side. A change to the route table that
// widens a route (a lower role, no scope, another side) fails here, and
// must be made on purpose in both places.
var declared = map[string]string{
	"POST /api/v1/logout":                                      "viewer  browser",
	"POST /api/v1/logout-all":                                  "viewer  browser",
	"GET /api/v1/me":                                           "viewer  browser-or-api",
	"POST /api/v1/me/totp":                                     "viewer  browser",
	"POST /api/v1/me/totp/confirm":                             "viewer  browser",
	"GET /api/v1/me/totp/qr":                                   "viewer  browser",
	"DELETE /api/v1/me/totp":                                   "viewer  browser",
	"GET /api/v1/keys":                                         "admin keys browser-or-api",
	"POST /api/v1/keys":                                        "admin keys browser-or-api",
	"DELETE /api/v1/keys/{id}":                                 "admin keys browser-or-api",
	"POST /api/v1/keys/{id}/rotate":                            "admin keys browser-or-api",
	"GET /api/v1/memories":                                     "viewer tasks browser-or-api",
	"POST /api/v1/memories":                                    "member tasks browser-or-api",
	"GET /api/v1/memories/{id}":                                "viewer tasks browser-or-api",
	"PUT /api/v1/memories/{id}":                                "member tasks browser-or-api",
	"DELETE /api/v1/memories/{id}":                             "member tasks browser-or-api",
	"GET /api/v1/skills":                                       "viewer settings browser-or-api",
	"POST /api/v1/skills":                                      "admin settings browser-or-api",
	"GET /api/v1/skills/{name}":                                "viewer settings browser-or-api",
	"PUT /api/v1/skills/{name}":                                "admin settings browser-or-api",
	"DELETE /api/v1/skills/{name}":                             "admin settings browser-or-api",
	"GET /api/v1/secrets":                                      "admin secrets browser-or-api",
	"PUT /api/v1/secrets/{name}":                               "admin secrets browser-or-api",
	"DELETE /api/v1/secrets/{name}":                            "admin secrets browser-or-api",
	"POST /api/v1/schedules":                                   "member tasks browser-or-api",
	"GET /api/v1/schedules":                                    "viewer tasks browser-or-api",
	"GET /api/v1/schedules/{id}":                               "viewer tasks browser-or-api",
	"PUT /api/v1/schedules/{id}":                               "member tasks browser-or-api",
	"DELETE /api/v1/schedules/{id}":                            "member tasks browser-or-api",
	"GET /api/v1/users":                                        "admin users browser-or-api",
	"POST /api/v1/users":                                       "admin users browser-or-api",
	"PATCH /api/v1/users/{id}":                                 "admin users browser-or-api",
	"DELETE /api/v1/users/{id}":                                "admin users browser-or-api",
	"DELETE /api/v1/users/{id}/totp":                           "admin users browser-or-api",
	"GET /api/v1/tenants":                                      "operator  api",
	"GET /api/v1/operator/security":                            "operator  api",
	"POST /api/v1/tenants":                                     "operator  api",
	"GET /api/v1/settings":                                     "viewer settings browser-or-api",
	"PUT /api/v1/settings":                                     "admin settings browser-or-api",
	"GET /api/v1/audit":                                        "admin audit browser-or-api",
	"GET /api/v1/audit/verify":                                 "admin audit browser-or-api",
	"GET /api/v1/security":                                     "admin audit browser-or-api",
	"POST /api/v1/tasks":                                       "member tasks browser-or-api",
	"GET /api/v1/tasks":                                        "viewer tasks browser-or-api",
	"GET /api/v1/tasks/{id}":                                   "viewer tasks browser-or-api",
	"POST /api/v1/tasks/{id}/cancel":                           "member tasks browser-or-api",
	"POST /api/v1/tasks/{id}/messages":                         "member tasks browser-or-api",
	"POST /api/v1/tasks/{id}/resume":                           "member tasks browser-or-api",
	"GET /api/v1/tasks/{id}/steps":                             "viewer tasks browser-or-api",
	"GET /api/v1/tasks/{id}/events":                            "viewer tasks browser-or-api",
	"GET /api/v1/tasks/{id}/approvals":                         "viewer tasks browser-or-api",
	"POST /api/v1/tasks/{id}/approvals/{aid}":                  "member tasks browser-or-api",
	"GET /api/v1/tasks/{id}/files":                             "viewer tasks browser-or-api",
	"GET /api/v1/tasks/{id}/files/{path...}":                   "viewer tasks browser-or-api",
	"PUT /api/v1/tasks/{id}/files/{path...}":                   "member tasks browser-or-api",
	"POST /ap/v1/agent/tasks":                                  "member tasks api",
	"GET /ap/v1/agent/tasks":                                   "viewer tasks api",
	"GET /ap/v1/agent/tasks/{task_id}":                         "viewer tasks api",
	"GET /ap/v1/agent/tasks/{task_id}/steps":                   "viewer tasks api",
	"POST /ap/v1/agent/tasks/{task_id}/steps":                  "member tasks api",
	"GET /ap/v1/agent/tasks/{task_id}/steps/{step_id}":         "viewer tasks api",
	"GET /ap/v1/agent/tasks/{task_id}/artifacts":               "viewer tasks api",
	"POST /ap/v1/agent/tasks/{task_id}/artifacts":              "member tasks api",
	"GET /ap/v1/agent/tasks/{task_id}/artifacts/{artifact_id}": "viewer tasks api",
	"POST /mcp":                                                "viewer tasks api", // each tool then needs its task route's role (mcp.go)
	"GET /mcp":                                                 "viewer tasks api",
}

func TestRouteDeclaredAccess(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, rt := range newEnv(t).srv.Routes() {
		if rt.Role == "" {
			if rt.Side != Public && rt.Side != Browser {
				t.Errorf("%s has no role on side %s", rt, rt.Side)
			}
			continue
		}
		seen[rt.String()] = true
		got := fmt.Sprintf("%s %s %s", rt.Role, rt.Scope, rt.Side)
		if want, ok := declared[rt.String()]; !ok || got != want {
			t.Errorf("%s is %q (role scope side), want %q", rt, got, want)
		}
	}
	for k := range declared {
		if !seen[k] {
			t.Errorf("%s is declared but not an authenticated route", k)
		}
	}
}
