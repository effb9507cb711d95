package workspace

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
)

// ErrEscape is wrapped by the errors that refuse a path because it leads
// outside the workspace: "../x" once cleaned, or a symbolic link on the
// way that points outside. Absolute paths and links the file tools do not
// follow are refused with other errors: they are mistakes more often than
// attempts to leave.
var ErrEscape = errors.New("the path leads outside the workspace")

// Limits on the names the workspace accepts. Linux refuses longer names
// anyway; checking first gives the model a clear message.
const (
	maxNameLen = 255  // bytes in one path element
	maxPathLen = 4096 // bytes in a whole path
)

// Clean checks a workspace-relative path given by a model or a client and
// returns it in canonical form: slash-separated, relative, with "." and ".."
// elements resolved lexically ("a/./b/../c" is "a/c"; the workspace itself
// is "."). It refuses, with an error of kind bulwark.Invalid whose message
// says what to send instead:
//   - the empty path, NUL bytes and other control characters, invalid UTF-8;
//   - absolute paths ("/etc/passwd"), home-folder forms ("~", "~/x", "~user"),
//     Windows drive and UNC forms ("C:\x", "C:x", `\\server\share`) and
//     backslashes in general;
//   - paths that leave the workspace once cleaned ("../x", "a/../../b");
//   - names longer than the file system allows.
//
// Clean looks at the text only; symbolic links and the like are checked when
// a file is opened.
func Clean(name string) (string, error) {
	const op = "workspace.Clean"
	switch {
	case name == "":
		return "", bulwark.Errorf(bulwark.Invalid, op,
			`the path is empty; give a path inside the workspace, such as "notes.txt" (or "." for the workspace itself)`)
	case strings.IndexByte(name, 0) >= 0:
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q contains a NUL byte; use a plain path such as %q", name, "notes.txt")
	case !utf8.ValidString(name):
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q is not valid UTF-8 text; use a plain path such as %q", name, "notes.txt")
	case strings.IndexFunc(name, isControl) >= 0:
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q contains a control character (such as a newline or tab); use a plain path such as %q", name, "notes.txt")
	case len(name) > maxPathLen:
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"the path is %d bytes long; paths may be at most %d bytes", len(name), maxPathLen)
	case name == "~" || strings.HasPrefix(name, "~"):
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q starts with \"~\", which is not expanded; paths are relative to the workspace, such as %q",
			name, suggest(strings.TrimLeft(strings.TrimPrefix(name, "~"), "/")))
	case strings.HasPrefix(name, `\\`) || strings.HasPrefix(name, "//"):
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q is a network (UNC) path; use a path inside the workspace, such as %q", name, "notes.txt")
	case hasDrive(name):
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q names a Windows drive; use a slash-separated path inside the workspace, such as %q",
			name, suggest(strings.ReplaceAll(name[2:], `\`, "/")))
	case strings.IndexByte(name, '\\') >= 0:
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q contains a backslash; separate folders with \"/\", as in %q",
			name, suggest(strings.ReplaceAll(name, `\`, "/")))
	case strings.HasPrefix(name, "/"):
		return "", bulwark.Errorf(bulwark.Invalid, op,
			"path %q is absolute; use a path relative to the workspace, such as %q",
			name, suggest(name))
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", bulwark.E(bulwark.Invalid, op,
			fmt.Sprintf("path %q leaves the workspace; use a path inside it, such as %q", name, suggest(clean)), ErrEscape)
	}
	if clean != name {
		// The path once cleaned is held to the same rules: "a/../~" is
		// "~", "a/../c:x" a drive form. (Clean of a clean path returns
		// here.)
		if _, err := Clean(clean); err != nil {
			return "", err
		}
	}
	for elem := range strings.SplitSeq(clean, "/") {
		if len(elem) > maxNameLen {
			return "", bulwark.Errorf(bulwark.Invalid, op,
				"a name in path %q is %d bytes long; names may be at most %d bytes", shorten(name), len(elem), maxNameLen)
		}
	}
	return clean, nil
}

// isControl reports whether r is an ASCII or C1 control character.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// hasDrive reports whether name starts with a Windows drive letter ("C:").
func hasDrive(name string) bool {
	if len(name) < 2 || name[1] != ':' {
		return false
	}
	c := name[0] | 0x20
	return c >= 'a' && c <= 'z'
}

// suggest turns a refused path into a similar one inside the workspace, for
// error messages: leading slashes and ".." elements are dropped.
func suggest(name string) string {
	var keep []string
	for elem := range strings.SplitSeq(path.Clean("/"+name), "/") {
		if elem != "" && elem != ".." && elem != "." {
			keep = append(keep, elem)
		}
	}
	if len(keep) == 0 {
		return "notes.txt"
	}
	return shorten(strings.Join(keep, "/"))
}

// shorten cuts a long path for an error message.
func shorten(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return s[:max] + "..."
}
