package sandbox

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// commandProcesses lists the host processes running as the command's uid
// of one of this test process's sandboxes (the init runs as the next uid).
func commandProcesses() []string {
	var out []string
	for _, p := range sandboxProcesses() {
		_, u, _ := strings.Cut(p, ":")
		if uid, _ := strconv.ParseUint(u, 10, 32); (uid-uidBase)%2 == 0 {
			out = append(out, p)
		}
	}
	return out
}

// TestRunEndsTheInitAfter: Run may return before its init has ended
// (endAfterRun), but never before a process of the command has: the
// command's uid has no process left when Run returns, whether the command
// left children behind or not. The init's uid slot is given back only
// once the init has ended, so no other sandbox is given the uids of a
// process still alive.
func TestRunEndsTheInitAfter(t *testing.T) {
	requireSandbox(t)
	if rootless() != nil {
		t.Skip("the uids of a host that is not root are not uidBase's")
	}
	// A workspace of the test's: a temporary one is removed before Run
	// returns, and so waits for the init.
	spec := Spec{Workspace: t.TempDir(), AllowExec: []string{"sh", "sleep", "true"}, Timeout: 20 * time.Second}.withDefaults()
	for _, argv := range [][]string{
		{"true"},
		{"sh", "-c", "sleep 60 >/dev/null 2>&1 & exit 0"},
		{"sh", "-c", "(sleep 60 >/dev/null 2>&1 &); exit 0"},
	} {
		for range 5 {
			b, err := begin(spec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.run(context.Background(), argv, stdio{}); err != nil {
				t.Fatalf("run(%q): %v", argv, err)
			}
			b.endAfterRun()
			if left := commandProcesses(); len(left) > 0 {
				t.Errorf("after Run(%q) returned, processes of the command were alive: %v", argv, left)
			}
			select {
			case <-b.done:
			default:
				if !slotUsed(t, b) {
					// The init may have ended, and its slot been given
					// back, between the look at done and this one.
					select {
					case <-b.done:
					default:
						t.Fatalf("after Run(%q), the uid slot of a sandbox whose init had not ended was given back", argv)
					}
				}
			}
			// Its end asked for a spare init, which may have the slot
			// again: ended first.
			dropSpare()
			select {
			case <-b.done:
			default:
				t.Fatalf("after Run(%q), its background teardown ended before its init", argv)
			}
			if slotUsed(t, b) {
				t.Errorf("after Run(%q) and its teardown, the uid slot is still reserved", argv)
			}
		}
	}
	assertNothingLeft(t)
}

// Run leaves the init's end to the background only when the sandbox's
// groups hold no process but the init: the init's word that it is alone
// is not enough. A sandbox whose command still runs is not one to leave.
func TestEndsAloneReadsTheGroups(t *testing.T) {
	requireSandbox(t)
	if rootless() != nil {
		t.Skip("the groups of a host that is not root may be fresh ones, which always wait")
	}
	spec := Spec{Workspace: t.TempDir(), AllowExec: []string{"sleep"}, Timeout: 20 * time.Second}
	b, err := start(spec.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if !b.endsAlone() {
		t.Errorf("a sandbox whose init is alone in its groups was not left to end in the background")
	}
	b.cleanup()
	p := mustStart(t, context.Background(), spec, "sleep", "60")
	if p.box.endsAlone() {
		t.Errorf("a sandbox whose command still runs was left to end in the background")
	}
}

// A Run that leaves its init's end to the background (endAfterRun) lets
// go of the sandbox's namespaces before it returns: the init, which still
// holds them, frees them as it ends. Held on, they were freed by this
// process once the init had ended, and a one-shot process freed them as
// it exited, before its parent's wait.
func TestRunLetsTheNamespacesGoWithTheInit(t *testing.T) {
	requireSandbox(t)
	// A workspace of the test's: a temporary one is removed before Run
	// returns, and so waits for the init.
	spec := Spec{Workspace: t.TempDir(), AllowExec: []string{"true"}, Timeout: 20 * time.Second}.withDefaults()
	checked := 0
	for range 10 {
		b, err := begin(spec)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, n := range []string{"mnt", "net"} {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", b.pid, n))
			if err != nil {
				t.Fatal(err)
			}
			ns = append(ns, l)
		}
		if _, err := b.run(context.Background(), []string{"true"}, stdio{}); err != nil {
			t.Fatal(err)
		}
		b.endAfterRun()
		var open []string
		for _, n := range ns {
			open = append(open, fdsOn(n)...)
		}
		select {
		case <-b.done:
			// Ended already: cleanup may have been Run's, which lets
			// the namespaces go in the background.
		default:
			checked++
			if len(open) > 0 {
				t.Errorf("Run returned with its init still running and this process holding its namespaces %v (descriptors %v)", ns, open)
			}
		}
		dropSpare()
	}
	if checked == 0 {
		t.Skip("every init had ended by the time its Run returned")
	}
	assertNothingLeft(t)
}
