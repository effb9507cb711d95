package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/bulwark-agents/bulwark/sandbox"
)

// allowRootVar keeps root by choice: doctor then warns instead of failing.
const allowRootVar = "BULWARK_ALLOW_ROOT"

// userCheck reports who Bulwark runs as. Root is needed only where the
// host keeps unprivileged users from creating user namespaces; anywhere
// else it fails (unless BULWARK_ALLOW_ROOT=1): the sandbox runs as a user
// of Bulwark's own, and root only widens what a bug in Bulwark could reach.
func userCheck(r sandbox.Report) check {
	if os.Geteuid() != 0 {
		c := check{"user", "ok", r.User + ", not root"}
		switch {
		case r.SubordinateIDs != "":
			c.detail += "; each sandbox's init has its own subordinate ids (" + r.SubordinateIDs + ")"
		case !sandbox.Disabled():
			c.level = "warn"
			c.detail += "; no subordinate ids, so each sandbox's init runs as this user too (bulwark sandbox check says what that gives up): " +
				strings.Join(r.Warnings, "; ")
		}
		return c
	}
	if need, why := sandbox.RootNeeded(); need && !sandbox.Disabled() {
		return check{"user", "ok", "root, which the sandbox needs here: " + strings.Join(why, "; ") + " (allow them to run bulwark as a user of its own)"}
	}
	howTo := "run bulwark as a user of its own (README, 'Running without root': useradd --system bulwark, subordinate ids with usermod --add-subuids/--add-subgids, " +
		"a cgroup delegated by systemd's Delegate=yes or named by " + sandbox.CgroupVar + ")"
	if v := env(allowRootVar); v == "1" || strings.EqualFold(v, "on") || strings.EqualFold(v, "true") {
		return check{"user", "warn", fmt.Sprintf("root by choice (%s=%s), which this host does not need for the sandbox; %s", allowRootVar, v, howTo)}
	}
	return check{"user", "FAIL", "root, which this host does not need for the sandbox (unprivileged user namespaces are allowed): " + howTo +
		"; or set " + allowRootVar + "=1 to keep root by choice"}
}
