package taskenv

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestSecretAddedWhileTheTaskRunsMasked: when the task's watch says its
// tenant's secrets may have changed, every value it read again that its
// redactor did not hold is masked from then on, in what the task masks
// (the model's messages, events) and streams, and in the process's log
// under the task's labels; a replaced value keeps the old one masked; a
// failed read changes nothing; after Close the log redactor holds none of
// them and a late reread adds nothing.
func TestSecretAddedWhileTheTaskRunsMasked(t *testing.T) {
	const (
		old      = "old-token-value-61f0"
		added    = "added-later-value-93ab"
		replaced = "replaced-value-c27d"
	)
	log := secret.NewRedactor()
	log.SetDetection(false)
	var changed func()
	stopped := false
	values := map[string]string{"TOKEN": old}
	var readErr error
	e, _ := newEnv(t, Options{Secrets: []bulwark.Secret{{Name: "TOKEN", Value: old}}, LogMask: log, LogPrefix: "tn_a.t_1.",
		SecretsSeen: 7,
		Watch: func(since uint64, f func()) func() {
			if since != 7 {
				t.Errorf("watched from %d, want SecretsSeen", since)
			}
			changed = f
			return func() { stopped = true }
		},
		Reread: func(context.Context) (map[string]string, error) { return values, readErr },
	})
	if changed == nil {
		t.Fatal("New did not watch the tenant's secrets")
	}
	text := "a " + old + " b " + added + " c " + replaced
	if got := e.Mask(text); strings.Contains(got, old) == true || !strings.Contains(got, added) {
		t.Fatalf("before the change the task masks %q: the test would prove nothing", got)
	}

	values = map[string]string{"TOKEN": replaced, "ADDED": added}
	readErr = errors.New("the store is down")
	changed()
	if got := e.Mask(text); !strings.Contains(got, added) {
		t.Errorf("a reread that failed changed the mask: %q", got)
	}
	readErr = nil
	changed()
	want := "a [REDACTED:TOKEN] b [REDACTED:ADDED] c [REDACTED:TOKEN_2]"
	if got := e.Mask(text); got != want {
		t.Errorf("after the change the task masks %q, want %q", got, want)
	}
	st := e.MaskStream()
	if got := st.Push(text) + st.Flush(); got != want {
		t.Errorf("a stream after the change masks %q, want %q", got, want)
	}
	if got := log.String(added); got != "[REDACTED:tn_a.t_1.ADDED]" {
		t.Errorf("the process log shows %q while the task runs", got)
	}

	e.Close()
	if !stopped {
		t.Error("Close did not stop the watch")
	}
	for _, v := range []string{old, added, replaced} {
		if got := log.String(v); got != v {
			t.Errorf("after the task the log redactor still masks %q as %q", v, got)
		}
	}
	values = map[string]string{"LATE": "late-value-0b1c2d"}
	changed() // a call already under way as the task closed
	if got := log.String("late-value-0b1c2d"); got != "late-value-0b1c2d" {
		t.Errorf("a reread after Close added to the log redactor: %q", got)
	}
}
