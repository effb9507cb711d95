package sandbox

import (
	"os"
	"strings"
)

// CgroupVar names the delegated cgroup; LimitsVar turns the limits off.
const (
	CgroupVar = "BULWARK_CGROUP"
	LimitsVar = "BULWARK_SANDBOX_LIMITS"
)

// LimitsOffWarning is the line shown at start and by doctor when the
// cgroup limits are off.
const LimitsOffWarning = "WARNING: " + LimitsVar + "=off: sandboxed commands run WITHOUT memory, process and CPU limits " +
	"(only the timeout, RLIMIT_NPROC per sandbox, the /tmp size and the output caps hold): one command can take the host's memory and CPU"

// LimitsOff reports whether BULWARK_SANDBOX_LIMITS=off was set.
func LimitsOff() bool {
	return strings.EqualFold(strings.TrimSpace(os.Getenv(LimitsVar)), "off")
}
