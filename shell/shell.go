// Package shell reads a shell script the way bash would split it into the
// simple commands it runs, so that a policy decides on the programs a script
// runs and their normalised arguments, not on how the script was spelled.
// The parser is mvdan.cc/sh/v3/syntax, in its bash dialect (run_shell runs
// bash -c).
//
// # What is a command
//
// Every simple command is reported, wherever it stands: in lists (&&, ||,
// ;, newlines, &), pipelines, subshells, { } groups, if/while/until/for/case
// bodies and conditions, function bodies, command substitutions ($(...) and
// backticks), process substitutions and unquoted here-documents. Comments
// are not commands. Builtins are commands too (cd, echo, export); [[ ]],
// (( )), let and the time keyword are not reported. A call of a function
// the script defines is reported under its name as well, since the
// definition may not be in effect when the call runs. A statement of
// redirections alone is reported with them as cat where it only reads
// ($(< f) is $(cat f)) and as : where it writes (> f empties f).
//
// Commands run by other commands are reported too:
//   - bash/sh/dash/zsh/ksh... -c SCRIPT: SCRIPT is read recursively, as are
//     the scripts of trap, watch, su -c, runuser -c, git rebase --exec and git
//     submodule foreach. A shell given a file (bash x.sh) is reported and
//     is dynamic, as source is: the file's commands are not in the script.
//     So is a login or interactive shell (-l, --login, -i, --rcfile),
//     which first runs startup files from its home, the workspace.
//     git bisect run CMD reports CMD; a git option whose value git runs
//     (grep -O, clone -u, --upload-pack, --receive-pack, difftool -x,
//     filter-branch's filters, ...) and git config setting a key whose
//     value git runs are dynamic.
//   - the wrappers env, nice, timeout, nohup, stdbuf, time, sudo, doas,
//     pkexec, chroot, setsid, ionice, strace, ltrace, busybox, toybox,
//     taskset, chrt, flock, setarch, linux32/64, unshare, nsenter,
//     setpriv, prlimit, numactl, fakeroot, faketime, unbuffer, rlwrap,
//     chronic, catchsegv, systemd-run, cpulimit, entr (sg GROUP SCRIPT and
//     script -c SCRIPT are read as scripts):
//     the wrapper is reported with its own options as written and the
//     command it runs in canonical form, then that command alone.
//   - command [-p], builtin and exec only choose how the next word is
//     looked up: only the command they run is reported (command -v/-V runs
//     nothing and is reported as itself). jobs -x CMD ARGS and time -- CMD
//     report CMD ARGS.
//   - xargs [options] CMD ARGS: CMD ARGS is reported with a last operand
//     "..." for the words xargs adds (echo when CMD is missing), whose
//     glob is ReadValue: text read from a file or a pipe. With -I R (-i,
//     --replace), each word holding R is that glob too, and a CMD holding
//     R is dynamic.
//   - find ... -exec/-execdir/-ok/-okdir CMD ... ; (or +): CMD is reported
//     with its {} kept, and each {} given the globs of any file below
//     each start point P (P and P/**; P/NAME and P/**/NAME where the
//     tests before the action are a -name NAME joined by "and" alone).
//     find P... -delete is also reported as the equivalent "rm -f -r P..."
//     (P is . when no start point is given), with those globs, so that rm
//     rules apply to it. A {} inside other text that may be a script (sh
//     -c 'cat {}'), or as the program, is dynamic.
//
// # The program name
//
// Quotes and backslashes are removed ('rm', "r"m, \rm, $'\x72m' are rm),
// then the directory: /bin/rm and ./rm are rm (a program of the same name
// elsewhere is matched as that name, the stricter choice).
//
// # Arguments
//
// The files a command's redirections read and write (its own, and those
// of a group or loop around it) are in Command.Redirs ("< .env", "> out"),
// which Match also tries appended to the line.
//
// Quotes and backslashes are removed and brace expansions expanded (-{r,f}
// is -r -f). A word holding a parameter expansion, a command or arithmetic
// substitution keeps that part as written ("$f"), as a placeholder; it does
// not make the command dynamic; Script.Values lists the values the script
// gives variables (d=secrets, for f in a b, a=(x y), env d=x), for a
// reader to try in its place. Globs are kept as written, and listed in
// Command.Globs (a policy's file pattern meets prod.e* as it meets
// prod.env; a glob's *, ? and [...] match no /; a quoted *, ?, [ or \ is
// written with a backslash before it, as bulwark.GlobsMeet reads it:
// 's[e]'* is s\[e]*) with each part whose text
// cannot be known written as bulwark.AnyText, a NUL that matches any
// text, / included: an extended glob (+(k), !(x): read as a glob whether
// or not extglob is on),
// a parameter expansion with an operator (${f,,}, ${f#x}; ${f:-x} is ${f},
// x or nothing), and a substitution, positional parameter or ${a[i]}
// beside other text (secrets/$(echo k), $1$2). A value known only in part
// is listed in the same form (g=$f/k, g=${f,,} is AnyText; f+=x is
// ${f}x), and a variable given a case attribute (declare -l) or set by
// printf -v may hold any text (AnyText); one given a substitution alone
// (f=$(cmd)) holds SubstValue, and, as a command substitution alone
// does, ReadValue; one set by read or mapfile holds ReadValue. The words
// of here-strings and
// here-documents are Command.Input, for the command they feed may read
// them as names (xargs cat <<< secrets/k).
//
// For rm, cp, mv, chmod, chown, chgrp, ln, mkdir, rmdir, touch, truncate,
// shred, curl, wget, tar, sed, grep and git (and a set of git subcommands:
// push, clean, reset, checkout, commit, branch, rm, add, rebase, tag, fetch,
// pull, restore) flags are normalised as GNU getopt reads them: clusters
// are split (-rf is -r -f) except where a letter takes a value (-ofile is
// -o file; sed -i.bak stays one word), synonyms are one letter (rm -R is
// -r), long options and their unambiguous prefixes are written as their
// short form where there is one (--recursive and --rec are -r; --output=x
// is -o x) or by their full name, flags after operands count, repeats are
// dropped, and the flags are sorted (byte order: -R before -f) and put
// before the operands, in their given order. "--" ends the flags; it is
// written back only before an operand that starts with "-". A cluster with
// a letter the table does not know is kept whole. For git the subcommand
// comes first, then git's own flags and the subcommand's, sorted together.
// tar's old style (tar xzf a.tgz) is read as -x -z -f a.tgz. Other programs
// keep their arguments as written, after quote removal.
//
// # Working folder
//
// Command.Dirs are the folders a command may run in, where that is not
// only where the script starts: cd, pushd and popd are followed through
// lists, && and ||, { } groups, if and case (each branch's folders
// joined), subshells, pipelines, background commands and substitutions
// (which change nothing after them; the last command of a pipeline is
// taken to run in the shell, as with lastpipe), and into the scripts of
// bash -c and the like. A cd may fail, so it adds its target to the
// folders rather than replacing them. env -C, git -C, make -C, tar -C,
// go -C, sudo -D and the like, and --directory=, --chdir= and
// --working-directory= on any program, add the folder for the one
// command (and what it runs). Command.AnyDir is set where the folder
// cannot be known: cd to a run-time word, a glob or -, a relative cd
// once CDPATH or cdable_vars may be set, cd or popd beyond what is
// followed (in a loop that does not settle, popd past pushd, pushd with
// no folder), HOME set before cd or ~, a command whose name is only
// known at run time, eval, source and a trap that may change folder;
// the commands of a function body, and those after a call of a function,
// when the script changes folder at all; the command of find -execdir.
//
// # Dynamic
//
// What cannot be known before the script runs adds a reason to
// Script.Dynamic: eval; source and .; fc; alias definitions; hash -p and
// enable -f; a NUL byte; a command name from a parameter expansion or a
// command substitution, a glob or a brace expansion; a shell reading its commands
// from standard input (echo rm | bash, curl x | sh, bash <<< 'rm', sh
// <<EOF, bash /dev/stdin, sudo -s, su USER, chroot DIR) or from a file only
// known at run time (bash <(curl x)); a script given to bash -c (and the
// others above) that holds a run-time part, is a glob, a name find finds
// or text xargs reads (bash -c *, find -exec sh -c {}, xargs sh -c), or
// does not parse; compgen -C and -W; a substitution inside an extended
// glob (@($(cmd))), which the parser keeps as text; env -S; su
// -s; mapfile -C; options of a wrapper only known at run time, or not in
// its table (such an option may take the next word as its value); flags
// of a listed program that a run-time part could extend (rm -r$x, -rf${IFS}x;
// not -o$out, whose run-time part is a value); tar's --to-command,
// --use-compress-program (-I), --info-script (-F), --rsh-command and
// --checkpoint-action=exec; git -c keys whose value git runs (alias.*,
// core.sshCommand, core.pager, ...), git clone -c with one, git
// --config-env, git NAME where NAME is none of git's commands (an alias
// may run !CMD) or only known at run time; env -i, env -u of a variable
// that changes what runs, exec -c and setpriv --reset-env, which drop the
// sandbox's git environment; nesting deeper
// than 32; a program named by a path outside the system's folders (./x,
// /tmp/x: a link to any program); setting a variable that changes what a
// name runs or runs code itself (PATH, BASH_ENV, BASH_FUNC_*, PS4,
// BASH_CMDS, TAR_OPTIONS, GIT_SSH_COMMAND, ...), by assignment, export,
// env, read or a for loop; arithmetic that reads a variable not known to
// hold a number (bash evaluates the value, and x='a[$(rm -rf /)]';
// echo $((x)) runs rm), a command substitution or a positional
// parameter; declare -i and -n; and a variable name with a subscript
// given to unset, read, printf -v, test -v or declare.
//
// # Limits
//
// Programs that interpret a language of their own (python -c, perl -e,
// make, vim, an awk program or a sed script from a file: awk -f, sed -f,
// gawk's @include) are reported as themselves; what
// they run inside is not seen. Of the default allowlist's tools, an awk
// program that calls system() or pipes to or from a command, a sed script
// with the e command or flag, sort --compress-program and split --filter
// are read (reported or dynamic). A placeholder argument ("$o") may hold flags at run
// time (o=-rf; rm $o /). A config the script or an earlier call wrote
// is not seen (git config KEY VALUE and git clone -c with a key git
// runs are dynamic; git submodule update, which runs a submodule's
// update=!CMD, is dynamic). The sandbox's environment keeps git from the
// hooks, pager, editors, fsmonitor, credential helpers and ssh command
// a config names, and from reading ~/.gitconfig; an alias is a name git
// does not know, which is dynamic; and the sandbox refuses to run git in
// a repository whose config names a filter, textconv, diff or merge
// driver or another command git would run (its git guard), so git add,
// status, diff or checkout run nothing the policy did not see. The real
// git the guard runs is named by a path outside the system's folders,
// which is dynamic. Wrappers not listed (parallel, at,
// expect, ...) are reported as themselves, with the command they run as
// their arguments.
//
// # Patterns
//
// Pattern reads a policy pattern as one simple command and writes it as
// Parse writes commands, with * and ? kept as glob characters, so that a
// pattern and the commands it is meant for compare equal:
// Pattern("rm -rf *") and Pattern("rm --recursive --force *") are both
// "rm -f -r *", and Parse("rm -fr /") reports "rm -f -r /". A glob on the
// canonical line misses a command with a flag that sorts between the
// pattern's (rm -I -rf / is "rm -I -f -r /"); Match also lets a pattern
// with a * match a command with more flags than it names.
package shell

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/bulwark-agents/bulwark"
)

// Command is one simple command a script runs.
type Command struct {
	// Name is the program as it will be resolved: its base name, with
	// quoting, escapes and wrappers removed ("rm" for \rm, 'rm', /bin/rm,
	// command rm, env X=1 rm, sudo rm, xargs rm, find -exec rm).
	Name string
	// Args are the arguments after normalisation: for the common tools,
	// flags are split (-rf is -r -f), long forms mapped to their short
	// ones (--recursive is -r), sorted and put before the operands.
	Args []string
	// Redirs are the files the command's redirections (its own and those
	// of a group or loop around it) read and write: "< .env", "> out.txt".
	// They are not part of String; Match also tries a pattern against the
	// line with them appended, so that *.env matches cat < x.env.
	Redirs []string
	// Input are the words of the here-strings and here-documents that
	// feed the command's standard input (its own and those of a group or
	// loop around it), split at blanks and at quotes and brackets: a
	// command may read them as names (xargs cat <<< secrets/k, read f
	// <<< x, python3 - <<EOF). Words lists them.
	Input []string
	// Globs are the arguments the shell expands against file names (with
	// an unquoted *, ? or [), quotes removed and a quoted *, ?, [ or \
	// written with a backslash before it: a policy pattern naming a
	// file meets them where a name could match both (bulwark.GlobsMeet).
	// They also hold ReadValue for text read from a file or a pipe, and
	// the files find's actions are given (see the package comment).
	Globs []string
	// Dirs are the folders the command may run in, where that is not
	// only the folder the script starts in: cd, pushd and popd before it
	// (a cd that may fail leaves the folder as it was, so after cd a the
	// script may be in . or a), and options such as env -C, git -C,
	// make -C, tar -C and --directory=. Each is relative to the starting
	// folder ("." for it), absolute, or "~" or "~/..." for the home
	// folder. Empty: only the starting folder.
	Dirs []string
	// AnyDir reports that the command may run in any folder: a cd whose
	// target is only known at run time (cd "$d", cd -, a relative cd once
	// CDPATH is set), a cd in a loop, find -execdir.
	AnyDir bool
}

// Words are the command's arguments and the files its redirections read
// and write, each on its own: what a pattern naming one file (*.env) is
// matched against besides the line, so that it is not walked past by a
// file named in the middle of a command (cp x.env y, cat x.env - ).
func (c Command) Words() []string {
	out := append([]string(nil), c.Args...)
	for _, r := range c.Redirs {
		if len(r) > 2 {
			out = append(out, r[2:]) // "< name", "> name"
		}
	}
	return append(out, c.Input...)
}

// String is the command's canonical line: Name and Args joined by single
// spaces. Policy patterns are matched against it.
func (c Command) String() string {
	return strings.Join(append([]string{c.Name}, c.Args...), " ")
}

// Script is what a script will run, as far as can be known before running it.
type Script struct {
	// Commands are the simple commands of the script, nested ones (bash -c,
	// sh -c, subshells, pipelines, command substitutions) included.
	Commands []Command
	// Dynamic lists the reasons the script runs something that cannot be
	// known statically (eval, source, a command name from a variable or a
	// command substitution, a here-string fed to a shell). Where it is not
	// empty, every deny and ask rule for the tool applies.
	Dynamic []string
	// Values are the values the script gives variables as text known
	// before it runs (d=secrets, for f in a b, read from every assignment
	// wherever it is), at most maxValues a name: a reader may try each in
	// place of $d and ${d} in an argument. A variable may hold others
	// (from the environment, read, a substitution): they add forms, never
	// replace the word as written.
	Values map[string][]string
}

// SubstValue is, in Script.Values, the value of a variable given what a
// command substitution or a positional parameter holds, alone (f=$(cmd),
// f=$1, for f in $(ls)): as the substitution itself, it is judged where it
// is made where the variable is read alone ($f, "${f}"), and is any text,
// / included (bulwark.AnyText), beside other text ($f/k). No script can
// spell it: it holds a NUL.
const SubstValue = bulwark.AnyText + "$()"

// ReadValue is, in Script.Values and Command.Globs, text a command reads
// from a file or a pipe: the value read and mapfile give a variable (read
// f < list), and the words xargs adds to the command it runs (xargs cat <
// list, xargs -a list cat, ls | xargs cat). It is any text, / included
// (bulwark.AnyText), which may name any file, except as an operand of
// echo and printf, which open no file they are given. No script can
// spell it: it holds a NUL.
const ReadValue = bulwark.AnyText + "<read>"

// Parse returns the commands script runs. A script that does not parse is
// returned as an error; callers treat it as Dynamic.
func Parse(script string) (Script, error) {
	w := &walker{cur: start}
	if strings.IndexByte(script, 0) >= 0 {
		// bash drops a NUL from a script file (run_code) and exec
		// refuses one in bash -c's argument: what runs is not what is
		// read here. No word may hold one either: bulwark.AnyText, the
		// glob of text only known at run time, is a NUL.
		w.dyn("the script holds a NUL byte, which bash drops")
	}
	if err := w.script(script, 0); err != nil {
		return Script{}, fmt.Errorf("the shell script does not parse: %w", err)
	}
	w.gitBeside()
	return Script{Commands: w.cmds, Dynamic: w.dynamic, Values: w.values}, nil
}

// Pattern returns the canonical form of a policy rule's pattern for a shell
// tool (a command line in which * and ? are globs), normalised as Parse
// normalises commands, so that "rm -rf *" and "rm -fr *" are one pattern.
// The pattern must be one simple command: a list, a pipeline, a redirection
// or a variable assignment is an error, as is a pattern whose canonical
// form would read back as another (an operand that is a quoted shell
// operator, such as ';'). Pattern(Pattern(p)) is Pattern(p).
func Pattern(p string) (string, error) {
	c, err := pattern(p)
	if err != nil {
		return "", err
	}
	if again, err := pattern(c); err != nil || again != c {
		return "", fmt.Errorf("the pattern %q has no canonical form that reads back the same: quote no shell operators in it", p)
	}
	return c, nil
}

func pattern(p string) (string, error) {
	f, err := newParser().Parse(strings.NewReader(p), "")
	if err != nil {
		return "", fmt.Errorf("the pattern %q is not a shell command: %w", p, err)
	}
	switch {
	case len(f.Stmts) == 0 && strings.TrimSpace(p) == "":
		return "", nil
	case len(f.Stmts) == 0:
		return "", fmt.Errorf("the pattern %q names no command", p)
	case len(f.Stmts) > 1:
		return "", fmt.Errorf("the pattern %q holds several commands; write one rule for each", p)
	}
	st := f.Stmts[0]
	call, ok := st.Cmd.(*syntax.CallExpr)
	switch {
	case !ok:
		return "", fmt.Errorf("the pattern %q is not a simple command (a pipeline, list or compound command); write one rule for each command", p)
	case len(st.Redirs) > 0 || st.Negated || st.Background || st.Coprocess || st.Disown:
		return "", fmt.Errorf("the pattern %q has redirections or operators; a pattern names a command and its arguments", p)
	case len(call.Assigns) > 0:
		return "", fmt.Errorf("the pattern %q assigns variables; a pattern names a command and its arguments", p)
	}
	w := &walker{pattern: true}
	args, ok := w.args(p, call.Args)
	if !ok {
		return "", fmt.Errorf("the pattern %q names no command", p)
	}
	c := w.run(args, 0)
	if len(c) == 0 {
		return "", fmt.Errorf("the pattern %q names no command", p)
	}
	return strings.Join(c, " "), nil
}
