package sandbox

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// Where the sandbox's cgroups go. As root, beneath the host process's own
// groups, as always. A user that is not root needs a cgroup it may write,
// as systemd's Delegate=yes gives a service: BULWARK_CGROUP=NAME names one
// relative to the root of each hierarchy (the v2 one, or the v1 one of
// each controller), else the process's own groups serve when the user may
// write them. Without one, the memory, process and CPU limits cannot be
// enforced and the sandbox refuses to run, unless BULWARK_SANDBOX_LIMITS=off.

// cgroupsOnce returns sandboxCgroups' answer, read by the first call.
func cgroupsOnce() ([]CgroupController, error) {
	c := sandboxCgroupsOnce.Get()
	return c.ctrls, c.err
}

var sandboxCgroupsOnce = lazy.Value[struct {
	ctrls []CgroupController
	err   error
}]{New: func() (c struct {
	ctrls []CgroupController
	err   error
}) {
	c.ctrls, c.err = sandboxCgroups()
	return c
}}

// sandboxCgroups locates the parent folder of every controller: the
// delegated cgroup when BULWARK_CGROUP names one, else the process's own.
func sandboxCgroups() ([]CgroupController, error) {
	name := strings.TrimSpace(os.Getenv(CgroupVar))
	if name == "" {
		return findCgroups()
	}
	clean := path.Clean("/" + name)
	if clean == "/" || clean != "/"+strings.Trim(name, "/") {
		return nil, fmt.Errorf("%s=%q: want a cgroup path relative to the root of each hierarchy, such as bulwark or system.slice/bulwark.service", CgroupVar, name)
	}
	var v2 map[string]bool
	unified := unifiedRoot()
	if unified != "" {
		v2 = map[string]bool{}
		if b, err := os.ReadFile(filepath.Join(unified, clean, "cgroup.controllers")); err == nil {
			for _, c := range strings.Fields(string(b)) {
				v2[c] = true
			}
		}
	}
	var out []CgroupController
	for _, c := range controllers {
		cc := CgroupController{Name: c}
		if v2[c] {
			cc.Version, cc.Parent = 2, filepath.Join(unified, clean)
		} else if dir := v1Mount(c); dir != "" {
			cc.Version, cc.Parent = 1, filepath.Join(dir, clean)
		}
		out = append(out, cc)
	}
	return out, nil
}

// unifiedRoot is where the v2 hierarchy is mounted, or "".
func unifiedRoot() string {
	switch {
	case isCgroup2(cgroupRoot + "/unified"):
		return cgroupRoot + "/unified"
	case isCgroup2(cgroupRoot):
		return cgroupRoot
	}
	return ""
}

// cgroupWritable says, for a user that is not root, what keeps the
// controllers' folders from serving: each must be a folder the user may
// create groups in, and on v2 this process must run inside it (the kernel
// starts a process in a group, or moves one, only within a subtree the
// user may write).
func cgroupWritable(ctrls []CgroupController) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range ctrls {
		if c.Version == 0 || seen[c.Parent] {
			continue
		}
		seen[c.Parent] = true
		files := []string{c.Parent}
		if c.Version == 2 {
			files = append(files, filepath.Join(c.Parent, "cgroup.procs"), filepath.Join(c.Parent, "cgroup.subtree_control"))
		}
		for _, f := range files {
			if err := unix.Access(f, unix.W_OK); err != nil {
				out = append(out, fmt.Sprintf("cgroup %s: %s is not writable by this user (%v)", c.Name, f, err))
				break
			}
		}
		if c.Version == 2 {
			own, _ := ownCgroups()
			if self := filepath.Join(unifiedRoot(), own[""]); !initproc.Under(self, c.Parent) {
				out = append(out, fmt.Sprintf("cgroup v2: bulwark runs in %s, outside %s: start it inside the delegated cgroup (systemd does, with Delegate=yes)", self, c.Parent))
			}
		}
	}
	return out
}

// delegateHowTo says how to give user a cgroup, for the hierarchies this
// host has.
func delegateHowTo(user string, ctrls []CgroupController) string {
	v1 := false
	for _, c := range ctrls {
		v1 = v1 || c.Version == 1
	}
	how := "run bulwark as a systemd service with Delegate=yes (its own cgroup is then writable), or, as root, "
	if v1 {
		how += fmt.Sprintf("for c in memory pids cpu; do mkdir -p /sys/fs/cgroup/$c/bulwark && chown -R %s /sys/fs/cgroup/$c/bulwark; done, then set %s=bulwark", user, CgroupVar)
	} else {
		how += fmt.Sprintf("mkdir /sys/fs/cgroup/bulwark && chown %s /sys/fs/cgroup/bulwark /sys/fs/cgroup/bulwark/cgroup.procs /sys/fs/cgroup/bulwark/cgroup.subtree_control /sys/fs/cgroup/bulwark/cgroup.threads, "+
			"make sure memory, pids and cpu are in /sys/fs/cgroup/cgroup.subtree_control, start bulwark inside that cgroup and set %s=bulwark", user, CgroupVar)
	}
	return how + "; or set " + LimitsVar + "=off to run commands without these limits (not recommended)"
}
