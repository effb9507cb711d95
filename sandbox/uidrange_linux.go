package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A root host's sandbox has two host uids of the reserved range (early/slots_linux.go),
// and its init's user namespace belongs to the init's host uid
// (vforkInit): a process of that uid in the host's user namespace would
// have every capability in the sandbox, enter its namespaces and trace its
// init. No user or process of the host may hold a uid of the range;
// UIDRangeClashes tells of those it finds (the password file, the
// processes running as it looks: a directory service's users, SSSD's or
// winbind's mapped ids, are known only once they log in). Not part of
// Check, which every process's first sandbox waits for: it reads every
// process's status.

// UIDRangeClashes warns of the users of /etc/passwd and the processes of
// the host's user namespace whose uid is a sandbox's, on a root host
// (bulwark sandbox check and doctor); nil when there are none or the
// host is not root (a host that is not root uses its subordinate ids).
func UIDRangeClashes() []string {
	if rootless() != nil {
		return nil
	}
	passwd, err := os.Open("/etc/passwd")
	if err != nil {
		return uidRangeWarnings(nil, "/proc")
	}
	defer passwd.Close()
	return uidRangeWarnings(passwd, "/proc")
}

// uidRangeWarnings says which users of the password file and processes
// of the host's user namespace, under procDir, have a host uid of the
// sandboxes' range.
func uidRangeWarnings(passwd io.Reader, procDir string) []string {
	var found []string
	if passwd != nil {
		sc := bufio.NewScanner(passwd)
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			if len(f) < 3 {
				continue
			}
			if uid, err := strconv.ParseUint(f[2], 10, 32); err == nil && inUIDRange(uint32(uid)) {
				found = append(found, fmt.Sprintf("user %s (uid %d)", f[0], uid))
			}
		}
	}
	myUserns, _ := os.Readlink(filepath.Join(procDir, "self/ns/user"))
	statuses, _ := filepath.Glob(filepath.Join(procDir, "[0-9]*/status"))
	self := strconv.Itoa(os.Getpid())
	for _, st := range statuses {
		uid, ppid, ok := statusIDs(st)
		if !ok || !inUIDRange(uid) || ppid == self {
			// This process's children (its zygote, an init) take a
			// sandbox's uid as they fork one.
			continue
		}
		// Sandboxes' processes are in user namespaces of their own.
		if ns, err := os.Readlink(filepath.Join(filepath.Dir(st), "ns/user")); err != nil || ns != myUserns {
			continue
		}
		found = append(found, fmt.Sprintf("process %s (uid %d)", filepath.Base(filepath.Dir(st)), uid))
	}
	if len(found) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("host uids %d to %d are the sandboxes' own, but %s: such a process could enter a sandbox of that uid; give them other ids",
		uint32(uidBase), uint32(uidBase+2*uidSlots-1), strings.Join(found, ", "))}
}

// inUIDRange says whether uid is a root host's sandbox uid.
func inUIDRange(uid uint32) bool { return uid >= uidBase && uid-uidBase < 2*uidSlots }

// statusIDs is the real uid and the parent's pid in a /proc status file.
func statusIDs(path string) (uid uint32, ppid string, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, "", false
	}
	field := func(name string) string {
		_, rest, ok := strings.Cut(string(data), "\n"+name+":")
		if f := strings.Fields(rest); ok && len(f) > 0 {
			return f[0]
		}
		return ""
	}
	n, err := strconv.ParseUint(field("Uid"), 10, 32)
	return uint32(n), field("PPid"), err == nil
}
