// Package files holds the file tools the model uses on the task's
// workspace: read_file, write_file, edit_file, list_files, delete_file and
// search_files. They reach files only through tool.Env.Workspace, which
// confines them to the workspace (see package workspace).
//
// read_file shows numbered lines ("    12\ttext"): the number and the tab are
// not part of the file. Output that holds file content or names
// (read_file, search_files, list_files) is marked Untrusted, since
// workspace files may come from uploads or the web.
package files

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Tools returns the file tools, in the order a model is best told of them.
func Tools() []tool.Tool {
	return []tool.Tool{ReadFile(), WriteFile(), EditFile(), ListFiles(), DeleteFile(), SearchFiles()}
}

// spec is a tool made of its parts; every file tool is one.
type spec struct {
	name, description string
	schema            *tool.Schema
	access            access
	run               func(ctx context.Context, ws *workspace.Workspace, args json.RawMessage) (tool.Result, error)
	// runFound, if set, runs the tool instead of run, with found judging
	// each file it comes to (see found).
	runFound func(ctx context.Context, ws *workspace.Workspace, found func(ctx context.Context, name string) error, args json.RawMessage) (tool.Result, error)
}

func (s *spec) Name() string         { return s.name }
func (s *spec) Description() string  { return s.description }
func (s *spec) Schema() *tool.Schema { return s.schema }

// Run finds the workspace and runs the tool on it.
func (s *spec) Run(ctx context.Context, env *tool.Env, args json.RawMessage) (tool.Result, error) {
	if env == nil || env.Workspace == nil {
		return tool.Result{}, bulwark.Errorf(bulwark.Unavailable, s.name,
			"this task has no workspace, so %s cannot be used", s.name)
	}
	if err := ctx.Err(); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Canceled, s.name, "the call was canceled", err)
	}
	if s.runFound != nil {
		return s.runFound(ctx, env.Workspace, s.found(env), args)
	}
	return s.run(ctx, env.Workspace, args)
}

// found judges, through env.CheckEffects, a file that a call of s comes to
// only while it runs (a file search_files reads under the folder it was
// given) as the policy judges the path of a read_file call: a rule such as
// *(*.env)=deny then keeps the file's content out of the result. A non-nil
// error leaves the file out.
func (s *spec) found(env *tool.Env) func(ctx context.Context, name string) error {
	return func(ctx context.Context, name string) error {
		if env.CheckEffects == nil {
			return nil
		}
		return env.CheckEffects(ctx, s, tool.Effects{Targets: []string{name}, Reads: []string{name}, Display: name, Idempotent: true})
	}
}

// decode unpacks arguments that the registry has already validated.
func decode(op string, args json.RawMessage, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return bulwark.E(bulwark.Invalid, op, "the arguments do not fit this tool: "+err.Error(), err)
	}
	return nil
}

// pathSchema is the schema of a "path" argument.
func pathSchema(what string) *tool.Schema {
	return &tool.Schema{
		Type:        "string",
		Description: what + `, relative to the workspace, with "/" between folders (for example "src/main.py").`,
		MinLength:   1,
		MaxLength:   4096,
	}
}

// sniffLen is how much of a file is checked for NUL bytes to tell binary
// files from text, as git does.
const sniffLen = 8000

// isBinary reports whether data looks like a binary file.
func isBinary(data []byte) bool {
	return bytes.IndexByte(data[:min(len(data), sniffLen)], 0) >= 0
}

func binaryError(op, name, tool string) error {
	return bulwark.Errorf(bulwark.Invalid, op,
		"%q looks like a binary file (it contains NUL bytes); %s works on text files only", name, tool)
}

// countLines returns the number of lines of s; a last line without a
// newline counts.
func countLines(s string) int {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	return n
}

// cutLine shortens a line for display to about width bytes, keeping the
// part around byte offset at (where a match starts), and makes it valid
// UTF-8.
func cutLine(line string, at, width int) string {
	line = strings.TrimSuffix(line, "\r")
	if len(line) <= width {
		return strings.ToValidUTF8(line, "\uFFFD")
	}
	start := max(0, min(at-width/4, len(line)-width))
	for start > 0 && !utf8.RuneStart(line[start]) {
		start--
	}
	end := min(len(line), start+width)
	for end < len(line) && !utf8.RuneStart(line[end]) {
		end--
	}
	out := strings.ToValidUTF8(line[start:end], "\uFFFD")
	if start > 0 {
		out = "..." + out
	}
	if end < len(line) {
		out += fmt.Sprintf("... [line cut: %d bytes in all]", len(line))
	}
	return out
}

// plural writes n and the noun, in the singular or plural.
func plural(n int, noun string) string { return string(appendPlural(nil, n, noun)) }

// appendPlural appends plural(n, noun) to b.
func appendPlural(b []byte, n int, noun string) []byte {
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, ' ')
	switch {
	case n == 1:
		return append(b, noun...)
	case strings.HasSuffix(noun, "ch"):
		return append(append(b, noun...), "es"...)
	case strings.HasSuffix(noun, "y"):
		return append(append(b, noun[:len(noun)-1]...), "ies"...)
	}
	return append(append(b, noun...), 's')
}

// access is what a file tool does to the path it is given.
type access int

const (
	reads   access = 1 << iota // read_file, list_files, search_files, edit_file
	writes                     // write_file, edit_file, delete_file
	removes                    // delete_file
)

// Effects declares the path the call acts on, cleaned as the workspace
// cleans it ("." where the tool names none), as read, written or removed:
// so a policy says write_file(*.env)=deny and "x.env/." is caught.
func (s *spec) Effects(args json.RawMessage) (tool.Effects, error) {
	var a struct {
		Path string `json:"path"`
	}
	var v [1]string
	if flatStrings(args, v[:], "path") {
		a.Path = v[0]
	} else if err := decode(s.name, args, &a); err != nil {
		return tool.Effects{}, err
	}
	if a.Path == "" {
		a.Path = "."
	}
	p, err := CleanPath(a.Path)
	if err != nil {
		return tool.Effects{}, err
	}
	e := tool.Effects{Targets: []string{p}, Display: p, Idempotent: s.access == reads}
	if s.access&reads != 0 {
		e.Reads = []string{p}
	}
	if s.access&writes != 0 {
		e.Writes = []string{p}
	}
	if s.access&removes != 0 {
		e.Removes = []string{p}
	}
	return e, nil
}

// Patterns cleans a policy pattern like a path, so that "./src/*" is
// "src/*"; a pattern that leaves the workspace ("../x") can never match.
func (s *spec) Patterns(pattern string) ([]string, error) {
	p, err := CleanPath(pattern)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, s.name,
			`the pattern is not a path inside the workspace: paths are relative to it, with "/" between folders (such as src/*), and do not leave it with ".."`, err)
	}
	return []string{p}, nil
}

// CleanPath is the canonical form of a path given to a file tool: the
// workspace-relative path workspace.Clean makes of it, or, for an absolute
// path (reachable only where the workspace is unrestricted), the path
// cleaned lexically.
func CleanPath(name string) (string, error) {
	if strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "//") {
		return path.Clean(name), nil
	}
	return workspace.Clean(name)
}
