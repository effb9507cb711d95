package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A file the command deleted while it holds it open (or made with
// O_TMPFILE, or mapped and then closed) keeps its blocks on the
// workspace's file system until the last holder lets go, but has no name
// the walk could find: 1.5 GiB written to six such files went past the
// workspace's 1 GiB bound for the whole command (red team, session 42).
// So each walk also looks at what the sandbox's processes hold: every
// open descriptor and mapping of each process under the init (all of the
// sandbox's processes are: the init is their pid namespace's first, and
// takes in every orphan), and counts the regular files on the
// workspace's file system that have no link left.
//
// A descriptor sent over a Unix socket and closed by its sender is held
// by the message until it is received, by no process: no look finds it
// (DESIGN.md, "Left open").

// heldUsage returns the blocks and the count of the files without a link
// on the file system dev that the processes under (and including) init
// hold open or mapped, each file once. A process that ends while it is
// looked at is skipped; one whose descriptors cannot be read is an error
// on a root host: the bound cannot be kept. A host that is not root may
// not read the descriptors of its sandboxes' processes (they run as
// subordinate ids): there none is counted (DESIGN.md).
func heldUsage(init int, dev uint64) (wsUsage, error) {
	return heldUsageOf(init, dev, os.Geteuid() == 0)
}

func heldUsageOf(init int, dev uint64, strict bool) (wsUsage, error) {
	var u wsUsage
	if init <= 0 {
		return u, nil
	}
	seen := map[uint64]bool{}
	count := func(path string) {
		var st unix.Stat_t
		if unix.Stat(path, &st) != nil { // closed or unmapped since the listing
			return
		}
		if st.Dev != dev || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 0 || seen[st.Ino] {
			return
		}
		seen[st.Ino] = true
		u.files++
		u.bytes += st.Blocks * 512
	}
	queue := []int{init}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		dir := "/proc/" + strconv.Itoa(pid)
		for _, sub := range []string{"fd", "map_files"} {
			names, err := readNames(dir + "/" + sub)
			if os.IsNotExist(err) {
				break // ended
			}
			if !strict && os.IsPermission(err) {
				return u, nil
			}
			if err != nil {
				return u, fmt.Errorf("the files process %d holds cannot be read: %w", pid, err)
			}
			for _, n := range names {
				count(dir + "/" + sub + "/" + n)
			}
		}
		tasks, err := readNames(dir + "/task")
		if err != nil {
			continue // ended
		}
		for _, tid := range tasks {
			b, err := os.ReadFile(dir + "/task/" + tid + "/children")
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					queue = append(queue, c)
				}
			}
		}
	}
	return u, nil
}

// readNames lists the folder dir.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
