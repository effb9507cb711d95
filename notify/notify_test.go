package notify_test

import (
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/notify"
)

// woken reports whether ch holds a wake-up, without waiting.
func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitWake fails the test unless ch is woken within a generous bound.
func waitWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no wake-up", what)
	}
}

func TestMemoryWakesTheFollowersOfThatTaskOnly(t *testing.T) {
	var m notify.Memory
	a1, stopA1 := m.Follow("tn_a", "t_1")
	defer stopA1()
	a1bis, stopA1bis := m.Follow("tn_a", "t_1")
	defer stopA1bis()
	a2, stopA2 := m.Follow("tn_a", "t_2")
	defer stopA2()
	b1, stopB1 := m.Follow("tn_b", "t_1") // the same task id in another tenant
	defer stopB1()

	m.Notify("tn_a", "t_1")
	if !woken(a1) || !woken(a1bis) {
		t.Fatal("Notify(tn_a, t_1) did not wake both followers of tn_a/t_1")
	}
	if woken(a2) {
		t.Error("Notify(tn_a, t_1) woke a follower of tn_a/t_2")
	}
	if woken(b1) {
		t.Error("Notify(tn_a, t_1) woke a follower of tn_b/t_1")
	}

	// Wake-ups coalesce: two notifications before a read are one wake-up.
	m.Notify("tn_a", "t_1")
	m.Notify("tn_a", "t_1")
	if !woken(a1) || woken(a1) {
		t.Error("two notifications before a read: want exactly one wake-up")
	}

	m.WakeAll()
	for name, ch := range map[string]<-chan struct{}{"a1bis": a1bis, "a2": a2, "b1": b1} {
		if !woken(ch) {
			t.Errorf("WakeAll did not wake %s", name)
		}
	}
}

func TestMemoryStop(t *testing.T) {
	var m notify.Memory
	ch, stop := m.Follow("tn_a", "t_1")
	_, stop2 := m.Follow("tn_a", "t_1")
	if n := m.Followers("tn_a", "t_1"); n != 2 {
		t.Fatalf("Followers = %d, want 2", n)
	}
	stop()
	stop() // twice is fine
	if n := m.Followers("tn_a", "t_1"); n != 1 {
		t.Fatalf("Followers after one stop = %d, want 1", n)
	}
	m.Notify("tn_a", "t_1")
	m.WakeAll()
	if woken(ch) {
		t.Error("a follower that stopped was woken")
	}
	stop2()
	if n := m.Followers("tn_a", "t_1"); n != 0 {
		t.Fatalf("Followers after both stopped = %d, want 0", n)
	}
	m.Notify("tn_a", "t_1") // nobody follows: nothing to do, no panic
}

func TestPollWakesRepeatedly(t *testing.T) {
	p := notify.Poll{Interval: time.Millisecond}
	ch, stop := p.Follow("tn_a", "t_1")
	defer stop()
	for i := range 3 {
		waitWake(t, ch, "poll wake-up "+string(rune('1'+i)))
	}
	stop()
	stop() // twice is fine
}

func TestPollDefaultInterval(t *testing.T) {
	// A zero Poll is usable: it wakes at DefaultPollInterval.
	ch, stop := notify.Poll{}.Follow("tn_a", "t_1")
	defer stop()
	waitWake(t, ch, "zero Poll")
}
