package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A host that is not root gives each sandbox's init its own uid and gid
// from the user's subordinate ranges (/etc/subuid, /etc/subgid), mapped by
// the setuid helpers newuidmap and newgidmap, as rootless Podman does.

// idRange is a range of subordinate ids: start, start+1, ..., start+count-1.
type idRange struct{ start, count uint32 }

// subordinateRange returns the largest range that file (in the format of
// /etc/subuid: NAME_OR_ID:START:COUNT per line) gives to the user named
// name with id id.
func subordinateRange(file, name string, id int) (idRange, bool) {
	f, err := os.Open(file)
	if err != nil {
		return idRange{}, false
	}
	defer f.Close()
	var best idRange
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.Split(strings.TrimSpace(s.Text()), ":")
		if len(parts) != 3 || (parts[0] != name && parts[0] != strconv.Itoa(id)) {
			continue
		}
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		count, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 != nil || err2 != nil || start == 0 || start+count > 1<<32-1 {
			continue
		}
		if uint32(count) > best.count {
			best = idRange{uint32(start), uint32(count)}
		}
	}
	return best, best.count > 0
}

// subIDs is what a user needs to give sandboxes their own ids.
type subIDs struct {
	uids, gids           idRange
	newuidmap, newgidmap string
}

// slots is how many sandboxes can run at once, one id of each range each.
func (s *subIDs) slots() uint32 { return min(s.uids.count, s.gids.count) }

func (s *subIDs) String() string {
	return fmt.Sprintf("uids %d-%d, gids %d-%d", s.uids.start, s.uids.start+s.uids.count-1, s.gids.start, s.gids.start+s.gids.count-1)
}

// findSubIDs looks up the ranges of the user (name, uid) and the helpers.
// The reason says why there are none, and what to do, when it returns nil.
func findSubIDs(name string, uid int) (*subIDs, string) {
	u, okU := subordinateRange("/etc/subuid", name, uid)
	g, okG := subordinateRange("/etc/subgid", name, uid)
	add := fmt.Sprintf("as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s", name)
	if !okU || !okG {
		return nil, fmt.Sprintf("no subordinate uid and gid ranges for %s in /etc/subuid and /etc/subgid (%s)", name, add)
	}
	s := &subIDs{uids: u, gids: g}
	var err error
	if s.newuidmap, err = exec.LookPath("newuidmap"); err != nil {
		return nil, "subordinate ids are set but newuidmap is not installed (apt-get install uidmap)"
	}
	if s.newgidmap, err = exec.LookPath("newgidmap"); err != nil {
		return nil, "subordinate ids are set but newgidmap is not installed (apt-get install uidmap)"
	}
	if noNewPrivs() {
		return nil, "subordinate ids are set but this process runs with no_new_privs (systemd NoNewPrivileges=yes), which keeps the setuid newuidmap from working"
	}
	if s.slots() < 8 {
		return nil, fmt.Sprintf("the subordinate ranges of %s hold %d ids; want at least 8 (%s)", name, s.slots(), add)
	}
	return s, ""
}

// noNewPrivs reports whether this process has no_new_privs set.
func noNewPrivs() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok {
			return strings.TrimSpace(v) == "1"
		}
	}
	return false
}

// allocator hands out one slot per sandbox, slot i being the ids
// uids.start+i and gids.start+i, leased in a folder of this user's so that
// two Bulwark processes of the user never share one.
func (s *subIDs) allocator(uid int) *uidAllocator {
	per := uint32(min(s.slots(), slotsPerBlock))
	return &uidAllocator{Dir: userLeaseDir(uid), NBlocks: s.slots() / per, PerBlock: per,
		SlotUIDs: func(slot uint32) []uint32 { return []uint32{s.uids.start + slot} }}
}

// mapIDs maps, in the user namespace of pid: 0 to the slot's subordinate
// ids (the init) and SandboxUID to the user's own ids (the command).
func (s *subIDs) mapIDs(pid int, slot uint32, uid, gid int) error {
	p := strconv.Itoa(pid)
	for _, m := range []struct {
		helper   string
		sub, own int
	}{{s.newuidmap, int(s.uids.start + slot), uid}, {s.newgidmap, int(s.gids.start + slot), gid}} {
		out, err := exec.Command(m.helper, p, "0", strconv.Itoa(m.sub), "1",
			strconv.Itoa(sandboxUID), strconv.Itoa(m.own), "1").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(m.helper), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// userLeaseDir is the folder of a user's id leases. Every Bulwark process
// of the user must find the same one, whatever its environment (a
// service's XDG_RUNTIME_DIR or TMPDIR differ from a shell's), or two of
// them lease the same slot: the runtime folder logind makes for the uid
// (/run/user/UID, shared by the user's sessions and services), else one of
// its own in /tmp (sticky: nobody else can move it; lease checks it is the
// user's and private). A service with PrivateTmp and no runtime folder
// still has a /tmp of its own; the lock on a slot's cgroups
// (lockSlotGroup) keeps such a collision from reaching another sandbox's
// processes.
func userLeaseDir(uid int) string {
	run := fmt.Sprintf("/run/user/%d", uid)
	var st unix.Stat_t
	if unix.Lstat(run, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == uid {
		return filepath.Join(run, "bulwark-sandbox-ids")
	}
	return fmt.Sprintf("/tmp/bulwark-sandbox-ids-%d", uid)
}
