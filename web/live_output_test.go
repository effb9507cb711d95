package web_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLiveOutputOverSSE: a running command's first line reaches the
// task's event stream as a tool_output_delta while the command still
// waits to be released, with no browser involved.
func TestLiveOutputOverSSE(t *testing.T) {
	s := startServer(t)
	var task struct{ ID string }
	s.api(t, "POST", "/api/v1/tasks", `{"input":"STREAM: run the gated job"}`, 201, &task)
	req, err := http.NewRequest("GET", s.URL+"/api/v1/tasks/"+task.ID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(20 * time.Second) // a hang guard, not a speed assertion
	var typ string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended without the command's live output")
			}
			if v, ok := strings.CutPrefix(l, "event: "); ok {
				typ = v
			}
			if typ == "tool_output_delta" && strings.HasPrefix(l, "data: ") && strings.Contains(l, "first line") {
				s.gate <- struct{}{}
				return
			}
			if typ == "tool_result" || typ == "task_finished" {
				t.Fatalf("the command's %s came before its live output", typ)
			}
		case <-deadline:
			t.Fatal("no tool_output_delta with the first line while the command ran")
		}
	}
}
