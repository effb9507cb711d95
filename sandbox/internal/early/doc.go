// Package early holds what a sandbox's start needs before anything of
// package sandbox can run: the uid slots of the host's sandboxes, and the
// start of a root host's init ahead of a cold `bulwark sandbox exec`
// (early_linux.go). It imports only what is initialised early in a
// process (os, syscall, x/sys/unix, the init's own package), so that its
// init runs while the rest of the binary's packages are still
// initialising.
package early
