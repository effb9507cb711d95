package initproc

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// An init can be vforked rather than fully forked: Go forks a child in a
// new user namespace with a full fork, because its child waits for its id
// maps, which a vforked child cannot (its parent stays stopped until the
// child's execve). A full fork copies the parent's page tables, and every
// page the child or the parent writes next is a copy-on-write fault
// (about 10 us each on the project's VMs). VforkAttr forks the init with
// no maps: it runs as its host uid (the forking thread's, BecomeID) from
// its first instruction, holds its capabilities in its namespace across
// execve as ambient ones (dropped with every other before the command,
// restrictThread), and its parent writes the maps (WriteIDMaps) before
// the init's configuration is sent, which is the first thing it reads.

// VforkAttr is how an init of initUID and cmdUID is vforked: InitAttr's
// namespaces, session and parent death signal, no id maps and no
// credential change (the forking thread is initUID already), every
// capability kept across execve; and the maps its parent must write.
func VforkAttr(initUID, cmdUID uint32) (attr *syscall.SysProcAttr, uidMap, gidMap string, err error) {
	if initUID == 0 || initUID == ^uint32(0) || cmdUID == 0 {
		// -1 would leave the thread root ("no change").
		return nil, "", "", fmt.Errorf("init uid %d, command uid %d: not a sandbox's", initUID, cmdUID)
	}
	attr = InitAttr(initUID, cmdUID, -1)
	uidMap, gidMap = IDMapLines(attr.UidMappings), IDMapLines(attr.GidMappings)
	attr.UidMappings, attr.GidMappings, attr.Credential = nil, nil, nil
	attr.Cloneflags |= syscall.CLONE_VFORK | syscall.CLONE_VM
	attr.AmbientCaps = AllCaps()
	return attr, uidMap, gidMap, nil
}

// BecomeID sets the uid, gid and supplementary groups of the calling
// thread alone to id, keeping its capabilities. The caller's goroutine is
// locked to the thread, and either never unlocks it (the thread ends
// with it) or calls ReturnToRoot before anything else runs on it.
func BecomeID(id uint32) error {
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("keep capabilities: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(id), uintptr(id), uintptr(id)); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	// A uid other than 0 clears the effective set: raise it again from
	// the permitted one, which PR_SET_KEEPCAPS kept.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	for i := range data {
		data[i].Effective = data[i].Permitted
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// ReturnToRoot undoes BecomeID on the calling thread: uid and gid 0 (a
// uid of 0 again raises the effective capabilities from the permitted
// ones), no supplementary groups, capabilities no longer kept across a
// change of uid.
func ReturnToRoot() error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("keep capabilities: %w", e)
	}
	return nil
}

// IDMapLines is an id map as /proc/PID/uid_map takes it.
func IDMapLines(m []syscall.SysProcIDMap) string {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return b.String()
}

// WriteIDMaps writes the uid and gid maps of process pid, in a user
// namespace of its own that has none yet, as Go's syscall package does
// for a child it forks with UidMappings and GidMappings: the uid map,
// then "deny" to setgroups, then the gid map.
func WriteIDMaps(pid int, uidMap, gidMap string) error {
	for _, f := range []struct{ name, text string }{{"uid_map", uidMap}, {"setgroups", "deny"}, {"gid_map", gidMap}} {
		if err := writeProcFile("/proc/"+strconv.Itoa(pid)+"/"+f.name, f.text); err != nil {
			return err
		}
	}
	return nil
}

// writeProcFile writes text to a /proc file in one write, as the kernel
// wants an id map.
func writeProcFile(path, text string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	n, err := unix.Write(fd, []byte(text))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil && n != len(text) {
		err = fmt.Errorf("%s: short write", path)
	}
	return err
}

// AllCaps lists the capabilities this kernel knows. An init has them all
// in its namespace, as a root-made init has as uid 0 there, and drops
// them before the command (restrictThread).
func AllCaps() []uintptr {
	last := unix.CAP_LAST_CAP
	if b, err := readSmall("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			last = n
		}
	}
	caps := make([]uintptr, 0, last+1)
	for c := 0; c <= last; c++ {
		caps = append(caps, uintptr(c))
	}
	return caps
}

// readSmall reads a short file with one read.
func readSmall(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 32)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
