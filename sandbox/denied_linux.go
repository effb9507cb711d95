package sandbox

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark/internal/bytesize"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// deniedWatch passes a command's stderr on and notes the programs a shell
// or runtime inside the sandbox could not run ("bash: line 1:
// /usr/bin/python3: Permission denied", Python's PermissionError, Node's
// "spawn python3 EACCES"), so that the reason the sandbox refused them can
// follow: run_shell runs bash -c, and bash knows only "permission denied".
// It also notes a write refused for the file size limit: EFBIG's "File too
// large", or a shell's "File size limit exceeded" for a program SIGXFSZ
// killed. (The command writes its own stderr: what is noted explains, and
// counts, and decides nothing.)
type deniedWatch struct {
	w        io.Writer
	mu       sync.Mutex
	line     []byte
	names    []string
	tooLarge bool
}

// maxDeniedNames bounds the programs explained after one command.
const maxDeniedNames = 8

func deniedPatterns() []*regexp.Regexp { return deniedRegexps.Get() }

var deniedRegexps = lazy.Value[[]*regexp.Regexp]{New: func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`(?:^|: )([^\s:]+): Permission denied$`),     // bash, dash, env, xargs
		regexp.MustCompile(`Permission denied: '([^']+)'`),              // Python
		regexp.MustCompile(`spawn(?:Sync)? (\S+) EACCES`),               // Node
		regexp.MustCompile(`cannot execute: Permission denied: (\S+)$`), // some shells
	}
}}

func (d *deniedWatch) Write(p []byte) (int, error) {
	d.mu.Lock()
	for _, c := range p {
		if c != '\n' {
			if len(d.line) < 4096 {
				d.line = append(d.line, c)
			}
			continue
		}
		d.scan(string(d.line))
		d.line = d.line[:0]
	}
	d.mu.Unlock()
	return d.w.Write(p)
}

func (d *deniedWatch) scan(line string) {
	if strings.Contains(line, "File too large") || strings.Contains(line, "File size limit exceeded") {
		d.tooLarge = true
	}
	if len(d.names) >= maxDeniedNames || !strings.Contains(line, "denied") && !strings.Contains(line, "EACCES") {
		return
	}
	for _, re := range deniedPatterns() {
		if m := re.FindStringSubmatch(line); m != nil && !slices.Contains(d.names, m[1]) {
			d.names = append(d.names, m[1])
			return
		}
	}
}

// reasons returns, for each program noted, why the sandbox refused it; a
// program the sandbox did not refuse (a file without its x bit) gets none.
func (d *deniedWatch) reasons(spec Spec) []string {
	d.mu.Lock()
	if len(d.line) > 0 {
		d.scan(string(d.line))
		d.line = nil
	}
	names := slices.Clone(d.names)
	d.mu.Unlock()
	var out []string
	for _, n := range names {
		if why := refusedProgram(spec, n); why != "" {
			out = append(out, why)
		}
	}
	return out
}

// fileTooLarge reports whether a line noted a write refused for the file
// size limit.
func (d *deniedWatch) fileTooLarge() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.line) > 0 {
		d.scan(string(d.line))
		d.line = d.line[:0]
	}
	return d.tooLarge
}

// fileSizeReason is the line that explains a write refused for the file
// size limit.
func fileSizeReason(spec Spec) string {
	return fmt.Sprintf("a file in the sandbox may hold at most %s (the sandbox's file size limit, BULWARK_SANDBOX_MAX_FILE_SIZE): a write past it fails with \"File too large\" or kills the writer", bytesize.Text(spec.MaxFileSize))
}

// refusedProgram says why the sandbox of spec refuses to run name, as the
// init says it of the command itself, or "" when it does not.
func refusedProgram(spec Spec, name string) string {
	path := name
	if !strings.Contains(name, "/") {
		path = lookPath(name)
		if path == "" {
			return ""
		}
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(initproc.WorkspaceDir, path) // the command's working directory
	}
	path = filepath.Clean(path)
	switch {
	case initproc.InWorkspace(path) && !spec.WorkspaceExec:
		return name + ": " + initproc.WorkspaceNoExec
	case initproc.InWorkspace(path):
		return ""
	case path == "/tmp" || strings.HasPrefix(path, "/tmp/") || strings.HasPrefix(path, "/dev/shm/"):
		return name + ": programs in /tmp cannot be run in the sandbox (it is mounted noexec)"
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	if info, err := os.Stat(real); err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
		return "" // not a program: its own mode refuses it
	}
	for _, a := range spec.AllowExec {
		p := a
		if !strings.Contains(a, "/") {
			p = lookPath(a)
		}
		if r, err := filepath.EvalSymlinks(p); err == nil && r == real {
			return ""
		}
	}
	return name + ": not on the sandbox's command allowlist (" + initproc.AllowlistHint + ")"
}

// lookPath finds name in the sandbox's PATH, whose folders are the host's.
func lookPath(name string) string {
	for _, dir := range filepath.SplitList(initproc.SandboxPath) {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
