package server

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// schemas builds the JSON Schemas (OpenAPI 3.1 dialect) of the API's
// request and response bodies from their Go types, by reflection over
// struct fields and json tags as encoding/json reads them, so the
// document cannot drift from what the handlers decode and write. Each
// named struct becomes a component ("#/components/schemas/Task") that
// every use refers to.
type schemas struct {
	defs  map[string]map[string]any // name: schema
	names map[reflect.Type]string
}

func newSchemas() *schemas {
	return &schemas{defs: map[string]map[string]any{}, names: map[reflect.Type]string{}}
}

// The types the schemas treat apart. Functions, which inline to a
// constant, rather than variables the package's init would set.
func timeType() reflect.Type         { return reflect.TypeFor[time.Time]() }
func durationType() reflect.Type     { return reflect.TypeFor[time.Duration]() }
func flexDurationType() reflect.Type { return reflect.TypeFor[flexDuration]() }
func rawMessageType() reflect.Type   { return reflect.TypeFor[json.RawMessage]() }
func jsonMarshaler() reflect.Type    { return reflect.TypeFor[json.Marshaler]() }
func textMarshaler() reflect.Type    { return reflect.TypeFor[encoding.TextMarshaler]() }
func finishReasonType() reflect.Type { return reflect.TypeFor[bulwark.FinishReason]() }
func secretInjectType() reflect.Type { return reflect.TypeFor[bulwark.SecretInject]() }

// secretInjectSchema is the schema of where a secret's value may go.
func secretInjectSchema() map[string]any {
	return map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": []any{bulwark.InjectHeaders, bulwark.InjectURL, bulwark.InjectBody}},
		"description": "where in an HTTPS request to the secret's hosts the egress proxy may put its value: `headers` (header values) always; " +
			"`url` (path and query) and `body` only when listed, since a host that stores what it is sent can hand a value back transformed, past masking. " +
			"Omitted or null: headers only. A placeholder anywhere else refuses the request (403). Only for a secret bound to hosts.",
		"examples": []any{[]any{"headers"}, []any{"headers", "body"}}}
}

// finishReasonSchema is the schema of why a task ended: a string, its
// values listed but not an enum, so that a client built from this
// document takes a reason added later.
func finishReasonSchema() map[string]any {
	values := make([]string, len(bulwark.FinishReasons))
	for i, r := range bulwark.FinishReasons {
		values[i] = "`" + string(r) + "`"
	}
	return map[string]any{"type": "string", "description": "why the task ended: " + strings.Join(values, ", ") +
		"; `leak` is a task stopped because the model leaked the confidential canary token of its instructions (what carried it was withheld). " +
		"Only `done` is a success; more reasons may come, each a failure unless the task's status says otherwise."}
}

// of returns the schema of the JSON of a value of type t.
func (s *schemas) of(t reflect.Type) map[string]any {
	switch t {
	case timeType():
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType():
		return map[string]any{"type": "integer", "description": "a duration in nanoseconds"}
	case flexDurationType():
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "integer", "description": "nanoseconds"},
			map[string]any{"type": "string", "description": "a Go duration", "examples": []any{"10m", "1h30m"}},
		}}
	case rawMessageType():
		return map[string]any{"description": "any JSON value"}
	case finishReasonType():
		return finishReasonSchema()
	case secretInjectType():
		return secretInjectSchema()
	}
	if t.Kind() != reflect.Pointer {
		switch {
		case t.Implements(jsonMarshaler()) || reflect.PointerTo(t).Implements(jsonMarshaler()):
			return map[string]any{"description": "any JSON value"}
		case t.Implements(textMarshaler()) || reflect.PointerTo(t).Implements(textMarshaler()):
			return map[string]any{"type": "string"}
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := s.of(t.Elem())
		if typ, ok := inner["type"].(string); ok {
			out := clone(inner)
			out["type"] = []any{typ, "null"}
			return out
		}
		return inner
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": s.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.of(t.Elem())}
	case reflect.Struct:
		return map[string]any{"$ref": "#/components/schemas/" + s.define(t)}
	}
	return map[string]any{"description": "any JSON value"}
}

// define adds the component of struct t, once, and returns its name: the
// type's name with its first letter upper case ("createTaskRequest" is
// "CreateTaskRequest"), prefixed with its package's when two packages
// use the same name.
func (s *schemas) define(t reflect.Type) string {
	if name, ok := s.names[t]; ok {
		return name
	}
	name := exported(t.Name())
	if name == "" {
		name = "Object"
	}
	for other := range s.defs {
		if other == name {
			pkg := t.PkgPath()
			name = exported(pkg[strings.LastIndex(pkg, "/")+1:]) + name
			break
		}
	}
	for i := 2; s.defs[name] != nil; i++ {
		name = fmt.Sprintf("%s%d", strings.TrimRight(name, "0123456789"), i)
	}
	s.names[t] = name
	def := map[string]any{"type": "object"}
	s.defs[name] = def // before the fields: a type may hold itself
	props := map[string]any{}
	for _, f := range jsonFieldsOf(t) {
		if doc, ok := rawFieldSchemas.Get()[f.name]; ok && f.typ == rawMessageType() {
			props[f.name] = doc
			continue
		}
		props[f.name] = s.of(f.typ)
	}
	def["properties"] = props
	return name
}

// rawFieldSchemas are the schemas of the fields whose Go type says only
// "any JSON value" (json.RawMessage), by JSON name; built on first use.
var rawFieldSchemas = lazy.Value[map[string]map[string]any]{New: func() map[string]map[string]any { return map[string]map[string]any{"mcp": mcpSchema()} }}

// mcpSchema is the schema of a tenant's MCP servers (settings_mcp.go):
// the form the server checks; what an entry may hold beyond it is the MCP
// client's to say.
func mcpSchema() map[string]any {
	str := map[string]any{"type": "string"}
	strMap := map[string]any{"type": "object", "additionalProperties": str,
		"description": "values may be {{secret:NAME}}, filled from the tenant's secrets when a task starts the server, never shown"}
	return map[string]any{
		"type": []any{"object", "null"},
		"description": "The tenant's MCP servers, in the document other MCP clients use. Stored and returned as sent (placeholders kept, never filled), " +
			"at most " + fmt.Sprint(maxMCPServers) + " servers and " + fmt.Sprint(maxMCPDoc) + " bytes of compact JSON; refused if it holds a secret's value or a credential. " +
			"A server's tools are offered to the tenant's tasks as mcp__NAME__TOOL. null or left out: none.",
		"required":             []any{"mcpServers"},
		"additionalProperties": false,
		"properties": map[string]any{
			"mcpServers": map[string]any{
				"type":          "object",
				"maxProperties": maxMCPServers,
				"propertyNames": map[string]any{"pattern": "^[A-Za-z0-9_-]{0,31}[A-Za-z0-9-]$", "not": map[string]any{"pattern": "__"}},
				"additionalProperties": map[string]any{
					"type":        "object",
					"description": "a stdio server (command, args, env), run in the sandbox; or a Streamable HTTP server (url, headers; the older SSE transport as a fallback), whose URL must be an HTTPS host in the tenant's allowed_domains",
					"properties": map[string]any{
						"command": str,
						"args":    map[string]any{"type": "array", "items": str},
						"env":     strMap,
						"url":     map[string]any{"type": "string", "format": "uri"},
						"headers": strMap,
					},
				},
			},
		},
		"examples": []any{map[string]any{"mcpServers": map[string]any{
			"github": map[string]any{"url": "https://api.githubcopilot.com/mcp/", "headers": map[string]any{"Authorization": "Bearer {{secret:GITHUB_TOKEN}}"}},
		}}},
	}
}

func exported(name string) string {
	if name == "" {
		return ""
	}
	r := []rune(name)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
