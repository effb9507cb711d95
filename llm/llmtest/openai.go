package llmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// sseWriter writes events and flushes each. Streaming, it writes each event
// straight to the response in one write, which the flush sends; with the
// Buffered quirk it gathers the events in a buffer sent at the end.
type sseWriter struct {
	w        io.Writer
	rc       *http.ResponseController
	err      error
	buf      []byte  // the event being written
	buffered bool    // flush only at the end (the Buffered quirk)
	gather   *[]byte // the events so far, with the Buffered quirk
}

// gathers keeps the buffers of Buffered replies for the next reply.
var gathers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func newSSE(w http.ResponseWriter, buffered bool) *sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	s := &sseWriter{w: w, rc: http.NewResponseController(w), buffered: buffered}
	if buffered {
		s.gather = gathers.Get().(*[]byte)
	}
	return s
}

// event writes one event; name may be empty. v is marshaled unless it is
// a string or []byte.
func (s *sseWriter) event(name string, v any) {
	if s.err != nil {
		return
	}
	b := s.buf[:0]
	if name != "" {
		b = append(append(append(b, "event: "...), name...), '\n')
	}
	b = append(b, "data: "...)
	switch v := v.(type) {
	case string:
		b = append(b, v...)
	case []byte:
		b = append(b, v...)
	default:
		j, _ := json.Marshal(v)
		b = append(b, j...)
	}
	s.buf = append(b, "\n\n"...)
	s.write(s.buf)
}

// chunk writes an OpenAI chunk as an event.
func (s *sseWriter) chunk(c *oaChunk, plain bool) {
	if s.err != nil {
		return
	}
	if !plain || c.Usage != nil {
		s.event("", c)
		return
	}
	b := append(s.buf[:0], "data: "...)
	b = appendChunk(b, c)
	s.buf = append(b, "\n\n"...)
	s.write(s.buf)
}

func (s *sseWriter) comment(text string) {
	if s.err == nil {
		s.write([]byte(": " + text + "\n\n"))
	}
}

func (s *sseWriter) write(b []byte) {
	if s.gather != nil {
		*s.gather = append(*s.gather, b...)
		return
	}
	if _, s.err = s.w.Write(b); s.err == nil {
		s.err = s.rc.Flush()
	}
}

// close sends what is still buffered; every handler defers it.
func (s *sseWriter) close() {
	if s.gather == nil {
		return
	}
	if s.err == nil {
		_, s.err = s.w.Write(*s.gather)
	}
	if cap(*s.gather) <= 64<<10 {
		*s.gather = (*s.gather)[:0]
		gathers.Put(s.gather)
	}
	s.gather = nil
}

// Wire shapes of an OpenAI chunk, in field order as OpenAI sends them.
type (
	oaChunk struct {
		ID      string     `json:"id"`
		Object  string     `json:"object"`
		Created int64      `json:"created"`
		Model   string     `json:"model"`
		Choices []oaChoice `json:"choices"`
		Usage   *oaUsage   `json:"usage,omitempty"`
	}
	oaChoice struct {
		Index        int     `json:"index"`
		Delta        oaDelta `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	}
	oaDelta struct {
		Role      string       `json:"role,omitempty"`
		Content   *string      `json:"content,omitempty"`
		ToolCalls []oaToolCall `json:"tool_calls,omitempty"`
	}
	oaToolCall struct {
		Index    *int       `json:"index,omitempty"`
		ID       string     `json:"id,omitempty"`
		Type     string     `json:"type,omitempty"`
		Function oaFunction `json:"function"`
	}
	oaFunction struct {
		Name      string          `json:"name,omitempty"`
		Arguments json.RawMessage `json:"arguments,omitempty"`
	}
	oaUsage struct {
		PromptTokens     int     `json:"prompt_tokens"`
		CompletionTokens int     `json:"completion_tokens"`
		TotalTokens      int     `json:"total_tokens"`
		Cost             float64 `json:"cost,omitempty"`
	}
)

func (s *Server) serveOpenAI(w http.ResponseWriter, r *http.Request) {
	req := s.receive(w, r, "openai")
	if req == nil {
		return
	}
	defer s.done(req)
	t, ok := s.prepare(w, r, req)
	if !ok {
		return
	}
	q := t.Quirks
	if q&ArgumentsObject != 0 {
		q |= WholeToolCall
	}
	out := newSSE(w, q&Buffered != 0)
	defer out.close()
	created := time.Now().Unix()
	if p := t.prep; p != nil && out.gather != nil && t.StreamError == "" && !t.Hang && !(req.Usage && q&NoUsage == 0) {
		if b, ok := p.render(*out.gather, t, q, req, created); ok {
			*out.gather = b
			return
		}
	}
	streamOpenAI(r.Context(), out, t, q, req, req.N, created)
}

// streamOpenAI writes the reply of turn t to request req, as the n-th
// request at time created.
func streamOpenAI(ctx context.Context, out *sseWriter, t Turn, q Quirk, req *Request, n int, created int64) {
	base := oaChunk{ID: "chatcmpl-" + strconv.Itoa(n), Object: "chat.completion.chunk", Created: created, Model: req.Model}
	// Arguments sent as objects may be malformed on purpose: json.Marshal
	// then writes nothing, which the hand encoder would not imitate.
	plain := q&ArgumentsObject == 0
	choice := make([]oaChoice, 1)
	send := func(d oaDelta, finish *string) {
		c := base
		choice[0] = oaChoice{Delta: d, FinishReason: finish}
		c.Choices = choice
		out.chunk(&c, plain)
	}
	if q&Comments != 0 {
		out.comment("OPENROUTER PROCESSING")
	}
	empty := ""
	send(oaDelta{Role: "assistant", Content: &empty}, nil)
	for i, piece := range split(t.Content, q&SmallChunks != 0) {
		if q&Comments != 0 && i%4 == 1 {
			out.comment("keep-alive")
		}
		send(oaDelta{Content: &piece}, nil)
	}
	for i, c := range t.ToolCalls {
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("call_%d_%d", n, i+1)
		}
		if q&NoID != 0 {
			id = ""
		}
		var index *int
		if q&NoIndex == 0 {
			index = &i
		}
		if q&WholeToolCall != 0 {
			args := stringArg(string(c.Arguments))
			if q&ArgumentsObject != 0 {
				args = c.Arguments
			}
			send(oaDelta{ToolCalls: []oaToolCall{{Index: index, ID: id, Type: "function",
				Function: oaFunction{Name: c.Name, Arguments: args}}}}, nil)
			continue
		}
		send(oaDelta{ToolCalls: []oaToolCall{{Index: index, ID: id, Type: "function",
			Function: oaFunction{Name: c.Name, Arguments: stringArg("")}}}}, nil)
		for _, piece := range thirds(string(c.Arguments)) {
			send(oaDelta{ToolCalls: []oaToolCall{{Index: index, Function: oaFunction{Arguments: stringArg(piece)}}}}, nil)
		}
	}
	if t.StreamError != "" {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": t.StreamError, "type": "server_error", "code": 502}})
		out.event("", b)
		return
	}
	if t.Hang {
		hang(ctx)
		return
	}
	finish := "stop"
	if len(t.ToolCalls) > 0 && q&StopWithToolCalls == 0 {
		finish = "tool_calls"
	}
	send(oaDelta{}, &finish)
	if req.Usage && q&NoUsage == 0 {
		u := estimate(t.Usage, req, t)
		c := base
		c.Choices = []oaChoice{}
		c.Usage = &oaUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.InputTokens + u.OutputTokens, Cost: u.Cost}
		out.event("", c)
	}
	if q&NoDone == 0 {
		out.event("", "[DONE]")
	}
}

func stringArg(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// thirds cuts s in up to three pieces, as OpenAI streams arguments.
func thirds(s string) []string {
	if len(s) < 3 {
		return []string{s}
	}
	a, b := len(s)/3, 2*len(s)/3
	return []string{s[:a], s[a:b], s[b:]}
}
