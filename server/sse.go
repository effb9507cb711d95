package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Server-Sent Events of a task: GET /api/v1/tasks/{id}/events.
//
// Each event is written as
//
//	id: SEQ
//	event: TYPE
//	data: {...the bulwark.Event as JSON...}
//
// Stored events come first, then live ones as the runtime commits them
// (it stores every event before it publishes it, and masks secrets out of
// it), so a client that reconnects with Last-Event-ID (or ?after=SEQ)
// gets exactly the events after the last one it saw: none missed, none
// twice. Live-only events (model_delta, pieces of the model's streamed
// reply, and tool_output_delta, of a running command's output) are sent
// live only; they carry ids too, and resuming after one is fine. A
// comment line keeps idle connections open; the stream ends after the
// task_finished event, or when the task is no longer running anywhere.

// Timing of event streams.
const (
	sseKeepAlive   = 15 * time.Second // a comment when nothing else was sent
	sseWriteWindow = 30 * time.Second // each write must finish within this
	sseRetry       = 2000             // the client's reconnection delay, ms
)

func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	const op = "server.streamEvents"
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	after, err := seqParam(op, r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		if after, err = seqParam(op, last); err != nil {
			return bulwark.Errorf(bulwark.Invalid, op, "Last-Event-ID: want the id of an event this stream sent")
		}
	}
	tenant, id := TenantFrom(r.Context()), r.PathValue("id")
	ch, err := s.subscribe(r.Context(), rt, tenant, id, after)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", cspJSON)
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not buffer the stream
	sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
	w.WriteHeader(http.StatusOK)
	sw.write([]byte("retry: " + strconv.Itoa(sseRetry) + "\n\n"))

	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	for sw.err == nil {
		select {
		case e, ok := <-ch:
			if !ok {
				// The task ended, or this client fell behind and was dropped:
				// resume from the store while the task still runs.
				if !s.stillRunning(r, tenant, id) {
					return nil
				}
				if ch, err = s.subscribe(r.Context(), rt, tenant, id, after); err != nil {
					return nil // the response has begun; the client reconnects
				}
				continue
			}
			sw.event(e)
			after = e.Seq
			if e.Type == bulwark.EventTaskFinished {
				return nil
			}
		case <-keepAlive.C:
			sw.write([]byte(": keep-alive\n\n"))
		case <-r.Context().Done():
			return nil
		case <-s.tasks.closing:
			return nil
		}
	}
	return nil
}

// stillRunning reports whether a task may still produce events. It waits
// a moment first, so a stream that is dropped again and again does not
// spin.
func (s *Server) stillRunning(r *http.Request, tenant bulwark.TenantID, id string) bool {
	t, err := s.store.Task(r.Context(), tenant, id)
	if err != nil {
		return false
	}
	switch t.Status {
	case bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting:
	default:
		return false
	}
	select {
	case <-time.After(100 * time.Millisecond):
		return true
	case <-r.Context().Done():
	case <-s.tasks.closing:
	}
	return false
}

// sseWriter writes events, flushing each and extending the connection's
// write deadline before each write. The first error stops it.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error
}

func (sw *sseWriter) event(e bulwark.Event) {
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	b := sw.buf[:0]
	b = append(b, "id: "...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, sanitizeEventType(e.Type)...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	sw.buf = b
	sw.write(b)
}

func (sw *sseWriter) write(b []byte) {
	if sw.err != nil {
		return
	}
	if err := sw.rc.SetWriteDeadline(time.Now().Add(sseWriteWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		sw.err = err
		return
	}
	if _, err := sw.w.Write(b); err != nil {
		sw.err = err
		return
	}
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		sw.err = err
	}
}

// sanitizeEventType keeps an event type to the characters an SSE field
// may hold (types are constants; this only guards the framing).
func sanitizeEventType(t bulwark.EventType) string {
	b := []byte(t)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}
