package web

import (
	"os"
	"regexp"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestStreamKnowsEveryEventType: the web UI's event stream listens for each
// event type by name (the server names its SSE events), so a type missing
// from stream.js never reaches the page. Every EventType of event.go must
// be in its list.
func TestStreamKnowsEveryEventType(t *testing.T) {
	src, err := os.ReadFile("../event.go")
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile("static/stream.js")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`(?s)const types = \[(.*?)\];`).FindSubmatch(js)
	if list == nil {
		t.Fatal("stream.js has no `const types = [...]` list")
	}
	consts := regexp.MustCompile(`EventType = "([a-z_]+)"`).FindAllSubmatch(src, -1)
	if len(consts) < 10 {
		t.Fatalf("found only %d event types in event.go", len(consts))
	}
	for _, m := range consts {
		if !regexp.MustCompile(`'` + string(m[1]) + `'`).Match(list[1]) {
			t.Errorf("stream.js does not listen for event type %q", m[1])
		}
	}
}

// TestItemsLabelEveryFinishReason: the end of a task shows its reason in
// words (items.js, reasons); a reason without one shows as "Ended:
// REASON". Every FinishReason must have its words.
func TestItemsLabelEveryFinishReason(t *testing.T) {
	js, err := os.ReadFile("static/items.js")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`(?s)const reasons = \{(.*?)\};`).FindSubmatch(js)
	if list == nil {
		t.Fatal("items.js has no `const reasons = {...}` map")
	}
	for _, r := range bulwark.FinishReasons {
		if !regexp.MustCompile(`\b` + string(r) + `: '`).Match(list[1]) {
			t.Errorf("items.js has no words for the finish reason %q", r)
		}
	}
}
