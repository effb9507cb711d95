package sandbox

import (
	"bufio"
	"os"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// readOnlyFS reports the file systems a read-only path may be on or hold
// mounted inside it (the bind takes what is mounted inside it along):
// disks, tmpfs, overlays, network and FUSE file systems. Anything else,
// the kernel's own (proc, sysfs, cgroup, debugfs, bpf...) first, would
// show the host's kernel interfaces inside the sandbox. A switch, not a
// map: a map literal is built by the package's init, at every start.
func readOnlyFS(fs string) bool {
	switch fs {
	case "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs",
		"f2fs", "jfs", "reiserfs", "bcachefs", "vfat", "exfat",
		"ntfs", "ntfs3", "squashfs", "erofs", "iso9660", "udf",
		"tmpfs", "ramfs", "overlay", "nfs", "nfs4", "cifs",
		"smb3", "9p", "virtiofs", "ceph", "fuse", "fuseblk":
		return true
	}
	return false
}

// readOnlyMountsOK refuses read-only paths that are on, or hold, a file
// system outside readOnlyFS, as /proc/self/mountinfo lists them.
func readOnlyMountsOK(targets []string) error {
	if len(targets) == 0 {
		return nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return bulwark.E(bulwark.Unavailable, "sandbox.Spec", "sandbox: cannot read /proc/self/mountinfo to check the read-only paths", err)
	}
	defer f.Close()
	type mount struct{ point, fs string }
	var mounts []mount
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && len(fields) > 4 {
				mounts = append(mounts, mount{unescapeMount(fields[4]), fields[i+1]})
				break
			}
		}
	}
	if err := s.Err(); err != nil {
		return bulwark.E(bulwark.Unavailable, "sandbox.Spec", "sandbox: cannot read /proc/self/mountinfo to check the read-only paths", err)
	}
	for _, t := range targets {
		on := mount{}
		for _, m := range mounts {
			if initproc.Under(t, m.point) && len(m.point) >= len(on.point) {
				on = m // the last of the longest mount points is on top
			}
		}
		check := []mount{on}
		for _, m := range mounts {
			if m.point != t && initproc.Under(m.point, t) {
				check = append(check, m)
			}
		}
		for _, m := range check {
			base, _, _ := strings.Cut(m.fs, ".") // fuse.sshfs
			if !readOnlyFS(base) {
				return bulwark.Errorf(bulwark.Invalid, "sandbox.Spec", "read-only path %s: %s is a %s file system, which the sandbox does not show (only disk, tmpfs, overlay, network and FUSE file systems)", t, m.point, m.fs)
			}
		}
	}
	return nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, ok := octal3(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal3(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n*8 + int(c-'0')
	}
	return byte(n), n < 256
}
