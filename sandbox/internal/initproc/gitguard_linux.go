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
// environment, descriptors and -C, -c, --git-dir, --work-tree, --bare
// options), and refuses to run git, naming the keys, when it holds any of
// gitDriverKeys; otherwise it runs the real git with the same arguments.
// git config itself runs no driver and is let through, so a key can be
// removed with it. Includes, and configuration files that are FIFOs or
// links, are refused: each reader of those may read another text. The
// check and git still read .git/config one after the other: a process of
// the same command that rewrites it in between is not seen, and no guard
// without privileges can pin it (DESIGN.md, "Left open").

// gitDriverKeys is the extended regular expression git config
// --get-regexp matches configuration keys with (section and name lower
// case), for the keys whose value git runs as a command and that
// sandbox.gitEnv does not override, and the includes: a file the check
// and git each open by its name may give each other contents (a FIFO, a
// /proc file, a file rewritten in between), so a configuration with one
// is refused, whatever it holds. The keys the check lists do not come
// from includes (--no-includes), though git config still opens them for
// its own settings: an included FIFO that no one writes hangs the check
// as it would hang git.
const gitDriverKeys = `^(filter\..+\.(clean|smudge|process)|diff\..+\.(textconv|command)|merge\..+\.driver|diff\.external|` +
	`(difftool|mergetool|man|browser|guitool)\..+\.(cmd|path)|trailer\..+\.(command|cmd)|core\.(gitproxy|alternaterefscommand)|` +
	`interactive\.difffilter|gpg\.ssh\.defaultkeycommand|tar\..+\.command|imap\.tunnel|instaweb\.httpd|` +
	`sendemail\.(.+\.)?(tocmd|cccmd|headercmd)|include\.path|includeif\..+\.path)$`

// gitSubmoduleKeys and gitSubmoduleCommand select the submodule.NAME.update
// that git submodule update runs as a command (!CMD; rebase, merge and
// the others run none). Only git submodule and submodule--helper are
// checked for them.
const (
	gitSubmoduleKeys    = `^submodule\..+\.update$`
	gitSubmoduleCommand = `^!`
)

// gitGuard is the guard's script for the real git at real.
//
// The check runs with the guard's own descriptors, which git gets: through
// /proc/self/fd/N (.git a link to it, -C, a gitdir: line) each names a file
// or folder, so a check that read its output from a pipe on 1 could see
// another repository than git (or none). It writes the keys it finds on
// the standard output, then, only to name them in the refusal, is run
// again with its output read. Before it, the files git reads to find and
// read the configuration (.git when a file, commondir, config,
// config.worktree) must be regular files, no links: a FIFO gives each
// reader what its writer chooses, a link may lead into /proc. Each git
// folder that may be the repository's is looked at (the one named by
// --git-dir, GIT_DIR, GIT_COMMON_DIR, and .git or a bare repository in
// each folder from the working one up to /), a superset of the one git
// takes.
func gitGuard(real string) string {
	return `#!/bin/sh
# Bulwark's git guard: git runs the filter, diff and merge drivers and the
# other commands a repository's configuration names, which the sandbox's
# command policy never judged; git is refused where its configuration
# names one.
real=` + real + `
n=0 opts= skip= sub= cds= gds=
for a do
	n=$((n + 1))
	if [ -n "$skip" ]; then
		[ "$skip" = drop ] || opts="$opts \"\${$n}\""
		case $skip in
		C) cds="$cds { [ -z \"\${$n}\" ] || cd -- \"\${$n}\" || exit 0; };" ;;
		G) gds="$gds \"\${$n}\"" ;;
		esac
		skip=
		continue
	fi
	case $a in
	-C) opts="$opts \"\${$n}\"" skip=C ;;
	--git-dir) opts="$opts \"\${$n}\"" skip=G ;;
	-c | --work-tree | --config-env) opts="$opts \"\${$n}\"" skip=keep ;;
	--namespace | --super-prefix) skip=drop ;;
	--git-dir=*) opts="$opts \"\${$n}\"" gds="$gds \"\${$n#--git-dir=}\"" ;;
	--bare) opts="$opts \"\${$n}\"" gds="$gds ." ;;
	--work-tree=* | --config-env=*) opts="$opts \"\${$n}\"" ;;
	-*) ;;
	*) sub=$a; break ;;
	esac
done
if [ "$sub" != config ]; then
	re='` + gitDriverKeys + `' val=
	(
		bad() {
			echo "fatal: the sandbox refuses to run git here: $1 is not a regular file (a FIFO or a link), which git and the sandbox's check of its configuration could each read differently" >&2
			exit 42
		}
		file() { if [ -h "$1" ] || { [ -e "$1" ] && [ ! -f "$1" ]; }; then bad "$1"; fi; }
		gitdir() {
			file "$1/config"
			file "$1/config.worktree"
			file "$1/commondir"
			if [ -f "$1/commondir" ]; then
				c=
				IFS= read -r c <"$1/commondir"
				case $c in /*) ;; *) c=$1/$c ;; esac
				file "$c/config"
			fi
		}
		# The folders that may be the repository's (walk "$@": gds names
		# the arguments by their place): those --git-dir,
		# --bare, GIT_DIR and GIT_COMMON_DIR name, then .git or a bare
		# repository in each folder from here up to /.
		walk() {
			cd -P . || return 0
			eval "for g in $gds; do gitdir \"\$g\"; done"
			[ -n "${GIT_DIR+x}" ] && gitdir "$GIT_DIR"
			[ -n "${GIT_COMMON_DIR+x}" ] && file "$GIT_COMMON_DIR/config"
			d=${PWD%/}
			while :; do
				if [ -d "$d/.git" ]; then
					gitdir "$d/.git"
				elif [ -h "$d/.git" ] || [ -e "$d/.git" ]; then
					file "$d/.git"
					l=
					IFS= read -r l <"$d/.git"
					case $l in gitdir:*) l=${l#gitdir:} l=${l# } ;; esac
					case $l in /*) ;; *) l=$d/$l ;; esac
					gitdir "$l"
				fi
				[ -f "$d/HEAD" ] && [ -d "$d/objects" ] && [ -d "$d/refs" ] && gitdir "$d"
				[ -z "$d" ] && break
				d=${d%/*}
			done
		}
		set -f
		# -C moves this shell, which then runs the check with -C again:
		# the walk moves in a shell of its own.
		if [ -n "$cds" ]; then (eval "$cds" && walk "$@") || exit; else walk "$@"; fi
		unset GIT_CONFIG
		eval "exec \"\$real\" $opts config --no-includes --name-only --get-regexp \"\$re\""
	)
	st=$?
	case $st$sub in 1submodule | 1submodule--helper)
		re='` + gitSubmoduleKeys + `' val='` + gitSubmoduleCommand + `'
		(unset GIT_CONFIG; eval "\"\$real\" $opts config --no-includes --name-only --get-regexp \"\$re\" \"\$val\"")
		st=$? ;;
	esac
	case $st in 1) ;; 0)
		keys=$(unset GIT_CONFIG; eval "\"\$real\" $opts config --no-includes --name-only --get-regexp \"\$re\" \${val:+\"\$val\"}" 2>/dev/null)
		set -f
		IFS='
'
		list=
		for k in $keys; do list="${list:+$list, }$k"; done
		echo "fatal: the sandbox refuses to run git here: this repository's git configuration sets ${list:-a key}, which makes git run a command the command policy never judged or read configuration the sandbox does not check (an include); remove it from the configuration (git config --unset KEY) to use git" >&2
		exit 128 ;;
	42) exit 128 ;;
	*)
		echo "fatal: the sandbox refuses to run git here: the check of its configuration failed" >&2
		exit 128 ;;
	esac
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
