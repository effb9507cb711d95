package llmtest_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
)

// A test plays a scripted conversation against the real OpenAI adapter,
// with Ollama's wire format, and checks what the client sent.
func Example() {
	srv := llmtest.NewServer(llmtest.Script(
		llmtest.Turn{Content: "Writing it.", Quirks: llmtest.WholeToolCall | llmtest.StopWithToolCalls,
			ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(`{"path":"a.txt","content":"hi"}`)}}},
	))
	defer srv.Close()
	srv.RequireAPIKey("sk-test")

	env := map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": srv.URL + "/v1"}
	m, err := provider.Open("openai:gpt-4o", func(k string) string { return env[k] })
	if err != nil {
		panic(err)
	}
	resp, err := m.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "write a.txt"}}}, nil)
	if err != nil {
		panic(err)
	}
	c := resp.Message.ToolCalls[0]
	fmt.Println(resp.Message.Content, c.Name, string(c.Arguments))
	fmt.Println(len(srv.Requests()), srv.Requests()[0].Model)
	// Output:
	// Writing it. write_file {"path":"a.txt","content":"hi"}
	// 1 gpt-4o
}
