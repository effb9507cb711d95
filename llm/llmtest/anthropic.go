package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

func (s *Server) serveAnthropic(w http.ResponseWriter, r *http.Request) {
	req := s.receive(w, r, "anthropic")
	if req == nil {
		return
	}
	defer s.done(req)
	t, ok := s.prepare(w, r, req)
	if !ok {
		return
	}
	u := estimate(t.Usage, req, t)
	out := newSSE(w, t.Quirks&Buffered != 0)
	defer out.close()
	type obj = map[string]any
	out.event("message_start", obj{"type": "message_start", "message": obj{
		"id": "msg_" + strconv.Itoa(req.N), "type": "message", "role": "assistant", "model": req.Model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": obj{"input_tokens": u.InputTokens, "output_tokens": 1}}})
	out.event("ping", obj{"type": "ping"})
	index := 0
	if t.Content != "" {
		out.event("content_block_start", obj{"type": "content_block_start", "index": index,
			"content_block": obj{"type": "text", "text": ""}})
		for _, piece := range split(t.Content, t.Quirks&SmallChunks != 0) {
			out.event("content_block_delta", obj{"type": "content_block_delta", "index": index,
				"delta": obj{"type": "text_delta", "text": piece}})
		}
		out.event("content_block_stop", obj{"type": "content_block_stop", "index": index})
		index++
	}
	for i, c := range t.ToolCalls {
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("toolu_%d_%d", req.N, i+1)
		}
		out.event("content_block_start", obj{"type": "content_block_start", "index": index,
			"content_block": obj{"type": "tool_use", "id": id, "name": c.Name, "input": json.RawMessage("{}")}})
		for _, piece := range thirds(string(c.Arguments)) {
			out.event("content_block_delta", obj{"type": "content_block_delta", "index": index,
				"delta": obj{"type": "input_json_delta", "partial_json": piece}})
		}
		out.event("content_block_stop", obj{"type": "content_block_stop", "index": index})
		index++
	}
	if t.StreamError != "" {
		out.event("error", obj{"type": "error", "error": obj{"type": "overloaded_error", "message": t.StreamError}})
		return
	}
	if t.Hang {
		hang(r.Context())
		return
	}
	stop := "end_turn"
	if len(t.ToolCalls) > 0 {
		stop = "tool_use"
	}
	out.event("message_delta", obj{"type": "message_delta", "delta": obj{"stop_reason": stop, "stop_sequence": nil},
		"usage": obj{"output_tokens": u.OutputTokens}})
	out.event("message_stop", obj{"type": "message_stop"})
}
