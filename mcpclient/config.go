// Package mcpclient is Bulwark's MCP client: it turns the MCP servers of an
// mcpServers document into tools the agent can call, through the official
// Go SDK. Stdio servers run in a sandbox the caller starts (StartFunc);
// HTTP servers are reached under the egress rules (an untrusted URL must
// be a public host on the tenant's allowlist). Server results are untrusted
// text, and server requests that would let it steer the model (sampling,
// elicitation) are refused.
//
// A task offers a session's tools as one group of its registry, kept
// current when a server's list changes:
//
//	reg.SetGroup("mcp__", s.Tools())
//	s.OnToolsChanged(func() { reg.SetGroup("mcp__", s.Tools()) })
package mcpclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/secret"
	"golang.org/x/net/http/httpguts"
)

// Config is a parsed mcpServers document.
type Config struct {
	Servers []Server // sorted by Name
}

// Server is one MCP server of a Config: a stdio server (Command) or an
// HTTP one (URL).
type Server struct {
	Name      string            // the key in mcpServers: [A-Za-z0-9_-]{1,32}, no "__", not ending with _
	Command   string            // stdio server (exclusive with URL)
	Args      []string          // its arguments
	Env       map[string]string // its environment; values may be {{secret:NAME}}
	URL       string            // Streamable HTTP server (SSE fallback)
	Headers   map[string]string // values may be {{secret:NAME}}
	ReadOnly  []string          // JSON "readOnlyPaths": extra absolute host paths the sandboxed server may read (operator configs only)
	AllowExec []string          // JSON "allowCommands": extra executables it may run (operator configs only)
	Trusted   bool              // operator config: URL may be loopback/private; ReadOnly/AllowExec allowed
}

// Limits of a configuration, so that a tenant's settings stay small.
const (
	MaxDocument = 256 << 10 // bytes of an mcpServers document
	MaxServers  = 32        // servers in one document, and after Merge
	MaxArgs     = 64        // args of a server
	MaxEntries  = 64        // env entries, headers, paths or commands of a server
	MaxValue    = 8 << 10   // bytes of any one string
)

var (
	validServerName = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`) }}
	validEnvName    = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`) }}
)

// reservedEnv are the variables the sandbox sets (or the loader reads) that
// a server's env must not override: its PATH and HOME, the egress proxy and
// the CA bundles that make the proxy work.
var reservedEnv = []string{
	"PATH", "HOME", "LANG", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "PIP_CERT",
	"GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED",
}

// reservedEnvName reports whether a server's env may not set name.
func reservedEnvName(name string) bool {
	up := strings.ToUpper(name)
	return slices.Contains(reservedEnv, up) || strings.HasPrefix(up, "LD_") ||
		strings.HasPrefix(up, "DYLD_") || strings.HasPrefix(up, "BULWARK_")
}

// reservedHeaders are set by the transport; a configured header must not
// replace them.
var reservedHeaders = []string{
	"Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Upgrade", "Te",
	"Trailer", "Keep-Alive", "Accept", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-Id",
	"Proxy-Authorization", "Proxy-Connection", "Cookie",
}

func invalid(format string, args ...any) error {
	return bulwark.Errorf(bulwark.Invalid, "mcpclient.Parse", format, args...)
}

// Parse reads an mcpServers document, {"mcpServers": {"NAME": {...}}}, in
// the shape other MCP clients use: a stdio server has "command", "args"
// and "env"; an HTTP server "url" and "headers". "type" ("stdio", "http",
// "streamable-http", "sse") may be given and must agree. trusted marks an
// operator's config: only it may give "readOnlyPaths" and "allowCommands",
// and its URLs may name loopback or private hosts. Unknown fields,
// duplicate keys and values past the limits are refused. Errors are of
// kind bulwark.Invalid and name the server and field.
func Parse(doc []byte, trusted bool) (Config, error) {
	if len(doc) > MaxDocument {
		return Config{}, invalid("the MCP configuration is %d bytes, over the limit of %d", len(doc), MaxDocument)
	}
	if err := checkJSON(doc); err != nil {
		return Config{}, invalid("the MCP configuration is not valid JSON: %v", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil || top == nil {
		return Config{}, invalid(`the MCP configuration must be a JSON object: {"mcpServers": {"NAME": {...}}}`)
	}
	for k := range top {
		if k != "mcpServers" {
			return Config{}, invalid(`the MCP configuration has unknown field %q; the only field is "mcpServers"`, k)
		}
	}
	var servers map[string]json.RawMessage
	if raw, ok := top["mcpServers"]; ok {
		if err := json.Unmarshal(raw, &servers); err != nil || (servers == nil && string(raw) != "null") {
			return Config{}, invalid(`"mcpServers" must be an object of servers by name`)
		}
	}
	if len(servers) > MaxServers {
		return Config{}, invalid("the MCP configuration has %d servers, over the limit of %d", len(servers), MaxServers)
	}
	if a, b, dup := sameInCase(slices.Collect(maps.Keys(servers))); dup {
		return Config{}, invalid("MCP servers %q and %q differ in case only; policy rules name servers in any case: rename one", shorten(a), shorten(b))
	}
	var c Config
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		s, err := parseServer(name, servers[name], trusted)
		if err != nil {
			return Config{}, err
		}
		c.Servers = append(c.Servers, s)
	}
	return c, nil
}

// checkJSON checks that doc is one JSON value with no duplicate keys in
// any object (encoding/json would silently keep the last) and no deep
// nesting.
func checkJSON(doc []byte) error {
	if !json.Valid(doc) {
		return fmt.Errorf("syntax error")
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := checkValue(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

func checkValue(dec *json.Decoder, depth int) error {
	if depth > 16 {
		return fmt.Errorf("nests too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		keys := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := tok.(string)
			if keys[k] {
				return fmt.Errorf("key %q appears twice", shorten(k))
			}
			keys[k] = true
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

// parseServer reads the server called name.
func parseServer(name string, raw json.RawMessage, trusted bool) (Server, error) {
	// A name without "__" that does not end with _ keeps "mcp__NAME__"
	// a prefix of this server's tools only: with server "a_" allowed, its
	// tool "b" would be mcp__a___b, which a rule mcp__a__* for server "a"
	// matches (and server "a"'s tool "_b" has the same name).
	if !validServerName.Get().MatchString(name) || strings.Contains(name, "__") || strings.HasSuffix(name, "_") {
		return Server{}, invalid("MCP server name %q: use 1 to 32 letters, digits, _ and -, without \"__\" and not ending with _", shorten(name))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Server{}, invalid("MCP server %q: want an object with \"command\" or \"url\"", name)
	}
	s := Server{Name: name, Trusted: trusted}
	bad := func(field, format string, args ...any) error {
		return invalid("MCP server %q, field %q: %s", name, field, fmt.Sprintf(format, args...))
	}
	var typ string
	for _, key := range slices.Sorted(maps.Keys(fields)) {
		v := fields[key]
		var err error
		switch key {
		case "type":
			err = json.Unmarshal(v, &typ)
		case "command":
			err = json.Unmarshal(v, &s.Command)
		case "args":
			err = json.Unmarshal(v, &s.Args)
		case "env":
			err = json.Unmarshal(v, &s.Env)
		case "url":
			err = json.Unmarshal(v, &s.URL)
		case "headers":
			err = json.Unmarshal(v, &s.Headers)
		case "readOnlyPaths":
			err = json.Unmarshal(v, &s.ReadOnly)
		case "allowCommands":
			err = json.Unmarshal(v, &s.AllowExec)
		default:
			return Server{}, invalid("MCP server %q has unknown field %q; the fields are: command, args, env, url, headers, type, readOnlyPaths, allowCommands", name, shorten(key))
		}
		if err != nil {
			return Server{}, bad(key, "wrong type of value")
		}
	}
	if err := s.validate(typ); err != nil {
		return Server{}, err
	}
	return s, nil
}

// validate checks a server; typ is its "type" field, if any.
func (s Server) validate(typ string) error {
	name := s.Name
	bad := func(field, format string, args ...any) error {
		return invalid("MCP server %q, field %q: %s", name, field, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Command == "" && s.URL == "":
		return invalid("MCP server %q needs \"command\" (a stdio server) or \"url\" (an HTTP server)", name)
	case s.Command != "" && s.URL != "":
		return invalid("MCP server %q has both \"command\" and \"url\"; give one", name)
	}
	switch typ {
	case "":
	case "stdio":
		if s.Command == "" {
			return bad("type", "\"stdio\" needs \"command\"")
		}
	case "http", "streamable-http", "streamableHttp", "sse":
		if s.URL == "" {
			return bad("type", "%q needs \"url\"", typ)
		}
	default:
		return bad("type", "want stdio, http or sse, not %q", shorten(typ))
	}
	str := func(field, v string) error {
		switch {
		case len(v) > MaxValue:
			return bad(field, "a value is %d bytes, over the limit of %d", len(v), MaxValue)
		case strings.ContainsRune(v, 0):
			return bad(field, "a value holds a NUL byte")
		}
		return nil
	}
	if err := str("command", s.Command); err != nil {
		return err
	}
	if s.URL != "" && (len(s.Args) > 0 || len(s.Env) > 0) {
		return invalid("MCP server %q: \"args\" and \"env\" are for stdio servers (\"command\"), not for \"url\"", name)
	}
	if s.Command != "" && len(s.Headers) > 0 {
		return bad("headers", "headers are for HTTP servers (\"url\"), not for \"command\"")
	}
	if len(s.Args) > MaxArgs {
		return bad("args", "%d arguments, over the limit of %d", len(s.Args), MaxArgs)
	}
	// Secrets are filled into env and headers only: a placeholder
	// elsewhere would reach the server as it is written.
	if strings.Contains(s.Command, "{{secret:") {
		return bad("command", "secrets are not filled into the command; pass them in \"env\"")
	}
	for _, a := range s.Args {
		if err := str("args", a); err != nil {
			return err
		}
		if strings.Contains(a, "{{secret:") {
			return bad("args", "secrets are not filled into arguments (they would show in the process list); pass them in \"env\"")
		}
	}
	if len(s.Env) > MaxEntries {
		return bad("env", "%d variables, over the limit of %d", len(s.Env), MaxEntries)
	}
	for k, v := range s.Env {
		switch {
		case !validEnvName.Get().MatchString(k):
			return bad("env", "%q is not a valid variable name (letters, digits and _, not starting with a digit)", shorten(k))
		case reservedEnvName(k):
			return bad("env", "%s is set by Bulwark's sandbox and cannot be changed", k)
		}
		if err := str("env", v); err != nil {
			return err
		}
		if err := checkPlaceholders(v); err != nil {
			return bad("env", "variable %s: %v", k, err)
		}
	}
	if s.URL != "" {
		if err := str("url", s.URL); err != nil {
			return err
		}
		u, err := url.Parse(s.URL)
		switch {
		case err != nil:
			return bad("url", "not a valid URL")
		case u.Scheme != "http" && u.Scheme != "https":
			return bad("url", "want an http or https URL, not %q", shorten(u.Scheme))
		case u.User != nil:
			return bad("url", "a user name or password in the URL is not allowed; use \"headers\" with a {{secret:NAME}}")
		case u.Host == "" || u.Hostname() == "":
			return bad("url", "the URL has no host")
		case u.Fragment != "":
			return bad("url", "the URL has a #fragment")
		case strings.Contains(s.URL, "{{"):
			return bad("url", "secrets are not filled into URLs; use \"headers\"")
		}
	}
	if len(s.Headers) > MaxEntries {
		return bad("headers", "%d headers, over the limit of %d", len(s.Headers), MaxEntries)
	}
	for k, v := range s.Headers {
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			return bad("headers", "%q is not a valid header name", shorten(k))
		case slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, k) }):
			return bad("headers", "%s is set by the transport and cannot be configured", k)
		case !httpguts.ValidHeaderFieldValue(v):
			return bad("headers", "the value of %s holds characters a header cannot carry", k)
		}
		if err := str("headers", v); err != nil {
			return err
		}
		if err := checkPlaceholders(v); err != nil {
			return bad("headers", "header %s: %v", k, err)
		}
	}
	if !s.Trusted && (len(s.ReadOnly) > 0 || len(s.AllowExec) > 0) {
		return invalid("MCP server %q: \"readOnlyPaths\" and \"allowCommands\" are only allowed in the operator's configuration, not in a tenant's", name)
	}
	if (len(s.ReadOnly) > 0 || len(s.AllowExec) > 0) && s.Command == "" {
		return invalid("MCP server %q: \"readOnlyPaths\" and \"allowCommands\" are for stdio servers (\"command\")", name)
	}
	for field, list := range map[string][]string{"readOnlyPaths": s.ReadOnly, "allowCommands": s.AllowExec} {
		if len(list) > MaxEntries {
			return bad(field, "%d entries, over the limit of %d", len(list), MaxEntries)
		}
		for _, p := range list {
			if err := str(field, p); err != nil {
				return err
			}
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
				return bad(field, "%q: want an absolute, clean path (not /)", shorten(p))
			}
		}
	}
	return nil
}

// checkPlaceholders refuses a "{{secret:" that does not start a
// well-formed placeholder, as secret.Substitute would.
func checkPlaceholders(v string) error {
	rest := v
	for {
		i := strings.Index(rest, "{{secret:")
		if i < 0 {
			return nil
		}
		rest = rest[i+len("{{secret:"):]
		name, after, ok := strings.Cut(rest, "}}")
		if !ok || !secret.ValidName(name) {
			return fmt.Errorf("malformed secret placeholder: write {{secret:NAME}}, NAME made of letters, digits and _")
		}
		rest = after
	}
}

// placeholderNames returns the secret names v refers to.
func placeholderNames(v string) []string {
	data, _ := json.Marshal(v)
	return secret.Placeholders(data)
}

// fill replaces the placeholders of v with values; a missing secret is an
// error naming it (never a value).
func fill(server, field string, v string, values map[string]string) (string, error) {
	if !strings.Contains(v, "{{secret:") {
		return v, nil
	}
	for _, n := range placeholderNames(v) {
		if _, ok := values[n]; !ok {
			return "", bulwark.Errorf(bulwark.Invalid, "mcpclient.Connect",
				"MCP server %q, field %q: the secret %q is not set for this tenant", server, field, n)
		}
	}
	data, _ := json.Marshal(v)
	out, err := secret.Substitute(data, values)
	if err != nil {
		return "", bulwark.Errorf(bulwark.Invalid, "mcpclient.Connect", "MCP server %q, field %q: %s", server, field, bulwark.ErrorMessage(err))
	}
	var s string
	if err := json.Unmarshal(out, &s); err != nil {
		return "", bulwark.E(bulwark.Internal, "mcpclient.Connect", "filling secrets failed", err)
	}
	return s, nil
}

// Merge is the union of c and other; a server name in both is an Invalid
// error, as is a union over MaxServers.
func (c Config) Merge(other Config) (Config, error) {
	byName := make(map[string]Server, len(c.Servers)+len(other.Servers))
	for _, s := range c.Servers {
		byName[s.Name] = s
	}
	for _, s := range other.Servers {
		if _, dup := byName[s.Name]; dup {
			return Config{}, bulwark.Errorf(bulwark.Invalid, "mcpclient.Merge",
				"the MCP server %q is configured twice (in the operator's configuration and the tenant's, or in two files); rename one", s.Name)
		}
		byName[s.Name] = s
	}
	if a, b, dup := sameInCase(slices.Collect(maps.Keys(byName))); dup {
		return Config{}, bulwark.Errorf(bulwark.Invalid, "mcpclient.Merge",
			"the MCP servers %q and %q differ in case only (in the operator's configuration and the tenant's, or in two files); policy rules name servers in any case: rename one", a, b)
	}
	if len(byName) > MaxServers {
		return Config{}, bulwark.Errorf(bulwark.Invalid, "mcpclient.Merge", "%d MCP servers, over the limit of %d", len(byName), MaxServers)
	}
	var out Config
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out.Servers = append(out.Servers, byName[name])
	}
	return out, nil
}

// SecretNames are the secrets the config's {{secret:NAME}} placeholders
// name, sorted, each once.
func (c Config) SecretNames() []string {
	seen := map[string]bool{}
	for _, s := range c.Servers {
		for _, v := range s.Env {
			for _, n := range placeholderNames(v) {
				seen[n] = true
			}
		}
		for _, v := range s.Headers {
			for _, n := range placeholderNames(v) {
				seen[n] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// MarshalJSON writes c as an mcpServers document that Parse reads back
// to c (with the same trust).
func (c Config) MarshalJSON() ([]byte, error) {
	type server struct {
		Command   string            `json:"command,omitempty"`
		Args      []string          `json:"args,omitempty"`
		Env       map[string]string `json:"env,omitempty"`
		URL       string            `json:"url,omitempty"`
		Headers   map[string]string `json:"headers,omitempty"`
		ReadOnly  []string          `json:"readOnlyPaths,omitempty"`
		AllowExec []string          `json:"allowCommands,omitempty"`
	}
	doc := struct {
		Servers map[string]server `json:"mcpServers"`
	}{Servers: map[string]server{}}
	for _, s := range c.Servers {
		doc.Servers[s.Name] = server{s.Command, s.Args, s.Env, s.URL, s.Headers, s.ReadOnly, s.AllowExec}
	}
	return json.Marshal(doc)
}

// shorten cuts a value quoted in an error message.
func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// sameInCase returns two of names that are equal but for the case of
// their letters: policy rules (mcp__SERVER__*) match a server's name in
// any case, so such servers would share their rules.
func sameInCase(names []string) (a, b string, dup bool) {
	slices.Sort(names)
	seen := map[string]string{}
	for _, n := range names {
		k := strings.ToLower(n)
		if o, ok := seen[k]; ok {
			return o, n, true
		}
		seen[k] = n
	}
	return "", "", false
}
