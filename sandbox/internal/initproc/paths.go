// Package initproc is the sandbox's init: the process that the sandbox
// package starts in fresh namespaces (by re-executing the binary), which
// builds the sandbox's file system, restricts itself and forks the command.
//
// It takes over the process from an init function when started under its
// name, and imports nothing but low-level standard packages and x/sys: Go
// initializes packages in dependency order, taking the lexically first ready
// one, so this package's init runs before the rest of a large binary's
// packages (the guard model, SQLite, ...) have initialized, and the sandbox
// does not pay for them. TestInitImports keeps it so.
package initproc

import (
	"path"
	"strings"
)

// Paths and ids inside the sandbox.
const (
	SandboxPath  = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
	WorkspaceDir = "/workspace"
	ProxyPort    = 3128
	SandboxUID   = 1000 // the command's uid inside the sandbox
	// TrustCA and TrustBundle hold, read-only, the task CA of the egress
	// proxy (Config.TrustPEM) and the host's roots with that CA appended.
	TrustCA     = "/run/bulwark/ca.pem"
	TrustBundle = "/run/bulwark/ca-bundle.pem"
)

// InWorkspace reports whether the sandbox path p is in the workspace.
func InWorkspace(p string) bool {
	p = path.Clean(p)
	return p == WorkspaceDir || strings.HasPrefix(p, WorkspaceDir+"/")
}

// WorkspaceNoExec says why a program in the workspace does not run.
const WorkspaceNoExec = "programs in the workspace cannot be run: /workspace is mounted noexec, so that code the agent writes is not run as a program " +
	"(an operator can set BULWARK_WORKSPACE_EXEC=on, which lets any program the agent writes run)"

// SystemDirs are bound read-only and noexec from the host when they are
// directories; when the host has a symlink there (merged /usr), the sandbox
// gets the same symlink. What must stay executable is laid over them (see
// execPlan).
var SystemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// OwnDirs are the folders the sandbox builds itself (or keeps out): no
// read-only host path may cover them or lie inside them.
var OwnDirs = []string{WorkspaceDir, "/tmp", "/proc", "/dev", "/run", "/etc", "/sys"}

// Under reports whether p is dir or inside it (both clean and absolute).
func Under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// InSystemDirs reports whether p is inside one of the SystemDirs.
func InSystemDirs(p string) bool {
	for _, d := range SystemDirs {
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// GitGuardDir holds, for each allowed program named git, the real program
// (N/git) and the guard laid over it (gitguard_linux.go).
const GitGuardDir = "/run/bulwark/git"
