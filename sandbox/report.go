package sandbox

import "strings"

// Report says what this host can enforce. The sandbox refuses to run (fails
// closed) unless every required part is there.
type Report struct {
	// Root says the host process is root: the sandbox then maps each
	// sandbox to its own unprivileged host uids and id-maps the workspace.
	// Not root, it uses unprivileged user namespaces (see Isolation).
	Root bool `json:"root"`
	// User is who this process runs as: "root", or "NAME (uid N)".
	User string `json:"user"`
	// SubordinateIDs are the user's ranges that give each sandbox's init its
	// own ids when not root; empty when there are none (or as root).
	SubordinateIDs string `json:"subordinate_ids,omitempty"`
	// Isolation says, when not root, what sandboxes give up against root's
	// and whether that is acceptable.
	Isolation string `json:"isolation,omitempty"`
	// LimitsOff says BULWARK_SANDBOX_LIMITS=off: no cgroup limits.
	LimitsOff bool `json:"limits_off,omitempty"`
	// UserNamespaces says user namespaces can be created.
	UserNamespaces bool `json:"user_namespaces"`
	// LandlockABI is the kernel's Landlock ABI version (0: none).
	LandlockABI int `json:"landlock_abi"`
	// Seccomp says seccomp filters are available, and for this architecture.
	Seccomp bool `json:"seccomp"`
	// Cgroups says where each controller the sandbox uses is.
	Cgroups []CgroupController `json:"cgroups"`
	// Init says what each sandbox's init is started from: the embedded
	// standalone init, or this binary re-executed and why (slower to
	// start, the same code).
	Init string `json:"init"`
	// Missing lists what is missing, each with what to do about it.
	Missing []string `json:"missing,omitempty"`
	// Warnings are what works, but less well than it could.
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether the sandbox can run on this host.
func (r Report) OK() bool { return len(r.Missing) == 0 }

// Problem is one line naming what is missing, or "" when nothing is.
func (r Report) Problem() string {
	if r.OK() {
		return ""
	}
	return "sandbox unavailable: " + strings.Join(r.Missing, "; ") +
		" (run 'bulwark sandbox check'; BULWARK_SANDBOX=off runs commands unsandboxed, at your own risk)"
}

// CgroupController says where one controller is.
type CgroupController struct {
	Name    string `json:"name"`
	Version int    `json:"version"` // 1 or 2; 0 when missing
	Parent  string `json:"parent"`  // the folder sandbox groups are made in
}
