// stream.js follows a task's events over Server-Sent Events (GET
// /api/v1/tasks/{id}/events). Each event's data is one JSON bulwark.Event.
// EventSource resumes by itself after a dropped connection, sending the
// Last-Event-ID the server gave, so no event is lost or repeated; events
// are still checked by seq. The stream is closed when the task finishes.
import {taskURL} from './api.js';

// The event types of bulwark.Event, for servers that name SSE events.
const types = ['task_started', 'model_delta', 'model_text', 'tool_call', 'tool_output_delta', 'tool_result', 'approval', 'ask_user',
  'user_message', 'notice', 'guard', 'error', 'task_finished', 'compacted', 'mcp_log', 'tool_progress'];

// follow calls onEvent(e) for each new event of task id after seq after
// (0: all) and onState(s) with 'live', 'reconnecting' or 'closed'. It
// returns a function that stops following.
export function follow(id, onEvent, onState, after = 0) {
  let last = after;
  let done = false;
  const es = new EventSource(taskURL(id, 'events') + (after > 0 ? '?after=' + after : ''));
  const handle = msg => {
    if (done || !msg.data) return;
    let e;
    try {
      e = JSON.parse(msg.data);
    } catch {
      return; // not an event: a keep-alive or a comment
    }
    if (!e || typeof e !== 'object' || !e.type) return;
    if (typeof e.seq === 'number') {
      if (e.seq <= last) return;
      last = e.seq;
    }
    onEvent(e);
    if (e.type === 'task_finished') stop();
  };
  es.onmessage = handle;
  for (const t of types) es.addEventListener(t, handle);
  es.onopen = () => onState('live');
  es.onerror = () => {
    if (done) return;
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (not found, logged out, ended):
      // EventSource gives up; the page asks the API why.
      done = true;
      onState('closed');
    } else {
      onState('reconnecting');
    }
  };
  function stop() {
    if (done) return;
    done = true;
    es.close();
    onState('closed');
  }
  return stop;
}
