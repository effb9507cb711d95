package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/secret"
)

// A tenant's MCP servers are the "mcp" field of its settings: the document
// other MCP clients use, {"mcpServers": {"NAME": {...}}}, with
// {{secret:NAME}} where a value of env or headers is secret. The server
// checks its form and bounds itself (checkMCPDoc), refuses a document that
// holds a secret value rather than its placeholder, and leaves what a
// server entry means (command or url, the egress rules of a tenant's URL)
// to Config.CheckMCP, the MCP client's own parser. The document is stored
// as checked and never filled in: placeholders are filled only when a task
// starts the servers.

// Bounds of a tenant's MCP servers document.
const (
	maxMCPServers = 32
	maxMCPDoc     = 64 << 10 // bytes of the compact document
)

// mcpDoc is a checked MCP servers document: its canonical form (compact
// JSON, as the store writes it back) and its servers' entries by name.
type mcpDoc struct {
	raw     json.RawMessage            // nil: no servers
	servers map[string]json.RawMessage // name: the server's entry, canonical
}

// names are the document's server names, sorted.
func (d mcpDoc) names() []string { return slices.Sorted(maps.Keys(d.servers)) }

// checkMCPDoc checks the form of the mcp setting as sent, and returns it
// canonical: the same bytes the store keeps and GET returns, so that what
// is checked is what is stored. Absent or null is no servers. Its errors
// name the field ("mcp: ...") and repeat nothing of the document but a
// server name of the allowed form.
func checkMCPDoc(sent json.RawMessage) (mcpDoc, error) {
	sent = bytes.TrimSpace(sent)
	if len(sent) == 0 || string(sent) == "null" {
		return mcpDoc{}, nil
	}
	const want = `mcp: want {"mcpServers": {"NAME": {"command": ..., "args": [...], "env": {...}} or {"url": ..., "headers": {...}}}}, or null for no servers`
	canon, err := canonicalJSON(sent)
	if err != nil || sent[0] != '{' {
		return mcpDoc{}, fmt.Errorf("%s", want)
	}
	if len(canon) > maxMCPDoc {
		return mcpDoc{}, fmt.Errorf("mcp: at most %d bytes of JSON (without spaces)", maxMCPDoc)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(canon, &top); err != nil {
		return mcpDoc{}, fmt.Errorf("%s", want)
	}
	list, ok := top["mcpServers"]
	if !ok || len(top) != 1 || len(list) == 0 || list[0] != '{' {
		return mcpDoc{}, fmt.Errorf("%s", want)
	}
	var servers map[string]json.RawMessage
	if err := json.Unmarshal(list, &servers); err != nil {
		return mcpDoc{}, fmt.Errorf("%s", want)
	}
	if len(servers) > maxMCPServers {
		return mcpDoc{}, fmt.Errorf("mcp: at most %d servers", maxMCPServers)
	}
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		if !validMCPServerName(name) {
			return mcpDoc{}, fmt.Errorf("mcp: a server name is 1 to 32 letters, digits, _ and -, without __ and not ending with _ (it becomes part of tool names, mcp__NAME__TOOL)")
		}
		if e := servers[name]; len(e) == 0 || e[0] != '{' {
			return mcpDoc{}, fmt.Errorf(`mcp: mcpServers.%s: want an object, {"command": ...} or {"url": ...}`, name)
		}
	}
	return mcpDoc{raw: canon, servers: servers}, nil
}

// canonicalJSON rewrites one JSON value compact, in the order written,
// with every string in json.Marshal's escaping (so "\u0061" is "a", and
// <, > and & are escaped as the store writes them): a value hidden in
// escapes is then seen by the checks that search the bytes, and writing
// the result again with json.Marshal changes nothing.
func canonicalJSON(in []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var out bytes.Buffer
	type container struct {
		object bool
		n      int // tokens written inside: keys and values
	}
	var stack []container
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			out.WriteByte(byte(d))
			if stack = stack[:len(stack)-1]; len(stack) == 0 {
				break
			}
			continue
		}
		if len(stack) > 0 {
			c := &stack[len(stack)-1]
			switch {
			case c.object && c.n%2 == 1:
				out.WriteByte(':')
			case c.n > 0:
				out.WriteByte(',')
			}
			c.n++
		}
		switch t := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(t))
			stack = append(stack, container{object: t == '{'})
		case string:
			b, err := json.Marshal(t)
			if err != nil {
				return nil, err
			}
			out.Write(b)
		case json.Number:
			out.WriteString(t.String())
		case bool:
			out.WriteString(strconv.FormatBool(t))
		case nil:
			out.WriteString("null")
		}
		if len(stack) == 0 {
			break
		}
	}
	if _, err := dec.Token(); len(stack) != 0 || out.Len() == 0 || !errors.Is(err, io.EOF) {
		return nil, errors.New("not one JSON value")
	}
	return out.Bytes(), nil
}

// validMCPServerName accepts the names MCP tools can be named after:
// [A-Za-z0-9_-]{1,32} without "__", which separates the parts of
// mcp__SERVER__TOOL, and not ending with _ (mcp__a___b would also be
// server "a"'s tool "_b", and a rule mcp__a__* would match its tools).
func validMCPServerName(name string) bool {
	return name != "" && len(name) <= 32 && !strings.Contains(name, "__") && !strings.HasSuffix(name, "_") &&
		!strings.ContainsFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		})
}

// errMCPSecretValue is the answer to a document that holds a secret value.
const errMCPSecretValue = "mcp: holds a secret value, or text that looks like one: store it as a secret and write {{secret:NAME}} in its place"

// checkMCPSecrets refuses a document that holds, instead of a placeholder,
// the value of one of the tenant's secrets (or of the model API key sent
// with it, apiKey) or a string that looks like a credential: the document
// is shown to every member of the tenant, secrets only to nobody. The
// refusal tells that the document held a secret's value, so it is charged
// to the caller as a masked answer (chargeMasked).
func (s *Server) checkMCPSecrets(r *http.Request, tenant bulwark.TenantID, doc []byte, apiKey string) error {
	const op = "server.checkMCPSecrets"
	red, err := s.red.For(r.Context(), tenant)
	if err != nil {
		return err
	}
	doc = withoutPlaceholders(doc)
	if !bytes.Equal(red.Bytes(doc), doc) {
		p, _ := PrincipalFrom(r.Context())
		if err := s.chargeMasked(r, p, "settings"); err != nil {
			return err
		}
		return bulwark.Errorf(bulwark.Invalid, op, "%s", errMCPSecretValue)
	}
	if apiKey != "" {
		key := secret.NewRedactor()
		key.SetDetection(false)
		key.Add(bulwark.ModelAPIKeySecret, apiKey)
		if !bytes.Equal(key.Bytes(doc), doc) {
			return bulwark.Errorf(bulwark.Invalid, op, "%s", errMCPSecretValue)
		}
	}
	return nil
}

// placeholder is a well-formed {{secret:NAME}}, as it stands in canonical
// JSON (none of its characters is escaped there).
var placeholder = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`\{\{secret:[A-Za-z_][A-Za-z0-9_]{0,63}\}\}`) }}

// withoutPlaceholders is doc with its placeholders taken out, for the
// redactor: its pattern stage would read "secret:NAME" as a value
// assigned to a name ending in SECRET, and a placeholder is no value.
// Taking them out hides nothing: text around one comes together, and is
// checked so.
func withoutPlaceholders(doc []byte) []byte {
	return placeholder.Get().ReplaceAll(doc, nil)
}

// maskMCP returns the document as a response may show it: as stored, or,
// should it hold the value of a secret set since it was saved, with every
// string masked by the tenant's redactor (and its keys then sorted).
func maskMCP(red *secret.Redactor, doc json.RawMessage) json.RawMessage {
	if len(doc) == 0 {
		return doc
	}
	if plain := withoutPlaceholders(doc); bytes.Equal(red.Bytes(plain), plain) {
		return doc
	}
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return nil // never stored so; show nothing rather than what could not be masked
	}
	out, err := json.Marshal(maskStrings(red, v))
	if err != nil {
		return nil
	}
	return out
}

// maskStrings masks every string of a decoded JSON value, keys too.
func maskStrings(red *secret.Redactor, v any) any {
	switch v := v.(type) {
	case string:
		if plain := string(withoutPlaceholders([]byte(v))); red.String(plain) == plain {
			return v
		}
		return red.String(v)
	case []any:
		for i := range v {
			v[i] = maskStrings(red, v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[red.String(k)] = maskStrings(red, e)
		}
		return out
	}
	return v
}

// mcpAudit describes a change of the MCP servers for the audit record of
// a settings change: the servers' names only, never their entries (env
// and headers may hold what their owner thought harmless). Keys:
// mcp_servers (the servers after the change, comma-separated), and
// mcp_added, mcp_removed and mcp_changed when there are such servers.
func mcpAudit(before, after mcpDoc, details map[string]string) {
	details["mcp_servers"] = strings.Join(after.names(), ",")
	var added, removed, changed []string
	for _, name := range after.names() {
		old, ok := before.servers[name]
		switch {
		case !ok:
			added = append(added, name)
		case !bytes.Equal(old, after.servers[name]):
			changed = append(changed, name)
		}
	}
	for _, name := range before.names() {
		if _, ok := after.servers[name]; !ok {
			removed = append(removed, name)
		}
	}
	for k, v := range map[string][]string{"mcp_added": added, "mcp_removed": removed, "mcp_changed": changed} {
		if len(v) > 0 {
			details[k] = strings.Join(v, ",")
		}
	}
}

// newSecretUse returns the name of a server of after that sends secrets
// ({{secret:...}} anywhere in its entry) and is new or changed since
// before, or "". Such a server can send a secret's value to a host of the
// tenant's choosing, so a key that may change the settings but not the
// secrets must not add one; it may keep or remove those there are.
func newSecretUse(before, after mcpDoc) string {
	for _, name := range after.names() {
		e := after.servers[name]
		if bytes.Contains(e, []byte("{{secret:")) && !bytes.Equal(e, before.servers[name]) {
			return name
		}
	}
	return ""
}

// checkMCPBindings refuses a server whose URL's host a secret it sends
// is not bound to: a secret bound to hosts (PUT /api/v1/secrets/NAME
// with "hosts") goes to those hosts only, from a task's code and from an
// MCP server's headers alike. Unbound secrets, and servers without a URL,
// are left alone here. The task that connects checks again: a secret may
// be bound after the servers are saved.
func (s *Server) checkMCPBindings(ctx context.Context, tenant bulwark.TenantID, d mcpDoc) error {
	const op = "server.checkMCPBindings"
	if !bytes.Contains(d.raw, []byte("{{secret:")) {
		return nil
	}
	infos, err := s.store.ListSecrets(ctx, tenant)
	if err != nil {
		return err
	}
	bound := map[string][]string{}
	for _, i := range infos {
		if len(i.Hosts) > 0 {
			bound[i.Name] = i.Hosts
		}
	}
	for _, name := range d.names() {
		var entry struct {
			URL string `json:"url"`
		}
		raw := d.servers[name]
		if json.Unmarshal(raw, &entry) != nil || entry.URL == "" {
			continue // not a URL server, or not one the client will take: CheckMCP says why
		}
		u, err := url.Parse(entry.URL)
		if err != nil {
			continue
		}
		for _, sec := range secret.Placeholders(raw) {
			hosts, ok := bound[sec]
			if !ok {
				continue
			}
			if !slices.ContainsFunc(hosts, func(h string) bool {
				p, err := egress.ParsePattern(h)
				return err == nil && p.Match(u.Hostname())
			}) {
				return bulwark.Errorf(bulwark.Invalid, op, "mcp: mcpServers.%s: the secret %s is bound to other hosts than the server's URL", name, sec)
			}
		}
	}
	return nil
}

// storedMCP reads the document the store holds back into its servers; a
// document that no longer passes the checks counts as none.
func storedMCP(doc json.RawMessage) mcpDoc {
	d, err := checkMCPDoc(doc)
	if err != nil {
		return mcpDoc{}
	}
	return d
}
