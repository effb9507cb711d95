// Package sandbox runs untrusted commands on Linux inside a kernel-enforced
// sandbox: fresh user, mount, pid, ipc, uts, cgroup and network namespaces, a
// read-only system view with the workspace bound read-write, Landlock for the
// file system and the command allowlist, a seccomp filter, cgroup limits and
// a wall-clock deadline. Network access, when allowed, goes only through an
// egress proxy that the host runs (package egress).
//
// Each sandbox's init is the standalone init embedded by go generate
// (package initproc alone, started from a sealed memory file; see
// standalone_linux.go) when it matches the init sources compiled in, else
// the binary re-executed (/proc/self/exe): any program importing this
// package can serve as that init, because package initproc takes over the
// process early, from an init function, when it is started under the
// init's name.
package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// NetMode says what network a sandbox has.
type NetMode string

const (
	// NetNone is an empty network namespace: not even the host's loopback.
	NetNone NetMode = "none"
	// NetProxy allows only HTTP(S) through the host's egress proxy, to the
	// domains of Spec.AllowDomains.
	NetProxy NetMode = "proxy"
)

// Defaults of a Spec's zero fields.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMemory      = 512 << 20
	DefaultPids        = 256
	DefaultCPU         = 1.0
	DefaultTmpSize     = 64 << 20
	DefaultOutputLimit = 1 << 20
	// DefaultMaxFileSize is the largest file a command may write.
	DefaultMaxFileSize = 256 << 20
	// DefaultWorkspaceSize and DefaultWorkspaceFiles bound what a
	// workspace may hold: its bytes on disk and its files.
	DefaultWorkspaceSize  = 1 << 30
	DefaultWorkspaceFiles = 100_000
)

// The values of Spec.WriteExecMemory.
const (
	WXAuto  = initproc.WXAuto
	WXDeny  = initproc.WXDeny
	WXAllow = initproc.WXAllow
)

// JITRuntimes returns the program names that make WXAuto allow memory
// that is written and executed: the runtimes known to need it.
func JITRuntimes() []string { return slices.Clone(initproc.JITRuntimes) }

// DefaultAllowExec is the command allowlist when neither Spec.AllowExec nor
// BULWARK_ALLOWED_COMMANDS says otherwise: interpreters and the core utilities.
var DefaultAllowExec = []string{
	"python3", "node", "bash", "sh",
	// coreutils and the few tools scripts expect next to them
	"cat", "ls", "cp", "mv", "rm", "mkdir", "rmdir", "touch", "ln", "chmod",
	"echo", "printf", "head", "tail", "wc", "sort", "uniq", "cut", "tr", "tee",
	"date", "env", "pwd", "basename", "dirname", "realpath", "readlink", "stat",
	"du", "df", "true", "false", "test", "[", "seq", "sleep", "yes", "id",
	"whoami", "uname", "md5sum", "sha1sum", "sha256sum", "base64", "od",
	"comm", "join", "paste", "split", "fold", "nl", "expand", "unexpand",
	"tac", "rev", "shuf", "mktemp", "timeout", "xargs", "find", "grep",
	"egrep", "fgrep", "sed", "awk", "diff", "cmp", "tar", "gzip", "gunzip",
	"zcat", "which", "file", "nproc", "expr", "factor", "numfmt", "truncate",
}

// Spec describes one sandboxed command's world. Zero fields take the
// defaults above; Spec values are copied, never kept.
type Spec struct {
	// Workspace is the host folder bound read-write at /workspace, the
	// working directory. Empty: a fresh temporary folder, removed afterwards.
	Workspace string
	// AllowExec lists the executables the kernel lets the command run:
	// names looked up on the sandbox PATH, or absolute in-sandbox paths.
	// Nil: BULWARK_ALLOWED_COMMANDS, else DefaultAllowExec.
	AllowExec []string
	// WorkspaceExec makes the workspace executable: any program written
	// there (by the agent, too) runs, which widens the allowlist to
	// whatever the command writes. Off, the workspace is mounted noexec,
	// and an AllowExec entry under /workspace is refused with the reason.
	// Callers that turn it on warn about it (see WorkspaceExecWarning).
	WorkspaceExec bool
	// ReadOnly lists extra absolute host paths (folders or files) bound
	// read-only at the same path inside the sandbox, for a program that
	// lives outside the system folders (an MCP server's node_modules). They
	// are readable but not writable, and mounted noexec: a program or
	// native library under one runs only when AllowExec names it by its
	// absolute path. A path whose real path differs (a symlink on the way)
	// is bound at both. The files must be readable by every user (the
	// sandbox reads them as an unprivileged uid). Paths inside the system
	// folders are already readable and need no entry; paths that would
	// cover the sandbox's own mounts ("/", /workspace, /tmp, /proc, /dev,
	// /run, /etc, /sys) or overlap Workspace are refused.
	ReadOnly []string
	// Hide lists patterns of workspace paths the command must not reach
	// (bulwark.Glob: * matches any run of characters, / included;
	// matched against each file's and folder's path relative to the
	// workspace, clean: "secrets/*", "*.env"). At the start of each
	// command the sandbox walks the workspace and covers the top-most
	// matches in the command's mount namespace: a folder by an empty
	// read-only folder, a file by an empty read-only file. Reading,
	// writing, listing, deleting, renaming or linking one then fails or
	// finds it empty, by any name the command computes and through any
	// symlink, and a hard link made beforehand under another name is
	// covered too. Symlinks are never covered (their target's name
	// decides). What a command creates under a matching name while
	// it runs is hidden from the next command only. The command is
	// refused when the workspace cannot be looked through (deeper than 256
	// folders, more entries than WorkspaceFiles) or more than 1,024 paths
	// would be hidden. Patterns must be relative, below the workspace.
	// Not enforced when the sandbox is off (BULWARK_SANDBOX=off).
	Hide []string
	// WriteExecMemory says whether the command's processes may have memory
	// that is written and then executed, which runs any machine code at
	// all (a JIT compiler's; or a program off the allowlist, loaded by
	// hand through Python's ctypes): WXAuto (""), refused unless AllowExec
	// names an installed JIT runtime (JITRuntimes: node, java, ...), which
	// needs it (a name that resolves to nothing changes nothing);
	// WXDeny, refused whatever AllowExec holds (node then runs only with
	// --jitless, java not at all); WXAllow, never refused. Refused, the
	// kernel's memory-deny-write-execute (Linux 6.3) and the seccomp
	// filter refuse it; on an older kernel, the filter alone, which
	// refuses memory writable and executable at once but not memory made
	// executable after it was written (WXDeny then refuses to start).
	WriteExecMemory string
	// Net is NetNone (the default) or NetProxy; AllowDomains implies NetProxy.
	Net NetMode
	// AllowDomains are the host names the proxy lets through ("example.com",
	// or "*.example.com" for its subdomains).
	AllowDomains []string
	// Timeout is the wall-clock limit of the command; the whole process tree
	// is killed when it passes.
	Timeout time.Duration
	// Memory is the memory limit in bytes (no swap).
	Memory int64
	// Pids is the limit on processes and threads.
	Pids int
	// CPU is the share of one CPU the sandbox may use (1.0 = one core).
	CPU float64
	// TmpSize is the size of the tmpfs mounted at /tmp, in bytes.
	TmpSize int64
	// MaxFileSize is the largest file the command may write, in bytes
	// (RLIMIT_FSIZE, in the workspace and /tmp alike): a write past it
	// fails with EFBIG ("File too large"), or kills the writer with
	// SIGXFSZ where it does not ignore that signal. Result.LimitHit then
	// holds "file size".
	MaxFileSize int64
	// WorkspaceSize and WorkspaceFiles bound what the workspace, a host
	// folder, may hold while the command runs: its bytes on disk and its
	// entries (files, folders and links; a file with several links counts
	// once). The host watches the file system's free space and measures
	// the workspace when it shrank by more than the room left; a command
	// that takes the workspace past a bound is killed, and Result.LimitHit
	// holds "workspace". A workspace already past a bound may be emptied,
	// not grown. What a command writes between two looks of the host
	// (some tens of milliseconds) may go past the bound before it is
	// killed; one file never goes past MaxFileSize.
	WorkspaceSize, WorkspaceFiles int64
	// OutputLimit caps each of stdout and stderr, in bytes; what goes past it
	// is dropped and a marker line is written instead.
	OutputLimit int64
	// Env holds extra KEY=VALUE variables for the command. The command
	// otherwise sees only PATH, HOME and LANG, gitEnv's git variables (and
	// the proxy variables with NetProxy); nothing of the host's environment.
	Env []string
	// Stdin is the command's standard input; nil reads as empty. An *os.File
	// is handed to the command as it is (a terminal stays a terminal).
	Stdin io.Reader
	// Stdout and Stderr, when set, receive the command's output as it comes
	// (capped at OutputLimit); otherwise Result.Stdout and Result.Stderr hold it.
	Stdout, Stderr io.Writer
	// Output, when set, receives the command's output as it comes, as
	// well as Stdout and Stderr or the Result (see Output).
	Output Output
	// OnEgress, when set, is called for every connection the proxy allows or
	// refuses. It may be called from several goroutines.
	OnEgress func(egress.Event)
	// Intercept, when set with NetProxy, makes the proxy put the secrets'
	// values into the HTTPS requests of the command for their bound hosts
	// (see egress.Intercept); the task CA is written read-only to
	// /run/bulwark/ca.pem, the host's roots plus that CA to
	// /run/bulwark/ca-bundle.pem, and SSL_CERT_FILE, CURL_CA_BUNDLE,
	// REQUESTS_CA_BUNDLE, PIP_CERT, GIT_SSL_CAINFO and NODE_EXTRA_CA_CERTS
	// point at them.
	Intercept *egress.Intercept
	// Dial, when set, replaces the proxy's dialer (egress.Dialer). It exists
	// for tests that must reach a local server; production leaves it nil.
	Dial egress.DialFunc
	// Trace, when set, records when each phase of the sandbox's start,
	// run and teardown ended (bulwark sandbox exec --debug).
	Trace *Trace
	// FreshInit starts this sandbox's init for it alone even where one
	// started ahead is ready (a process that starts sandboxes as root,
	// on cgroup v1, keeps one such spare init once it has started a few):
	// for benchmarks that time both. The command sees no difference.
	FreshInit bool
}

// Result is what a sandboxed command did.
type Result struct {
	// ExitCode is the command's exit status, or 128+signal when a signal
	// ended it; -1 when it never ran.
	ExitCode int
	// Stdout and Stderr hold the output (capped) unless Spec.Stdout or
	// Spec.Stderr took it.
	Stdout, Stderr []byte
	// Duration is the wall-clock time from the command's start to its end.
	Duration time.Duration
	// TimedOut says the deadline killed the command.
	TimedOut bool
	// LimitHit names the limits the command ran into: "memory", "pids",
	// "output", "file size" (Spec.MaxFileSize), "workspace"
	// (Spec.WorkspaceSize, Spec.WorkspaceFiles); empty when none.
	LimitHit []string
	// Denials are the egress connections the proxy refused.
	Denials []egress.Event
	// Unsandboxed says the command ran without a sandbox (BULWARK_SANDBOX=off).
	Unsandboxed bool
	// NotAllowed says the sandbox refused to start the command: not on the
	// command allowlist, or in a folder mounted noexec. Only the command
	// itself is seen: a program a shell fails to start inside the sandbox
	// is reported on the shell's stderr, not here.
	NotAllowed bool
	// SyscallKilled counts the command's processes that the seccomp filter
	// killed (a system call of another architecture's ABI). Refusals that
	// return an errno (EPERM, ENOSYS, EAFNOSUPPORT) cannot be seen outside
	// the process and are not counted. These two are reported by the
	// sandbox's init, which the command could have tampered with: use them
	// for counting, never for a decision.
	SyscallKilled int
}

// Failure is the one line that explains why a command did not finish
// normally, or "" when it did: the timeout or a limit.
func (r *Result) Failure(timeout time.Duration) string {
	switch {
	case r.TimedOut:
		return fmt.Sprintf("sandbox: command killed after the %s timeout", timeout)
	case r.hit("memory"):
		return "sandbox: command ran out of memory (memory limit hit)"
	case r.hit("pids"):
		return "sandbox: command hit the process limit (pids)"
	case r.hit("workspace"):
		return "sandbox: the command took the workspace past its size or file limit"
	case r.hit("file size"):
		return "sandbox: command tried to write a file past the sandbox's file size limit"
	}
	return ""
}

func (r *Result) hit(limit string) bool {
	for _, l := range r.LimitHit {
		if l == limit {
			return true
		}
	}
	return false
}

// commandEnv is the whole environment of a command: nothing from the host.
func commandEnv(spec Spec) []string {
	env := []string{"PATH=" + initproc.SandboxPath, "HOME=" + initproc.WorkspaceDir, "LANG=C.UTF-8"}
	env = append(env, gitEnv...)
	if spec.Net == NetProxy {
		p := "http://127.0.0.1:" + strconv.Itoa(initproc.ProxyPort)
		env = append(env, "HTTP_PROXY="+p, "HTTPS_PROXY="+p, "http_proxy="+p, "https_proxy="+p,
			"NO_PROXY=", "no_proxy=")
		if spec.Intercept != nil {
			b := initproc.TrustBundle
			env = append(env, "SSL_CERT_FILE="+b, "CURL_CA_BUNDLE="+b, "REQUESTS_CA_BUNDLE="+b,
				"PIP_CERT="+b, "GIT_SSL_CAINFO="+b, "NODE_EXTRA_CA_CERTS="+initproc.TrustCA)
		}
	}
	return append(env, spec.Env...)
}

// gitEnv keeps git from running commands that configuration the command
// could have written names: the home is the workspace, so ~/.gitconfig
// is the agent's, as is every repository's .git/config in it. The global
// and system files are not read, and GIT_CONFIG_KEY_n, which git reads
// after every file (a repository's own included), turns off hooks,
// fsmonitor, the pager, the editors, credential helpers and askpass,
// gives ssh no user config, keeps signing to the default programs, and
// refuses the ext:: and file transports (a local remote's uploadpack or
// receivepack is run by the shell). Each was checked with git 2.39
// (TestGitEnvStopsConfiguredCommands). What git cannot be told to skip
// this way: aliases of names git does not know (the shell policy treats
// those as dynamic) and the filter, textconv, diff and merge drivers and
// the other commands a repository's config defines under names it or
// .gitattributes chooses: in the sandbox, git runs through a guard that
// refuses a repository whose config names one (initproc's
// gitguard_linux.go, TestSandboxGitDriversRefused).
var gitEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_PAGER=cat",
	"GIT_EDITOR=:", "GIT_SEQUENCE_EDITOR=:", "GIT_TERMINAL_PROMPT=0",
	"GIT_CONFIG_COUNT=13",
	"GIT_CONFIG_KEY_0=core.hooksPath", "GIT_CONFIG_VALUE_0=/dev/null",
	"GIT_CONFIG_KEY_1=core.fsmonitor", "GIT_CONFIG_VALUE_1=false",
	"GIT_CONFIG_KEY_2=core.pager", "GIT_CONFIG_VALUE_2=cat",
	"GIT_CONFIG_KEY_3=core.editor", "GIT_CONFIG_VALUE_3=:",
	"GIT_CONFIG_KEY_4=sequence.editor", "GIT_CONFIG_VALUE_4=:",
	"GIT_CONFIG_KEY_5=core.askpass", "GIT_CONFIG_VALUE_5=",
	"GIT_CONFIG_KEY_6=credential.helper", "GIT_CONFIG_VALUE_6=",
	"GIT_CONFIG_KEY_7=core.sshCommand", "GIT_CONFIG_VALUE_7=ssh -F /dev/null",
	"GIT_CONFIG_KEY_8=protocol.ext.allow", "GIT_CONFIG_VALUE_8=never",
	"GIT_CONFIG_KEY_9=protocol.file.allow", "GIT_CONFIG_VALUE_9=never",
	"GIT_CONFIG_KEY_10=gpg.program", "GIT_CONFIG_VALUE_10=gpg",
	"GIT_CONFIG_KEY_11=gpg.ssh.program", "GIT_CONFIG_VALUE_11=ssh-keygen",
	"GIT_CONFIG_KEY_12=gpg.x509.program", "GIT_CONFIG_VALUE_12=gpgsm",
}

// withDefaults fills a Spec's zero fields.
func (s Spec) withDefaults() Spec {
	if s.AllowExec == nil {
		s.AllowExec = AllowedCommands()
	}
	if len(s.AllowDomains) > 0 {
		s.Net = NetProxy
	}
	if s.Net == "" {
		s.Net = NetNone
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
		if d, err := time.ParseDuration(os.Getenv("BULWARK_MAX_EXECUTION_TIME")); err == nil && d > 0 {
			s.Timeout = d
		}
	}
	if s.Memory <= 0 {
		s.Memory = DefaultMemory
	}
	if s.Pids <= 0 {
		s.Pids = DefaultPids
	}
	if s.CPU <= 0 {
		s.CPU = DefaultCPU
	}
	if s.TmpSize <= 0 {
		s.TmpSize = DefaultTmpSize
	}
	if s.OutputLimit <= 0 {
		s.OutputLimit = DefaultOutputLimit
	}
	if s.MaxFileSize <= 0 {
		s.MaxFileSize = DefaultMaxFileSize
	}
	if s.WorkspaceSize <= 0 {
		s.WorkspaceSize = DefaultWorkspaceSize
	}
	if s.WorkspaceFiles <= 0 {
		s.WorkspaceFiles = DefaultWorkspaceFiles
	}
	return s
}

// validate checks a Spec that has its defaults.
func (s Spec) validate() error {
	const op = "sandbox.Spec"
	if s.Net != NetNone && s.Net != NetProxy {
		return bulwark.Errorf(bulwark.Invalid, op, "network mode %q: want none or proxy", s.Net)
	}
	if s.Net == NetProxy && len(s.AllowDomains) == 0 {
		return bulwark.Errorf(bulwark.Invalid, op, "network mode proxy needs at least one allowed domain")
	}
	if s.Intercept != nil && s.Intercept.CA == nil {
		return bulwark.Errorf(bulwark.Invalid, op, "secrets for the egress proxy need a task CA (egress.NewIntercept)")
	}
	if s.WriteExecMemory != WXAuto && s.WriteExecMemory != WXDeny && s.WriteExecMemory != WXAllow {
		return bulwark.Errorf(bulwark.Invalid, op, "write-execute memory %q: want deny, allow or empty (auto)", s.WriteExecMemory)
	}
	if s.Memory < 16<<20 {
		return bulwark.Errorf(bulwark.Invalid, op, "memory limit %d bytes is below 16MiB", s.Memory)
	}
	if s.Pids < 4 {
		return bulwark.Errorf(bulwark.Invalid, op, "pids limit %d is below 4", s.Pids)
	}
	if s.CPU < 0.01 {
		return bulwark.Errorf(bulwark.Invalid, op, "cpu %g is below 0.01", s.CPU)
	}
	for _, c := range s.AllowExec {
		if !s.WorkspaceExec && initproc.InWorkspace(c) {
			return bulwark.Errorf(bulwark.Invalid, op, "allowed command %q: %s", c, initproc.WorkspaceNoExec)
		}
	}
	ro, err := readOnlyMounts(s.ReadOnly)
	if err != nil {
		return err
	}
	if err := readOnlyBesideWorkspace(ro, s.Workspace); err != nil {
		return err
	}
	if err := allowedOutside(s.AllowExec, ro, s.WorkspaceExec); err != nil {
		return err
	}
	for _, h := range s.Hide {
		if h == "" || strings.HasPrefix(h, "/") || h == ".." || strings.HasPrefix(h, "../") || strings.ContainsRune(h, 0) {
			return bulwark.Errorf(bulwark.Invalid, op, "hidden path pattern %q: want a pattern relative to the workspace, below it", h)
		}
	}
	for _, e := range s.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.ContainsAny(k, "\x00") {
			return bulwark.Errorf(bulwark.Invalid, op, "environment entry %q: want KEY=VALUE", e)
		}
	}
	for _, d := range s.AllowDomains {
		if _, err := egress.ParsePattern(d); err != nil {
			return bulwark.E(bulwark.Invalid, op, fmt.Sprintf("allowed domain %q is not a host name", d), err)
		}
	}
	return nil
}

// WorkspaceExecWarning is the line logged when the workspace is made
// executable (BULWARK_WORKSPACE_EXEC=on).
const WorkspaceExecWarning = "WARNING: BULWARK_WORKSPACE_EXEC=on: programs written to the workspace run in the sandbox; " +
	"the command allowlist is widened to whatever the agent writes"

// AllowedCommands is the command allowlist configured by
// BULWARK_ALLOWED_COMMANDS (comma-separated), or DefaultAllowExec.
func AllowedCommands() []string {
	if v := strings.TrimSpace(os.Getenv("BULWARK_ALLOWED_COMMANDS")); v != "" {
		return SplitList(v)
	}
	return append([]string(nil), DefaultAllowExec...)
}

// SplitList splits a comma-separated list, dropping empty items and spaces.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Run runs cmd in a fresh sandbox described by spec and waits for it. A
// command that fails, times out or hits a limit is not an error: see Result.
// The error is for a sandbox that could not be set up (kind Unavailable when
// the host lacks a feature, Invalid for a bad Spec) or a canceled ctx.
//
// When Run returns, every process the command started has ended; the
// sandbox's init, which was alone, may take a moment more to end, and its
// host uids go to no other sandbox before it has.
func Run(ctx context.Context, spec Spec, cmd []string) (*Result, error) {
	spec = spec.withDefaults()
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if len(cmd) == 0 {
		return nil, bulwark.Errorf(bulwark.Invalid, "sandbox.Run", "no command given")
	}
	if Disabled() {
		return runUnsandboxed(ctx, spec, cmd)
	}
	// The command goes with the configuration (see run): one round trip
	// with the init less than start and then run.
	b, err := begin(spec)
	if err != nil {
		return nil, err
	}
	res, err := b.run(ctx, cmd, stdio{spec.Stdin, spec.Stdout, spec.Stderr, spec.Output})
	if err == nil {
		b.endAfterRun()
	}
	spec.Trace.Mark("host: torn down")
	return res, err
}

// stdio is where one command reads and writes.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	tap      Output // nil: none
}
