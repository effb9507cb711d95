package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// checkOnce returns the host's report but for Init, built by the first
// call; a variable so that a test can stand in for the host. A sandbox's
// start asks it alone: Init, which checks the embedded init against its
// sources (a hash of them), is found when the init is first started,
// beside the start's other steps, rather than before them all
// (BENCHMARKS.md, session 31).
var checkOnce = func() Report { return checkReport.Get() }

var checkReport = lazy.Value[Report]{New: check}

// Check inspects the host once and returns what it supports; later calls
// return the same report.
func Check() Report {
	r := checkOnce()
	r.Init = initFrom()
	return r
}

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
