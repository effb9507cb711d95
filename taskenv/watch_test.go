package taskenv

import (
	"context"
	"encoding/json"
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
		Reread: func(context.Context) ([]bulwark.Secret, error) {
			var all []bulwark.Secret
			for name, v := range values {
				all = append(all, bulwark.Secret{Name: name, Value: v})
			}
			return all, readErr
		},
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

// A secret of the task deleted or changed while it runs (its value, its
// hosts, where it may go) is not put in any more: fetch_url refuses its
// placeholder, and so does the sandbox's proxy; one unchanged still goes
// in. It went on being put in for as long as the task ran (a red team).
func TestSecretDeletedWhileTheTaskRunsNotUsed(t *testing.T) {
	gh := bulwark.Secret{Name: "GH", Value: "ghp-deleted-value-4711", Hosts: []string{"*.github.com"}, Inject: bulwark.SecretInject{URL: true}}
	api := bulwark.Secret{Name: "API", Value: "api-kept-value-9c1e", Hosts: []string{"api.example.com"}, Inject: bulwark.SecretInject{URL: true}}
	wide := bulwark.Secret{Name: "WIDE", Value: "wide-narrowed-value-2b7d", Hosts: []string{"*.example.org"}, Inject: bulwark.SecretInject{URL: true}}
	var changed func()
	now := []bulwark.Secret{gh, api, wide}
	e, _ := newEnv(t, Options{
		Secrets:     []bulwark.Secret{gh, api, wide},
		SecretTools: []string{"run_shell", "run_code", "fetch_url"},
		SecretsSeen: 1,
		Watch:       func(since uint64, f func()) func() { changed = f; return func() {} },
		Reread:      func(context.Context) ([]bulwark.Secret, error) { return now, nil },
	})
	if changed == nil {
		t.Fatal("no watch")
	}
	fetch := func(name, host string) error {
		_, err := e.SecretArgs("fetch_url", json.RawMessage(`{"url":"https://`+host+`/?t={{secret:`+name+`}}"}`))
		return err
	}
	if err := fetch("GH", "api.github.com"); err != nil {
		t.Fatalf("before the change: %v", err)
	}
	narrowed := wide
	narrowed.Hosts = []string{"only.example.org"}
	now = []bulwark.Secret{api, narrowed} // GH deleted, WIDE narrowed
	changed()
	for _, name := range []string{"GH", "WIDE"} {
		host := map[string]string{"GH": "api.github.com", "WIDE": "only.example.org"}[name]
		if err := fetch(name, host); err == nil || !strings.Contains(bulwark.ErrorMessage(err), "deleted or changed") {
			t.Errorf("fetch_url with %s after it was deleted or changed: %v, want refused", name, err)
		}
		if e.intercept == nil || e.intercept.Revoked == nil || !e.intercept.Revoked(name) {
			t.Errorf("the sandbox's proxy still puts %s in", name)
		}
	}
	if err := fetch("API", "api.example.com"); err != nil {
		t.Errorf("an unchanged secret after another changed: %v", err)
	}
	if e.intercept.Revoked("API") {
		t.Errorf("the proxy stopped putting in an unchanged secret")
	}
}
