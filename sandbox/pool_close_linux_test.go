package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Pool's Close, raced with the spare init that its sandboxes' ends ask
// for: once Close returns no spare is ready or on the way, no process
// runs as a uid of this process's sandboxes, no uid slot is held and no
// group of this process's sandboxes holds a process or is left behind.
// Before, the sandboxes a Close ended (and a Run's end that met the
// Close) asked for a spare, forked after Close had returned, which then
// waited half a minute with a process and a slot.
func TestPoolCloseLeavesNoSpare(t *testing.T) {
	awaitSpare(t) // skips where there are none
	spares.drop()
	teardowns.Wait()
	spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}
	open := openPools.Load()
	for i := range 24 {
		p, err := NewPool(spec, 1+i%2)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 {
			// Its end asks for a spare, which is forked while the
			// Close below goes on.
			if _, err := p.Run(context.Background(), []string{"true"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if i%4 == 1 {
			time.Sleep(time.Duration(i) * 300 * time.Microsecond)
		}
		p.Close()
		if i%5 == 2 {
			p.Close() // a second Close is counted once
		}
		spares.mu.Lock()
		ready, busy := spares.ready != nil, spares.busy
		spares.mu.Unlock()
		if ready || busy > 0 {
			t.Fatalf("round %d: after Close a spare init is ready (%v) or %d being made or ended", i, ready, busy)
		}
		if pids := sandboxProcesses(); len(pids) > 0 {
			t.Fatalf("round %d: after Close, sandbox processes are alive: %v", i, pids)
		}
		if held := uids.Held(); len(held) > 0 {
			t.Fatalf("round %d: after Close, uid slots %v are still held", i, held)
		}
		if left := groupsLeft(t); len(left) > 0 {
			t.Fatalf("round %d: after Close, groups left: %v", i, left)
		}
	}
	if now := openPools.Load(); now != open {
		t.Errorf("%d pools open after the rounds, %d before", now, open)
	}
}

// groupsLeft lists this process's sandbox groups that are left (a fresh
// one, named with this pid) or hold a process (a slot's this process
// used, kept empty).
func groupsLeft(t *testing.T) []string {
	t.Helper()
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, c := range ctrls {
		ents, _ := os.ReadDir(c.Parent)
		for _, e := range ents {
			dir := filepath.Join(c.Parent, e.Name())
			switch {
			case strings.HasPrefix(e.Name(), "bulwark-sandbox-"+strconv.Itoa(os.Getpid())+"-"):
				left = append(left, dir)
			case strings.HasPrefix(e.Name(), "bulwark-slot-"):
				slot, err := strconv.ParseUint(strings.TrimPrefix(e.Name(), "bulwark-slot-"), 10, 32)
				if err != nil || !ours(uidBase+2*uint32(slot)) {
					continue // another process's
				}
				if b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(strings.TrimSpace(string(b))) > 0 {
					left = append(left, dir+" holds "+strings.Join(strings.Fields(string(b)), ","))
				}
			}
		}
	}
	return left
}
