package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

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

var checkOnce = sync.OnceValue(check)

// Check inspects the host once and returns what it supports; later calls
// return the same report.
func Check() Report { return checkOnce() }

func check() Report {
	var r Report
	r.Root = os.Geteuid() == 0
	r.User = "root"
	rl := rootless()
	if rl != nil {
		r.User = fmt.Sprintf("%s (uid %d)", rl.name, rl.uid)
		r.Isolation = rl.isolation()
		if rl.sub != nil {
			r.SubordinateIDs = rl.sub.String()
		} else {
			r.Warnings = append(r.Warnings, rl.noSub)
		}
	}
	r.UserNamespaces = readInt("/proc/sys/user/max_user_namespaces") > 0
	if !r.UserNamespaces {
		r.Missing = append(r.Missing, "user namespaces are disabled: set sysctl user.max_user_namespaces above 0")
	}
	if rl != nil {
		for _, p := range usernsProblems() {
			if !strings.Contains(p, "max_user_namespaces") { // already said
				r.UserNamespaces = false
				r.Missing = append(r.Missing, p)
			}
		}
	}
	r.Init = initFrom()
	r.LandlockABI = LandlockABI()
	if r.LandlockABI < minLandlockABI {
		r.Missing = append(r.Missing, fmt.Sprintf("Landlock ABI %d, need %d or later: use Linux 6.2+ with landlock in the lsm= boot parameter", r.LandlockABI, minLandlockABI))
	}
	r.Seccomp = SeccompAvailable() && auditArch != 0
	if !r.Seccomp {
		r.Missing = append(r.Missing, "seccomp filters unavailable (kernel without CONFIG_SECCOMP_FILTER, or an architecture other than amd64)")
	}
	ctrls, err := cgroupsOnce() // read once: begin uses the same
	if err != nil {
		r.Missing = append(r.Missing, "cgroups: "+err.Error())
	}
	r.Cgroups = ctrls
	if r.LimitsOff = LimitsOff(); r.LimitsOff {
		r.Warnings = append(r.Warnings, LimitsOffWarning)
		return r
	}
	if rl != nil {
		if p := cgroupWritable(ctrls); len(p) > 0 {
			r.Missing = append(r.Missing, fmt.Sprintf("no cgroup that %s may write for the sandbox's memory, process and CPU limits (%s): %s",
				rl.name, strings.Join(p, "; "), delegateHowTo(rl.name, ctrls)))
		}
	}
	for _, c := range ctrls {
		if c.Version == 0 {
			r.Missing = append(r.Missing, fmt.Sprintf("cgroup controller %s not found (neither in cgroup v2 nor a v1 hierarchy): enable it", c.Name))
			continue
		}
		if _, err := os.Stat(c.Parent); err != nil {
			r.Missing = append(r.Missing, fmt.Sprintf("cgroup folder %s: %v", c.Parent, err))
		}
	}
	return r
}

func readInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
