package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/bytesize"
)

// The workspace is a host folder: what a command writes there fills the
// host's disk. RLIMIT_FSIZE bounds one file (Spec.MaxFileSize); the guard
// here bounds the whole folder (Spec.WorkspaceSize, Spec.WorkspaceFiles).
// No kernel limit fits a folder of any file system (project quotas need
// one set up for them), so the host watches: statfs of the workspace's
// file system costs a system call, and tells how much space and how many
// inodes the whole file system lost since the workspace was last measured;
// only when that loss is more than the workspace's room left is the
// workspace measured again (a walk), and the command killed if it is
// past a bound. Others writing on the same file system only make the walk
// come sooner; a walk is never skipped when the command may be past a
// bound.

// guardPoll is how often the guard reads the file system's free space.
const guardPoll = 25 * time.Millisecond

// guardMaxDepth bounds the folders the walk descends (each holds an fd).
const guardMaxDepth = 512

// wsUsage is what a workspace holds: its bytes on disk and its entries.
type wsUsage struct {
	bytes, files int64
}

// wsGuard watches one command's workspace.
type wsGuard struct {
	dir                string
	init               int // the sandbox's init, whose processes' held files count (heldUsage)
	maxBytes, maxFiles int64
	kill               func()
	stop, done         chan struct{}
	stopOnce           sync.Once

	mu    sync.Mutex
	why   string // why the command was killed, or the workspace is over
	start wsUsage
}

// guardWorkspace starts watching dir for spec's bounds, counting the files
// the processes under init hold with no name left; kill ends the command.
// Call end when the command has ended.
func guardWorkspace(spec Spec, dir string, init int, kill func()) *wsGuard {
	g := &wsGuard{dir: dir, init: init, maxBytes: spec.WorkspaceSize, maxFiles: spec.WorkspaceFiles, kill: kill,
		stop: make(chan struct{}), done: make(chan struct{})}
	go g.watch()
	return g
}

// fsFree is what the file system of the workspace has free, and its size.
type fsFree struct {
	bytes, files int64
	size         int64
}

func statFree(dir string) (fsFree, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fsFree{}, err
	}
	return fsFree{bytes: int64(st.Bavail) * st.Bsize, files: int64(st.Ffree), size: int64(st.Blocks) * st.Bsize}, nil
}

// unseen says why the command is killed when the workspace's file system
// lost more since the command began (from base to now) than the
// workspace's growth (from start to u) explains, by more than the
// workspace's bound, and is nearly full: under the larger of that bound
// and a twentieth of its size free. Files a command holds out of every
// count do that: a descriptor sent over a socket and never received, its
// file unlinked, is held by the socket, not by a process (a red team kept
// a 40 GB disk full for a command's whole run). Others writing on the
// same file system can do it too; a command is then killed only when the
// disk is nearly full, where it could not go on writing anyway. "" when
// not.
func (g *wsGuard) unseen(base, now fsFree, start, u wsUsage) string {
	lost, grew := base.bytes-now.bytes, u.bytes-start.bytes
	floor := max(g.maxBytes, now.size/20)
	if lost-grew <= g.maxBytes || now.bytes >= floor {
		return ""
	}
	return fmt.Sprintf("the workspace's file system lost %s since the command began that the workspace does not hold, and has %s free; the command may hold files out of sight (sent over a socket and deleted)",
		bytesize.Text(lost-grew), bytesize.Text(now.bytes))
}

// watch measures the workspace, then looks at the free space until end.
func (g *wsGuard) watch() {
	defer close(g.done)
	free, err := statFree(g.dir)
	if err != nil {
		g.fail(fmt.Sprintf("command killed: the workspace's file system cannot be read (%v), so its limits cannot be kept", err))
		return
	}
	used, err := g.measure()
	if err != nil {
		g.fail(fmt.Sprintf("command killed: the workspace cannot be measured (%v), so its limits cannot be kept", err))
		return
	}
	g.mu.Lock()
	g.start = used
	g.mu.Unlock()
	base, start := free, used
	t := time.NewTicker(guardPoll)
	defer t.Stop()
	var lastWalk time.Duration
	var walked time.Time
	for {
		stopping := false
		select {
		case <-g.stop:
			stopping = true // one last look: the command may have written since the last
		case <-t.C:
		}
		now, err := statFree(g.dir)
		if err != nil {
			g.fail(fmt.Sprintf("command killed: the workspace's file system cannot be read (%v)", err))
			return
		}
		grown := wsUsage{bytes: free.bytes - now.bytes, files: free.files - now.files}
		if used.bytes+grown.bytes > g.maxBytes || used.files+grown.files > g.maxFiles {
			// A walk costs: not more than a fifth of the time, unless
			// this is the last look.
			if !stopping && time.Since(walked) < 4*lastWalk {
				continue
			}
			began := time.Now()
			u, err := g.measure()
			walked, lastWalk = time.Now(), time.Since(began)
			if err != nil {
				g.fail(fmt.Sprintf("command killed: the workspace cannot be measured (%v)", err))
				return
			}
			why := g.over(u)
			if why == "" && !stopping {
				why = g.unseen(base, now, start, u)
			}
			if why != "" {
				if stopping {
					g.fail("the command went past the workspace's limit as it ended: " + why)
				} else {
					g.fail("command killed: " + why)
				}
				return
			}
			free, used = now, u
		}
		if stopping {
			return
		}
	}
}

// measure walks the workspace and adds the files the sandbox's processes
// hold that have no name in it (heldUsage).
func (g *wsGuard) measure() (wsUsage, error) {
	u, dev, err := diskUsage(g.dir)
	if err != nil {
		return u, err
	}
	h, err := heldUsage(g.init, dev)
	u.bytes += h.bytes
	u.files += h.files
	return u, err
}

// over says how u is past a bound and grown since the start, or "".
func (g *wsGuard) over(u wsUsage) string {
	g.mu.Lock()
	start := g.start
	g.mu.Unlock()
	switch {
	case u.bytes > g.maxBytes && u.bytes > start.bytes:
		return fmt.Sprintf("the workspace holds %s, past its limit of %s (BULWARK_WORKSPACE_MAX_SIZE); delete files to make room", bytesize.Text(u.bytes), bytesize.Text(g.maxBytes))
	case u.files > g.maxFiles && u.files > start.files:
		return fmt.Sprintf("the workspace holds %d files and folders, past its limit of %d (BULWARK_WORKSPACE_MAX_FILES); delete some to make room", u.files, g.maxFiles)
	}
	return ""
}

// fail records why and kills the command.
func (g *wsGuard) fail(why string) {
	g.mu.Lock()
	g.why = why
	g.mu.Unlock()
	g.kill()
}

// end stops the guard once the command has ended, after a last look, and
// returns why the workspace went past a bound (the command was killed, or
// its last writes did it), or "".
func (g *wsGuard) end() string {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.why
}

// diskUsage walks dir (on the file system dev), never following a symlink inside it nor leaving
// its file system, through descriptors (a folder swapped for a link while
// it is walked is not followed), and adds up its entries' blocks on disk.
// An inode with several links counts once. dir itself may be named through
// a symlink, as a Spec's workspace may: the command cannot change it.
func diskUsage(dir string) (u wsUsage, dev uint64, err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return wsUsage{}, 0, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return wsUsage{}, 0, err
	}
	w := &walker{dev: st.Dev, linked: map[uint64]bool{}}
	w.u.bytes = st.Blocks * 512
	err = w.walk(fd, 0)
	return w.u, st.Dev, err
}

type walker struct {
	dev    uint64
	u      wsUsage
	linked map[uint64]bool // inodes with more than one link, counted
}

var errTooDeep = errors.New("folders nested too deep")

// walk adds the entries of the folder fd (which it closes).
func (w *walker) walk(fd int, depth int) error {
	f := os.NewFile(uintptr(fd), "workspace")
	defer f.Close()
	if depth > guardMaxDepth {
		return errTooDeep
	}
	for {
		names, err := f.Readdirnames(1024)
		for _, name := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if err == unix.ENOENT {
					continue // gone since the listing
				}
				return err
			}
			isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
			if !isDir && st.Nlink > 1 {
				if w.linked[st.Ino] {
					continue
				}
				w.linked[st.Ino] = true
			}
			w.u.files++
			w.u.bytes += st.Blocks * 512
			if !isDir || st.Dev != w.dev {
				continue
			}
			sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err == unix.ENOENT || err == unix.ENOTDIR || err == unix.ELOOP {
				continue // gone or swapped since the listing
			}
			if err != nil {
				return err
			}
			if err := w.walk(sub, depth+1); err != nil {
				return err
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// writeLimits explains on the command's stderr the write limits it ran
// into and returns their names for Result.LimitHit: "workspace" when the
// guard found the workspace past a bound (wsWhy), "file size" when the
// command was killed by SIGXFSZ (xfsz) or its stderr said a write was
// refused for the file size.
func writeLimits(spec Spec, stderr io.Writer, d *deniedWatch, wsWhy string, xfsz bool) []string {
	var hit []string
	if wsWhy != "" {
		fmt.Fprintf(stderr, "sandbox: %s\n", wsWhy)
		hit = append(hit, "workspace")
	}
	if xfsz || d.fileTooLarge() {
		fmt.Fprintf(stderr, "sandbox: %s\n", fileSizeReason(spec))
		hit = append(hit, "file size")
	}
	return hit
}
