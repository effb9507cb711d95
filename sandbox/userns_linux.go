package sandbox

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// A host that is not root runs sandboxes in unprivileged user namespaces.
// Differences from root, each forced by what an unprivileged user may do:
//
//   - The command runs as the host's own user, mapped to SandboxUID inside:
//     the workspace cannot be id-mapped (that needs CAP_SYS_ADMIN over the
//     file system's user namespace), so the command writes as the user,
//     and files stay the user's. Root gives each sandbox's command its
//     own host uid instead.
//   - With subordinate ids (/etc/subuid, newuidmap) the init takes uid 0
//     of its namespace, a subordinate id of its own, as with root; without
//     them it runs as the user, like its command (see Isolation).
//   - The init holds its capabilities across execve as ambient ones (a
//     process that is not uid 0 of its namespace loses them otherwise) and
//     binds the workspace itself (initproc.Rootless).
//   - cgroup limits need a cgroup the user may write (cgroup_delegate_linux.go).

// rootlessHost is how this process, when not root, makes sandboxes.
type rootlessHost struct {
	uid, gid int
	name     string
	sub      *subIDs // nil: none (noSub says why)
	noSub    string
	ids      *uidAllocator // nil without sub
}

var rootlessOnce = lazy.Value[*rootlessHost]{New: newRootlessHost}

// rootless returns how to make sandboxes as this user, or nil as root.
func rootless() *rootlessHost { return rootlessOnce.Get() }

func newRootlessHost() *rootlessHost {
	if os.Geteuid() == 0 {
		return nil
	}
	h := &rootlessHost{uid: os.Geteuid(), gid: os.Getegid(), name: userName(os.Geteuid())}
	h.sub, h.noSub = findSubIDs(h.name, h.uid)
	if h.sub != nil {
		h.ids = h.sub.allocator(h.uid)
	}
	return h
}

// userName is the name of uid, or the number when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// Isolation says what a sandbox made as this user gives up against one
// made as root, and whether that is acceptable.
func (h *rootlessHost) isolation() string {
	shared := fmt.Sprintf("every sandbox's command runs as your uid %d, so its workspace files stay yours (root gives each sandbox its own uid). "+
		"Concurrent sandboxes stay apart through their namespaces, Landlock and seccomp, and RLIMIT_NPROC counts per sandbox, as with root; "+
		"per-user kernel accounting (pipe buffers, inotify) is shared with the other sandboxes and Bulwark, so one sandbox can exhaust it for the others.", h.uid)
	if h.sub != nil {
		return shared + " Each init has its own subordinate uid. Acceptable: no sandbox can reach another's processes or files."
	}
	return shared + " Without subordinate ids each init runs as your uid too: a command can signal its own init (ending its own sandbox, as exiting would) " +
		"and keeps your supplementary groups (what they may read in the system folders is readable). " +
		"Acceptable where Bulwark's user is in no group that guards secrets; add subordinate ids (usermod --add-subuids) for the stricter set-up."
}

// alloc reserves a slot: a subordinate uid and gid for the init. Without
// subordinate ids every sandbox has slot 0, which names nothing.
func (h *rootlessHost) alloc() (uint32, error) {
	if h.ids == nil {
		return 0, nil
	}
	return h.ids.Alloc()
}

// ownSlots reports whether each sandbox's slot is its own (leased from
// the subordinate ids); without them every sandbox has slot 0.
func (h *rootlessHost) ownSlots() bool { return h.ids != nil }

func (h *rootlessHost) free(slot uint32) {
	if h.ids != nil {
		h.ids.Free(slot)
	}
}

// initAttrs sets how the init starts: in a user namespace where the
// user's ids are SandboxUID (written by Go, which an unprivileged parent
// may do for its own ids), or with no map yet when newuidmap will write
// it (mapAfterStart), holding every capability across execve.
func (h *rootlessHost) initAttrs(a *syscall.SysProcAttr) {
	a.Credential = nil
	a.UidMappings, a.GidMappings = nil, nil
	if h.sub == nil {
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: sandboxUID, HostID: h.uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: sandboxUID, HostID: h.gid, Size: 1}}
		a.GidMappingsEnableSetgroups = false
	}
	a.AmbientCaps = initproc.AllCaps()
}

// mapAfterStart writes the id maps of the init's namespace with the
// setuid helpers; the init waits for its configuration until then.
func (h *rootlessHost) mapAfterStart(pid int, slot uint32) error {
	if h.sub == nil {
		return nil
	}
	return h.sub.mapIDs(pid, slot, h.uid, h.gid)
}

// workspaceHandle opens dir for the init to bind (initproc.Rootless): an
// O_PATH fd that fixes which folder is meant. The folder must be the
// user's: the command writes as the user, and a folder of another user's
// would be written with whatever its modes let others do.
func (h *rootlessHost) workspaceHandle(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if int(st.Uid) != h.uid {
		unix.Close(fd)
		return -1, fmt.Errorf("owned by uid %d, not by %s (uid %d), whom the sandbox's command runs as when Bulwark is not root", st.Uid, h.name, h.uid)
	}
	return fd, nil
}

// workspacePath is the absolute real path of dir, for the init to find in
// its own mount namespace (it follows no symlink at the end, and checks
// it reached the folder the host opened).
func workspacePath(dir string) string {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// usernsProblems names the settings that keep this user from creating
// user namespaces, each with the sysctl to change.
func usernsProblems() []string { return usernsProblemsIn("/proc/sys") }

// usernsProblemsIn reads the settings under sysctls (/proc/sys).
func usernsProblemsIn(sysctls string) []string {
	var out []string
	is := func(file, v string) bool {
		b, err := os.ReadFile(filepath.Join(sysctls, file))
		return err == nil && strings.TrimSpace(string(b)) == v
	}
	if is("user/max_user_namespaces", "0") {
		out = append(out, "user namespaces are disabled: set sysctl user.max_user_namespaces above 0")
	}
	if is("kernel/unprivileged_userns_clone", "0") {
		out = append(out, "unprivileged user namespaces are disabled: set sysctl kernel.unprivileged_userns_clone=1 (or run bulwark as root)")
	}
	if is("kernel/apparmor_restrict_unprivileged_userns", "1") {
		out = append(out, "AppArmor restricts unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns=1): set it to 0, or give bulwark an AppArmor profile that allows 'userns,' (or run bulwark as root)")
	}
	return out
}

// startProblem explains an init that could not start: the kernel refused
// the user namespace, for a reason Check cannot see (a container's seccomp
// profile, an LSM) or one it names.
func (h *rootlessHost) startProblem(err error) string {
	why := "the host refuses unprivileged user namespaces to " + h.name
	if p := usernsProblems(); len(p) > 0 {
		why = strings.Join(p, "; ")
	} else {
		why += " (sysctls kernel.unprivileged_userns_clone, user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns; in a container, its seccomp or AppArmor profile must allow clone with CLONE_NEWUSER)"
	}
	return fmt.Sprintf("sandbox: cannot start the sandbox init as %s: %v: %s", h.name, err, why)
}

// uidLeases is the folder of the id leases, for messages.
func uidLeases(h *rootlessHost) string {
	if h == nil {
		return uids.Folder()
	}
	if h.ids == nil {
		return "none: no subordinate ids"
	}
	return h.ids.Dir
}

// RootNeeded reports whether the sandbox needs root on this host: only
// where the host keeps unprivileged users from creating user namespaces
// (the reasons say which setting). Anywhere else Bulwark runs as a user
// of its own, and root only widens what a bug in Bulwark could reach.
func RootNeeded() (bool, []string) {
	why := usernsProblems()
	return len(why) > 0, why
}
