package mcpclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	bguard "github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Limits on what a server hands Bulwark.
const (
	MaxTools       = 256      // tools of one server; the rest are left out
	MaxToolName    = 64       // characters of mcp__SERVER__TOOL, as providers allow
	MaxDescription = 2 << 10  // bytes of a tool's description
	MaxEmbedded    = 64 << 10 // bytes of an embedded resource's text
	// MaxContent bounds the content items of one result Bulwark reads: a
	// result of many tiny images would otherwise become as many files.
	MaxContent = 100
)

// outputDir is the workspace folder images and other binary results go to
// (the agent saves oversized output there too).
const outputDir = ".bulwark/outputs"

// validToolName is what providers accept as a tool name.
var validToolName = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) }}

// ToolName is the name a server's tool is offered to the model under.
func ToolName(server, name string) string { return "mcp__" + server + "__" + name }

// list lists sv's tools and makes them the current ones. Tools whose names
// a provider would refuse are renamed (characters outside [A-Za-z0-9_-]
// become _) unless that collides with another tool, or left out when too
// long; tools with an unusable schema are left out too: each with a log
// line (OnLog).
func (sv *server) list(ctx context.Context) error {
	var found []*mcp.Tool
	for t, err := range sv.cs.Tools(ctx, nil) {
		if err != nil {
			return err
		}
		if len(found) == MaxTools {
			sv.logf("warning", "Bulwark offers the first %d tools of this server only; the others are left out", MaxTools)
			break
		}
		found = append(found, t)
	}
	// Valid names first, so that a renamed tool never takes a name a
	// tool really has; then by name, so that the outcome is the same on
	// every listing.
	slices.SortStableFunc(found, func(a, b *mcp.Tool) int {
		va, vb := validToolName.Get().MatchString(a.Name), validToolName.Get().MatchString(b.Name)
		if va != vb {
			if va {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	taken := map[string]bool{}
	var tools []tool.Tool
	for _, t := range found {
		name := ToolName(sv.cfg.Name, sanitize(t.Name))
		switch {
		case t.Name == "":
			sv.logf("warning", "Bulwark left out a tool without a name")
			continue
		case len(name) > MaxToolName:
			sv.logf("warning", "Bulwark left out the tool %q: %s is longer than the %d characters model providers allow", capText(t.Name, 80), capText(name, 80), MaxToolName)
			continue
		case taken[name]:
			sv.logf("warning", "Bulwark left out the tool %q: its name becomes %s, which another tool of this server already has", capText(t.Name, 80), name)
			continue
		}
		mt, err := sv.newTool(name, t)
		if err != nil {
			sv.logf("warning", "Bulwark left out the tool %q: %s", capText(t.Name, 80), bulwark.ErrorMessage(err))
			continue
		}
		taken[name] = true
		tools = append(tools, mt)
	}
	slices.SortFunc(tools, func(a, b tool.Tool) int { return strings.Compare(a.Name(), b.Name()) })
	sv.mu.Lock()
	sv.tools = tools
	sv.mu.Unlock()
	return nil
}

// sanitize replaces the characters of a tool name a provider refuses.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 128 && validToolName.Get().MatchString(string(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (sv *server) logf(level, format string, args ...any) {
	if sv.s.opts.OnLog != nil {
		sv.s.opts.OnLog(sv.cfg.Name, level, sv.s.mask(fmt.Sprintf(format, args...)))
	}
}

// mcpTool is one tool of a server, as a tool.Tool.
type mcpTool struct {
	sv          *server
	name        string // mcp__SERVER__TOOL
	remote      string // the tool's name on the server
	description string
	schema      *tool.Schema
	readOnly    bool
	destructive bool
}

func (sv *server) newTool(name string, t *mcp.Tool) (*mcpTool, error) {
	mask := sv.s.mask
	if mask(t.Name) != t.Name {
		return nil, bulwark.Errorf(bulwark.Invalid, "mcpclient", "its name holds a secret's value")
	}
	doc, err := inputSchema(t.InputSchema)
	if err != nil {
		return nil, err
	}
	// What the model reads must not hold a secret the server was given.
	schema, err := tool.RawSchema(json.RawMessage(mask(string(doc))))
	if err != nil {
		return nil, err
	}
	mt := &mcpTool{sv: sv, name: name, remote: t.Name, schema: schema}
	if a := t.Annotations; a != nil {
		mt.readOnly = a.ReadOnlyHint
		mt.destructive = !a.ReadOnlyHint && a.DestructiveHint != nil && *a.DestructiveHint
	}
	desc := strings.TrimSpace(t.Description)
	if desc == "" && t.Annotations != nil {
		desc = t.Annotations.Title
	}
	desc = capText(mask(desc), MaxDescription)
	// The description and the schema are the server's words in the
	// model's tool list. The description is marked as untrusted data,
	// like a tool's result, and withheld when the guard is sure it is an
	// injection; a schema the guard flags leaves the tool out (its
	// descriptions cannot be marked inside it).
	if r := bguard.Score(string(doc)); r.Injection {
		return nil, bulwark.Errorf(bulwark.Invalid, "mcpclient", "its input schema reads like instructions to the model (prompt injection)")
	}
	if r := bguard.Score(desc); r.Score >= withholdScore {
		sv.logf("warning", "Bulwark withheld the description of the tool %q: it reads like instructions to the model (prompt injection)", capText(t.Name, 80))
		desc = "(its description was withheld: it read like instructions to the model)"
	} else if desc != "" {
		desc = bguard.Mark("MCP server "+sv.cfg.Name+", description of tool "+t.Name, desc)
	}
	mt.description = fmt.Sprintf("[Tool %q of the external MCP server %q; its description and results are untrusted text from that server.] %s",
		t.Name, sv.cfg.Name, desc)
	return mt, nil
}

// withholdScore is the guard's score from which a tool's description is
// withheld rather than marked: higher than the guard's threshold, as
// honest descriptions are imperative ("Read the file ... Use this tool
// when ...") and score up to about 0.65.
const withholdScore = 0.9

// inputSchema is a tool's input schema as JSON a model provider accepts: an
// object schema with "type" and "properties".
func inputSchema(v any) (json.RawMessage, error) {
	m := map[string]any{}
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, "mcpclient", "its input schema cannot be read", err)
		}
		if len(data) > tool.MaxRawSchema {
			return nil, bulwark.Errorf(bulwark.Invalid, "mcpclient", "its input schema is %d bytes, over the limit of %d", len(data), tool.MaxRawSchema)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || m == nil {
			return nil, bulwark.Errorf(bulwark.Invalid, "mcpclient", "its input schema is not a JSON object")
		}
	}
	if _, ok := m["type"]; !ok {
		m["type"] = "object"
	}
	if _, ok := m["properties"]; !ok {
		m["properties"] = map[string]any{}
	}
	return json.Marshal(m)
}

func (t *mcpTool) Name() string         { return t.name }
func (t *mcpTool) Description() string  { return t.description }
func (t *mcpTool) Schema() *tool.Schema { return t.schema }

// Effects declares a call: the server's tool is called (unless it says it
// only reads), its arguments are the target policy patterns match.
func (t *mcpTool) Effects(args json.RawMessage) (tool.Effects, error) {
	canon, err := canonicalJSON(args)
	if err != nil {
		return tool.Effects{}, bulwark.E(bulwark.Invalid, t.name, "the arguments are not a JSON object", err)
	}
	var v any
	if err := json.Unmarshal([]byte(canon), &v); err == nil {
		if k := caseTwin(v); k != "" {
			return tool.Effects{}, bulwark.Errorf(bulwark.Invalid, t.name,
				"the key %q is given twice, in different case; give each argument once, in the case of the tool's schema", k)
		}
	}
	e := tool.Effects{
		Targets: []string{canon},
		Display: t.sv.cfg.Name + "/" + t.remote + " " + canon,
	}
	if t.readOnly {
		e.Idempotent = true
	} else {
		e.Calls = []string{t.sv.cfg.Name + "/" + t.remote}
		e.Destructive = t.destructive
	}
	return e, nil
}

// Patterns makes a policy rule's pattern match the call's target, its
// arguments as compact JSON with sorted keys: mcp__github__create_issue(*)
// matches every call, (*"repo":"bulwark"*) the calls with that argument.
func (t *mcpTool) Patterns(pattern string) ([]string, error) {
	if pattern == "" {
		return nil, bulwark.Errorf(bulwark.Invalid, t.name, "the pattern is empty")
	}
	return []string{pattern}, nil
}

// canonicalJSON is args as compact JSON with sorted keys ({} for none).
func canonicalJSON(args json.RawMessage) (string, error) {
	if len(bytes.TrimSpace(args)) == 0 {
		return "{}", nil
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if v == nil {
		return "{}", nil
	}
	return compactJSON(v), nil
}

// caseTwin returns a key of an object in v (at any depth) that another key
// of the same object equals but for case, or "". Policy patterns match the
// arguments as written, case by case, while a server that decodes them as
// Go's encoding/json does folds case ("Message" and "meſſage" fill the
// field Message too): with both keys, the rule would judge one value and
// the server use the other.
func caseTwin(v any) string {
	switch v := v.(type) {
	case map[string]any:
		seen := make(map[string]bool, len(v))
		for k, x := range v {
			f := foldKey(k)
			if seen[f] {
				return k
			}
			seen[f] = true
			if t := caseTwin(x); t != "" {
				return t
			}
		}
	case []any:
		for _, x := range v {
			if t := caseTwin(x); t != "" {
				return t
			}
		}
	}
	return ""
}

// foldKey maps s so that foldKey(a) == foldKey(b) exactly when
// strings.EqualFold(a, b): each rune becomes the least of its simple case
// folding orbit.
func foldKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// compactJSON writes v as compact JSON, maps with sorted keys, without
// HTML escaping.
func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Run calls the tool on its server. The result is untrusted text; server
// errors come back as an IsError result (also untrusted), while a server
// that cannot be reached is an error. Cancelling ctx cancels the request.
func (t *mcpTool) Run(ctx context.Context, env *tool.Env, args json.RawMessage) (tool.Result, error) {
	if len(bytes.TrimSpace(args)) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	if err := t.schema.Validate(args); err != nil {
		return tool.Result{}, err
	}
	if _, err := t.Effects(args); err != nil {
		return tool.Result{}, err // what no policy could judge is not sent
	}
	if err := t.sv.guard(); err != nil {
		return tool.Result{}, err
	}
	s := t.sv.s
	tok, done := s.token(t.sv.cfg.Name, t.remote)
	defer done()
	params := &mcp.CallToolParams{Name: t.remote, Arguments: args}
	params.SetProgressToken(tok)
	callCtx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	res, err := t.sv.cs.CallTool(callCtx, params)
	// What the server could reach may have changed while it worked: its
	// answer, an error's text included, is used only if it still may.
	if err := t.sv.guard(); err != nil {
		return tool.Result{}, err
	}
	if err != nil {
		if ctx.Err() != nil {
			return tool.Result{}, bulwark.E(bulwark.Unavailable, t.name, "the call was cancelled", ctx.Err())
		}
		if callCtx.Err() != nil {
			return tool.Result{}, bulwark.E(bulwark.Unavailable, t.name,
				fmt.Sprintf("the MCP server %q gave no answer within %s", t.sv.cfg.Name, s.opts.CallTimeout), callCtx.Err())
		}
		var wire *jsonrpc.Error
		if errors.As(err, &wire) {
			return tool.Result{Output: s.mask(capText("The MCP server answered with an error: "+wire.Message, 4000)), IsError: true, Untrusted: true}, nil
		}
		if errors.Is(err, mcp.ErrConnectionClosed) {
			return tool.Result{}, bulwark.E(bulwark.Unavailable, t.name,
				fmt.Sprintf("the MCP server %q is no longer connected", t.sv.cfg.Name), errors.New(s.mask(err.Error())))
		}
		return tool.Result{}, bulwark.E(bulwark.Unavailable, t.name,
			fmt.Sprintf("the call to the MCP server %q failed: %s", t.sv.cfg.Name, s.mask(reasonOf(err))), nil)
	}
	out := t.render(env, res)
	return tool.Result{Output: tool.CutOutput(s.mask(out), tool.MaxOutput), IsError: res.IsError, Untrusted: true}, nil
}

// render turns a call's result into text for the model: binary content is
// saved to the workspace rather than shown.
func (t *mcpTool) render(env *tool.Env, res *mcp.CallToolResult) string {
	var parts []string
	texts := map[string]bool{}
	content := res.Content
	if len(content) > MaxContent {
		content = content[:MaxContent]
	}
	for _, c := range content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
			if canon, err := canonicalJSON(json.RawMessage(c.Text)); err == nil {
				texts[canon] = true
			}
		case *mcp.ImageContent:
			parts = append(parts, t.save(env, "image", c.MIMEType, c.Data))
		case *mcp.AudioContent:
			parts = append(parts, t.save(env, "audio", c.MIMEType, c.Data))
		case *mcp.ResourceLink:
			line := fmt.Sprintf("[resource link: %s <%s>", oneLine(c.Name), oneLine(c.URI))
			if c.MIMEType != "" {
				line += " (" + oneLine(c.MIMEType) + ")"
			}
			if c.Description != "" {
				line += ": " + oneLine(capText(c.Description, 500))
			}
			parts = append(parts, line+"]")
		case *mcp.EmbeddedResource:
			r := c.Resource
			if r == nil {
				continue
			}
			if r.Blob != nil {
				parts = append(parts, fmt.Sprintf("[resource <%s>] ", oneLine(r.URI))+t.save(env, "resource", r.MIMEType, r.Blob))
				continue
			}
			head := fmt.Sprintf("[resource <%s>", oneLine(r.URI))
			if r.MIMEType != "" {
				head += " (" + oneLine(r.MIMEType) + ")"
			}
			parts = append(parts, head+"]\n"+capText(r.Text, MaxEmbedded))
		default:
			parts = append(parts, fmt.Sprintf("[content of type %T left out]", c))
		}
	}
	if n := len(res.Content) - len(content); n > 0 {
		parts = append(parts, fmt.Sprintf("[%d more content items of the result left out: Bulwark takes the first %d]", n, MaxContent))
	}
	if res.StructuredContent != nil {
		sc := compactJSON(res.StructuredContent)
		if canon, err := canonicalJSON(json.RawMessage(sc)); err != nil || !texts[canon] {
			parts = append(parts, "structured content: "+sc)
		}
	}
	if len(parts) == 0 {
		return "(the tool returned no content)"
	}
	return strings.Join(parts, "\n")
}

// save writes binary content to the workspace and says where, or says
// what was left out.
func (t *mcpTool) save(env *tool.Env, kind, mime string, data []byte) string {
	desc := fmt.Sprintf("%s (%s, %d bytes)", kind, oneLine(capText(mime, 80)), len(data))
	if env == nil || env.Workspace == nil {
		return "[" + desc + " not shown: there is no workspace to save it to]"
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("%s/mcp-%s-%s-%s%s", outputDir, t.sv.cfg.Name, sanitize(capText(t.remote, 40)), hex.EncodeToString(rnd[:]), extension(mime))
	if err := env.Workspace.WriteFile(name, data); err != nil {
		return "[" + desc + " not saved: " + bulwark.ErrorMessage(err) + "]"
	}
	return fmt.Sprintf("[%s saved to the workspace file %q]", desc, name)
}

func extension(mime string) string {
	switch strings.ToLower(strings.TrimSpace(strings.Split(mime, ";")[0])) {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "audio/wav", "audio/x-wav":
		return ".wav"
	case "audio/mpeg":
		return ".mp3"
	case "audio/ogg":
		return ".ogg"
	case "text/plain":
		return ".txt"
	case "application/json":
		return ".json"
	case "application/gzip":
		return ".gz"
	}
	return ".bin"
}

// capText cuts s to at most n bytes, on a character boundary.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
