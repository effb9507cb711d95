package shell

import (
	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// The options of the programs whose flags are normalised (GNU coreutils,
// GNU tar, sed and grep, curl, wget, git). A program not listed keeps its
// arguments as written, after quote removal.
var tools = lazy.Value[map[string]*options]{New: func() map[string]*options {
	return map[string]*options{
		"rm": newOptions("dfiIrv", "", "", "R=r",
			"dir=d force=f interactive?=i one-file-system no-preserve-root preserve-root? recursive=r verbose=v help version"),
		"cp": newOptions("abdfiHlLnPprsTuvxZ", "St", "", "R=r",
			"archive=a attributes-only backup? copy-contents debug dereference=L force=f interactive=i link=l "+
				"no-clobber=n no-dereference=P no-target-directory=T one-file-system=x parents preserve? "+
				"no-preserve: recursive=r reflink? remove-destination sparse: strip-trailing-slashes "+
				"suffix:=S symbolic-link=s target-directory:=t update?=u verbose=v context?=Z keep-directory-symlink help version"),
		"mv": newOptions("bfinTuvZ", "St", "", "",
			"backup? context=Z debug exchange force=f interactive=i no-clobber=n no-copy no-target-directory=T "+
				"strip-trailing-slashes suffix:=S target-directory:=t update?=u verbose=v help version"),
		"chmod": newOptions("cfvR", "", "", "",
			"changes=c silent=f quiet=f verbose=v no-preserve-root preserve-root recursive=R reference: help version"),
		"chown": newOptions("cfvRHLPh", "", "", "",
			"changes=c silent=f quiet=f verbose=v dereference no-dereference=h from: no-preserve-root preserve-root "+
				"reference: recursive=R help version"),
		"chgrp": newOptions("cfvRHLPh", "", "", "",
			"changes=c silent=f quiet=f verbose=v dereference no-dereference=h no-preserve-root preserve-root "+
				"reference: recursive=R help version"),
		"ln": newOptions("bdfinLPrsTv", "St", "", "F=d",
			"backup? directory=d force=f interactive=i logical=L no-dereference=n physical=P relative=r "+
				"symbolic=s suffix:=S target-directory:=t no-target-directory=T verbose=v help version"),
		"mkdir":    newOptions("pvZ", "m", "", "", "mode:=m parents=p verbose=v context? help version"),
		"rmdir":    newOptions("pv", "", "", "", "ignore-fail-on-non-empty parents=p verbose=v help version"),
		"touch":    newOptions("acfhm", "drt", "", "", "no-create=c date:=d no-dereference=h reference:=r time: help version"),
		"truncate": newOptions("co", "rs", "", "", "no-create=c io-blocks=o reference:=r size:=s help version"),
		"shred":    newOptions("fuvxz", "ns", "", "", "force=f iterations:=n random-source: size:=s remove? verbose=v exact=x zero=z help version"),
		"curl": newOptions("#0123456aBfgGiIjJkKlLMnNOqRsSvVZ", "AbcCdDeEFHmoPQrtTuUwxXyYz", "", "",
			"append=a basic cacert: capath: cert:=E compressed connect-timeout: connect-to: continue-at:=C "+
				"cookie:=b cookie-jar:=c create-dirs data:=d data-ascii: data-binary: data-raw: data-urlencode: "+
				"digest disable=q dump-header:=D fail=f fail-with-body form:=F form-string: get=G globoff=g "+
				"head=I header:=H http1.0=0 http1.1 http2 include=i insecure=k interface: ipv4=4 ipv6=6 json: "+
				"junk-session-cookies=j key: limit-rate: list-only=l location=L location-trusted manual=M "+
				"max-filesize: max-redirs: max-time:=m netrc=n no-buffer=N no-progress-meter oauth2-bearer: "+
				"output:=o output-dir: parallel=Z pass: progress-bar=# proxy:=x proxy-header: proxy-user:=U "+
				"range:=r referer:=e remote-header-name=J remote-name=O remote-name-all remote-time=R request:=X "+
				"resolve: retry: retry-all-errors retry-delay: retry-max-time: show-error=S silent=s "+
				"speed-limit:=Y speed-time:=y telnet-option:=t time-cond:=z tlsv1.2 tlsv1.3 unix-socket: "+
				"upload-file:=T url: use-ascii=B user:=u user-agent:=A verbose=v version=V write-out:=w help? config:=K"),
		"wget": newOptions("46bcdEFhHkKLmNpqrSvVx", "aABDeiIlnoOPQRtTUwX", "", "",
			"inet4-only=4 inet6-only=6 background=b continue=c debug=d adjust-extension=E force-html=F help=h "+
				"span-hosts=H convert-links=k backup-converted=K relative=L mirror=m timestamping=N "+
				"page-requisites=p quiet=q recursive=r server-response=S verbose=v version=V force-directories=x "+
				"append-output:=a accept:=A base:=B domains:=D execute:=e input-file:=i include-directories:=I "+
				"level:=l output-file:=o output-document:=O directory-prefix:=P quota:=Q reject:=R tries:=t "+
				"timeout:=T user-agent:=U wait:=w exclude-directories:=X no-check-certificate no-verbose "+
				"header: method: body-data: body-file: post-data: post-file: user: password: limit-rate: "+
				"no-clobber no-parent no-directories no-host-directories spider"),
		"tar": newOptions("AcdtruxzjJZavkUpPhWOmSoMGBi", "fCTXbKNLgVFHI", "", "",
			"catenate=A concatenate=A create=c diff=d compare=d list=t append=r update=u extract=x get=x "+
				"delete gzip=z gunzip=z bzip2=j xz=J compress=Z auto-compress=a verbose=v keep-old-files=k "+
				"unlink-first=U preserve-permissions=p same-permissions=p absolute-names=P dereference=h "+
				"verify=W to-stdout=O touch=m sparse=S multi-volume=M incremental=G block-number=R "+
				"read-full-records=B ignore-zeros=i file:=f directory:=C files-from:=T exclude-from:=X "+
				"blocking-factor:=b starting-file:=K newer:=N tape-length:=L listed-incremental:=g label:=V "+
				"info-script:=F new-volume-script:=F format:=H use-compress-program:=I exclude: to-command: "+
				"checkpoint? checkpoint-action: rsh-command: rmt-command: overwrite remove-files zstd lzma "+
				"owner: group: mode: mtime: strip-components: transform: xform: wildcards no-same-owner "+
				"same-owner no-same-permissions numeric-owner one-file-system keep-newer-files skip-old-files "+
				"warning: help version"),
		"sed": newOptions("nsuzEr", "efl", "i", "r=E",
			"quiet=n silent=n expression:=e file:=f in-place?=i line-length:=l null-data=z zero-terminated=z "+
				"regexp-extended=E separate=s unbuffered=u posix sandbox debug follow-symlinks help version"),
		"grep": newOptions("EFGPiyvwxcLloqsbHhnTZzrRaIU", "efmABCdD", "", "y=i",
			"extended-regexp=E fixed-strings=F basic-regexp=G perl-regexp=P ignore-case=i no-ignore-case "+
				"invert-match=v word-regexp=w line-regexp=x count=c color? colour? files-without-match=L "+
				"files-with-matches=l only-matching=o quiet=q silent=q no-messages=s byte-offset=b "+
				"with-filename=H no-filename=h label: line-number=n initial-tab=T null=Z null-data=z "+
				"recursive=r dereference-recursive=R text=a binary-files: devices:=D directories:=d "+
				"exclude: exclude-from: exclude-dir: include: regexp:=e file:=f max-count:=m "+
				"after-context:=A before-context:=B context:=C line-buffered help version"),
	}
}}

// gitGlobal are the options of git itself, before the subcommand.
var gitGlobal = lazy.Value[*options]{New: func() *options {
	return newOptions("pPv", "Cc", "", "",
		"paginate=p no-pager=P git-dir: work-tree: namespace: exec-path? bare no-replace-objects "+
			"literal-pathspecs glob-pathspecs noglob-pathspecs icase-pathspecs no-optional-locks "+
			"config-env: super-prefix: list-cmds: attr-source: html-path man-path info-path version help")
}}

// gitCommands are the options of the git subcommands whose flags are
// normalised; the others keep their arguments as written.
var gitCommands = lazy.Value[map[string]*options]{New: func() map[string]*options {
	return map[string]*options{
		"push": newOptions("46fnquv", "o", "", "",
			"all branches mirror tags follow-tags atomic dry-run=n force=f force-with-lease? "+
				"force-if-includes no-force-if-includes delete=d prune quiet=q verbose=v set-upstream=u "+
				"push-option:=o receive-pack: exec: repo: thin no-thin no-verify verify porcelain progress "+
				"signed? recurse-submodules: ipv4=4 ipv6=6"),
		"clean": newOptions("dfinqxX", "e", "", "",
			"dry-run=n force=f interactive=i quiet=q exclude:=e"),
		"reset": newOptions("pqN", "", "", "",
			"hard soft mixed merge keep patch=p quiet=q no-quiet intent-to-add=N recurse-submodules? no-recurse-submodules pathspec-from-file: pathspec-file-nul no-refresh refresh"),
		"checkout": newOptions("fmpqlt", "bB", "", "",
			"force=f merge=m patch=p quiet=q detach track?=t no-track guess no-guess orphan: ours theirs "+
				"conflict: ignore-other-worktrees overwrite-ignore no-overwrite-ignore recurse-submodules? progress no-progress"),
		"commit": newOptions("aenopqsvz", "CcFmSt", "", "",
			"all=a amend allow-empty allow-empty-message no-verify=n verify edit=e no-edit file:=F message:=m "+
				"reuse-message:=C reedit-message:=c fixup: squash: signoff=s no-signoff gpg-sign?=S no-gpg-sign "+
				"template:=t only=o include=i patch=p quiet=q verbose=v dry-run short branch porcelain long "+
				"null=z author: date: cleanup: untracked-files? reset-author status no-status"),
		"branch": newOptions("acdDfilmMqrtuv", "", "", "",
			"all=a copy=c delete=d force=f ignore-case=i create-reflog list=l move=m quiet=q remotes=r "+
				"track?=t no-track set-upstream-to:=u unset-upstream verbose=v contains? no-contains? merged? "+
				"no-merged? points-at: sort: format: color? column? show-current edit-description abbrev? no-abbrev"),
		"rm": newOptions("fnqr", "", "", "",
			"force=f dry-run=n quiet=q cached ignore-unmatch sparse pathspec-from-file: pathspec-file-nul"),
		"add": newOptions("AefinNpuv", "", "", "",
			"all=A no-all edit=e force=f interactive=i dry-run=n intent-to-add=N patch=p update=u verbose=v "+
				"ignore-removal no-ignore-removal refresh ignore-errors ignore-missing sparse chmod: renormalize "+
				"no-warn-embedded-repo pathspec-from-file: pathspec-file-nul"),
		"rebase": newOptions("fiqrvnkm", "sSxX", "", "",
			"interactive=i force-rebase=f no-ff=f quiet=q verbose=v rebase-merges? merge=m strategy:=s "+
				"strategy-option:=X exec:=x onto: root autosquash no-autosquash autostash no-autostash "+
				"continue abort skip quit edit-todo keep-empty=k no-verify stat no-stat=n update-refs gpg-sign?=S"),
		"tag": newOptions("adfFlmnsuv", "", "", "",
			"annotate=a delete=d force=f list=l sign=s verify=v message:=m file:=F local-user:=u"),
		"fetch": newOptions("46afkmnpPqtuv", "j", "", "",
			"all append=a force=f keep=k multiple dry-run=n prune=p prune-tags=P quiet=q tags=t no-tags "+
				"update-head-ok=u verbose=v depth: deepen: shallow-since: shallow-exclude: unshallow jobs:=j "+
				"recurse-submodules? upload-pack: progress"),
		"pull": newOptions("46afknpqrtuv", "j", "", "",
			"all append=a force=f keep=k dry-run=n prune=p quiet=q rebase?=r no-rebase tags=t no-tags "+
				"verbose=v ff no-ff ff-only squash no-squash commit no-commit edit=e no-edit autostash "+
				"no-autostash depth: unshallow strategy: strategy-option:"),
		"restore": newOptions("pqSW", "s", "", "",
			"source:=s patch=p worktree=W staged=S quiet=q ours theirs merge conflict: ignore-unmerged overlay no-overlay progress"),
	}
}}

// shells are the programs that read a script: from -c, a file, or stdin.
var shells = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{
		"sh": true, "bash": true, "dash": true, "zsh": true, "ksh": true, "mksh": true,
		"ash": true, "yash": true, "fish": true, "rbash": true, "posh": true, "oksh": true,
		"csh": true, "tcsh": true, "ksh93": true, "lksh": true, "pdksh": true, "bash-static": true,
	}
}}
