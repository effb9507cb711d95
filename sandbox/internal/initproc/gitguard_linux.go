package initproc

import (
	"fmt"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// Git runs commands that a repository's configuration names under names
// the configuration or .gitattributes chooses: filter drivers
// (filter.X.clean, smudge, process), diff drivers (diff.X.textconv,
// diff.X.command), merge drivers (merge.X.driver), diff.external, a man
// viewer's or browser's command, trailer commands, and others. The
// sandbox's git environment (sandbox.gitEnv) cannot turn them off: git
// has no switch for them and no variable can name every X. The agent
// writes .git/config and .gitattributes, so an allowed `git add` or `git
// diff` would run a command the command policy never judged.
//
// So in the sandbox every allowed program named git is a guard: a sh
// script bound over it that asks the real git (bound at GitGuardDir/N/git)
// for the configuration that git command would read (the same folder,
// environment and -C, -c, --git-dir, --work-tree, --bare options), and
// refuses to run git, naming the keys, when it holds any of
// gitDriverKeys; otherwise it runs the real git with the same arguments.
// git config itself runs no driver and is let through, so a key can be
// removed with it. The check and git read the configuration one after
// the other: a process of the same command that changes it in between
// (or serves it through a FIFO) is not seen (DESIGN.md).

// gitDriverKeys is the extended regular expression git config
// --get-regexp matches configuration keys with (section and name lower
// case), for the keys whose value git runs as a command and that
// sandbox.gitEnv does not override, and the includes: the check does not
// follow them (--no-includes), for a file the check and git each open by
// its name may give each other contents (a FIFO, a /proc file, a file
// rewritten in between), so a configuration with one is refused.
// submodule.NAME.update is refused only as !CMD (gitSubmoduleCommand);
// its other values (rebase, merge) run no command.
const gitDriverKeys = `^(filter\..+\.(clean|smudge|process)|diff\..+\.(textconv|command)|merge\..+\.driver|diff\.external|` +
	`(difftool|mergetool|man|browser|guitool)\..+\.(cmd|path)|trailer\..+\.(command|cmd)|core\.(gitproxy|alternaterefscommand)|` +
	`interactive\.difffilter|gpg\.ssh\.defaultkeycommand|tar\..+\.command|imap\.tunnel|instaweb\.httpd|` +
	`sendemail\.(.+\.)?(tocmd|cccmd|headercmd)|include\.path|includeif\..+\.path|submodule\..+\.update)$`

// gitSubmoduleCommand is the value pattern of a submodule.NAME.update
// that git submodule update runs as a command.
const gitSubmoduleCommand = `^!`

// gitGuard is the guard's script for the real git at real.
func gitGuard(real string) string {
	return `#!/bin/sh
# Bulwark's git guard: git runs the filter, diff and merge drivers and the
# other commands a repository's configuration names, which the sandbox's
# command policy never judged; git is refused where its configuration
# names one.
real=` + real + `
re='` + gitDriverKeys + `'
n=0 opts= skip= sub=
for a do
	n=$((n + 1))
	if [ -n "$skip" ]; then
		[ "$skip" = keep ] && opts="$opts \"\${$n}\""
		skip=
		continue
	fi
	case $a in
	-C | -c | --git-dir | --work-tree | --config-env) opts="$opts \"\${$n}\"" skip=keep ;;
	--namespace | --super-prefix) skip=drop ;;
	--git-dir=* | --work-tree=* | --config-env=* | --bare) opts="$opts \"\${$n}\"" ;;
	-*) ;;
	*) sub=$a; break ;;
	esac
done
if [ "$sub" != config ]; then
	refuse() {
		echo "fatal: the sandbox refuses to run git here: $1" >&2
		exit 128
	}
	# The check's standard output is its pipe, git's is the command's:
	# through /proc/self/fd/1 a folder there is a repository only git
	# would see (.git a link to it, -C, --git-dir).
	[ -d /proc/self/fd/1 ] && refuse "its standard output is a folder, which git could read as a repository the sandbox does not check"
	# The check traces where the repository is, into its own output.
	keys=$(unset GIT_CONFIG; GIT_TRACE_SETUP=/proc/self/fd/1; export GIT_TRACE_SETUP
		eval "\"\$real\" $opts config --no-includes --name-only --get-regexp \"\$re\"")
	case $? in 0) ;; 1) ;; *) exit 128 ;; esac
	set -f
	IFS='
'
	list= subs= cwd= gd= cd=
	for k in $keys; do
		case $k in
		[0-9][0-9]:[0-9][0-9]:*" setup: cwd: "*) [ -z "$cwd" ] && cwd=${k#*" setup: cwd: "} ;;
		[0-9][0-9]:[0-9][0-9]:*" setup: git_dir: "*) [ -z "$gd" ] && gd=${k#*" setup: git_dir: "} ;;
		[0-9][0-9]:[0-9][0-9]:*" setup: git_common_dir: "*) [ -z "$cd" ] && cd=${k#*" setup: git_common_dir: "} ;;
		[0-9][0-9]:[0-9][0-9]:*) ;;
		submodule.*.update) subs=1 ;;
		*) list="${list:+$list, }$k" ;;
		esac
	done
	# A configuration file that is a FIFO (each reader may be served
	# another text) or a link (to /proc/self/...) is refused.
	for f in "$cd/config" "$gd/config.worktree"; do
		case $f in
		/config | /config.worktree | "(null)"/*) continue ;;
		/*) ;;
		*) f=$cwd/$f ;;
		esac
		# The trace writes a backslash and a newline as \\ and \n.
		case $f in *\\*) refuse "the path of its git folder holds a backslash or a newline" ;; esac
		if [ -h "$f" ] || { [ -e "$f" ] && [ ! -f "$f" ]; }; then
			refuse "its configuration file $f is not a regular file"
		fi
	done
	if [ -n "$subs" ]; then
		re='^submodule\..+\.update$' val='` + gitSubmoduleCommand + `'
		keys=$(unset GIT_CONFIG; eval "\"\$real\" $opts config --no-includes --name-only --get-regexp \"\$re\" \"\$val\"")
		case $? in 0) ;; 1) keys= ;; *) exit 128 ;; esac
		for k in $keys; do list="${list:+$list, }$k"; done
	fi
	[ -n "$list" ] && refuse "this repository's git configuration sets $list, which makes git run a command the command policy never judged or read configuration the sandbox does not check (an include); remove it from the configuration (git config --unset KEY) to use git"
fi
exec "$real" "$@"
`
}

// gitPrograms are the allowed programs (real paths) named git.
func gitPrograms(exec []string) []string {
	var out []string
	for _, p := range exec {
		if path.Base(p) == "git" {
			out = append(out, p)
		}
	}
	return out
}

// gitReals are the paths in the sandbox of the real gits the guards run,
// one for each of gitPrograms(exec), in that order.
func gitReals(exec []string) []string {
	var out []string
	for i := range gitPrograms(exec) {
		out = append(out, path.Join(GitGuardDir, strconv.Itoa(i), "git"))
	}
	return out
}

// checkGitGuard refuses an allowlist with git and without sh, which runs
// the guard.
func checkGitGuard(exec []string) error {
	if len(gitPrograms(exec)) == 0 {
		return nil
	}
	sh, err := realPath("/bin/sh")
	if err == nil {
		for _, p := range exec {
			if p == sh {
				return nil
			}
		}
	}
	return fmt.Errorf("git is allowed but sh is not: git runs in the sandbox through a sh script that checks the repository's configuration first (allow sh too)")
}

// mountGitGuards lays the guard over each allowed git in the new root at
// root (not yet pivoted into), where the allowed programs are bound
// already, and binds the real one under GitGuardDir. root's /run must be
// writable.
func mountGitGuards(root string, exec []string) error {
	gits := gitPrograms(exec)
	if len(gits) == 0 {
		return nil
	}
	dir := path.Join(root, GitGuardDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64k,nr_inodes=64"); err != nil {
		return fmt.Errorf("init: git guard: %w", err)
	}
	reals := gitReals(exec)
	for i, p := range gits {
		sub := path.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(sub, 0o755); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := os.WriteFile(path.Join(sub, "guard"), []byte(gitGuard(reals[i])), 0o555); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := os.WriteFile(path.Join(sub, "git"), nil, 0o555); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := bindFile(path.Join(root, p), path.Join(sub, "git")); err != nil {
			return err
		}
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, dir, 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("init: read-only git guard: %w", err)
	}
	for i, p := range gits {
		if err := bindFile(path.Join(dir, strconv.Itoa(i), "guard"), path.Join(root, p)); err != nil {
			return err
		}
	}
	return nil
}

// bindFile binds the file src over dst.
func bindFile(src, dst string) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("init: bind %s: %w", src, err)
	}
	defer unix.Close(fd)
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("init: bind %s on %s: %w", src, dst, err)
	}
	return nil
}
