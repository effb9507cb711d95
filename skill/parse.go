// Package skill reads skills in the common folder format (a folder NAME
// holding SKILL.md: YAML front matter with name and description, then the
// instructions; other files beside it), from the operator's folder or a
// tenant's stored copy, and offers them to a task: their names and
// descriptions in the system prompt, their bodies and files through the
// load_skill and read_skill_file tools when the model decides it needs
// them.
package skill

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
)

// Limits of a skill.
const (
	// MaxName is the longest skill name, in bytes.
	MaxName = 64
	// MaxDescription is the longest description, in characters: it goes
	// into every task's system prompt.
	MaxDescription = 1024
	// MaxFile is the largest file of a skill (SKILL.md included).
	MaxFile = 256 << 10
	// MaxSize is the most bytes all files of a tenant's skill hold.
	MaxSize = 1 << 20
	// MaxFiles is the most files a tenant's skill holds.
	MaxFiles = 64
)

// Main is the file that makes a folder a skill.
const Main = "SKILL.md"

// Meta is a skill's front matter.
type Meta struct {
	Name        string
	Description string
}

// CheckName refuses a name that is not 1 to 64 lowercase letters, digits
// and single hyphens, neither first nor last (as the Agent Skills format
// says): names are folder names and tool arguments, so nothing else.
func CheckName(name string) error {
	const op = "skill.name"
	bad := func(why string) error {
		return bulwark.Errorf(bulwark.Invalid, op, "the skill name %q is not valid: %s", clip(name, 80), why)
	}
	switch {
	case name == "":
		return bulwark.Errorf(bulwark.Invalid, op, "a skill needs a name")
	case len(name) > MaxName:
		return bad(fmt.Sprintf("it is longer than %d characters", MaxName))
	case name[0] == '-' || name[len(name)-1] == '-':
		return bad("it starts or ends with a hyphen")
	case strings.Contains(name, "--"):
		return bad("it has two hyphens in a row")
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return bad("use lowercase letters, digits and hyphens only")
		}
	}
	return nil
}

// Parse reads a SKILL.md: front matter between two lines of "---", then
// the instructions (the body, returned without the front matter). The
// front matter is a small, strict subset of YAML: one "key: value" per
// line, values plain, quoted ('...' or "..."), or block scalars (| or >,
// with - or + after them) whose lines are indented; keys of nested maps
// (metadata:) are indented too. Name and description are required and
// checked (CheckName; description 1 to MaxDescription characters, no
// control characters); other keys of the format (license,
// compatibility, allowed-tools, metadata, ...) are read and ignored. A
// repeated key, a tab in the indentation, or a line that is none of these
// is an error that says which line. The error's kind is Invalid.
func Parse(data []byte) (Meta, string, error) {
	const op = "skill.Parse"
	var m Meta
	if !utf8.Valid(data) {
		return m, "", bulwark.Errorf(bulwark.Invalid, op, "SKILL.md is not UTF-8 text")
	}
	if len(data) > MaxFile {
		return m, "", bulwark.Errorf(bulwark.Invalid, op, "SKILL.md is %d bytes, over the limit of %d", len(data), MaxFile)
	}
	text := strings.TrimPrefix(string(data), "\ufeff")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	if len(lines) == 0 || strings.TrimRight(lines[0], " ") != "---" {
		return m, "", bulwark.Errorf(bulwark.Invalid, op, "SKILL.md must start with front matter: a line \"---\", the name and description, and another \"---\"")
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if strings.TrimRight(lines[i], " ") == "---" {
			end = i
			break
		}
	}
	if end < 0 {
		return m, "", bulwark.Errorf(bulwark.Invalid, op, "the front matter of SKILL.md has no closing \"---\" line")
	}
	fields, err := parseFrontMatter(lines[1:end])
	if err != nil {
		return m, "", err
	}
	m.Name, m.Description = fields["name"], fields["description"]
	if _, ok := fields["name"]; !ok {
		return m, "", bulwark.Errorf(bulwark.Invalid, op, "the front matter has no name")
	}
	if err := CheckName(m.Name); err != nil {
		return m, "", err
	}
	if err := checkDescription(m.Description); err != nil {
		return m, "", err
	}
	body := strings.TrimLeft(strings.Join(lines[end+1:], "\n"), "\n")
	return m, body, nil
}

func checkDescription(d string) error {
	const op = "skill.description"
	switch n := utf8.RuneCountInString(d); {
	case strings.TrimSpace(d) == "":
		return bulwark.Errorf(bulwark.Invalid, op, "the front matter has no description: say in a sentence or two what the skill is for and when to use it")
	case n > MaxDescription:
		return bulwark.Errorf(bulwark.Invalid, op, "the description is %d characters, over the limit of %d", n, MaxDescription)
	}
	for _, r := range d {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0) {
			return bulwark.Errorf(bulwark.Invalid, op, "the description holds a control character (%U)", r)
		}
	}
	return nil
}

// parseFrontMatter returns the top-level scalar values by key; nested maps
// and lists are checked for shape and dropped.
func parseFrontMatter(lines []string) (map[string]string, error) {
	const op = "skill.Parse"
	out := map[string]string{}
	lineErr := func(i int, why string) error {
		return bulwark.Errorf(bulwark.Invalid, op, "front matter line %d: %s", i+2, why)
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if isBlankOrComment(line) {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, lineErr(i, "unexpected indentation")
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || !validKey(key) {
			return nil, lineErr(i, "expected \"key: value\"")
		}
		if _, dup := out[key]; dup {
			return nil, lineErr(i, fmt.Sprintf("the key %q is given twice", key))
		}
		if value != "" && value[0] != ' ' {
			return nil, lineErr(i, "expected a space after the colon")
		}
		value = stripComment(strings.TrimSpace(value))
		// The indented lines that follow belong to this key.
		j := i + 1
		for j < len(lines) {
			l := lines[j]
			if strings.HasPrefix(l, "\t") {
				return nil, lineErr(j, "a tab in the indentation")
			}
			// A list may also start at the key's own indentation.
			if strings.TrimSpace(l) != "" && l[0] != ' ' && !(value == "" && (l == "-" || strings.HasPrefix(l, "- "))) {
				break
			}
			j++
		}
		nested := lines[i+1 : j]
		i = j - 1
		switch {
		case isBlock(value):
			out[key] = blockScalar(value, nested)
		case value == "":
			// A nested map or list (metadata:, allowed-tools:).
			if err := checkNested(nested, func(k int, why string) error { return lineErr(i-len(nested)+1+k, why) }); err != nil {
				return nil, err
			}
			out[key] = ""
		default:
			s, err := scalar(value, nested)
			if err != nil {
				return nil, lineErr(i-len(nested), err.Error())
			}
			out[key] = s
		}
	}
	return out, nil
}

func isBlankOrComment(s string) bool {
	t := strings.TrimSpace(s)
	return t == "" || strings.HasPrefix(t, "#")
}

func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// stripComment removes a " #" comment from a plain value.
func stripComment(v string) string {
	if v == "" || v[0] == '"' || v[0] == '\'' {
		return v
	}
	if i := strings.Index(v, " #"); i >= 0 {
		return strings.TrimSpace(v[:i])
	}
	return v
}

func isBlock(v string) bool {
	switch v {
	case "|", "|-", "|+", ">", ">-", ">+":
		return true
	}
	return false
}

// blockScalar joins the indented lines of a | (kept) or > (folded) block.
func blockScalar(indicator string, lines []string) string {
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	var parts []string
	for _, l := range lines {
		if len(l) >= indent && indent >= 0 {
			l = l[indent:]
		} else {
			l = strings.TrimSpace(l)
		}
		parts = append(parts, strings.TrimRight(l, " "))
	}
	var s string
	if indicator[0] == '|' {
		s = strings.Join(parts, "\n")
	} else {
		var b strings.Builder
		for i, p := range parts {
			switch {
			case i == 0:
			case p == "":
				b.WriteString("\n")
			case parts[i-1] == "":
			default:
				b.WriteString(" ")
			}
			b.WriteString(p)
		}
		s = b.String()
	}
	if !strings.HasSuffix(indicator, "+") {
		s = strings.TrimRight(s, "\n")
	}
	return s
}

// scalar reads a plain or quoted value; a plain one may go on in indented
// lines (folded into one).
func scalar(v string, more []string) (string, error) {
	switch v[0] {
	case '"':
		if len(more) > 0 {
			return "", fmt.Errorf("a quoted value must fit on its line")
		}
		s, err := strconv.Unquote(v)
		if err != nil {
			return "", fmt.Errorf("a double-quoted value that does not end or has an unknown escape")
		}
		return s, nil
	case '\'':
		if len(more) > 0 {
			return "", fmt.Errorf("a quoted value must fit on its line")
		}
		if len(v) < 2 || v[len(v)-1] != '\'' {
			return "", fmt.Errorf("a single-quoted value that does not end")
		}
		inner := v[1 : len(v)-1]
		if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return "", fmt.Errorf("a single quote inside a single-quoted value must be doubled")
		}
		return strings.ReplaceAll(inner, "''", "'"), nil
	case '[', '{', '&', '*', '!', '|', '>', '%', '@', '`':
		if v[0] == '[' && strings.HasSuffix(v, "]") || v[0] == '{' && strings.HasSuffix(v, "}") {
			return v, nil // a flow list or map (allowed-tools: [a, b]): kept as written
		}
		return "", fmt.Errorf("a value may not start with %q unless quoted", v[0])
	}
	parts := []string{v}
	for _, l := range more {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " "), nil
}

// checkNested accepts indented "key: value" and "- item" lines.
func checkNested(lines []string, lineErr func(int, string) error) error {
	for k, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasPrefix(t, "- ") || t == "-" {
			continue
		}
		key, _, ok := strings.Cut(t, ":")
		if !ok || !validKey(key) {
			return lineErr(k, "expected \"key: value\" or \"- item\"")
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
