package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Limits of search_files.
const (
	maxMatches       = 100
	maxMatchLine     = 200     // bytes of a matching line shown
	maxSearchFile    = 1 << 20 // bigger files are skipped
	maxSearchedFiles = 20_000  // the search stops after this many files
)

// skippedDirs are folders of tools' bookkeeping that search_files does not
// enter unless asked to search inside them.
var skippedDirs = []string{".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv"}

// SearchFiles returns the search_files tool: pattern and path?.
func SearchFiles() tool.Tool {
	return &spec{
		name:   "search_files",
		access: reads,
		description: "Search the text files of the workspace for lines matching a regular expression (RE2 syntax, as in Go: " +
			`no backreferences or lookaround; "(?i)" makes it case-insensitive). The pattern is matched against each line on its own. ` +
			`Prints one match per line as "path:line: text". ` +
			fmt.Sprintf("Shows at most %d matches and %d characters of each line; ", maxMatches, maxMatchLine) +
			fmt.Sprintf("skips binary files, files over %d KiB, and the folders %s. ", maxSearchFile>>10, strings.Join(skippedDirs, ", ")) +
			"Give path to search one folder or file only.",
		schema: &tool.Schema{
			Type: "object",
			Properties: map[string]*tool.Schema{
				"pattern": {Type: "string", Description: `The regular expression, for example "func \\w+\\(" or "(?i)todo".`, MinLength: 1, MaxLength: 1000},
				"path":    pathSchema(`The folder or file to search. Default "." (the whole workspace)`),
			},
			Required: []string{"pattern"},
		},
		runFound: searchFiles,
	}
}

// searchFiles searches the files under the path given; a file found
// refuses (the policy keeps it from the task) is left out, and counted.
func searchFiles(ctx context.Context, ws *workspace.Workspace, found func(context.Context, string) error, raw json.RawMessage) (tool.Result, error) {
	const op = "search_files"
	var args struct {
		Pattern string `json:"pattern"`
		Path    string `json:"path"`
	}
	if err := decode(op, raw, &args); err != nil {
		return tool.Result{}, err
	}
	if args.Path == "" {
		args.Path = "."
	}
	re, err := regexp.Compile(args.Pattern)
	if err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, op,
			fmt.Sprintf("pattern %q is not a valid RE2 regular expression (%s); to match one of ( ) [ ] { } . * + ? ^ $ | \\ literally, put a backslash before it",
				args.Pattern, strings.TrimPrefix(err.Error(), "error parsing regexp: ")), err)
	}
	start, err := workspace.Clean(args.Path)
	if err != nil {
		return tool.Result{}, err
	}
	var (
		b                       strings.Builder
		matches, files, skipped int
		withheld                int
		searched                int
		matchedFiles            int
		more                    bool
	)
	err = ws.Walk(start, func(name string, info fs.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if info.IsDir() {
			if name != start && slices.Contains(skippedDirs, path.Base(name)) {
				return fs.SkipDir
			}
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		if info.Size() > maxSearchFile {
			skipped++
			return nil
		}
		if files == maxSearchedFiles {
			more = true
			return fs.SkipAll
		}
		if found(ctx, name) != nil {
			withheld++
			return nil
		}
		files++
		data, err := ws.ReadFile(name)
		if err != nil || isBinary(data) {
			skipped++
			return nil
		}
		searched++
		if len(data) == 0 {
			return nil
		}
		found := false
		for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			loc := re.FindStringIndex(line)
			if loc == nil {
				continue
			}
			if matches == maxMatches {
				more = true
				if found {
					matchedFiles++
				}
				return fs.SkipAll
			}
			matches++
			found = true
			fmt.Fprintf(&b, "%s:%d: %s\n", strings.ToValidUTF8(name, "\uFFFD"), i+1, cutLine(line, loc[0], maxMatchLine))
		}
		if found {
			matchedFiles++
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return tool.Result{}, bulwark.E(bulwark.Canceled, op, "the search was canceled", err)
		}
		return tool.Result{}, withHint(op, err, "use list_files to see which folders exist")
	}
	skips := ""
	if skipped > 0 {
		skips = fmt.Sprintf("; skipped %s (binary, too big or unreadable)", plural(skipped, "file"))
	}
	if withheld > 0 {
		skips += fmt.Sprintf("; left out %s that the task's policy does not let it read this way (read_file on one says why)", plural(withheld, "file"))
	}
	if matches == 0 {
		return tool.Result{Output: fmt.Sprintf("no line matches %q in the %s searched under %q%s",
			args.Pattern, plural(searched, "file"), start, skips)}, nil
	}
	if more {
		fmt.Fprintf(&b, "[stopped after %s in %s; there may be more: narrow the pattern or the path]",
			plural(matches, "match"), plural(matchedFiles, "file"))
	} else {
		fmt.Fprintf(&b, "[%s in %s; searched %s%s]",
			plural(matches, "match"), plural(matchedFiles, "file"), plural(searched, "file"), skips)
	}
	return tool.Result{Output: b.String(), Untrusted: true}, nil
}
