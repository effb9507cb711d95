package shell

import (
	"regexp"
	"strings"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// wrapper is a program (or builtin) that runs the command in its operands.
type wrapper struct {
	opts *options
	// assigns: NAME=VALUE words may come before the command (env, sudo).
	assigns bool
	// operands before the command: timeout's duration, chroot's root;
	// -1: su USER, whose arguments go to the user's shell; -2: sg GROUP
	// and script FILE, which give the operands after the first to a shell
	// as a script.
	operands int
	// hidden: a shell builtin that only chooses how the next word is
	// looked up (command, builtin, exec); it is not reported itself.
	hidden bool
	// shell: what runs without a command: a shell reading standard input
	// (sudo -s, chroot DIR).
	shell bool
	// shellFlags are flags that make it run a shell when given no command.
	shellFlags []string
	// dynamicFlags are flags that make it run text it is given as a
	// command line (env -S).
	dynamicFlags []string
	// queries are flags with which it runs nothing (command -v).
	queries []string
	// scriptFlags are flags whose value is a shell script (su -c).
	scriptFlags []string
}

var wrappers = lazy.Value[map[string]wrapper]{New: func() map[string]wrapper {
	return map[string]wrapper{
		"command": {opts: newOptions("pvV", "", "", "", ""), hidden: true, queries: []string{"-v", "-V"}},
		"builtin": {opts: newOptions("", "", "", "", ""), hidden: true},
		"exec":    {opts: newOptions("cl", "a", "", "", ""), hidden: true},
		"env": {opts: newOptions("i0v", "uCSa", "", "",
			"argv0:=a ignore-environment=i null=0 unset:=u chdir:=C split-string:=S debug=v default-signal? "+
				"ignore-signal? block-signal? list-signal-handling help version"),
			assigns: true, dynamicFlags: []string{"-S", "--split-string"}},
		"nice":    {opts: newOptions("0123456789", "n", "", "", "adjustment:=n help version")}, // nice -5: the old form of -n 5
		"timeout": {opts: newOptions("fpv", "ks", "", "", "foreground=f preserve-status=p kill-after:=k signal:=s verbose=v help version"), operands: 1},
		"nohup":   {opts: newOptions("", "", "", "", "help version")},
		"stdbuf":  {opts: newOptions("", "ioe", "", "", "input:=i output:=o error:=e help version")},
		"time":    {opts: newOptions("apqv", "fo", "", "", "append=a format:=f output:=o portability=p quiet=q verbose=v help version")},
		"sudo": {opts: newOptions("AbBEeHhiKklnPSsVv", "CDgprRtTuU", "", "",
			"askpass=A background=b bell=B close-from:=C chdir:=D preserve-env? edit=e group:=g set-home=H host: "+
				"login=i remove-timestamp=K reset-timestamp=k list=l non-interactive=n preserve-groups=P "+
				"prompt:=p chroot:=R role:=r stdin=S shell=s type:=t command-timeout:=T other-user:=U "+
				"user:=u version=V validate=v help=h"),
			assigns: true, shellFlags: []string{"-s", "-i"}, queries: []string{"-e", "-l", "-V", "-v", "-K"}},
		"doas":   {opts: newOptions("nsL", "uC", "", "", ""), shellFlags: []string{"-s"}, queries: []string{"-C", "-L"}},
		"pkexec": {opts: newOptions("", "", "", "", "user: disable-internal-agent keep-cwd help version")},
		"su": {opts: newOptions("flmpP", "cgGsw", "", "",
			"command:=c session-command: fast=f group:=g supp-group:=G login=l preserve-environment=p "+
				"shell:=s whitelist-environment:=w pty=P help version"),
			shell: true, scriptFlags: []string{"-c", "--session-command"}, operands: -1},
		"runuser": {opts: newOptions("flmpP", "cgGsuw", "", "",
			"command:=c session-command: fast=f group:=g supp-group:=G login=l preserve-environment=p "+
				"shell:=s user:=u whitelist-environment:=w pty=P help version"),
			shell: true, scriptFlags: []string{"-c", "--session-command"}, operands: -1},
		"chroot": {opts: newOptions("", "", "", "", "userspec: groups: skip-chdir help version"), operands: 1, shell: true},
		"setsid": {opts: newOptions("cfw", "", "", "", "ctty=c fork=f wait=w help version")},
		"ionice": {opts: newOptions("t", "cnpPu", "", "", "class:=c classdata:=n pid:=p pgid:=P ignore=t uid:=u help version"), queries: []string{"-p", "-P", "-u"}},
		// Wrappers an operator might allow; their options as util-linux,
		// coreutils and the others define them.
		"taskset":     {opts: newOptions("acphV", "", "", "", "all-tasks=a cpu-list=c pid=p help version"), operands: 1},
		"chrt":        {opts: newOptions("abdefiopmrRvhV", "TPD", "", "", "all-tasks=a batch=b deadline=d ext=e fifo=f idle=i other=o pid=p rr=r reset-on-fork=R verbose=v sched-runtime:=T sched-period:=P sched-deadline:=D max=m help version"), operands: 1},
		"flock":       {opts: newOptions("sxunoFhV", "wEc", "", "", "shared=s exclusive=x unlock=u nonblock=n close=o no-fork=F timeout:=w conflict-exit-code:=E command:=c verbose help version"), operands: 1, scriptFlags: []string{"-c", "--command"}},
		"setarch":     {opts: newOptions("vRFZLXBIST3", "", "", "", "verbose=v addr-no-randomize=R fdpic-funcptrs=F mmap-page-zero=Z addr-compat-layout=L read-implies-exec=X 32bit=B short-inode=I whole-seconds=S sticky-timeouts=T 3gb=3 4gb uname-2.6 list help version"), operands: 1, shell: true},
		"linux32":     {opts: newOptions("vRFZLXBIST3", "", "", "", "verbose=v addr-no-randomize=R 3gb=3 4gb uname-2.6 help version"), shell: true},
		"linux64":     {opts: newOptions("vRFZLXBIST3", "", "", "", "verbose=v addr-no-randomize=R 3gb=3 4gb uname-2.6 help version"), shell: true},
		"unshare":     {opts: newOptions("fcrhV", "RwSGl", "muinpUCT", "", "mount?=m uts?=u ipc?=i net?=n pid?=p user?=U cgroup?=C time?=T fork=f kill-child? mount-proc? map-user: map-group: map-users: map-groups: map-root-user=r map-current-user=c map-auto propagation: setgroups: keep-caps setuid:=S setgid:=G root:=R wd:=w load-interp: monotonic: boottime: help version"), shell: true},
		"nsenter":     {opts: newOptions("aFZhV", "tSGe", "mupinUCTrw", "", "all=a target:=t mount?=m uts?=u ipc?=i net?=n pid?=p user?=U cgroup?=C time?=T setuid:=S setgid:=G preserve-credentials root?=r wd?=w wdns: env no-fork=F follow-context=Z help version"), shell: true},
		"setpriv":     {opts: newOptions("dhV", "", "", "", "dump=d nnp no-new-privs inh-caps: ambient-caps: bounding-set: ruid: euid: rgid: egid: reuid: regid: clear-groups keep-groups init-groups groups: securebits: pdeathsig: selinux-label: apparmor-profile: landlock-access: landlock-rule: reset-env help version")},
		"prlimit":     {opts: newOptions("hoVv", "p", "ACcdefilmnqrstuvxy", "", "pid:=p output:=o noheadings raw verbose help version as? core? cpu? data? fsize? locks? memlock? msgqueue? nice? nofile? nproc? rss? rtprio? rttime? sigpending? stack?")},
		"numactl":     {opts: newOptions("alsHS", "iCNmpPbcw", "", "", "all=a interleave:=i preferred:=p preferred-many:=P membind:=m cpunodebind:=N physcpubind:=C localalloc=l show=s hardware=H balancing=b")},
		"fakeroot":    {opts: newOptions("uvh", "lsibe", "", "", "lib: faked: unknown-is-real=u version=v help=h"), shell: true},
		"faketime":    {opts: newOptions("fh", "mp", "", "", "exclude-monotonic date-prog:"), operands: 1},
		"unbuffer":    {opts: newOptions("p", "", "", "", "")},
		"rlwrap":      {opts: newOptions("AaciEhlmnNrRsStvwzbCDefFgHIoOPqSWX", "", "", "", "")},
		"chronic":     {opts: newOptions("ev", "", "", "", "")},
		"catchsegv":   {opts: newOptions("", "", "", "", "help version")},
		"systemd-run": {opts: newOptions("qGdSrhP", "pEuH", "", "", "unit: property:=p description: slice: scope user system pty=t pipe=P quiet=q wait=G same-dir collect=G setenv:=E uid: gid: nice: working-directory: remain-after-exit=r service-type: help version")},
		"firejail":    {opts: newOptions("", "", "", "", "")},
		"cpulimit":    {opts: newOptions("kirvzh", "lpe", "", "", "limit:=l pid:=p exe:=e kill=k restore=r include-children=i verbose=v lazy=z help=h")},
		"entr":        {opts: newOptions("acdnprsz", "", "", "", "")},
		"sg":          {opts: newOptions("", "", "", "", ""), operands: -2},
		"script":      {opts: newOptions("aefqtTIOBEhV", "cotTIOBEm", "", "", "append=a command:=c echo:=E return=e flush=f force log-in:=I log-out:=O log-io:=B log-timing:=T logging-format:=m output-limit:=o quiet=q timing?=t help=h version=V"), scriptFlags: []string{"-c", "--command"}, operands: -2},
		"busybox":     {opts: newOptions("", "", "", "", "")},
		"toybox":      {opts: newOptions("", "", "", "", "")},
		"strace":      {opts: newOptions("cCdDfFhiqrtTvVwxyzZ", "abeEIoOpPsSuUX", "", "", "output:=o attach:=p user:=u")},
		"ltrace":      {opts: newOptions("bcCfhiLrStTV", "aAeEFlnopsuwx", "", "", "output:=o")},
	}
}}

// skipOptions reads the options at the head of args, getopt style with
// the first operand ending them. It returns each flag as written (a long
// one mapped to a short one under both names), the values of those that
// take one, and the words after them. It reports false when an option is
// only known at run time.
func skipOptions(o *options, args []arg) (flags []string, values map[string]arg, rest []arg, ok bool) {
	values = map[string]arg{}
	set := func(names []string, v arg) {
		for _, n := range names {
			if _, seen := values[n]; !seen {
				values[n] = v
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		s := a.text
		switch {
		case !a.static && !strings.HasPrefix(a.lead, "-"):
			return flags, values, args[i:], true // the command, only known at run time
		case !a.static:
			return nil, nil, nil, false
		case s == "--":
			return flags, values, args[i+1:], true
		case strings.HasPrefix(s, "--"):
			name, val, hasVal := strings.Cut(s[2:], "=")
			full, l, known := o.lookupLong(name)
			names := []string{s}
			if known {
				names = []string{"--" + full}
				if l.short != 0 {
					names = append(names, "-"+string(l.short))
				}
			}
			flags = append(flags, names...)
			switch {
			case hasVal:
				set(names, arg{text: val, static: true})
			case known && l.value == needsValue && i+1 < len(args):
				i++
				set(names, args[i])
			}
		case len(s) > 1 && s[0] == '-':
			for j := 1; j < len(s); j++ {
				name := "-" + string(s[j])
				flags = append(flags, name)
				if strings.IndexByte(o.values, s[j]) >= 0 {
					switch {
					case j+1 < len(s):
						set([]string{name}, arg{text: s[j+1:], static: true})
					case i+1 < len(args):
						i++
						set([]string{name}, args[i])
					}
					break
				}
				if strings.IndexByte(o.optional, s[j]) >= 0 {
					break
				}
			}
		default:
			return flags, values, args[i:], true
		}
	}
	return flags, values, nil, true
}

// unknownFlag returns the first of flags (as skipOptions returns them)
// that o does not know, or "".
func unknownFlag(o *options, flags []string) string {
	for _, f := range flags {
		if strings.HasPrefix(f, "--") {
			name, _, _ := strings.Cut(f[2:], "=")
			if _, _, known := o.lookupLong(name); !known {
				return f
			}
			continue
		}
		c := f[1]
		if strings.IndexByte(o.bools+o.values+o.optional, c) < 0 && o.alias[c] == 0 {
			return f
		}
	}
	return ""
}

func containsFlag(flags []string, names ...string) bool {
	for _, f := range flags {
		for _, n := range names {
			if f == n {
				return true
			}
		}
	}
	return false
}

// keepsEnv makes dynamic a wrapper that empties the environment (env -i,
// exec -c, setpriv --reset-env) or unsets a variable that changes what
// commands run (env -u GIT_CONFIG_COUNT): the sandbox gives every command
// the environment that keeps git from running what its config names, and
// what runs without it is not seen.
func (w *walker) keepsEnv(prog string, flags []string, opts []arg) {
	switch {
	case prog == "env" && containsFlag(flags, "-i"), prog == "exec" && containsFlag(flags, "-c"),
		prog == "setpriv" && containsFlag(flags, "--reset-env"):
		w.dyn("%s runs a command without the sandbox's environment", prog)
		return
	case prog != "env":
		return
	}
	for i, a := range opts {
		var name string
		switch {
		case strings.HasPrefix(a.text, "--"):
			// --unset and its prefixes (--u, --uns=X): no other long
			// option of env starts with u.
			n, v, has := strings.Cut(a.text[2:], "=")
			if n == "" || !strings.HasPrefix("unset", n) {
				continue
			}
			name = v
			if !has && i+1 < len(opts) {
				name = opts[i+1].text
			}
		case a.text == "-u":
			if i+1 < len(opts) {
				name = opts[i+1].text
			}
		case len(a.text) > 2 && a.text[0] == '-' && a.text[1] != '-' && strings.IndexByte(a.text, 'u') > 0:
			name = a.text[strings.IndexByte(a.text, 'u')+1:]
			if name == "" && i+1 < len(opts) {
				name = opts[i+1].text
			}
		default:
			continue
		}
		if risky(name) {
			w.dyn("%s unsets %s, which changes what commands run", prog, name)
			return
		}
	}
}

var assignment = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`) }}

// wrapper reports a wrapper and the command it runs.
func (w *walker) wrapper(prog string, wr wrapper, args []arg, depth int) []string {
	idx := -1
	if !wr.hidden {
		idx = w.reserve()
		w.cmds[idx] = w.place(Command{Name: prog, Args: texts(args), Globs: globs(args)})
	}
	report := func(inner []string, own int) []string {
		out := append([]string{prog}, texts(args[:own])...)
		if inner == nil {
			out = append(out, texts(args[own:])...)
		} else {
			out = append(out, inner...)
		}
		if idx >= 0 {
			w.cmds[idx] = w.place(Command{Name: prog, Args: out[1:], Globs: globs(args)})
		}
		if wr.hidden {
			return inner
		}
		return out
	}
	flags, values, rest, ok := skipOptions(wr.opts, args)
	for ok && prog == "env" && len(rest) > 0 && rest[0].static && rest[0].text == "-" {
		// env - is env -i, and options may follow it.
		var more []string
		more, _, rest, ok = skipOptions(wr.opts, rest[1:])
		flags = append(flags, append(more, "-i")...)
	}
	if ok {
		w.keepsEnv(prog, flags, args[:len(args)-len(rest)])
	}
	if !ok {
		w.dyn("%s is given options only known when it runs", prog)
		return report(nil, len(args))
	}
	if f := unknownFlag(wr.opts, flags); f != "" {
		// A newer option may take a value (env -a ARG): what is read
		// here as the command may be that value.
		w.dyn("%s is given %s, an option not known here, whose value may be what follows", prog, f)
		return report(nil, len(args))
	}
	if containsFlag(flags, wr.dynamicFlags...) {
		w.dyn("%s runs a command line given as text", prog)
		return report(nil, len(args))
	}
	if containsFlag(flags, wr.queries...) {
		if wr.hidden { // command -v rm: runs nothing, reported as itself
			w.cmds = append(w.cmds, w.place(Command{Name: prog, Args: texts(args), Globs: globs(args)}))
			return append([]string{prog}, texts(args)...)
		}
		return report(nil, len(args))
	}
	if _, ok := values["-s"]; ok && wr.operands < 0 {
		w.dyn("%s -s runs a program of its choice as the shell", prog)
		return report(nil, len(args))
	}
	for _, sf := range wr.scriptFlags {
		if v, ok := values[sf]; ok {
			w.nested(prog+" "+sf, v, depth)
			return report(nil, len(args))
		}
	}
	if wr.operands == -2 { // sg GROUP SCRIPT, script FILE: a shell runs the operands after the first as a script
		if len(rest) < 2 {
			w.dyn("%s runs a shell reading standard input", prog)
			return report(nil, len(args))
		}
		joined := arg{static: true}
		for i, a := range rest[1:] {
			if i > 0 {
				joined.text += " "
			}
			joined.text += a.text
			joined.static = joined.static && a.static
		}
		w.nested(prog, joined, depth)
		return report(nil, len(args))
	}
	if wr.operands < 0 { // su USER [ARGS]: the args go to the user's shell
		w.dyn("%s runs a shell reading standard input", prog)
		return report(nil, len(args))
	}
	// env takes every word with a = before the command as an assignment
	// (BASH_FUNC_ls%%=() { ...; } too); one that changes what runs makes
	// the rest unknowable.
	for wr.assigns && len(rest) > 0 && rest[0].static && (assignment.Get().MatchString(rest[0].text) || prog == "env" && strings.Contains(rest[0].text, "=")) {
		name, val, _ := strings.Cut(rest[0].text, "=")
		if risky(name) {
			w.dyn("%s sets %s, which changes what commands run", prog, name)
		}
		w.value(name, arg{text: val, static: true}) // env f=x sh -c 'cat $f'
		rest = rest[1:]
	}
	if len(rest) < wr.operands {
		return report(nil, len(args))
	}
	rest = rest[wr.operands:]
	if wr.operands > 0 {
		// Options may follow the operands (flock FILE -c CMD, setarch
		// ARCH -R CMD); reading them is the stricter choice.
		more, vals, after, ok := skipOptions(wr.opts, rest)
		if !ok {
			w.dyn("%s is given options only known when it runs", prog)
			return report(nil, len(args))
		}
		flags, rest = append(flags, more...), after
		for _, sf := range wr.scriptFlags {
			if v, ok := vals[sf]; ok {
				w.nested(prog+" "+sf, v, depth)
				return report(nil, len(args))
			}
		}
	}
	if len(rest) == 0 {
		if wr.shell || containsFlag(flags, wr.shellFlags...) {
			w.dyn("%s runs a shell reading standard input", prog)
		}
		return report(nil, len(args))
	}
	own := len(args) - len(rest)
	return report(w.run(rest, depth+1), own)
}

// xargs runs its operands (echo by default) with words read from its
// input added; the command is reported with "..." for them.
func (w *walker) xargs(args []arg, depth int) []string {
	idx := w.reserve()
	w.cmds[idx] = w.place(Command{Name: "xargs", Args: texts(args), Globs: globs(args)})
	_, _, rest, ok := skipOptions(xargsOptions.Get(), args)
	if !ok {
		w.dyn("xargs is given options only known when it runs")
		return append([]string{"xargs"}, texts(args)...)
	}
	own := len(args) - len(rest)
	if r := xargsReplace(args[:own]); r != "" {
		// xargs -I R: each R in the command's words is a line read.
		rest = append([]arg(nil), rest...)
		for i, a := range rest {
			if !strings.Contains(a.text, r) {
				continue
			}
			if i == 0 {
				w.dyn("xargs -I puts the text it reads into the program's name")
				return append([]string{"xargs"}, texts(args)...)
			}
			base := a.pats
			if len(base) == 0 {
				base = []string{a.text}
			}
			b := a
			b.glob, b.pats = true, nil
			for _, x := range base {
				b.pats = append(b.pats, strings.ReplaceAll(x, r, ReadValue))
			}
			rest[i] = b
		}
	}
	implicit := len(rest) == 0
	if implicit {
		rest = []arg{{text: "echo", static: true}}
	}
	// The words xargs reads (from its input, a pipe or -a FILE) are
	// unknown text: they may name any file.
	read := arg{text: "...", static: true, glob: true, pats: []string{ReadValue}}
	inner := w.run(append(append([]arg(nil), rest...), read), depth+1)
	out := append([]string{"xargs"}, texts(args[:own])...)
	switch {
	case implicit:
	case inner == nil:
		out = append(out, texts(args[own:])...)
	default:
		if len(inner) > 0 && inner[len(inner)-1] == "..." {
			inner = inner[:len(inner)-1]
		}
		out = append(out, inner...)
	}
	w.cmds[idx] = w.place(Command{Name: "xargs", Args: out[1:], Globs: globs(args)})
	return out
}

// xargsReplace returns the replace string of xargs's options opts (-I R,
// -iR, --replace=R; -i and --replace alone are {}), or "".
func xargsReplace(opts []arg) string {
	r := ""
	for i := 0; i < len(opts); i++ {
		s := opts[i].text
		if strings.HasPrefix(s, "--") {
			name, val, hasVal := strings.Cut(s[2:], "=")
			full, _, known := xargsOptions.Get().lookupLong(name)
			switch {
			case !known:
			case full == "replace" && hasVal:
				r = val
			case full == "replace":
				r = "{}"
			case xargsOptions.Get().long[full].value == needsValue && !hasVal:
				i++
			}
			continue
		}
		for j := 1; j < len(s); j++ {
			c := s[j]
			if c == 'I' || c == 'i' {
				switch {
				case j+1 < len(s):
					r = s[j+1:]
				case c == 'i':
					r = "{}"
				case i+1 < len(opts):
					i++
					r = opts[i].text
				}
				break
			}
			if strings.IndexByte(xargsOptions.Get().values, c) >= 0 {
				if j+1 == len(s) {
					i++
				}
				break
			}
			if strings.IndexByte(xargsOptions.Get().optional, c) >= 0 {
				break
			}
		}
	}
	return r
}

var xargsOptions = lazy.Value[*options]{New: func() *options {
	return newOptions("0prtxo", "adEILnPs", "eil", "",
		"null=0 arg-file:=a delimiter:=d eof?=e replace?=i max-lines?=l max-args:=n max-procs:=P "+
			"max-chars:=s interactive=p no-run-if-empty=r verbose=t exit=x open-tty=o process-slot-var: show-limits help version")
}}

// find runs the commands of its -exec, -execdir, -ok and -okdir actions,
// and -delete removes what it finds, so `find P -delete` is also reported
// as `rm -f -r P`. What find acts on is chosen by its own tests (-name,
// -path, -regex, ...), which are not read: each {} in the command it runs
// is given the glob forms of any file below each start point P (P and
// P/**, see foundForms), and so is rm for -delete. Its listings (-print,
// -fprint FILE, -ls) give names only, and are read as ls -R P is.
func (w *walker) find(args []arg, depth int) []string {
	idx := w.reserve()
	out := append([]string{"find"}, texts(args)...)
	// find s* walks what the shell's glob names, as find secrets does.
	w.cmds[idx] = w.place(Command{Name: "find", Args: out[1:], Globs: globs(args)})
	i := 0
	for i < len(args) && args[i].static && (args[i].text == "-H" || args[i].text == "-L" || args[i].text == "-P" || strings.HasPrefix(args[i].text, "-O")) {
		i++
	}
	if i < len(args) && args[i].static && args[i].text == "-D" {
		i += 2
	}
	if i < len(args) && args[i].static && args[i].text == "--" {
		i++
	}
	var paths []arg
	for ; i < len(args); i++ {
		t := args[i].text
		if args[i].static && (strings.HasPrefix(t, "-") || t == "(" || t == "!") {
			break
		}
		paths = append(paths, args[i])
	}
	if len(paths) == 0 {
		paths = []arg{{text: ".", static: true}}
	}
	for j := i; j < len(args); j++ {
		if args[j].static && args[j].text == "-files0-from" {
			// -files0-from FILE: start points read from a file.
			paths = []arg{{text: anyText, static: true, glob: true}}
			break
		}
	}
	found := foundForms(paths)
	expr := i
	for ; i < len(args); i++ {
		if !args[i].static {
			continue
		}
		switch args[i].text {
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(args) && !(args[j].static && (args[j].text == ";" || args[j].text == "+")) {
				j++
			}
			if j > i+1 {
				from := w.cur
				if args[i].text == "-execdir" || args[i].text == "-okdir" {
					w.cur = anyDir() // the folder of each file found
				}
				f := found
				if name, ok := onlyNamed(args[expr:i]); ok {
					f = namedForms(paths, name)
				}
				run := make([]arg, 0, j-i-1)
				for _, a := range args[i+1 : j] {
					run = append(run, w.foundIn(args[i].text, a, f))
				}
				if strings.Contains(run[0].text, "{}") {
					w.dyn("find %s runs the files it finds as programs", args[i].text)
				} else {
					w.run(run, depth+1)
				}
				w.cur = from
			}
			i = j
		case "-delete":
			rm := append([]arg{{text: "-r", static: true}, {text: "-f", static: true}, {text: "--", static: true}}, paths...)
			f := found
			if name, ok := onlyNamed(args[expr:i]); ok {
				f = namedForms(paths, name)
			}
			w.cmds = append(w.cmds, w.place(Command{Name: "rm", Args: canonical(tools.Get()["rm"].parse(rm)), Globs: append(globs(paths), f...)}))
		}
	}
	return out
}

// foundForms returns the glob forms of the files find may find below
// the start points paths: each start point (as a glob, where it is one)
// and any file below it, P/** (a run of stars crosses /).
func foundForms(paths []arg) []string {
	var out []string
	for _, p := range paths {
		fs := p.pats
		if len(fs) == 0 {
			fs = []string{p.text}
		}
		for _, f := range fs {
			out = append(out, f, strings.TrimSuffix(f, "/")+"/**")
		}
	}
	return out
}

// onlyNamed reports whether the tests of find's expression before an
// action (expr) are tests it knows joined by "and" alone (no -o, !,
// parentheses or other actions), so that every file the action is given
// passes each of them, and returns the pattern of its first -name test,
// where it has one that is known and holds no backslash (which escapes in
// find's patterns, not in the globs the pattern is read as).
func onlyNamed(expr []arg) (string, bool) {
	name := ""
	for i := 0; i < len(expr); i++ {
		a := expr[i]
		n, ok := findTests.Get()[a.text]
		if !a.static || !ok || i+n >= len(expr) {
			return "", false
		}
		if a.text == "-name" && name == "" {
			if v := expr[i+1]; v.static && v.text != "" && !strings.ContainsAny(v.text, "\\/"+anyText) {
				name = v.text
			}
		}
		i += n
	}
	return name, name != ""
}

// findTests are the tests and options of find that choose no file by
// what they are given other than their own argument, and how many
// arguments each takes.
var findTests = lazy.Value[map[string]int]{New: func() map[string]int {
	m := map[string]int{}
	for _, t := range strings.Fields("-name -iname -path -ipath -wholename -iwholename -regex -iregex -type -xtype " +
		"-maxdepth -mindepth -mtime -mmin -atime -amin -ctime -cmin -size -newer -perm -user -group -uid -gid -links") {
		m[t] = 1
	}
	for _, t := range strings.Fields("-a -and -empty -readable -writable -executable -true -print -print0 -depth -xdev -mount -nouser -nogroup") {
		m[t] = 0
	}
	return m
}}

// namedForms are foundForms for files whose name matches name (find
// -name NAME): each start point, and P/NAME and P/**/NAME below it.
func namedForms(paths []arg, name string) []string {
	var out []string
	for _, f := range foundForms(paths) {
		if dir, ok := strings.CutSuffix(f, "/**"); ok {
			out = append(out, dir+"/"+name, dir+"/**/"+name)
		} else {
			out = append(out, f)
		}
	}
	return out
}

// maxFoundForms bounds the forms one word of a find action gets.
const maxFoundForms = 64

// foundIn returns a word of the command of find's action with each {}
// read as a file found (found, see foundForms): a glob. A {} inside other
// text that could be a script (sh -c 'cat {}', which the script's reader
// would see as {}) makes the script dynamic.
func (w *walker) foundIn(action string, a arg, found []string) arg {
	if !strings.Contains(a.text, "{}") {
		return a
	}
	if rest := strings.ReplaceAll(a.text, "{}", ""); strings.Trim(rest, pathChars) != "" {
		w.dyn("find %s puts the names it finds into the text %q, which may be read as a script", action, a.text)
	}
	base := a.pats
	if len(base) == 0 {
		base = []string{a.text}
	}
	b := a
	b.glob, b.pats = true, nil
	for _, x := range base {
		for _, f := range found {
			if len(b.pats) >= maxFoundForms {
				b.pats = []string{anyText}
				return b
			}
			b.pats = append(b.pats, strings.ReplaceAll(x, "{}", f))
		}
	}
	return b
}

// pathChars are the characters of a word around find's {} that leave it
// a name ({}.bak, ./{}, {}/x), not a script.
const pathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/+,=:@%-"
