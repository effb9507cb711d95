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

// Paths and ids inside the sandbox.
const (
	SandboxPath  = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
	WorkspaceDir = "/workspace"
	ProxyPort    = 3128
	SandboxUID   = 1000 // the command's uid inside the sandbox
)
