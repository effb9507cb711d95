package llmtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/anthropic"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/openai"
)

func TestScriptOverBothProtocols(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(llmtest.Script(
		llmtest.Turn{Content: "one"},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: json.RawMessage(`{"answer":"two"}`)}}},
	))
	defer srv.Close()
	oa := openai.New(openai.Config{BaseURL: srv.URL + "/v1", Model: "m"})
	an := anthropic.New(anthropic.Config{BaseURL: srv.URL, Model: "m"})
	req := llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "go"}}}
	r1, err := oa.Stream(t.Context(), req, nil)
	if err != nil || r1.Message.Content != "one" {
		t.Fatalf("first turn = %+v, %v", r1, err)
	}
	r2, err := an.Stream(t.Context(), req, nil)
	if err != nil || len(r2.Message.ToolCalls) != 1 || r2.Message.ToolCalls[0].Name != "finish" {
		t.Fatalf("second turn = %+v, %v", r2, err)
	}
	if _, err := oa.Stream(t.Context(), req, nil); err == nil || !strings.Contains(err.Error(), "no more turns") {
		t.Errorf("third turn error = %v, want the script to be spent", err)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || reqs[0].Protocol != "openai" || reqs[1].Protocol != "anthropic" || reqs[1].N != 2 {
		t.Errorf("recorded %d requests: %+v", len(reqs), reqs)
	}
	if !strings.Contains(string(reqs[0].Body), `"content":"go"`) || reqs[0].Messages[0].Content != "go" {
		t.Errorf("recorded body %s", reqs[0].Body)
	}
}

func TestHandlerSeesTheConversation(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(func(r *llmtest.Request) llmtest.Turn {
		last := r.Messages[len(r.Messages)-1]
		return llmtest.Turn{Content: fmt.Sprintf("%s said %q with %d tools", last.Role, last.Content, len(r.Tools))}
	})
	defer srv.Close()
	m := openai.New(openai.Config{BaseURL: srv.URL + "/v1", Model: "m"})
	resp, err := m.Stream(t.Context(), llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "ping"}},
		Tools: []llm.ToolSpec{{Name: "a"}, {Name: "b"}}}, nil)
	if want := `user said "ping" with 2 tools`; err != nil || resp.Message.Content != want {
		t.Errorf("Stream = %+v, %v; want %q", resp, err, want)
	}
}

func TestRawErrors(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(llmtest.Script(llmtest.Turn{Status: 429, RetryAfter: "7"}))
	defer srv.Close()
	srv.SetRecording(false)
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(string(body), `"error"`) {
		t.Errorf("answer = %d %v %s, want 429 with Retry-After 7 and an error object", resp.StatusCode, resp.Header, body)
	}
	if len(srv.Requests()) != 0 || srv.Count() != 1 {
		t.Errorf("recorded %d requests of %d with recording off", len(srv.Requests()), srv.Count())
	}
	resp, err = http.Post(srv.URL+"/v1/messages", "application/json", strings.NewReader(`{"model":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a messages request without max_tokens got %d, want 400", resp.StatusCode)
	}
}

func TestManyConversations(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(func(r *llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: r.Messages[0].Content} })
	defer srv.Close()
	srv.SetRecording(false)
	m := openai.New(openai.Config{BaseURL: srv.URL + "/v1", Model: "m"})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			want := fmt.Sprint("conversation ", i)
			resp, err := m.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.User, Content: want}}}, nil)
			if err == nil && resp.Message.Content != want {
				err = fmt.Errorf("got %q, want %q", resp.Message.Content, want)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkTurn(b *testing.B) {
	srv := llmtest.NewServer(func(*llmtest.Request) llmtest.Turn {
		return llmtest.Turn{Content: "I will write the file now.", ToolCalls: []llmtest.ToolCall{
			{Name: "write_file", Arguments: json.RawMessage(`{"path":"a.txt","content":"hello"}`)}}}
	})
	defer srv.Close()
	srv.SetRecording(false)
	m := openai.New(openai.Config{BaseURL: srv.URL + "/v1", Model: "m"})
	req := llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "write a file"}}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Stream(context.Background(), req, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
