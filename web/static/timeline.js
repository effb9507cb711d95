// timeline.js renders a task's events as steps, incrementally: events are
// queued as they come and applied in batches once per animation frame, so
// a stream of thousands of events never blocks the page. Only the last
// `keep` events stay in the DOM while the view follows the end; earlier
// ones are fetched again on demand (loadEarlier).
import {h} from './dom.js';
import {item, message, decide, pending} from './items.js';
import {fmtDuration} from './dom.js';

const perFrame = 400; // most events applied in one frame
const maxLiveOutput = 512 * 1024; // characters of live output kept per call (the server caps it lower)

export class Timeline {
  // root: the element the steps go in. keep: how many events stay in the
  // DOM while following the end.
  constructor(root, keep = 300) {
    this.root = root;
    this.keep = keep;
    this.queue = [];
    this.groups = new Map(); // step -> {el, body, first, count, live}
    this.calls = new Map(); // call id -> tool call element
    this.approvals = new Map(); // call id -> approval line waiting
    this.running = new Map(); // call id -> {badge, since}: commands without a result yet
    this.outputs = new Map(); // call id -> {el, size}: a running command's output so far
    this.pendings = []; // messages sent, not yet read back
    this.pendingBox = h('div', {class: 'pending-box', 'aria-label': 'Messages being sent'});
    this.ticker = 0;
    this.count = 0; // events in the DOM
    this.first = Infinity; // the lowest seq in the DOM
    this.scheduled = false;
    this.onTrim = () => {};
  }

  // push queues an event for the next frame.
  push(e) {
    this.queue.push(e);
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      if (!this.scheduled) return;
      this.scheduled = false;
      this.flush();
    };
    requestAnimationFrame(run);
    setTimeout(run, 200); // frames stop in background tabs; events still apply
  }

  // flush applies queued events (at most perFrame; the rest next frame).
  flush() {
    const follow = nearBottom();
    const batch = this.queue.splice(0, perFrame);
    for (const e of batch) this.apply(e, false);
    if (follow) this.trim();
    if (follow) window.scrollTo(0, document.documentElement.scrollHeight);
    if (this.queue.length) this.schedule();
  }

  // apply renders one event, at the end (or, when earlier, at the top of
  // its step).
  apply(e, earlier) {
    if (!e || !e.type) return;
    const g = this.group(e.step || 0, earlier);
    if (e.type === 'model_delta') {
      if (!g.live) {
        g.live = message({...e, text: ''}, 'assistant streaming', 'Agent');
        g.live.dataset.streamed = 'live'; // came as it was written, not replayed
        g.body.append(g.live);
      }
      g.live.textEl.append(e.text || '');
      return;
    }
    if (e.type === 'tool_output_delta') {
      if (!earlier) this.liveOutput(e);
      return; // live only: the call's result holds the whole output
    }
    if (e.type === 'model_text' && g.live && !earlier) {
      g.live.textEl.textContent = e.text || '';
      g.live.classList.remove('streaming');
      g.live.dataset.seq = e.seq;
      g.live = null;
      this.counted(g, e);
      return;
    }
    if (e.type === 'approval' && e.decision && !earlier && this.approvals.has(e.call_id)) {
      decide(this.approvals.get(e.call_id), e.decision);
      this.approvals.delete(e.call_id);
      this.badgeCall(e.call_id, e.decision === 'allow' ? 'allowed' : 'denied', e.decision === 'allow' ? 'ok' : 'bad');
      return;
    }
    if (e.type === 'task_finished') this.settle();
    if (e.type === 'user_message' && !earlier) this.arrived(e);
    if (e.type === 'tool_result' && e.tool === 'finish' && !e.is_error) {
      // The answer shows once: in the task's end, not again as a result.
      this.counted(g, e);
      return;
    }
    const el = item(e);
    if (e.type === 'tool_call' && e.call_id) this.calls.set(e.call_id, el);
    if (e.type === 'tool_call' && e.call_id && !earlier && (e.tool === 'run_shell' || e.tool === 'run_code')) this.startRunning(e, el);
    if (e.type === 'tool_result') {
      this.stopRunning(e.call_id);
      this.endOutput(e.call_id);
    }
    if (e.type === 'approval' && !e.decision && e.call_id) this.approvals.set(e.call_id, el);
    if (e.type === 'approval' && e.decision === 'deny') this.badgeCall(e.call_id, 'refused', 'bad');
    const call = e.type === 'tool_result' && this.calls.get(e.call_id);
    if (call) {
      call.append(el);
      for (const f of el.facts) call.badges.append(h('span', {class: 'badge ' + (f.bad ? 'bad' : 'ok')}, f.label));
      if (e.is_error) call.classList.add('failed');
    } else if (earlier) {
      g.body.insertBefore(el, g.body.firstChild);
    } else {
      g.body.append(el);
    }
    if (earlier && e.type === 'tool_call') {
      // Its result, rendered before it, moves into it.
      const r = g.body.querySelector(`.result[data-call="${CSS.escape(e.call_id || '')}"]`);
      if (r && r.parentNode === g.body) el.append(r);
    }
    this.counted(g, e);
  }

  // settle ends the streaming look of replies whose final text never
  // came (the model failed or the task was stopped mid-reply).
  settle() {
    for (const g of this.groups.values()) {
      if (g.live) g.live.classList.remove('streaming');
      g.live = null;
    }
    for (const id of [...this.running.keys()]) this.stopRunning(id, 'stopped');
  }

  // liveOutput shows a piece of a running command's output under its
  // call, as it comes (stderr marked); the call's result replaces it.
  liveOutput(e) {
    const call = this.calls.get(e.call_id);
    if (!call) return;
    let out = this.outputs.get(e.call_id);
    if (!out) {
      out = {el: h('pre', {class: 'live-output', role: 'log', 'aria-label': 'Output so far'}), size: 0};
      this.outputs.set(e.call_id, out);
      call.append(out.el);
    }
    const text = e.text || '';
    if (out.size > maxLiveOutput) return;
    out.size += text.length;
    const follow = out.el.scrollTop + out.el.clientHeight >= out.el.scrollHeight - 8;
    out.el.append(e.is_error ? h('span', {class: 'stderr'}, text) : document.createTextNode(text));
    if (follow) out.el.scrollTop = out.el.scrollHeight;
  }

  // endOutput removes a command's live output: its result came.
  endOutput(callID) {
    const out = this.outputs.get(callID);
    if (!out) return;
    out.el.remove();
    this.outputs.delete(callID);
  }

  // startRunning marks a command as running, with the time it has run,
  // until its result comes. What the command prints shows as it comes
  // (liveOutput), and its whole output with its result.
  startRunning(e, el) {
    const since = Date.parse(e.time) || Date.now();
    const badge = h('span', {class: 'badge running', role: 'status'}, 'running…');
    el.badges.append(badge);
    this.running.set(e.call_id, {badge, since});
    this.tick();
    if (!this.ticker) this.ticker = setInterval(() => this.tick(), 1000);
  }

  tick() {
    for (const {badge, since} of this.running.values()) {
      badge.textContent = 'running… ' + fmtDuration(Math.max(0, Date.now() - since));
    }
  }

  // stopRunning ends a command's running mark: it goes, or says why the
  // command has no result (the task ended first).
  stopRunning(callID, why) {
    const r = this.running.get(callID);
    if (!r) return;
    this.running.delete(callID);
    if (why) {
      r.badge.className = 'badge bad';
      r.badge.textContent = why;
    } else {
      r.badge.remove();
    }
    if (!this.running.size) {
      clearInterval(this.ticker);
      this.ticker = 0;
    }
  }

  // addPending shows a message as sent at once, marked pending until the
  // task reads it back (its user_message event). It returns the element;
  // failed(el, err) marks it not sent.
  addPending(text) {
    if (!this.pendingBox.isConnected) this.root.after(this.pendingBox);
    const el = pending(text);
    this.pendings.push(el);
    this.pendingBox.append(el);
    el.scrollIntoView({block: 'nearest'});
    return el;
  }

  // sent marks a pending message accepted by the server: it waits for
  // the agent's next step.
  sent(el) {
    if (el.isConnected) el.state.textContent = 'sent: the agent reads it at its next step';
  }

  // failed marks a pending message as not sent.
  failed(el) {
    el.classList.add('failed');
    el.state.className = 'badge bad';
    el.state.textContent = 'not sent';
    this.pendings = this.pendings.filter(p => p !== el);
  }

  // arrived removes the pending copy of a message the task read back.
  arrived(e) {
    if (!this.pendings.length) return;
    const i = Math.max(0, this.pendings.findIndex(p => p.textEl.textContent === e.text));
    const [el] = this.pendings.splice(i, 1);
    el.remove();
  }

  badgeCall(callID, text, cls) {
    const call = callID && this.calls.get(callID);
    if (call) call.badges.append(h('span', {class: 'badge ' + cls}, text));
  }

  counted(g, e) {
    this.count++;
    g.count++;
    if (typeof e.seq === 'number') {
      g.first = Math.min(g.first, e.seq);
      this.first = Math.min(this.first, e.seq);
    }
  }

  // group returns the step's section, making it at the end (or, for
  // earlier events, at the top).
  group(step, earlier) {
    let g = this.groups.get(step);
    if (g) return g;
    const body = h('div', {class: 'step-body'});
    const el = h('section', {class: 'step', dataset: {step}, 'aria-label': step ? 'Step ' + step : 'Start'},
      step ? h('h2', {class: 'step-head'}, 'Step ' + step) : null, body);
    g = {el, body, first: Infinity, count: 0, live: null};
    this.groups.set(step, g);
    if (earlier) this.root.prepend(el); else this.root.append(el);
    return g;
  }

  // trim drops the oldest steps from the DOM while more than keep events
  // are shown, never the last step.
  trim() {
    let trimmed = false;
    for (const [step, g] of this.groups) {
      if (this.count - g.count < this.keep || this.groups.size <= 1) break;
      this.count -= g.count;
      g.el.remove();
      this.groups.delete(step);
      for (const el of g.el.querySelectorAll('[data-call]')) {
        this.calls.delete(el.dataset.call);
        this.approvals.delete(el.dataset.call);
      }
      trimmed = true;
    }
    if (trimmed) {
      this.first = Math.min(...[...this.groups.values()].map(g => g.first));
      this.onTrim(this.first);
    }
  }

  // prependEarlier renders events older than those shown (ascending seq),
  // and keeps them: the window grows by as many.
  prependEarlier(events) {
    const older = events.filter(e => typeof e.seq !== 'number' || e.seq < this.first);
    for (let i = older.length - 1; i >= 0; i--) this.apply(older[i], true);
    this.keep += older.length;
    return older.length;
  }
}

// nearBottom reports whether the page is scrolled to (near) its end, so
// that new events should keep it there.
function nearBottom() {
  const doc = document.documentElement;
  return window.innerHeight + window.scrollY >= doc.scrollHeight - 120;
}
