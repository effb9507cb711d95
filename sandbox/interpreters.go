package sandbox

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// maxInterpreterDepth bounds how many #! lines Interpreters follows, as
// the kernel bounds its own recursion.
const maxInterpreterDepth = 4

// shebangMax is how much of a file the kernel reads for its #! line.
const shebangMax = 256

// Interpreters returns what AllowExec needs, beside the script at path
// itself, for the sandbox to run it: the interpreter its #! line names (an
// absolute path, as written), and, through env ("#!/usr/bin/env node",
// "#!/usr/bin/env -S node --flag"), the program env runs, as a name that
// AllowExec looks up on the sandbox PATH (or the absolute path written).
// An interpreter that is itself a script is followed, a few levels deep.
// A path without a slash is a command name, looked up on the sandbox PATH
// as AllowExec and the sandbox look names up.
// It only reads the files' first line and runs nothing. It returns nil
// for a file that is not a script (an ELF program needs only its loader,
// which the sandbox allows by itself) or cannot be read.
func Interpreters(path string) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if !strings.Contains(path, "/") {
		path = hostLookPath(path)
	}
	for depth := 0; depth < maxInterpreterDepth && path != ""; depth++ {
		interp, arg, ok := readShebang(path)
		if !ok {
			break
		}
		add(interp)
		path = interp
		if filepath.Base(interp) != "env" {
			continue
		}
		prog := envProgram(arg)
		if prog == "" {
			break
		}
		add(prog)
		// env's program may be a script too (the interpreter env itself
		// is one only on odd systems; its #! line is not followed then).
		path = hostLookPath(prog)
	}
	return out
}

// readShebang returns the interpreter and the optional argument of the #!
// line of the file at path, split the way the kernel splits it: the
// interpreter up to the first blank, the rest (trimmed) as one argument.
func readShebang(path string) (interp, arg string, ok bool) {
	// Non-blocking: a FIFO planted at path must not hang the caller.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return "", "", false
	}
	buf := make([]byte, shebangMax)
	n, _ := io.ReadFull(f, buf)
	return parseShebang(buf[:n])
}

// parseShebang parses the #! line at the start of buf.
func parseShebang(buf []byte) (interp, arg string, ok bool) {
	if !bytes.HasPrefix(buf, []byte("#!")) {
		return "", "", false
	}
	line := buf[2:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	s := strings.Trim(string(line), " \t\r")
	if s == "" || strings.ContainsRune(s, 0) {
		return "", "", false
	}
	interp, arg, _ = strings.Cut(strings.ReplaceAll(s, "\t", " "), " ")
	return interp, strings.Trim(arg, " \t\r"), true
}

// envProgram returns the program that env runs given arg (the one
// argument of a #! line): the first word that is neither an option nor a
// VAR=value assignment. Only with -S (--split-string) is arg split into
// words; otherwise env takes it as one name, as the kernel passes it.
func envProgram(arg string) string {
	if arg == "" {
		return ""
	}
	var words []string
	switch {
	case strings.HasPrefix(arg, "-S"), strings.HasPrefix(arg, "--split-string"):
		rest := strings.TrimPrefix(strings.TrimPrefix(arg, "--split-string"), "-S")
		rest = strings.TrimPrefix(rest, "=")
		words = strings.Fields(rest)
	default:
		if strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
			// An option or assignment without -S: env sees one odd word.
			words = strings.Fields(arg)
		} else {
			return arg
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--":
			if i+1 < len(words) {
				return words[i+1]
			}
			return ""
		case w == "-u" || w == "-C" || w == "--unset" || w == "--chdir":
			i++ // the option's value
		case strings.HasPrefix(w, "-S"):
			// -S again inside the string: the rest follows as words.
			if r := strings.TrimPrefix(w, "-S"); r != "" {
				words = append(words[:i+1], append([]string{r}, words[i+1:]...)...)
			}
		case strings.HasPrefix(w, "-"):
		case strings.Contains(w, "="):
		default:
			return w
		}
	}
	return ""
}

// hostLookPath finds name on the sandbox PATH in the host's view, which
// the sandbox mirrors for the system folders; "" when it is not there.
func hostLookPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, dir := range filepath.SplitList(initproc.SandboxPath) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
