package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// fetchOpenAPI gets the document as a client without credentials does.
func fetchOpenAPI(t *testing.T, e *env) map[string]any {
	t.Helper()
	w := e.do(req{method: "GET", path: "/api/v1/openapi.json"})
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json = %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return doc
}

// opOf returns the operation of rt in doc, or nil.
func opOf(doc map[string]any, rt Route) map[string]any {
	path, _ := openAPIPath(rt.Pattern)
	item, _ := dig(doc, "paths", path).(map[string]any)
	op, _ := item[strings.ToLower(rt.Method)].(map[string]any)
	return op
}

// dig follows keys into nested JSON objects; nil when one is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestOpenAPICoversEveryRoute: every route of the table is in the
// document, with its side, role and scope, and has a description in
// opDocs (or is a page of the web UI); the document has no operation that
// is not a route, and opDocs none for a route that does not exist.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	doc := fetchOpenAPI(t, e)
	docs := opDocs()
	routes := e.srv.Routes()
	names := map[string]bool{}
	for _, rt := range routes {
		names[rt.String()] = true
		if _, ok := docs[rt.String()]; !ok && !isPage(rt) {
			t.Errorf("route %s has no entry in opDocs (openapi_ops.go): add one", rt)
		}
		op := opOf(doc, rt)
		if op == nil {
			t.Errorf("route %s is missing from the API document", rt)
			continue
		}
		checks := []struct{ key, want string }{
			{"x-bulwark-route", rt.String()},
			{"x-bulwark-side", rt.Side.String()},
			{"x-bulwark-role", string(rt.Role)},
			{"x-bulwark-scope", rt.Scope},
		}
		for _, c := range checks {
			if got, _ := op[c.key].(string); got != c.want {
				t.Errorf("%s: %s = %q, want %q", rt, c.key, got, c.want)
			}
		}
		sec, _ := op["security"].([]any)
		want := map[Side]int{Public: 0, API: 1, Browser: 0, BrowserOrAPI: 2}[rt.Side]
		if rt.Side == Browser && rt.Role != "" {
			want = 1
		}
		if len(sec) != want {
			t.Errorf("%s: security = %v, want %d schemes for side %s", rt, sec, want, rt.Side)
		}
	}
	for name := range docs {
		if !names[name] {
			t.Errorf("opDocs describes %s, which is not a route", name)
		}
	}
	n := 0
	for _, item := range doc["paths"].(map[string]any) {
		n += len(item.(map[string]any))
	}
	if n != len(routes) {
		t.Errorf("the document has %d operations, the table %d routes", n, len(routes))
	}
}

var refPattern = regexp.MustCompile(`^#/components/(schemas|responses|securitySchemes)/[A-Za-z0-9_]+$`)

// TestOpenAPIValid checks the document against the rules of OpenAPI 3.1
// a generator can break: version, info, every operation with responses
// and a unique operationId, every $ref resolving, every path parameter
// declared (and none declared that the path lacks), every security
// requirement naming a scheme, and an error response for every status the
// server's error kinds map to.
func TestOpenAPIValid(t *testing.T) {
	t.Parallel()
	doc := fetchOpenAPI(t, newEnv(t))
	for _, p := range openAPIProblems(doc) {
		t.Error(p)
	}
}

// openAPIProblems lists what is wrong with doc.
func openAPIProblems(doc map[string]any) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		bad("openapi = %q, want 3.1.x", v)
	}
	for _, k := range []string{"title", "version"} {
		if s, _ := dig(doc, "info", k).(string); s == "" {
			bad("info.%s is missing", k)
		}
	}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		bad("no paths")
		return problems
	}
	schemes, _ := dig(doc, "components", "securitySchemes").(map[string]any)
	ids := map[string]string{}
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	for path, v := range paths {
		if !strings.HasPrefix(path, "/") {
			bad("path %q does not start with /", path)
		}
		inPath := map[string]bool{}
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
			inPath[m[1]] = true
		}
		for method, ov := range v.(map[string]any) {
			where := method + " " + path
			if !slices.Contains(methods, method) {
				bad("%s: %q is not a method", where, method)
				continue
			}
			op := ov.(map[string]any)
			resp, _ := op["responses"].(map[string]any)
			if len(resp) == 0 {
				bad("%s has no responses", where)
			}
			for code := range resp {
				if n, err := strconv.Atoi(code); code != "default" && (err != nil || n < 100 || n > 599) {
					bad("%s: response %q is not a status", where, code)
				}
			}
			id, _ := op["operationId"].(string)
			if other, dup := ids[id]; id == "" || dup {
				bad("%s: operationId %q empty or also used by %s", where, id, other)
			}
			ids[id] = where
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				if p["in"] == "path" {
					declared[p["name"].(string)] = true
					if p["required"] != true {
						bad("%s: path parameter %v is not required", where, p["name"])
					}
				}
				if p["schema"] == nil {
					bad("%s: parameter %v has no schema", where, p["name"])
				}
			}
			for name := range inPath {
				if !declared[name] {
					bad("%s: path parameter {%s} is not declared", where, name)
				}
			}
			for name := range declared {
				if !inPath[name] {
					bad("%s: parameter %s is not in the path", where, name)
				}
			}
			sec, ok := op["security"].([]any)
			if !ok {
				bad("%s: no security (public operations say [])", where)
			}
			for _, req := range sec {
				for name := range req.(map[string]any) {
					if schemes[name] == nil {
						bad("%s: security scheme %q is not defined", where, name)
					}
				}
			}
		}
	}
	walkRefs(bad, doc, doc, "#")
	responses, _ := dig(doc, "components", "responses").(map[string]any)
	for _, k := range errorKinds {
		st := statusFor(bulwark.Errorf(k, "", ""))
		if responses[errorResponseName(st)] == nil {
			bad("no error response for %d, the status of %s", st, k)
		}
	}
	return problems
}

// walkRefs checks that every $ref under v resolves in doc.
func walkRefs(bad func(string, ...any), doc, v any, at string) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			if !refPattern.MatchString(ref) {
				bad("%s: $ref %q is not a local component", at, ref)
			} else if dig(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...) == nil {
				bad("%s: $ref %q does not resolve", at, ref)
			}
		}
		for k, e := range v {
			walkRefs(bad, doc, e, at+"/"+k)
		}
	case []any:
		for i, e := range v {
			walkRefs(bad, doc, e, at+"/"+strconv.Itoa(i))
		}
	}
}

// TestOpenAPICheckFails: the checks above catch a broken document (so
// TestOpenAPIValid can fail).
func TestOpenAPICheckFails(t *testing.T) {
	t.Parallel()
	breaks := map[string]func(doc map[string]any){
		"version":  func(doc map[string]any) { doc["openapi"] = "3.0.3" },
		"dangling": func(doc map[string]any) { delete(dig(doc, "components", "schemas").(map[string]any), "TaskView") },
		"param": func(doc map[string]any) {
			delete(dig(doc, "paths", "/api/v1/tasks/{id}", "get").(map[string]any), "parameters")
		},
		"responses":   func(doc map[string]any) { delete(dig(doc, "paths", "/healthz", "get").(map[string]any), "responses") },
		"error kinds": func(doc map[string]any) { delete(dig(doc, "components", "responses").(map[string]any), "Error404") },
	}
	e := newEnv(t)
	for name, breakIt := range breaks {
		doc := fetchOpenAPI(t, e)
		breakIt(doc)
		if len(openAPIProblems(doc)) == 0 {
			t.Errorf("a document broken by %q passes the checks", name)
		}
	}
}

// TestOpenAPIBodiesMatchHandlers ties the document's schemas to the
// handlers: for each route with a JSON body, a body with an unknown field
// is answered with the fields the handler takes, which must be the
// properties of the request's schema; and each JSON GET answers an object
// whose fields are all in its response's schema.
func TestOpenAPIBodiesMatchHandlers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.e
	doc := fetchOpenAPI(t, e)
	docs := opDocs()
	as := func(rt Route, rq req) req {
		switch {
		case rt.Role == bulwark.RoleOperator:
			rq.key = f.operator
		case rt.Side == Browser && rt.Role != "":
			rq.cookie = f.session(f.a, bulwark.RoleOwner)
		case rt.Role != "":
			rq.key = f.a.keys[bulwark.RoleOwner]
		}
		return rq
	}
	for _, rt := range e.srv.Routes() {
		d, ok := docs[rt.String()]
		if !ok {
			continue
		}
		c := matrix[rt.String()]
		op := opOf(doc, rt)
		if d.body != nil {
			want := propertiesOf(t, doc, dig(op, "requestBody", "content", "application/json", "schema"))
			w := e.do(as(rt, req{method: rt.Method, path: c.path(f), body: `{"zz_not_a_field":1}`}))
			msg := errorOf(t, w).Message
			_, list, found := strings.Cut(msg, "the fields are ")
			if w.Code != 400 || !found {
				t.Errorf("%s with an unknown field = %d %q, want 400 listing the fields", rt, w.Code, msg)
				continue
			}
			got := strings.Split(list, ", ")
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s takes the fields %v; its schema in the document has %v", rt, got, want)
			}
		}
		if rt.Method == "GET" && d.kind == jsonBody && d.resp != nil {
			want := propertiesOf(t, doc, dig(op, "responses", "200", "content", "application/json", "schema"))
			if want == nil {
				continue // a map: any fields
			}
			w := e.do(as(rt, req{method: "GET", path: c.path(f)}))
			var got map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != 200 || err != nil {
				t.Errorf("GET %s = %d %s", c.path(f), w.Code, w.Body)
				continue
			}
			for k := range got {
				if !slices.Contains(want, k) {
					t.Errorf("%s answers the field %q, not in its schema %v", rt, k, want)
				}
			}
		}
	}
}

// propertiesOf returns the sorted property names of a schema (through a
// $ref), or nil when it has none (a map).
func propertiesOf(t *testing.T, doc map[string]any, schema any) []string {
	t.Helper()
	if ref, ok := dig(schema, "$ref").(string); ok {
		schema = dig(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
	}
	props, _ := dig(schema, "properties").(map[string]any)
	var out []string
	for k := range props {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIDocumentsConflicts: the task routes that answer 409 for a
// task in the wrong state (cancel or resume of an ended task, a message
// with limits to a running one) list 409 among their responses.
func TestOpenAPIDocumentsConflicts(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	doc := fetchOpenAPI(t, te.env)
	v := te.createTask(te.key, "hang")
	te.waitTask(te.key, v.ID, func(v taskView) bool { return v.Status == bulwark.TaskRunning })
	msg := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/messages", key: te.key, body: `{"text":"x","limits":{"max_steps":3}}`})
	te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	te.waitTask(te.key, v.ID, ended)
	answers := map[string]int{"POST /api/v1/tasks/{id}/messages": msg.Code}
	for _, r := range []string{"cancel", "resume"} {
		answers["POST /api/v1/tasks/{id}/"+r] = te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/" + r, key: te.key}).Code
	}
	for route, code := range answers {
		method, path, _ := strings.Cut(route, " ")
		if code == 409 && dig(doc, "paths", path, strings.ToLower(method), "responses", "409") == nil {
			t.Errorf("%s answers 409, which its responses in the document do not list", route)
		}
	}
}

// TestOpenAPIClaimsNoMCPClient: the document promises no MCP tool calls
// that no code makes (the tools are the built-in ones).
func TestOpenAPIClaimsNoMCPClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	desc, _ := dig(fetchOpenAPI(t, e), "info", "description").(string)
	if strings.Contains(desc, "tasks may call MCP tools") || !strings.Contains(desc, "POST /mcp serves") {
		t.Errorf("the document's MCP paragraph claims more than the code does:\n%s", desc)
	}
}

// TestOpenAPIFinishReasons: where the document shows why a task ended
// (an event's and a task's reason), it names every reason, leak
// included, without an enum a later reason would break.
func TestOpenAPIFinishReasons(t *testing.T) {
	t.Parallel()
	doc := fetchOpenAPI(t, newFixture(t).e)
	for _, schema := range []string{"Event", "TaskView"} {
		reason, _ := dig(doc, "components", "schemas", schema, "properties", "reason").(map[string]any)
		desc, _ := reason["description"].(string)
		if reason["type"] != "string" || reason["enum"] != nil {
			t.Errorf("%s.reason = %v, want a string without an enum", schema, reason)
		}
		for _, r := range bulwark.FinishReasons {
			if !strings.Contains(desc, "`"+string(r)+"`") {
				t.Errorf("%s.reason's description %q does not name %s", schema, desc, r)
			}
		}
	}
}
