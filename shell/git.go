package shell

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"

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
	switch {
	case !sub.static:
		w.dyn("git's subcommand is only known at run time (it may be an alias)")
	case !gitKnown.Get()[sub.text]:
		w.dyn("git %s is no git command: it may be an alias a git config defines (!CMD)", sub.text)
	default:
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

// gitKnown are the names git runs as its own commands whatever its
// config says (an alias never hides one): git 2.39's builtins, and the
// scripts every distribution's git-core package holds. Any other name
// may be an alias that ~/.gitconfig or a repository's .git/config,
// which the agent may have written, defines as !CMD, and git send-email,
// svn, p4, gui, subtree and the like are packaged apart: where they are
// not installed, their name too may be an alias.
var gitKnown = lazy.Value[map[string]bool]{New: func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`add am annotate apply archive bisect bisect--helper blame
		branch bugreport bundle cat-file check-attr check-ignore check-mailmap check-ref-format
		checkout checkout--worker checkout-index cherry cherry-pick clean clone column commit
		commit-graph commit-tree config count-objects credential credential-cache
		credential-cache--daemon credential-store describe diagnose diff diff-files diff-index
		diff-tree difftool difftool--helper env--helper fast-export fast-import fetch fetch-pack
		filter-branch fmt-merge-msg for-each-ref for-each-repo format-patch fsck fsck-objects
		fsmonitor--daemon gc get-tar-commit-id grep hash-object help hook index-pack init init-db
		interpret-trailers log ls-files ls-remote ls-tree mailinfo mailsplit maintenance merge
		merge-base merge-file merge-index merge-octopus merge-one-file merge-ours merge-recursive
		merge-recursive-ours merge-recursive-theirs merge-resolve merge-subtree merge-tree
		mergetool mktag mktree multi-pack-index mv name-rev notes pack-objects pack-redundant
		pack-refs patch-id pickaxe prune prune-packed pull push quiltimport range-diff read-tree
		rebase receive-pack reflog remote remote-ext remote-fd repack replace request-pull rerere
		reset restore rev-list rev-parse revert rm send-pack shortlog show show-branch show-index
		show-ref sparse-checkout stage stash status stripspace submodule switch
		symbolic-ref tag unpack-file unpack-objects update-index update-ref update-server-info
		upload-archive upload-archive--writer upload-pack var verify-commit verify-pack verify-tag
		version web--browse whatchanged worktree write-tree`) {
		m[n] = true
	}
	return m
}}

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
		if key, _, _ := strings.Cut(f.words[1], "="); gitRunsKey(key) {
			w.dyn("git -c %s may run a command given as text", strings.ToLower(key))
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
			long := strings.HasPrefix(name, "--") && len(name) > 2 && strings.HasPrefix(f, name)
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
			if !a.static || gitRunsKey(a.text) {
				w.dyn("git config sets %s, which may run a command given as text", a.text)
				return
			}
		}
	case "clone":
		// clone -c KEY=VALUE (--config, a prefix of it, or -c ending a
		// cluster) writes the new repository's config, which git reads
		// at every later command there.
		for i, a := range rest {
			v := a
			if n, val, has := strings.Cut(a.text, "="); strings.HasPrefix(n, "--") && len(n) > 2 && strings.HasPrefix("--config", n) {
				v.text = val
				if !has && i+1 < len(rest) {
					v = rest[i+1]
				}
			} else if c := strings.IndexByte(a.text, 'c'); len(a.text) > 1 && a.text[0] == '-' && a.text[1] != '-' && c > 0 {
				v.text = a.text[c+1:]
				if v.text == "" && i+1 < len(rest) {
					v = rest[i+1]
				}
			} else {
				continue
			}
			if key, _, _ := strings.Cut(v.text, "="); !v.static || gitRunsKey(key) {
				w.dyn("git clone -c %s may run a command given as text", strings.ToLower(key))
				return
			}
		}
	}
}

// gitRunsKey says whether git runs the value of the configuration key
// (a key of gitCommandKeys, or under one ending in ".").
func gitRunsKey(key string) bool {
	key = strings.ToLower(key)
	for _, k := range gitCommandKeys {
		if key == k || strings.HasSuffix(k, ".") && strings.HasPrefix(key, k) {
			return true
		}
	}
	return false
}

// gitSubmodule reads the script of `git submodule foreach CMD`; git
// submodule update is dynamic: submodule.NAME.update=!CMD in .git/config,
// which the agent may write, is run, and no variable can name every NAME.
func (w *walker) gitSubmodule(args []arg, depth int) {
	for i, a := range args {
		if !a.static {
			return
		}
		if a.text == "update" {
			w.dyn("git submodule update runs the update=!CMD a repository's config may give a submodule")
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

// runsBeside records that a command of the script may run beside another,
// and why (the first reason found).
func (w *walker) runsBeside(why string) {
	if w.beside == "" {
		w.beside = why
	}
}

// gitBeside makes a script dynamic when git (other than git config) may
// run beside another of its commands: anywhere in a script with a command
// in the background, a coprocess or a process substitution (w.beside),
// or in a pipeline with more than readers (script). The sandbox's git guard
// reads the repository's configuration and refuses one that names a
// command git would run (a filter, a diff driver, ...), then runs git,
// which reads it again: a command beside it may write .git/config in
// between, and git then runs what no policy judged. Commands that only
// read their input (git log | head) do not count.
func (w *walker) gitBeside() {
	if w.beside != "" && runsGit(w.cmds) {
		w.gitDyn()
	}
}

// gitDyn makes the script dynamic, once, for git beside w.beside.
func (w *walker) gitDyn() {
	if w.pattern || w.gitBesideSaid {
		return
	}
	w.gitBesideSaid = true
	w.dyn("git may run beside %s, which may rewrite the configuration the sandbox checked before git reads it", w.beside)
}

// runsGit says whether cmds run git other than git config.
func runsGit(cmds []Command) bool {
	for _, c := range cmds {
		if c.Name == "git" && (len(c.Args) == 0 || c.Args[0] != "config") {
			return true
		}
	}
	return false
}

// pipelineReaders are the programs a pipeline of git may pass its output
// to without running beside a command that may write a file: each reads
// its input and the files it is given, and writes only its output.
var pipelineReaders = lazy.Value[map[string]bool]{New: func() map[string]bool {
	m := map[string]bool{}
	for _, n := range []string{"cat", "head", "tail", "grep", "egrep", "fgrep", "wc", "cut", "tr", "less", "more", "nl", "column", "fold", "echo", "printf"} {
		m[n] = true
	}
	return m
}}

// readerPipeline says whether each stage of the pipeline p but one is a
// reader (pipelineReaders), a simple command with a plain name and no
// redirection: a pipeline that runs nothing beside git that may write a
// file. Two stages that are not readers (git config x y | git diff) may
// run at once.
func readerPipeline(p *syntax.BinaryCmd) bool {
	others := 0
	var stage func(st *syntax.Stmt) bool
	stage = func(st *syntax.Stmt) bool {
		if b, ok := st.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.Pipe || b.Op == syntax.PipeAll) {
			return stage(b.X) && stage(b.Y)
		}
		call, ok := st.Cmd.(*syntax.CallExpr)
		if !ok || len(st.Redirs) > 0 || st.Background || st.Coprocess || len(call.Assigns) > 0 || len(call.Args) == 0 {
			others++
			return others <= 1
		}
		if name := call.Args[0].Lit(); !pipelineReaders.Get()[name] {
			others++
		}
		return others <= 1
	}
	return stage(p.X) && stage(p.Y)
}
