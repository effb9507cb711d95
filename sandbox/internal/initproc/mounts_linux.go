package initproc

import (
	"fmt"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// etcEntries are the files and folders of /etc that programs (the dynamic
// loader, libc, python3, node, bash, TLS clients) read. Everything else of
// /etc, /etc/shadow first, stays out, and so does /etc/environment: it is
// the host's system-wide environment (pam_env's; proxy credentials and keys
// are kept there), which no sandboxed program reads. passwd, group, hosts
// and hostname are written fresh.
var etcEntries = []string{
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "localtime",
	"timezone", "alternatives", "ssl", "ca-certificates", "ca-certificates.conf",
	"pki", "crypto-policies", "mime.types", "protocols", "services", "host.conf",
	"gai.conf", "inputrc", "bash.bashrc", "profile", "profile.d", "magic",
	"magic.mime", "os-release", "debian_version", "python3", "python3.11",
	"python3.12", "python3.13", "nodejs", "terminfo", "locale.alias",
	"locale.conf", "login.defs",
}

// etcPrivate are the folders of private keys inside etcEntries (Debian's
// and SUSE's, Fedora's and RHEL's): an empty read-only tmpfs lies over
// each the host has. Programs read the certificates beside them, never the
// host's keys, which only file modes and groups guard there; and not root,
// the command runs as the host's user (with its groups where there are no
// subordinate ids), who may be the one a key is kept for.
var etcPrivate = []string{"/etc/ssl/private", "/etc/pki/tls/private", "/etc/pki/CA/private"}

var etcGenerated = map[string]string{
	"passwd":   "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:1000:1000:sandbox:/workspace:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	"group":    "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n",
	"hosts":    "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost ip6-loopback\n",
	"hostname": "sandbox\n",
}

// devices are bound from the host's /dev; nothing else of it is visible.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// detached is a mount taken from the host tree, waiting to be attached.
type detached struct {
	fd     int
	target string // path under the new root
	file   bool   // a file mount point is needed
}

// buildRoot makes the sandbox's file system and pivots into it: a tmpfs
// root, read-only system folders, selected /etc files, a minimal /dev, fresh
// /proc, a sized /tmp, the workspace (wsFd, an id-mapped mount the host
// made) at /workspace; the old root is detached. Every mount is noexec but
// the library folders and files of cfg (execPlan) and allowExec.
func buildRoot(cfg *Config, wsFd int, allowExec []string) error {
	defer unix.Close(wsFd)
	// Nothing done here may propagate back to the host.
	if err := makeMountsPrivate(); err != nil {
		return err
	}
	// Take every source before the new root hides anything.
	var mounts []detached
	var links [][2]string // symlink target, path
	defer func() {
		for _, m := range mounts {
			unix.Close(m.fd)
		}
	}()
	take := func(src, target string, attrs uint64, recursive bool) error {
		st, err := os.Stat(src)
		if err != nil {
			return nil // the host does not have it: nothing to bind
		}
		flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
		setFlags := uint(unix.AT_EMPTY_PATH)
		if recursive {
			flags |= unix.AT_RECURSIVE
			setFlags |= unix.AT_RECURSIVE
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, src, flags)
		if err != nil {
			return fmt.Errorf("init: bind %s: %w", src, err)
		}
		mounts = append(mounts, detached{fd: fd, target: target, file: !st.IsDir()})
		if err := unix.MountSetattr(fd, "", setFlags, &unix.MountAttr{Attr_set: attrs}); err != nil {
			return fmt.Errorf("init: restrict %s: %w", src, err)
		}
		return nil
	}
	const ro = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	const noexec = ro | unix.MOUNT_ATTR_NOEXEC
	// The order is the stacking order: the system folders noexec, the
	// library folders executable over them, the programs found in those
	// noexec over them, the allowed programs executable over everything.
	for _, d := range SystemDirs {
		if t, err := os.Readlink(d); err == nil {
			links = append(links, [2]string{t, d})
			continue
		}
		if err := take(d, d, noexec, true); err != nil {
			return err
		}
	}
	for _, d := range cfg.ExecDirs {
		if err := take(d, d, ro, true); err != nil {
			return err
		}
	}
	for _, f := range cfg.ExecLibs {
		if err := take(f, f, ro, false); err != nil {
			return err
		}
	}
	for _, p := range cfg.NoExec {
		if err := take(p, p, noexec, true); err != nil {
			return err
		}
	}
	for _, e := range etcEntries {
		if err := take("/etc/"+e, "/etc/"+e, noexec, true); err != nil {
			return err
		}
	}
	// The read-only paths the host checked (none inside another, none
	// over the sandbox's own folders), noexec like the system folders.
	for _, p := range cfg.ReadOnly {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("read-only path %s: %w (the sandbox reads it as an unprivileged user: it and the folders above it must be readable by all)", p, unwrapPath(err))
		}
		if err := take(p, p, noexec, true); err != nil {
			return err
		}
	}
	for _, p := range allowExec {
		if err := take(p, p, ro, false); err != nil {
			return err
		}
	}
	for _, d := range devices {
		if err := take("/dev/"+d, "/dev/"+d, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC, false); err != nil {
			return err
		}
	}

	// The new root: a tmpfs over /tmp of this (private) mount namespace.
	root := "/tmp"
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=1m,nr_inodes=4096"); err != nil {
		return fmt.Errorf("init: root tmpfs: %w", err)
	}
	for _, d := range []string{"usr", "etc", "dev", "proc", "tmp", "workspace", "run"} {
		if err := os.MkdirAll(path.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	for _, l := range links {
		if err := os.Symlink(l[0], path.Join(root, l[1])); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	for name, content := range etcGenerated {
		if err := os.WriteFile(path.Join(root, "etc", name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	if err := writeTrust(root, cfg.TrustPEM); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", path.Join(root, "dev"), "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64"); err != nil {
		return fmt.Errorf("init: /dev: %w", err)
	}
	for _, l := range [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}} {
		if err := os.Symlink(l[0], path.Join(root, "dev", l[1])); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	for _, m := range mounts {
		target := path.Join(root, m.target)
		if _, err := os.Lstat(target); err == nil {
			// Mounting over what is there (an allowed program).
		} else if m.file {
			if err := os.MkdirAll(path.Dir(target), 0o755); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if err := os.WriteFile(target, nil, 0o644); err != nil {
				return fmt.Errorf("init: %w", err)
			}
		} else if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := unix.MoveMount(m.fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("init: attach %s: %w", m.target, err)
		}
	}
	if err := mountGitGuards(root, allowExec); err != nil {
		return err
	}
	for _, d := range etcPrivate {
		target := path.Join(root, d)
		if st, err := os.Lstat(target); err != nil || !st.IsDir() {
			continue
		}
		if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=4k,nr_inodes=1"); err != nil {
			return fmt.Errorf("init: cover %s: %w", d, err)
		}
	}
	if err := os.Mkdir(path.Join(root, "dev", "shm"), 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return finishRoot(cfg, root, wsFd)
}

// finishRoot adds the sandbox's own mounts to the new root at root (/tmp,
// /dev/shm, /proc, the workspace), pivots into it and makes the root and
// /dev read-only.
func finishRoot(cfg *Config, root string, wsFd int) error {
	tmpOpts := "mode=1777,size=" + strconv.FormatInt(cfg.TmpSize, 10)
	const scratch = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("tmpfs", path.Join(root, "tmp"), "tmpfs", scratch, tmpOpts); err != nil {
		return fmt.Errorf("init: /tmp: %w", err)
	}
	if err := unix.Mount("tmpfs", path.Join(root, "dev", "shm"), "tmpfs", scratch, tmpOpts); err != nil {
		return fmt.Errorf("init: /dev/shm: %w", err)
	}
	if err := unix.Mount("proc", path.Join(root, "proc"), "proc", scratch, ""); err != nil {
		return fmt.Errorf("init: /proc: %w", err)
	}
	if err := unix.MoveMount(wsFd, "", unix.AT_FDCWD, path.Join(root, "workspace"), unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("init: attach workspace: %w", err)
	}

	// pivot_root with the old root stacked on the new one, then detached.
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("init: pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("init: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	// The root and /dev are read-only from now on.
	for _, p := range []string{"/", "/dev"} {
		if err := unix.MountSetattr(unix.AT_FDCWD, p, 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("init: read-only %s: %w", p, err)
		}
	}
	return unix.Chdir(WorkspaceDir)
}

// systemBundles are where distributions keep their roots in one file.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Gentoo
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/ca-bundle.pem",             // openSUSE
	"/etc/ssl/cert.pem",                  // Alpine
}

// writeTrust writes the task CA (pem) and the host's roots with it appended
// into the new root, read-only once the root is; nothing when pem is empty.
func writeTrust(root, pem string) error {
	if pem == "" {
		return nil
	}
	var bundle []byte
	for _, f := range systemBundles {
		if b, err := os.ReadFile(f); err == nil {
			bundle = append(b, '\n')
			break
		}
	}
	bundle = append(bundle, pem...)
	if err := os.MkdirAll(path.Join(root, path.Dir(TrustCA)), 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := os.WriteFile(path.Join(root, TrustCA), []byte(pem), 0o444); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := os.WriteFile(path.Join(root, TrustBundle), bundle, 0o444); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
