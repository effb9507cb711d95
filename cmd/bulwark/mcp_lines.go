package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
)

// mcpLines is what `bulwark mcp serve` reads on stdio: the client's lines,
// each a JSON-RPC message the SDK can take, or answered here with the
// JSON-RPC error it calls for and left out. The SDK's stdio transport ends
// the connection at the first line it cannot take (not JSON, a batch, an
// id that is an object, no "jsonrpc":"2.0", a line past its limit), and
// with it every task the process runs (red team, session 42).
type mcpLines struct {
	r    *bufio.Reader
	w    *lockedWriter
	max  int
	next []byte // what Read gives next
	err  error  // the reader's, once next is given
}

// maxMCPLine is the SDK's own bound on a line (mcp.DefaultMaxLineLength).
const maxMCPLine = 16 << 20

func newMCPLines(r io.Reader, w *lockedWriter) *mcpLines {
	return &mcpLines{r: bufio.NewReaderSize(r, 64<<10), w: w, max: maxMCPLine}
}

func (l *mcpLines) Read(p []byte) (int, error) {
	for len(l.next) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		line, tooLong, err := l.readLine()
		l.err = err
		switch why := vetMCPLine(line, tooLong); {
		case why == "" && len(bytes.TrimSpace(line)) > 0:
			l.next = append(line, '\n')
		case why != "":
			l.answer(why)
		}
	}
	n := copy(p, l.next)
	l.next = l.next[n:]
	return n, nil
}

// readLine reads up to a newline; a line past l.max is read to its end
// and dropped (tooLong).
func (l *mcpLines) readLine() (line []byte, tooLong bool, err error) {
	for {
		piece, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(piece) > l.max {
				tooLong, line = true, nil
			} else {
				line = append(line, piece...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
}

// vetMCPLine says why line is no message the SDK takes ("parse" or
// "invalid"), or "" for one it does (or a blank line, which it skips).
func vetMCPLine(line []byte, tooLong bool) string {
	if tooLong {
		return "invalid"
	}
	t := bytes.TrimSpace(line)
	if len(t) == 0 {
		return ""
	}
	if !json.Valid(t) {
		return "parse"
	}
	// Keys as spelled (encoding/json would take "jsonrpC" for "jsonrpc").
	var m map[string]json.RawMessage
	if t[0] != '{' || json.Unmarshal(t, &m) != nil || string(m["jsonrpc"]) != `"2.0"` {
		return "invalid"
	}
	if id := bytes.TrimSpace(m["id"]); len(id) > 0 && id[0] != '"' && id[0] != '-' && (id[0] < '0' || id[0] > '9') && string(id) != "null" {
		return "invalid"
	}
	if m["method"] == nil && m["result"] == nil && m["error"] == nil {
		return "invalid"
	}
	return ""
}

// answer writes the error of a line left out. Its id is null: the line's
// own cannot be trusted.
func (l *mcpLines) answer(why string) {
	code, msg := -32600, "Invalid Request: not a JSON-RPC 2.0 message this server takes (one object a line, with \"jsonrpc\":\"2.0\", under 16 MiB)"
	if why == "parse" {
		code, msg = -32700, "Parse error: the line is not JSON"
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg}})
	l.w.Write(append(b, '\n'))
}

func (l *mcpLines) Close() error { return nil }

// lockedWriter serialises the writes to one writer: the SDK writes each
// message in one Write, and mcpLines its answers between them.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *lockedWriter) Close() error { return nil }
