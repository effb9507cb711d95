package server

import "github.com/bulwark-agents/bulwark"

// opDoc is what the API document says of a route beyond the route table
// (method, path, side, role, scope, body limit): its summary, the Go types
// of its request and response bodies (their schemas are built from the
// types, see schemas), its query parameters and its success status.
// Every route of the table has one (TestOpenAPICoversEveryRoute), except
// the web UI's pages, which are documented alike (pageDoc).
type opDoc struct {
	summary string
	desc    string
	query   []queryParam
	body    any      // the JSON request body's Go value; nil: none
	optBody bool     // the body may be left out
	status  int      // the success status; 0: 200
	resp    any      // the JSON response's Go value, for kind jsonBody
	kind    bodyKind // what the success response holds
	upload  uploadKind
	errors  []int // error statuses the route answers beyond the common ones (409 for a task in the wrong state)
}

type queryParam struct{ name, typ, desc string }

// bodyKind is what a success response holds.
type bodyKind uint8

const (
	jsonBody    bodyKind = iota // application/json, of resp's type
	noBody                      // nothing (204)
	eventStream                 // text/event-stream
	fileBody                    // a file's bytes, as an attachment
	htmlBody                    // an HTML page of the web UI
	textBody                    // text/plain (the Prometheus metrics)
	assetBody                   // a static file of the web UI
	svgBody                     // an SVG image the server draws
)

// uploadKind is how a route takes a file.
type uploadKind uint8

const (
	noUpload        uploadKind = iota
	rawOrMultipart             // PUT .../files/{path...}
	multipartUpload            // the Agent Protocol's artifacts
)

var (
	pageParams = []queryParam{
		{"current_page", "integer", "the page, from 1 (also: page); default 1"},
		{"page_size", "integer", "items per page, 1 to 100 (also: pageSize); default 10"},
	}
)

// statusMap is the body of /healthz and /readyz, for the OpenAPI document;
// a function, as a map literal is built by the package's init.
func statusMap() map[string]string { return map[string]string{"status": ""} }

// opDocs describes every route of the server's own tables.
func opDocs() map[string]opDoc {
	return map[string]opDoc{
		"GET /healthz": {summary: "Liveness: the process answers", resp: statusMap()},
		"GET /readyz":  {summary: "Readiness: the store answers and the server takes requests", resp: statusMap()},
		"GET /metrics": {summary: "Prometheus metrics", kind: textBody,
			desc: "Served to loopback clients that name localhost or a loopback address in Host, or to any client with `Authorization: Bearer` and the operator's BULWARK_METRICS_TOKEN."},
		"GET /api/v1/openapi.json": {summary: "This document (OpenAPI 3.1)", resp: map[string]any{}},

		"POST /api/v1/login": {summary: "Log in: starts a browser session", body: loginRequest{}, resp: meResponse{},
			desc: "Sets the `__Host-bulwark_session` cookie (and a device cookie that spares this browser the slow-down after failures elsewhere). `tenant` is needed only when the email has a user in several tenants. Failed logins slow down per account and per client (429 with Retry-After). " +
				"A user whose second factor is on also gives `code` (a TOTP code or a recovery code). A failed login without `code` answers 401 with the error code `second_factor_required`, whether the password was right or not and whether the account has a second factor or not; with `code`, 401 `unauthenticated`. " +
				"`enrol_second_factor: true`: the tenant requires a second factor and the user has none; until it is on, other routes answer 403 `second_factor_enrolment_required`."},
		"POST /api/v1/logout":     {summary: "Log out: ends this session", kind: noBody, status: 204},
		"POST /api/v1/logout-all": {summary: "Log out everywhere: ends every session of this user", kind: noBody, status: 204},
		"GET /api/v1/me":          {summary: "Who is calling: tenant, role, and the user and session or the key", resp: meResponse{}},
		"POST /api/v1/me/totp": {summary: "Start turning on a second factor (TOTP): a new secret, shown this once", body: beginTOTPRequest{}, status: 201, resp: beginTOTPResponse{},
			desc: "Needs the user's password (a stolen session alone must not add a factor that locks the user out; wrong ones slow down as failed logins do). The secret is pending until confirmed; a new call replaces it. 409 when the second factor is already on.", errors: []int{409}},
		"POST /api/v1/me/totp/confirm": {summary: "Turn the second factor on with a code of it; returns recovery codes, shown this once", body: codeRequest{}, resp: confirmTOTPResponse{},
			desc: "Each recovery code logs in once in place of a code. The user's other sessions end; this one gets a new cookie.", errors: []int{409}},
		"GET /api/v1/me/totp/qr": {summary: "The pending second factor's otpauth URL as a QR code (SVG)", kind: svgBody,
			desc: "An `image/svg+xml` image, drawn by the server, for the enrolment page. 404 when no second factor is pending."},
		"DELETE /api/v1/me/totp": {summary: "Turn your second factor off", body: codeRequest{}, optBody: true, kind: noBody, status: 204,
			desc: "A second factor that is on needs a current code or a recovery code; wrong codes count as failed logins (429 with Retry-After)."},

		"GET /api/v1/keys": {summary: "List the tenant's API keys (never their secrets)", resp: keysResponse{}},
		"POST /api/v1/keys": {summary: "Create an API key; its token is shown this once", body: createKeyRequest{}, status: 201, resp: createKeyResponse{},
			desc: "A key gets at most the caller's role, scopes and expiry."},
		"DELETE /api/v1/keys/{id}": {summary: "Revoke an API key", kind: noBody, status: 204},
		"POST /api/v1/keys/{id}/rotate": {summary: "Rotate an API key: a new token, shown this once; the old key works for a grace period", body: rotateKeyRequest{}, optBody: true, status: 201, resp: rotateKeyResponse{},
			desc: "The new key has the old one's name, role, scopes and rights, and its expiry unless `expires_in` is given. `grace` (default 1h, at most 168h, 0s for none) is how long the old key keeps working. A key above the caller, or one the caller could not create (more scopes, a later expiry), is refused with 403.", errors: []int{409}},

		"GET /api/v1/secrets": {summary: "List the tenant's secrets: names and dates, never values", resp: secretsResponse{}},
		"PUT /api/v1/secrets/{name}": {summary: "Set or replace a secret", body: putSecretRequest{}, kind: noBody, status: 204,
			desc: "`hosts` binds the value to the hosts it may be sent to; `inject` says where in a request to them (default `[\"headers\"]`: header values only; add `url` or `body` to allow those). A placeholder elsewhere refuses the request, so a host that stores what it is sent cannot hand the value back transformed."},
		"DELETE /api/v1/secrets/{name}": {summary: "Delete a secret", kind: noBody, status: 204},

		"POST /api/v1/schedules": {summary: "Create a schedule that starts a task at each tick, as its creator", body: scheduleRequest{}, status: 201, resp: bulwark.Schedule{},
			desc: "`cron` is five fields (\"0 9 * * 1-5\"), a descriptor (\"@daily\") or \"@every 1h\", read in `timezone` (IANA, default UTC); a spec that fires more often than BULWARK_MIN_SCHEDULE_INTERVAL (1m) is refused. A tick while the previous run is active is skipped unless `overlap`. The input is checked as a task's."},
		"GET /api/v1/schedules":         {summary: "List the tenant's schedules, with their next run, runs and skipped ticks", resp: schedulesResponse{}},
		"GET /api/v1/schedules/{id}":    {summary: "Get a schedule", resp: bulwark.Schedule{}},
		"PUT /api/v1/schedules/{id}":    {summary: "Replace a schedule; the caller becomes its owner", body: scheduleRequest{}, resp: bulwark.Schedule{}},
		"DELETE /api/v1/schedules/{id}": {summary: "Delete a schedule", kind: noBody, status: 204},
		"GET /api/v1/memories": {summary: "List or search the memories you may read: the tenant's and your own", resp: memoriesResponse{},
			query: []queryParam{{"q", "string", "words to search for, best match first; none: newest first"}, {"limit", "integer", "most memories returned (1 to 100, default 20)"}},
			desc:  "A memory with `tainted: true` was written by a task that had read text flagged as prompt injection: tasks that recall it see it marked untrusted."},
		"POST /api/v1/memories": {summary: "Remember something", body: memoryRequest{}, status: 201, resp: bulwark.Memory{},
			desc: "`scope` is `user` (the default: your tasks only) or `tenant` (every task of the tenant). Text is at most 8 KB, at most 16 tags; a tenant keeps at most 10,000 memories."},
		"GET /api/v1/memories/{id}": {summary: "One memory", resp: bulwark.Memory{}},
		"PUT /api/v1/memories/{id}": {summary: "Edit a memory", body: memoryRequest{}, resp: bulwark.Memory{},
			desc: "Replaces the text and tags. `tainted: false` clears the taint flag, once a person has checked the memory (audited)."},
		"DELETE /api/v1/memories/{id}": {summary: "Forget a memory", kind: noBody, status: 204},
		"GET /api/v1/skills":           {summary: "List the tenant's skills (names, descriptions, file paths) and the operator's (names and descriptions)", resp: skillsResponse{}},
		"POST /api/v1/skills": {summary: "Upload a new skill: SKILL.md and the files beside it", body: putSkillRequest{}, status: 201, resp: skillResponse{},
			desc: "`files` maps paths inside the skill's folder to their text; SKILL.md starts with front matter naming the skill and describing it. " +
				"A name the tenant has is 409; one the operator has is stored, but tasks use the operator's (`shadowed`, `warning`).", errors: []int{409}},
		"GET /api/v1/skills/{name}": {summary: "A skill with its files", resp: bulwark.StoredSkill{}},
		"PUT /api/v1/skills/{name}": {summary: "Create or replace a skill", body: putSkillRequest{}, resp: skillResponse{},
			desc: "The name in SKILL.md must be the path's. 201 when created, 200 when replaced."},
		"DELETE /api/v1/skills/{name}": {summary: "Delete a skill", kind: noBody, status: 204},

		"GET /api/v1/users":         {summary: "List the tenant's users", resp: usersResponse{}},
		"POST /api/v1/users":        {summary: "Create a user", body: createUserRequest{}, status: 201, resp: bulwark.User{}},
		"PATCH /api/v1/users/{id}":  {summary: "Change a user's role", body: patchUserRequest{}, resp: bulwark.User{}},
		"DELETE /api/v1/users/{id}": {summary: "Delete a user, ending their sessions and revoking their keys", kind: noBody, status: 204},
		"DELETE /api/v1/users/{id}/totp": {summary: "Reset a user's second factor (for a lost device); the user's sessions end", kind: noBody, status: 204,
			desc: "Not your own (use DELETE /api/v1/me/totp with a code), nor that of a user above you. 404 when the user has none."},
		"GET /api/v1/tenants":  {summary: "List tenants (operator key)", resp: tenantsResponse{}},
		"POST /api/v1/tenants": {summary: "Create a tenant and its first owner key (operator key)", body: createTenantRequest{}, status: 201, resp: createTenantResponse{}},
		"GET /api/v1/settings": {summary: "The tenant's settings: model, policy, allowlists, MCP servers, limits", resp: settingsResponse{}},
		"PUT /api/v1/settings": {summary: "Replace the tenant's settings", body: putSettingsRequest{}, resp: settingsResponse{},
			desc: "A field left out takes its default (the MCP servers: none), except `api_key`, which is then kept. Values above the operator's ceilings are refused with 400 naming the ceiling; an MCP servers document that the server cannot use (its form, a URL outside `allowed_domains`, a secret's value instead of `{{secret:NAME}}`) with 400 `mcp: ...`."},
		"GET /api/v1/audit/verify": {summary: "Verify the tenant's audit chain", query: []queryParam{{"full", "boolean", "check the whole chain, not only what was added since the last signed checkpoint"}}, resp: verifyResponse{}},
		"GET /api/v1/operator/security": {summary: "Every tenant's security and usage charts (operator key)", resp: operatorSecurityResponse{}, query: []queryParam{
			{"window", "string", "day (by hour, the default) or week (by day)"},
			{"tenant", "string", "only this tenant's charts"},
		}},
		"GET /api/v1/security": {summary: "Charts of the tenant's security events and usage", resp: securityResponse{}, query: []queryParam{
			{"window", "string", "day (by hour, the default) or week (by day)"},
			{"format", "string", "json (the default: each chart's points, with links to the audit records behind them, and its SVG shapes) or svg (one SVG document of every chart)"},
		}, desc: "Each series is a filter of the audit log; a point's `href` is the /audit page listing the records it counts."},
		"GET /api/v1/audit": {summary: "The tenant's audit records, oldest first", resp: auditResponse{}, query: []queryParam{
			{"action", "string", "an action, or a prefix ending in *; several (at most 16), comma-separated, for any of them; each filter at most 512 bytes"},
			{"actor", "string", "who acted"},
			{"outcome", "string", "ok, denied or error"},
			{"detail", "string", "KEY=VALUE: records whose details hold KEY with VALUE (decided_by=person)"},
			{"since", "string", "RFC 3339 time"},
			{"until", "string", "RFC 3339 time"},
			{"after", "integer", "the `next` of the previous page"},
			{"limit", "integer", "records per page"},
		}},

		"POST /api/v1/tasks": {summary: "Start a task", body: createTaskRequest{}, status: 201, resp: taskView{},
			desc: "The task is queued at once and runs on the server's workers within the tenant's quota; follow it with the events stream."},
		"GET /api/v1/tasks": {summary: "List the tenant's tasks, newest first", resp: taskList{}, query: []queryParam{
			{"status", "string", "only tasks of these statuses, comma-separated: queued, running, waiting, succeeded, failed, canceled, interrupted"},
			{"limit", "integer", "tasks per page, 1 to 200; default 50"},
			{"cursor", "string", "the `next_cursor` of the previous page"},
			{"parent", "string", "only the sub-agent tasks (delegate) of this task"},
		}},
		"GET /api/v1/tasks/{id}": {summary: "A task: status, usage, answer, its parent and its sub-agents", resp: taskView{}},
		"POST /api/v1/tasks/{id}/cancel": {summary: "Cancel a task", status: 202, resp: taskView{}, errors: []int{409},
			desc: "A task that has already ended answers 409."},
		"POST /api/v1/tasks/{id}/messages": {summary: "Send a message to a task", body: messageRequest{}, status: 202, resp: messageAnswer{}, errors: []int{409},
			desc: "To a queued, running or waiting task the message is delivered (`status: delivered`): the answer to its question, or read before its next step. To a stopped task (succeeded, failed, canceled or interrupted) it starts a new turn of the conversation (`status: continued`), in the same workspace, with `limits` (or the task's own) as the turn's budget, within the tenant's settings and the operator's ceilings (`limits` above a ceiling are refused with 400 naming it, as a new task's are)."},
		"POST /api/v1/tasks/{id}/resume": {summary: "Resume an interrupted task", status: 202, resp: taskView{}, errors: []int{409},
			desc: "A task interrupted by a restart runs again from its stored conversation and files. Other states answer 409."},
		"GET /api/v1/tasks/{id}/approvals": {summary: "The approvals a task waits for", resp: approvalList{}},
		"POST /api/v1/tasks/{id}/approvals/{aid}": {summary: "Answer an approval", body: decisionRequest{}, resp: map[string]string{"id": "", "decision": ""},
			desc: "`decision` is `allow` or `deny`."},
		"GET /api/v1/tasks/{id}/steps": {summary: "A task's stored events, in order", resp: stepList{}, query: []queryParam{
			{"after", "integer", "only events after this sequence number (the `next_after` of the previous page)"},
			{"limit", "integer", "events per page, 1 to 1000; default 200"},
		}},
		"GET /api/v1/tasks/{id}/events": {summary: "A task's events as Server-Sent Events", kind: eventStream,
			query: []queryParam{{"after", "integer", "start after this sequence number (as Last-Event-ID)"}},
			desc:  "Each event is `id: SEQ`, `event: TYPE`, `data: {the event as JSON}` (schema Event). Stored events come first, then live ones; reconnect with `Last-Event-ID` (or `?after=`) to get exactly the events after the last one seen. The stream ends after `task_finished`."},
		"GET /api/v1/tasks/{id}/files":           {summary: "List a task's files", resp: fileList{}},
		"GET /api/v1/tasks/{id}/files/{path...}": {summary: "Download a task's file (an attachment)", kind: fileBody},
		"PUT /api/v1/tasks/{id}/files/{path...}": {summary: "Upload a file into a task's workspace", status: 201, resp: bulwark.Artifact{}, upload: rawOrMultipart,
			desc: "The body is the file: its raw bytes with any Content-Type (application/octet-stream, text/plain, image/png, ...), or multipart/form-data with one file part. The file's extension must be allowed (BULWARK_ALLOWED_FILE_TYPES) and its content of that type (415 otherwise); it must fit the size cap and the tenant's storage quota (413 otherwise). Nothing may go into `.bulwark/`."},

		"POST /ap/v1/agent/tasks":                          {summary: "Agent Protocol: create a task", body: apTaskRequest{}, resp: apTask{}},
		"GET /ap/v1/agent/tasks":                           {summary: "Agent Protocol: list tasks", query: pageParams, resp: apTaskList{}},
		"GET /ap/v1/agent/tasks/{task_id}":                 {summary: "Agent Protocol: a task", resp: apTask{}},
		"GET /ap/v1/agent/tasks/{task_id}/steps":           {summary: "Agent Protocol: a task's steps (its model turns)", query: pageParams, resp: apStepList{}},
		"POST /ap/v1/agent/tasks/{task_id}/steps":          {summary: "Agent Protocol: execute the next step", body: apStepRequest{}, optBody: true, resp: apStep{}, desc: "Waits for the task's next model turn. An empty body continues; `input` is sent to the task as a message: into its running turn, or, to a task that has stopped, as the start of a new turn of its conversation (as `POST /api/v1/tasks/{id}/messages` does). Where it cannot go on, the step's `additional_output.input_not_delivered` says why."},
		"GET /ap/v1/agent/tasks/{task_id}/steps/{step_id}": {summary: "Agent Protocol: a step", resp: apStep{}},
		"GET /ap/v1/agent/tasks/{task_id}/artifacts":       {summary: "Agent Protocol: list a task's artifacts (its files)", query: pageParams, resp: apArtifactList{}},
		"POST /ap/v1/agent/tasks/{task_id}/artifacts": {summary: "Agent Protocol: upload an artifact", resp: apArtifact{}, upload: multipartUpload,
			query: []queryParam{
				{"relative_path", "string", "the folder to put the file in (or the part relative_path)"},
				{"file_name", "string", "the file's name, for a raw body"},
			},
			desc: "multipart/form-data with the file in the part `file`, as the protocol says; or, beyond it, the file's raw bytes with any other Content-Type (application/octet-stream, text/plain, image/png, ...) and its name in `file_name`. The file passes the same checks as PUT /api/v1/tasks/{id}/files/{path}."},
		"GET /ap/v1/agent/tasks/{task_id}/artifacts/{artifact_id}": {summary: "Agent Protocol: download an artifact", kind: fileBody},

		"POST /mcp": {summary: "MCP: Bulwark's tasks as an MCP server (Streamable HTTP, stateless)", resp: map[string]any{},
			desc: "The body is a JSON-RPC message of the Model Context Protocol (Content-Type: application/json; Accept: application/json, text/event-stream); the answer is JSON or an event stream, as the client accepts. Tools: create_task, get_task, list_tasks, cancel_task, send_message, list_approvals, decide_approval; resources: bulwark://tasks/{id}/transcript, .../files, .../files/{path}. Each tool needs the role of the task route it stands for (a viewer's key lists and reads)."},
		"GET /mcp": {summary: "MCP: the server-initiated stream, which this stateless server does not have: 405 once authenticated", kind: noBody},
	}
}

// pageDoc documents a route of the web UI (pages.go): a page shell or
// its assets, HTML or static files that hold no data.
func pageDoc(rt Route) opDoc {
	if rt.Pattern == assetsPattern() {
		return opDoc{summary: "Web UI: a static asset (script, style, icon)", kind: assetBody}
	}
	return opDoc{summary: "Web UI page " + rt.Pattern + " (its script reads the API with the session cookie)", kind: htmlBody}
}
