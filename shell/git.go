package shell

import (
	"strings"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// git writes a git command as: the subcommand, then git's own flags and
// the subcommand's (for those listed in gitCommands), sorted, then the
// operands. Configuration that makes git run a command given as text
// (git -c alias.x='!cmd', core.sshCommand, ...) is dynamic; the scripts
// of rebase --exec and submodule foreach are read.
func (w *walker) git(args []arg, depth int) []string {
	var flags []flag
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !a.static || len(a.text) < 2 || a.text[0] != '-' {
			break
		}
		if a.text == "--" {
			i++
			break
		}
		var fs []flag
		if strings.HasPrefix(a.text, "--") {
			var f flag
			f, i = gitGlobal.Get().parseLong(args, i)
			fs = []flag{f}
		} else {
			fs, i = gitGlobal.Get().parseShort(args, i)
		}
		for _, f := range fs {
			w.gitConfig(f)
		}
		flags = append(flags, fs...)
	}
	if i >= len(args) {
		return canonical(flags, nil)
	}
	sub := args[i]
	rest := args[i+1:]
	if sub.static {
		w.gitRuns(sub.text, rest, depth)
	}
	o, ok := gitCommands.Get()[sub.text]
	if !sub.static || !ok {
		if sub.static && sub.text == "submodule" {
			w.gitSubmodule(rest, depth)
		}
		return append(append(canonical(flags, nil), sub.text), texts(rest)...)
	}
	w.runtimeFlags("git "+sub.text, o, rest)
	subFlags, operands := o.parse(rest)
	if sub.text == "rebase" {
		for _, f := range subFlags {
			if f.key == "-x" && len(f.words) == 2 {
				w.nested("git rebase --exec", arg{text: f.words[1], static: true}, depth)
			}
		}
	}
	out := canonical(append(flags, subFlags...), operands)
	return append([]string{sub.text}, out...)
}

// gitCommandKeys are configuration keys whose value git runs as a command.
var gitCommandKeys = []string{
	"core.pager", "core.editor", "core.sshcommand", "core.fsmonitor", "core.hookspath",
	"core.askpass", "core.gitproxy", "sequence.editor", "diff.external", "gpg.program",
	"credential.helper", "pager.", "alias.", "filter.", "diff.", "merge.", "uploadpack.",
	"receivepack.", "remote.", "url.", "include.", "includeif.",
	// ext:: URLs run their text once a protocol rule allows them; a
	// submodule's update may be !CMD; a template folder brings hooks.
	"protocol.", "submodule.", "init.templatedir",
}

func (w *walker) gitConfig(f flag) {
	switch f.key {
	case "-c":
		if len(f.words) < 2 {
			return
		}
		key, _, _ := strings.Cut(strings.ToLower(f.words[1]), "=")
		for _, k := range gitCommandKeys {
			if key == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(key, k)) {
				w.dyn("git -c %s may run a command given as text", key)
				return
			}
		}
	case "--config-env":
		w.dyn("git --config-env may run a command given as text")
	case "--exec-path":
		if strings.Contains(f.words[0], "=") {
			w.dyn("git --exec-path chooses the programs git runs")
		}
	}
}

// gitRunFlags are, by subcommand, the options whose value git runs as a
// command: git grep -O CMD, git clone -u CMD, git difftool -x CMD, ...
var gitRunFlags = lazy.Value[map[string][]string]{New: func() map[string][]string {
	return map[string][]string{
		"grep":          {"-O", "--open-files-in-pager"},
		"clone":         {"-u", "--upload-pack"},
		"fetch":         {"--upload-pack"},
		"pull":          {"--upload-pack"},
		"ls-remote":     {"--upload-pack"},
		"push":          {"--receive-pack", "--exec"},
		"archive":       {"--exec"},
		"difftool":      {"-x", "--extcmd"},
		"send-email":    {"--smtp-server", "--sendmail-cmd", "--to-cmd", "--cc-cmd", "--header-cmd"},
		"instaweb":      {"-b", "--browser", "-d", "--httpd"},
		"filter-branch": {"--env-filter", "--tree-filter", "--index-filter", "--parent-filter", "--msg-filter", "--commit-filter", "--tag-name-filter"},
	}
}}

// gitRuns reads what a git subcommand runs besides git: the value of a
// flag of gitRunFlags (as written, attached or =, or a long one's
// prefix, which git accepts) is dynamic; git bisect run CMD reports
// CMD; git config setting a key of gitCommandKeys (or one only known
// at run time) is dynamic, for git runs it later.
func (w *walker) gitRuns(sub string, rest []arg, depth int) {
	for _, a := range rest {
		if !a.static {
			continue
		}
		if a.text == "--" {
			break
		}
		for _, f := range gitRunFlags.Get()[sub] {
			name, _, _ := strings.Cut(a.text, "=")
			long := strings.HasPrefix(name, "--") && len(name) > 3 && strings.HasPrefix(f, name)
			// A short one may end a cluster (-iO CMD, -iOCMD).
			short := !strings.HasPrefix(f, "--") && len(a.text) > 1 && a.text[0] == '-' && a.text[1] != '-' &&
				strings.IndexByte(a.text[1:], f[1]) >= 0
			if long || short {
				w.dyn("git %s %s runs a command given as text", sub, f)
				return
			}
		}
	}
	switch sub {
	case "bisect":
		if len(rest) > 1 && rest[0].static && rest[0].text == "run" {
			w.run(rest[1:], depth+1)
		}
	case "config":
		for _, a := range rest {
			key := strings.ToLower(a.text)
			for _, k := range gitCommandKeys {
				if !a.static || key == k || strings.HasSuffix(k, ".") && strings.HasPrefix(key, k) {
					w.dyn("git config sets %s, which may run a command given as text", a.text)
					return
				}
			}
		}
	}
}

// gitSubmodule reads the script of `git submodule foreach CMD`.
func (w *walker) gitSubmodule(args []arg, depth int) {
	for i, a := range args {
		if !a.static {
			return
		}
		if a.text == "foreach" {
			rest := args[i+1:]
			for len(rest) > 0 && rest[0].static && strings.HasPrefix(rest[0].text, "-") {
				rest = rest[1:]
			}
			if len(rest) > 0 {
				joined := arg{static: true}
				for k, r := range rest {
					if k > 0 {
						joined.text += " "
					}
					joined.text += r.text
					joined.static = joined.static && r.static
				}
				w.nested("git submodule foreach", joined, depth)
			}
			return
		}
	}
}

// tar reads GNU tar's options, old style ("tar xzf a.tgz") included.
// Options that make tar run a command given as text are dynamic.
func (w *walker) tar(args []arg) []string {
	o := tools.Get()["tar"]
	if len(args) > 0 && args[0].static && args[0].text != "" && args[0].text[0] != '-' {
		// Old style: a cluster without the dash, each letter that takes
		// a value taking the next word.
		var re []arg
		next := 1
		for _, c := range []byte(args[0].text) {
			re = append(re, arg{text: "-" + string(c), static: true})
			if strings.IndexByte(o.values, c) >= 0 && next < len(args) {
				re = append(re, args[next])
				next++
			}
		}
		args = append(re, args[next:]...)
	}
	w.runtimeFlags("tar", o, args)
	flags, operands := o.parse(args)
	for _, f := range flags {
		switch f.key {
		case "-I", "-F", "--to-command", "--rsh-command", "--rmt-command":
			w.dyn("tar %s runs a command given as text", f.key)
		case "--checkpoint-action":
			if strings.Contains(strings.Join(f.words, " "), "exec") {
				w.dyn("tar --checkpoint-action runs a command given as text")
			}
		}
	}
	return canonical(flags, operands)
}
