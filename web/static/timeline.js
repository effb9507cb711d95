// timeline.js renders a task's events as steps, incrementally: events are
// queued as they come and applied in batches once per animation frame, so
// a stream of thousands of events never blocks the page. Only the last
// `keep` events stay in the DOM while the view follows the end; earlier
// ones are fetched again on demand (loadEarlier).
import {h} from './dom.js';
import {item, message, decide} from './items.js';

const perFrame = 400; // most events applied in one frame

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
    const el = item(e);
    if (e.type === 'tool_call' && e.call_id) this.calls.set(e.call_id, el);
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
