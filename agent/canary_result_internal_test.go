package agent

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestResultCarriesShared: a tool's result is checked with the check of
// the reply that made the call (it reads the result's words, which the
// call's arguments often hold), finding what Canary.In finds; before any
// reply (a call resumed from a checkpoint), with Canary.In.
func TestResultCarriesShared(t *testing.T) {
	r := streamRun()
	c := r.taint.canary
	results := []string{
		`created "step-3.txt" (64 bytes, 1 line)`,
		"the token: " + c.String(),
		`created "` + c.String()[:20] + `" (9 bytes, 1 line)`,
		"line of output\n" + strings.ToUpper(c.String()),
		base64.StdEncoding.EncodeToString([]byte(c.String())),
	}
	for _, text := range results { // no reply yet
		if got, want := r.resultCarries(text), c.In(text); got != want {
			t.Errorf("before a reply, resultCarries(%q) = %v, In = %v", text, got, want)
		}
	}
	r.newReplyStream() // a reply whose texts made no check yet
	if r.resultCarries(results[0]) {
		t.Fatalf("resultCarries(%q) = true", results[0])
	}
	if r.stream.check == nil {
		t.Error("the result was not checked with the reply's check")
	}
	for _, text := range results {
		if got, want := r.resultCarries(text), c.In(text); got != want {
			t.Errorf("resultCarries(%q) = %v, In = %v", text, got, want)
		}
	}
}
