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
	// Root says the host process is root, which the sandbox needs to map
	// each sandbox to its own unprivileged host uids and to make id-mapped
	// workspace mounts.
	Root bool `json:"root"`
	// UserNamespaces says user namespaces can be created.
	UserNamespaces bool `json:"user_namespaces"`
	// LandlockABI is the kernel's Landlock ABI version (0: none).
	LandlockABI int `json:"landlock_abi"`
	// Seccomp says seccomp filters are available, and for this architecture.
	Seccomp bool `json:"seccomp"`
	// Cgroups says where each controller the sandbox uses is.
	Cgroups []CgroupController `json:"cgroups"`
	// Missing lists what is missing, each with what to do about it.
	Missing []string `json:"missing,omitempty"`
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
	if !r.Root {
		r.Missing = append(r.Missing, "not running as root: run bulwark as root (the sandbox maps each sandbox to its own unprivileged uid and id-maps the workspace)")
	}
	r.UserNamespaces = readInt("/proc/sys/user/max_user_namespaces") > 0
	if !r.UserNamespaces {
		r.Missing = append(r.Missing, "user namespaces are disabled: set sysctl user.max_user_namespaces above 0")
	}
	r.LandlockABI = LandlockABI()
	if r.LandlockABI < minLandlockABI {
		r.Missing = append(r.Missing, fmt.Sprintf("Landlock ABI %d, need %d or later: use Linux 6.2+ with landlock in the lsm= boot parameter", r.LandlockABI, minLandlockABI))
	}
	r.Seccomp = SeccompAvailable() && auditArch != 0
	if !r.Seccomp {
		r.Missing = append(r.Missing, "seccomp filters unavailable (kernel without CONFIG_SECCOMP_FILTER, or an architecture other than amd64)")
	}
	ctrls, err := findCgroups()
	if err != nil {
		r.Missing = append(r.Missing, "cannot read /proc/self/cgroup: "+err.Error())
	}
	r.Cgroups = ctrls
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
