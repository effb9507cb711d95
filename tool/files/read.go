package files

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Limits of read_file's output.
const (
	defaultReadLines = 2000    // lines shown when limit is left out
	maxReadBytes     = 100_000 // about; output stops at the line that passes it
	maxLineBytes     = 2000    // longer lines are cut
)

// ReadFile returns the read_file tool: path, offset? and limit? (in lines).
func ReadFile() tool.Tool {
	return &spec{
		name:   "read_file",
		access: reads,
		description: "Read a text file in the workspace. Lines are shown numbered, as \"    12\\tline text\"; " +
			"the number and the tab are not part of the file, so leave them out when you quote the file (in edit_file's \"old\", for example). " +
			fmt.Sprintf("Shows up to %d lines from offset (the first line is 1); ", defaultReadLines) +
			"when the file is longer, the output ends by saying how many lines there are and which offset to read on from. " +
			fmt.Sprintf("Lines longer than %d characters are cut. Binary files are refused.", maxLineBytes),
		schema: &tool.Schema{
			Type: "object",
			Properties: map[string]*tool.Schema{
				"path":   pathSchema("The file to read"),
				"offset": {Type: "integer", Description: "The line to start at; the first line is 1. Default 1.", Minimum: tool.Ptr(1)},
				"limit":  {Type: "integer", Description: fmt.Sprintf("How many lines to show at most. Default and maximum %d.", defaultReadLines), Minimum: tool.Ptr(1), Maximum: tool.Ptr(defaultReadLines)},
			},
			Required: []string{"path"},
		},
		run: readFile,
	}
}

func readFile(ctx context.Context, ws *workspace.Workspace, raw json.RawMessage) (tool.Result, error) {
	const op = "read_file"
	var args struct {
		Path   string `json:"path"`
		Offset int    `json:"offset"`
		Limit  int    `json:"limit"`
	}
	if err := decode(op, raw, &args); err != nil {
		return tool.Result{}, err
	}
	offset, limit := max(args.Offset, 1), args.Limit
	if limit <= 0 || limit > defaultReadLines {
		limit = defaultReadLines
	}
	data, err := ws.ReadFile(args.Path)
	if err != nil {
		return tool.Result{}, withHint(op, err, "use list_files to see which files exist")
	}
	if isBinary(data) {
		return tool.Result{}, binaryError(op, args.Path, "read_file")
	}
	text := string(data)
	total := countLines(text)
	if total == 0 {
		return tool.Result{Output: fmt.Sprintf("%q is empty (0 lines).", args.Path)}, nil
	}
	if offset > total {
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op,
			"offset %d is past the end: %q has %s", offset, args.Path, plural(total, "line"))
	}
	var b strings.Builder
	line, last := 0, offset-1
	for rest := text; rest != "" && line < offset-1+limit; {
		var l string
		l, rest, _ = strings.Cut(rest, "\n")
		line++
		if line < offset {
			continue
		}
		if b.Len() > maxReadBytes {
			break
		}
		fmt.Fprintf(&b, "%6d\t%s\n", line, cutLine(l, 0, maxLineBytes))
		last = line
	}
	switch {
	case last < total:
		fmt.Fprintf(&b, "[lines %d-%d of %d shown; to read on, call read_file with offset %d]", offset, last, total, last+1)
	case offset > 1:
		fmt.Fprintf(&b, "[lines %d-%d of %d shown: the end of the file]", offset, last, total)
	}
	return tool.Result{Output: strings.TrimSuffix(b.String(), "\n"), Untrusted: true}, nil
}

// withHint adds advice to a NotFound error's message.
func withHint(op string, err error, hint string) error {
	if bulwark.ErrorKind(err) != bulwark.NotFound {
		return err
	}
	return bulwark.E(bulwark.NotFound, op, bulwark.ErrorMessage(err)+"; "+hint, err)
}

// WriteFile returns the write_file tool: path and content.
func WriteFile() tool.Tool {
	return &spec{
		name:   "write_file",
		access: writes,
		description: "Create a file in the workspace, or replace the whole content of an existing one, with content. " +
			"Missing folders on the way are created. To change part of a file, use edit_file instead.",
		schema: &tool.Schema{
			Type: "object",
			Properties: map[string]*tool.Schema{
				"path":    pathSchema("The file to write"),
				"content": {Type: "string", Description: "The complete new content of the file."},
			},
			Required: []string{"path", "content"},
		},
		run: writeFile,
	}
}

func writeFile(ctx context.Context, ws *workspace.Workspace, raw json.RawMessage) (tool.Result, error) {
	const op = "write_file"
	var args struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	var v [2]string
	if flatStrings(raw, v[:], "path", "content") {
		args.Path, args.Content = v[0], v[1]
	} else if err := decode(op, raw, &args); err != nil {
		return tool.Result{}, err
	}
	replaced, err := ws.Write(args.Path, []byte(args.Content))
	if err != nil {
		return tool.Result{}, err
	}
	clean, _ := workspace.Clean(args.Path)
	return tool.Result{Output: wroteResult(replaced, clean, args.Content)}, nil
}

// wroteResult is write_file's result: `created "name" (n bytes, k lines)`,
// or replaced, as fmt.Sprintf("%s %q (%s, %s)") writes it, in two
// allocations instead of seven (a turn of `bulwark bench agents` writes a
// file).
func wroteResult(replaced bool, name, content string) string {
	verb := "created"
	if replaced {
		verb = "replaced"
	}
	b := make([]byte, 0, len(verb)+len(name)+48)
	b = append(append(b, verb...), ' ')
	b = strconv.AppendQuote(b, name)
	b = append(b, " ("...)
	b = appendPlural(b, len(content), "byte")
	b = append(b, ", "...)
	b = appendPlural(b, countLines(content), "line")
	return string(append(b, ')'))
}

// EditFile returns the edit_file tool: path, old and new.
func EditFile() tool.Tool {
	return &spec{
		name:   "edit_file",
		access: reads | writes,
		description: "Change part of a text file in the workspace: replace the snippet old, which must occur exactly once in the file, with new. " +
			"Copy old exactly from the file, with its indentation and line breaks and without read_file's line numbers; " +
			"include enough surrounding lines to make it unique. To delete the snippet, give an empty new.",
		schema: &tool.Schema{
			Type: "object",
			Properties: map[string]*tool.Schema{
				"path": pathSchema("The file to change"),
				"old":  {Type: "string", Description: "The exact text to replace; it must occur exactly once in the file.", MinLength: 1},
				"new":  {Type: "string", Description: "The text to put in its place."},
			},
			Required: []string{"path", "old", "new"},
		},
		run: editFile,
	}
}

func editFile(ctx context.Context, ws *workspace.Workspace, raw json.RawMessage) (tool.Result, error) {
	const op = "edit_file"
	var args struct {
		Path string `json:"path"`
		Old  string `json:"old"`
		New  string `json:"new"`
	}
	if err := decode(op, raw, &args); err != nil {
		return tool.Result{}, err
	}
	if args.Old == args.New {
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op, "old and new are the same text, so there is nothing to change")
	}
	data, err := ws.ReadFile(args.Path)
	if err != nil {
		return tool.Result{}, withHint(op, err, "use write_file to create a new file")
	}
	if isBinary(data) {
		return tool.Result{}, binaryError(op, args.Path, "edit_file")
	}
	text := string(data)
	switch n := strings.Count(text, args.Old); {
	case n == 0:
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op,
			"the text in old does not occur in %q%s; read the file again with read_file and copy the snippet exactly, with its indentation and line breaks",
			args.Path, missHint(text, args.Old))
	case n > 1:
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op,
			"the text in old occurs %d times in %q (at lines %s); include more of the surrounding lines in old so that it occurs exactly once",
			n, args.Path, lineList(text, args.Old, 10))
	}
	at := strings.Index(text, args.Old)
	edited := text[:at] + args.New + text[at+len(args.Old):]
	if err := ws.WriteFile(args.Path, []byte(edited)); err != nil {
		return tool.Result{}, err
	}
	line := strings.Count(text[:at], "\n") + 1
	return tool.Result{Output: fmt.Sprintf("replaced the snippet at line %d of %q (%s out, %s in; the file has %s now)",
		line, args.Path, plural(countLines(args.Old), "line"), plural(countLines(args.New), "line"),
		plural(countLines(edited), "line"))}, nil
}

// missHint guesses why old was not found.
func missHint(text, old string) string {
	switch {
	case lineNumbered(old):
		return " (old seems to start with read_file's line numbers; leave them out)"
	case strings.Contains(text, "\r\n") && !strings.Contains(old, "\r\n") && strings.Contains(old, "\n"):
		return ` (the file has Windows line endings, "\r\n")`
	case strings.TrimSpace(old) != old && strings.Contains(text, strings.TrimSpace(old)):
		return " (it does occur without the spaces or line breaks at its start or end)"
	}
	return ""
}

// lineNumbered reports whether s starts like a line of read_file's output.
func lineNumbered(s string) bool {
	s = strings.TrimLeft(s, " ")
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	return digits > 0 && strings.HasPrefix(s[digits:], "\t")
}

// lineList lists the lines where old starts in text, at most max of them.
func lineList(text, old string, max int) string {
	var lines []string
	line, from := 1, 0
	for len(lines) < max {
		i := strings.Index(text[from:], old)
		if i < 0 {
			break
		}
		line += strings.Count(text[from:from+i], "\n")
		lines = append(lines, fmt.Sprint(line))
		line += strings.Count(old, "\n")
		from += i + len(old)
	}
	return strings.Join(lines, ", ")
}
