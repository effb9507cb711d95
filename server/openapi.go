package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/bytesize"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/web"
)

// The API reference: GET /api/v1/openapi.json serves an OpenAPI 3.1
// document of every route of the table, made from the table itself
// (method, path, side, role, scope, body limit) and the Go types the
// handlers decode and write (openapi_schema.go), with what the table does
// not say in opDocs (openapi_ops.go). It is public: it describes the
// server, not any tenant's data, and is the same for every caller.

// openAPIDoc is the document, made once: the route table is fixed by
// then (Handler was called to serve the request).
type openAPIDoc struct {
	once sync.Once
	body []byte
	err  error
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	s.openapi.once.Do(func() {
		doc, err := buildOpenAPI(s.Routes(), s.maxFileSize())
		if err == nil {
			s.openapi.body, err = json.MarshalIndent(doc, "", "  ")
		}
		s.openapi.err = err
	})
	if s.openapi.err != nil {
		return bulwark.E(bulwark.Internal, "server.openAPI", "the API document cannot be made", s.openapi.err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Security-Policy", cspJSON)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(s.openapi.body)
	return nil
}

const apiDescription = `Bulwark's HTTP API. Every route is listed here, generated from the server's route table.

**Authentication.** API clients send ` + "`Authorization: Bearer bwk_...`" + ` (a key from ` + "`bulwark tenants create`" + ` or POST /api/v1/keys); such requests never read cookies, need no CSRF protection, and their bodies must be JSON (` + "`Content-Type: application/json`" + `) except file uploads. Browsers log in with POST /api/v1/login and are then authenticated by the ` + "`" + sessionCookie + "`" + ` cookie; their state-changing requests (POST, PUT, PATCH, DELETE) must be same-origin: they are refused when Sec-Fetch-Site or Origin names another site, when they carry neither, or when Origin has another scheme. Each operation says which it takes (` + "`x-bulwark-side`" + `: public, api, browser or browser-or-api), the least role (` + "`x-bulwark-role`" + `: viewer < member < admin < owner; operator for the operator's key), the key scope it belongs to (` + "`x-bulwark-scope`" + `: a key with scopes reaches only those routes) and the most bytes of body it reads (` + "`x-bulwark-max-body`" + `). An id of another tenant is answered 404.

**Errors** are JSON: ` + "`" + `{"error":{"code":"not_found","message":"...","request_id":"..."}}` + "`" + `. The code is stable (see ErrorBody); the message is meant for people and may change. Unknown fields in a JSON body are refused, naming the fields the request takes. 429 answers carry Retry-After.

**Agent Protocol.** The routes under /ap/v1/agent are the Agent Protocol v1 (https://agentprotocol.ai), with the same bearer keys: a protocol task is a Bulwark task, a step one model turn, an artifact one of its files.

**MCP.** A tenant's MCP servers are part of its settings (` + "`mcp`" + ` in GET and PUT /api/v1/settings): the ` + "`mcpServers`" + ` document other MCP clients use, with ` + "`{{secret:NAME}}`" + ` in place of secret values; their tools are named ` + "`mcp__SERVER__TOOL`" + ` in policy rules. POST /mcp serves the caller's tasks to MCP clients (Streamable HTTP, stateless: any node answers any request), with the same bearer keys, roles and tenant scoping as the task routes.`

// buildOpenAPI makes the document of routes. maxFile is the upload cap.
func buildOpenAPI(routes []Route, maxFile int64) (map[string]any, error) {
	docs := opDocs()
	sch := newSchemas()
	errName := sch.define(reflect.TypeFor[errorBody]())
	paths := map[string]map[string]any{}
	ids := map[string]string{}
	for _, rt := range routes {
		doc, ok := docs[rt.String()]
		if !ok {
			doc = pageDoc(rt)
			if !isPage(rt) {
				doc = opDoc{summary: rt.String(), kind: jsonBody, resp: map[string]any{}}
			}
		}
		path, params := openAPIPath(rt.Pattern)
		op := operation(rt, doc, params, sch, maxFile)
		id := operationID(rt)
		if other, dup := ids[id]; dup {
			return nil, fmt.Errorf("routes %s and %s have the same operationId %s", other, rt, id)
		}
		ids[id] = rt.String()
		op["operationId"] = id
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": map[string]any{
			"title":       "Bulwark HTTP API",
			"version":     "v1",
			"description": apiDescription,
		},
		"servers": []any{map[string]any{"url": "/", "description": "this server"}},
		"tags": []any{
			map[string]any{"name": "server", "description": "health, readiness, metrics, this document"},
			map[string]any{"name": "identity", "description": "login, keys, users, tenants"},
			map[string]any{"name": "tenant", "description": "secrets, settings, audit log"},
			map[string]any{"name": "tasks", "description": "tasks, their events, approvals and files"},
			map[string]any{"name": "agent-protocol", "description": "Agent Protocol v1, https://agentprotocol.ai"},
			map[string]any{"name": "web-ui", "description": "the browser UI's pages and assets"},
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         sch.defs,
			"responses":       errorResponses(errName),
			"securitySchemes": securitySchemes(),
		},
	}, nil
}

// isPage reports whether rt is a route of the web UI (pages.go).
func isPage(rt Route) bool {
	if rt.Side != Browser || rt.Role != "" || rt.Method != http.MethodGet {
		return false
	}
	if rt.Pattern == web.AssetsPath {
		return true
	}
	return slices.ContainsFunc(web.Pages, func(p web.Page) bool { return p.Path == rt.Pattern })
}

func assetsPattern() string { return web.AssetsPath }

var pathParam = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`) }}

// openAPIPath turns a ServeMux pattern into an OpenAPI path and its
// parameters: "/{$}" is "/", and "{path...}" is "{path}" (a parameter
// that may hold slashes).
func openAPIPath(pattern string) (string, []any) {
	p := strings.TrimSuffix(pattern, "{$}")
	var params []any
	for _, m := range pathParam.Get().FindAllStringSubmatch(p, -1) {
		desc := "an id"
		if m[2] != "" {
			desc = "the rest of the path; it may hold slashes (data/input.csv)"
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"description": desc, "schema": map[string]any{"type": "string"}})
	}
	return pathParam.Get().ReplaceAllString(p, "{$1}"), params
}

// operationID is a unique name of rt: "get_api_v1_tasks_id".
func operationID(rt Route) string {
	id := strings.ToLower(rt.Method) + "_" + strings.Trim(strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, strings.TrimSuffix(rt.Pattern, "{$}")), "_")
	id = regexp.MustCompile(`_+`).ReplaceAllString(id, "_")
	return strings.TrimSuffix(id, "_")
}

func tagOf(rt Route) string {
	switch {
	case isPage(rt):
		return "web-ui"
	case rt.Side == Public:
		return "server"
	case strings.HasPrefix(rt.Pattern, "/ap/"):
		return "agent-protocol"
	case rt.Scope == "tasks":
		return "tasks"
	case rt.Scope == "secrets" || rt.Scope == "settings" || rt.Scope == "audit":
		return "tenant"
	}
	return "identity"
}

// operation is the Operation Object of rt.
func operation(rt Route, doc opDoc, params []any, sch *schemas, maxFile int64) map[string]any {
	op := map[string]any{
		"summary":         doc.summary,
		"tags":            []any{tagOf(rt)},
		"x-bulwark-route": rt.String(),
		"x-bulwark-side":  rt.Side.String(),
		"security":        security(rt),
	}
	if doc.desc != "" {
		op["description"] = doc.desc
	}
	if rt.Role != "" {
		op["x-bulwark-role"] = string(rt.Role)
	}
	if rt.Scope != "" {
		op["x-bulwark-scope"] = rt.Scope
	}
	hasBody := doc.body != nil || doc.upload != noUpload
	if hasBody {
		op["x-bulwark-max-body"] = orDefault(rt.MaxBody, DefaultMaxBody)
	}
	for _, q := range doc.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc,
			"schema": map[string]any{"type": q.typ}})
	}
	if doc.kind == eventStream {
		params = append(params, map[string]any{"name": "Last-Event-ID", "in": "header",
			"description": "the id of the last event seen: the stream resumes after it", "schema": map[string]any{"type": "string"}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	switch {
	case doc.body != nil:
		op["requestBody"] = map[string]any{"required": !doc.optBody, "content": map[string]any{
			"application/json": map[string]any{"schema": sch.of(reflect.TypeOf(doc.body))}}}
	case doc.upload != noUpload:
		op["requestBody"] = uploadBody(doc.upload, maxFile)
	}
	status := orDefault(doc.status, http.StatusOK)
	responses := map[string]any{strconv.Itoa(status): successResponse(doc, sch)}
	ref := func(code int) {
		responses[strconv.Itoa(code)] = map[string]any{"$ref": "#/components/responses/" + errorResponseName(code)}
	}
	if hasBody || len(params) > 0 {
		ref(http.StatusBadRequest)
	}
	if rt.Role != "" {
		ref(http.StatusUnauthorized)
		ref(http.StatusForbidden)
	}
	if strings.Contains(rt.Pattern, "{") && !isPage(rt) {
		ref(http.StatusNotFound)
	}
	if hasBody {
		ref(http.StatusRequestEntityTooLarge)
	}
	if doc.upload != noUpload {
		ref(http.StatusUnsupportedMediaType)
	}
	for _, code := range doc.errors {
		ref(code)
	}
	ref(http.StatusTooManyRequests)
	responses["default"] = map[string]any{"$ref": "#/components/responses/Error"}
	op["responses"] = responses
	return op
}

func orDefault[T int | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// security is who may call rt: nobody in particular ({} alone), a bearer
// key, the session cookie, or either.
func security(rt Route) []any {
	key := map[string]any{"bearerKey": []any{}}
	cookie := map[string]any{"sessionCookie": []any{}}
	switch {
	case rt.Side == API:
		return []any{key}
	case rt.Side == BrowserOrAPI:
		return []any{key, cookie}
	case rt.Side == Browser && rt.Role != "":
		return []any{cookie}
	}
	return []any{}
}

func securitySchemes() map[string]any {
	return map[string]any{
		"bearerKey": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "bwk_...",
			"description": "An API key (`bwk_...`) in `Authorization: Bearer`. Cookies are not read on such requests, and no CSRF check applies."},
		"sessionCookie": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie,
			"description": "The session cookie set by POST /api/v1/login (Secure, HttpOnly, SameSite=Lax). State-changing requests (POST, PUT, PATCH, DELETE) must be same-origin: refused when Sec-Fetch-Site or Origin marks them cross-site, when they carry neither, or when Origin has another scheme (origins the operator trusts excepted). There is no CSRF token. API keys are refused on browser-only routes."},
	}
}

func uploadBody(kind uploadKind, maxFile int64) map[string]any {
	binary := map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}
	parts := map[string]any{"file": binary}
	desc := fmt.Sprintf("the file, at most %s", bytesize.Text(maxFile))
	if kind == multipartUpload {
		parts["relative_path"] = map[string]any{"type": "string", "description": "the folder to put the file in"}
		return map[string]any{"required": true, "description": desc + ": multipart/form-data with the file in the part `file`, as the protocol says; or the raw bytes with any other Content-Type and the name in ?file_name=", "content": map[string]any{
			"multipart/form-data":      map[string]any{"schema": map[string]any{"type": "object", "required": []any{"file"}, "properties": parts}},
			"application/octet-stream": map[string]any{"schema": binary},
			"*/*":                      map[string]any{"schema": binary},
		}}
	}
	return map[string]any{"required": true, "description": desc + ": the raw bytes with any Content-Type, or multipart/form-data with one file part", "content": map[string]any{
		"application/octet-stream": map[string]any{"schema": binary},
		"multipart/form-data":      map[string]any{"schema": map[string]any{"type": "object", "required": []any{"file"}, "properties": parts}},
		"*/*":                      map[string]any{"schema": binary},
	}}
}

func successResponse(doc opDoc, sch *schemas) map[string]any {
	text := func(ctype, desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{ctype: map[string]any{"schema": map[string]any{"type": "string"}}}}
	}
	switch doc.kind {
	case noBody:
		return map[string]any{"description": "done"}
	case eventStream:
		sch.define(reflect.TypeFor[bulwark.Event]())
		return text("text/event-stream", "the task's events: `id: SEQ`, `event: TYPE`, `data:` an Event as JSON")
	case fileBody:
		return map[string]any{"description": "the file, as an attachment: text/plain for text, else application/octet-stream",
			"content": map[string]any{"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}}}}
	case htmlBody:
		return text("text/html", "the page")
	case textBody:
		return text("text/plain", "metrics in the Prometheus text format")
	case assetBody:
		return map[string]any{"description": "the asset (JavaScript, CSS, SVG)"}
	case svgBody:
		return text("image/svg+xml", "the image")
	}
	return map[string]any{"description": "OK", "content": map[string]any{
		"application/json": map[string]any{"schema": sch.of(reflect.TypeOf(doc.resp))}}}
}

// errorKinds are the error kinds a client may see.
var errorKinds = []bulwark.Kind{bulwark.Invalid, bulwark.Unauthenticated, bulwark.PermissionDenied, bulwark.NotFound,
	bulwark.Conflict, bulwark.RateLimited, bulwark.QuotaExceeded, bulwark.Unavailable, bulwark.Canceled, bulwark.Internal}

// errorStatuses maps each status the server answers errors with to the
// codes it carries, as statusFor and writeError decide them.
func errorStatuses() map[int][]string {
	out := map[int][]string{
		http.StatusMethodNotAllowed:      {"method_not_allowed"},
		http.StatusRequestEntityTooLarge: {bulwark.QuotaExceeded.String(), bulwark.Invalid.String()},
		http.StatusUnsupportedMediaType:  {bulwark.Invalid.String()},
		// The second factor's own codes (errorCode): a login without a code,
		// a session that must enrol first, a wrong code to turn it off.
		http.StatusUnauthorized: {codeSecondFactorRequired},
		http.StatusForbidden:    {codeEnrolSecondFactor, codeBadSecondFactor},
	}
	for _, k := range errorKinds {
		st := statusFor(bulwark.Errorf(k, "", ""))
		if !slices.Contains(out[st], k.String()) {
			out[st] = append(out[st], k.String())
		}
	}
	mb := statusFor(bulwark.E(bulwark.QuotaExceeded, "", "", &http.MaxBytesError{}))
	if !slices.Contains(out[mb], bulwark.QuotaExceeded.String()) {
		out[mb] = append(out[mb], bulwark.QuotaExceeded.String())
	}
	return out
}

func errorResponseName(status int) string { return "Error" + strconv.Itoa(status) }

func errorResponses(schema string) map[string]any {
	body := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{
			"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + schema}}}}
	}
	out := map[string]any{"Error": body("an error; `error.code` is one of " + strings.Join(allCodes(), ", "))}
	for st, codes := range errorStatuses() {
		sort.Strings(codes)
		r := body(http.StatusText(st) + ": `error.code` " + strings.Join(codes, " or "))
		if st == http.StatusTooManyRequests {
			r["headers"] = map[string]any{"Retry-After": map[string]any{"description": "seconds to wait", "schema": map[string]any{"type": "integer"}}}
		}
		out[errorResponseName(st)] = r
	}
	return out
}

func allCodes() []string {
	var out []string
	for _, k := range errorKinds {
		out = append(out, k.String())
	}
	return append(out, "method_not_allowed")
}
