package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// rootlessSandboxProcesses lists, for a test process that is not root,
// the host processes that run in a pid namespace below the host's (a
// sandbox's) as this user or one of its subordinate uids: the sandboxes of
// this user. The non-root mode of the tests runs them as a user of their
// own (TestNonRoot), so no other process's sandboxes are counted.
func rootlessSandboxProcesses(rl *rootlessHost) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var uid uint64
		nested := false
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) > 1 && f[0] == "Uid:":
				uid, _ = strconv.ParseUint(f[1], 10, 32)
			case len(f) > 0 && f[0] == "NSpid:":
				nested = len(f) > 2
			}
		}
		mine := int(uid) == rl.uid || (rl.sub != nil && uint32(uid) >= rl.sub.uids.start && uint32(uid)-rl.sub.uids.start < rl.sub.uids.count)
		if nested && mine {
			out = append(out, e.Name()+":"+strconv.FormatUint(uid, 10))
		}
	}
	return out
}
