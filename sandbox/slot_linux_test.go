package sandbox

import (
	"testing"
	"time"
)

// slotUsed reports whether b's uid slot is still reserved; false when
// sandboxes have no slot of their own (rootless without subordinate ids).
func slotUsed(t *testing.T, b *box) bool {
	t.Helper()
	a := uids
	if b.rl != nil {
		if b.rl.ids == nil {
			t.Skip("sandboxes have no uid slot of their own here (no subordinate ids)")
		}
		a = b.rl.ids
	}
	return a.Used(b.slot)
}

// TestSlotKeptWhileTheInitLives: a sandbox whose init has not ended when
// cleanup stops waiting for it (processes stuck in the kernel after
// SIGKILL) keeps its host uids reserved until it ends, so that no other
// sandbox is given the uids of processes still alive; once it ends they
// are given back.
func TestSlotKeptWhileTheInitLives(t *testing.T) {
	requireSandbox(t)
	for range 5 {
		b, err := start(Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		if !slotUsed(t, b) {
			b.cleanup()
			t.Fatal("set-up: a live sandbox's slot is not reserved")
		}
		b.exitWait = time.Nanosecond // the init is killed, not yet reaped
		b.freed = make(chan struct{})
		b.cleanup()
		// The slot is given back only after done closes: a slot found
		// free with done still open was given back too early. (Done may
		// close between a look at it and one at the slot: done is looked
		// at again after the slot.)
		if !slotUsed(t, b) {
			select {
			case <-b.done:
			default:
				t.Fatal("the uid slot of a sandbox whose init had not ended was given back")
			}
		}
		<-b.done
		// Given back by this box: the slot itself may be handed out again
		// at once, to another sandbox of this process (a spare).
		select {
		case <-b.freed:
		case <-time.After(60 * time.Second): // a hang guard, not a speed assertion
			t.Fatal("the slot was never given back after the init ended")
		}
	}
}
