// task.js is the task view: the conversation and every step, live over
// SSE; approval prompts for calls a policy holds; cancel; a box to send a
// message (or an answer) into the running task, or to continue the
// conversation of one that has stopped; resume or cancel of a task a
// restart interrupted; old steps loaded on demand.
import {api, list, atLeast, taskURL} from './api.js';
import {h, add, clear, timeEl, statusBadge, errorBox, fmtNumber, fmtCost, fmtDuration, firstLine, field, busy, shown} from './dom.js';
import {Timeline} from './timeline.js';
import {follow} from './stream.js';
import {approvalCard} from './approvals.js';
import {usageOf, elapsed} from './tasks.js';

const ended = new Set(['succeeded', 'failed', 'canceled', 'interrupted']);
const finishStatus = {done: 'succeeded', canceled: 'canceled'};

export async function render(main, ctx) {
  const id = ctx.id;
  const canAct = atLeast(ctx.me.role, 'member');
  let task = await api('GET', taskURL(id));
  const usage = {input_tokens: 0, output_tokens: 0, cost: 0};

  const status = h('span', {class: 'status-slot'});
  const facts = h('dl', {class: 'facts'});
  const liveState = h('span', {class: 'live-state muted', role: 'status'});
  const headErr = h('div', {class: 'errors'});
  const cancelBox = h('span', {class: 'cancel-box'});
  const head = h('header', {class: 'task-head'},
    h('div', {class: 'title-row'},
      h('h1', null, shown(firstLine(task.input, 90)) || 'Task'), status, liveState),
    facts,
    h('div', {class: 'tools'},
      h('a', {class: 'button', href: '/tasks/' + encodeURIComponent(id) + '/files'}, 'Files'),
      canAct ? cancelBox : null),
    headErr);

  const children = h('section', {class: 'children', 'aria-label': 'Sub-agents', hidden: true});
  const approvals = h('section', {class: 'approvals', 'aria-label': 'Approvals waiting', 'aria-live': 'assertive', hidden: true});
  const earlierErr = h('div', {class: 'errors'});
  const earlier = h('button', {type: 'button', class: 'earlier', hidden: true}, 'Load earlier steps');
  const steps = h('div', {class: 'timeline', 'aria-label': 'Steps'});
  const timeline = new Timeline(steps, 300);

  const text = h('textarea', {name: 'text', rows: 2, maxlength: 20000, placeholder: 'Steer the agent: it reads this before its next step.'});
  const sendErr = h('div', {class: 'errors'});
  const send = h('button', {type: 'submit', class: 'primary'}, 'Send');
  const textField = field('Message the agent', text);
  const messageForm = h('form', {class: 'message-box', hidden: true}, textField, h('div', {class: 'actions'}, send), sendErr);

  add(main, [head, children, approvals, earlier, earlierErr, steps, canAct ? messageForm : null]);

  function showHead() {
    clear(status).append(statusBadge(task.status));
    const u = usageOf(task).tokens ? usageOf(task) : {tokens: usage.input_tokens + usage.output_tokens, cost: usage.cost};
    add(clear(facts), [
      task.status === 'queued' && task.position ? h('div', null, h('dt', null, 'In the queue'), h('dd', null, 'number ' + task.position)) : null,
      h('div', null, h('dt', null, 'Model'), h('dd', {class: 'mono'}, (!task.default_model && (task.effective_model || task.model)) || 'the default')),
      h('div', null, h('dt', null, 'Started'), h('dd', null, timeEl(task.created))),
      h('div', null, h('dt', null, 'Time'), h('dd', null, fmtDuration(elapsed(task)) || '—')),
      h('div', null, h('dt', null, 'Tokens'), h('dd', null, u.tokens ? fmtNumber(u.tokens) : '—')),
      u.cost ? h('div', null, h('dt', null, 'Cost'), h('dd', null, fmtCost(u.cost))) : null,
      task.parent_id ? h('div', null, h('dt', null, 'Sub-agent of'),
        h('dd', null, h('a', {class: 'parent-link mono', href: '/tasks/' + encodeURIComponent(task.parent_id)}, task.parent_id))) : null]);
    showChildren();
    messageForm.hidden = false;
    if (!question) setQuestion('');
    showCancelBox();
  }

  // showChildren lists the sub-agents the task's delegate calls started,
  // each linked to its own page. While one runs, its approvals are also
  // the parent's (the runtime lists them under both), so they are polled.
  let childPoll = 0;
  function showChildren() {
    const kids = task.children || [];
    children.hidden = kids.length === 0;
    add(clear(children), [h('h2', null, 'Sub-agents'), h('ul', {class: 'child-list'}, kids.map(c =>
      h('li', null, statusBadge(c.status), ' ',
        h('a', {class: 'child-link', href: '/tasks/' + encodeURIComponent(c.id)}, shown(firstLine(c.input, 120)) || c.id))))]);
    const running = kids.some(c => !ended.has(c.status));
    if (running && !childPoll) {
      childPoll = setInterval(() => {
        if (!main.isConnected) { clearInterval(childPoll); childPoll = 0; return; }
        loadApprovals();
        api('GET', taskURL(id)).then(t => { task = {...task, children: t.children}; showChildren(); }).catch(() => {});
      }, 2000);
    } else if (!running && childPoll) {
      clearInterval(childPoll);
      childPoll = 0;
    }
  }

  // confirming: the person clicked Cancel task and the question is on
  // screen; a redraw of the head (a live event, a refresh) keeps it there
  // rather than putting the first button back under their pointer.
  let confirming = false;
  function showCancelBox() {
    clear(cancelBox);
    if (!canAct) return;
    const running = !ended.has(task.status);
    if (!running && task.status !== 'interrupted') { confirming = false; return; }
    if (confirming) { cancelBox.append(...cancelQuestion()); return; }
    if (running) cancelBox.append(cancelButton());
    if (task.status === 'interrupted') cancelBox.append(resumeButton(), ' ', cancelButton());
  }

  function resumeButton() {
    const b = h('button', {type: 'button', class: 'primary'}, 'Resume');
    b.addEventListener('click', () => busy(b, headErr, async () => {
      task = {...task, ...(await api('POST', taskURL(id, 'resume')))};
      refollow();
      showHead();
    }));
    return b;
  }

  function cancelButton() {
    const b = h('button', {type: 'button', class: 'danger'}, 'Cancel task');
    b.addEventListener('click', () => {
      confirming = true;
      showCancelBox();
      cancelBox.querySelector('button:last-child')?.focus();
    });
    return b;
  }

  function cancelQuestion() {
    const yes = h('button', {type: 'button', class: 'danger'}, 'Yes, cancel it');
    const no = h('button', {type: 'button'}, 'Keep it running');
    no.addEventListener('click', () => { confirming = false; showCancelBox(); });
    yes.addEventListener('click', () => busy(yes, headErr, async () => {
      await api('POST', taskURL(id, 'cancel'));
      confirming = false;
      // The task's end may have come (a live event) while the request was
      // on its way: then there is nothing left to wait for.
      if (ended.has(task.status)) showCancelBox();
      else clear(cancelBox).append(h('span', {class: 'muted'}, 'Canceling…'));
    }));
    return [h('span', null, 'Cancel this task? '), yes, no];
  }

  let question = '';
  function setQuestion(q) {
    question = q;
    const stopped = ended.has(task.status);
    textField.querySelector('label').textContent = q ? 'Answer the agent' : stopped ? 'Continue the conversation' : 'Message the agent';
    text.placeholder = q ? firstLine(q, 120) : stopped ? 'Ask a follow-up: the agent goes on with this task, in the same workspace.' :
      'Steer the agent: it reads this before its next step.';
  }

  messageForm.addEventListener('submit', ev => {
    ev.preventDefault();
    if (!text.value.trim()) return;
    const pendingEl = timeline.addPending(text.value);
    busy(send, sendErr, async () => {
      let a;
      try {
        a = await api('POST', taskURL(id, 'messages'), {text: text.value});
      } catch (e) {
        timeline.failed(pendingEl);
        throw e;
      }
      timeline.sent(pendingEl);
      text.value = '';
      setQuestion('');
      if (a && a.status === 'continued' && a.task) {
        task = {...a.task, started: undefined, finished: undefined};
        refollow();
        showHead();
      }
    });
  });
  text.addEventListener('keydown', ev => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) messageForm.requestSubmit();
  });

  // loadApprovals shows the approvals the task waits for. expect: an
  // approval was just asked for; the event can come a moment before the
  // runtime lists it, so an empty answer is asked again a few times.
  let approvalsSeq = 0;
  async function loadApprovals(expect = false, tries = 0) {
    const mine = ++approvalsSeq;
    let open;
    try {
      open = list(await api('GET', taskURL(id, 'approvals')), 'approvals');
    } catch (e) {
      if (mine === approvalsSeq) clear(approvals).append(errorBox(e));
      approvals.hidden = false;
      return;
    }
    if (mine !== approvalsSeq) return;
    if (expect && open.length === 0 && tries < 8 && !ended.has(task.status)) {
      setTimeout(() => { if (mine === approvalsSeq) loadApprovals(true, tries + 1); }, 250 * (tries + 1));
      return;
    }
    clear(approvals);
    for (const a of open) approvals.append(approvalCard(id, a, canAct, () => loadApprovals()));
    approvals.hidden = open.length === 0;
  }

  let lastSeq = 0;
  function onEvent(e) {
    if (typeof e.seq === 'number') lastSeq = Math.max(lastSeq, e.seq);
    timeline.push(e);
    switch (e.type) {
      case 'task_started': task.status = 'running'; task.started = e.time; break;
      case 'model_text': if (e.usage) addUsage(e.usage); break;
      case 'notice':
        if (!e.child) return;
        api('GET', taskURL(id)).then(t => { task = {...task, children: t.children}; showHead(); }).catch(() => {});
        return;
      case 'approval':
        task.status = e.decision ? 'running' : 'waiting';
        loadApprovals(!e.decision);
        break;
      case 'ask_user': task.status = 'waiting'; setQuestion(e.text || ''); break;
      case 'user_message': if (task.status === 'waiting' && question) task.status = 'running'; setQuestion(''); break;
      case 'task_finished':
        task.status = finishStatus[e.reason] || 'failed';
        task.finished = e.time;
        if (e.usage) Object.assign(usage, e.usage);
        approvals.hidden = true;
        api('GET', taskURL(id)).then(t => { task = {...t, started: task.started, finished: task.finished}; showHead(); }).catch(() => {});
        break;
      default: return;
    }
    showHead();
  }
  function addUsage(u) {
    usage.input_tokens += u.input_tokens || 0;
    usage.output_tokens += u.output_tokens || 0;
    usage.cost += u.cost || 0;
  }

  const states = {live: 'Live', reconnecting: 'Reconnecting…', closed: ''};
  let stop = () => {};
  // refollow follows the events of a new turn, after those shown.
  function refollow() {
    stop();
    stop = follow(id, onEvent, onState, lastSeq);
    if (!tick) tick = setInterval(ticker, 1000);
  }
  const onState = s => {
    liveState.textContent = states[s] || '';
    if (s === 'live' || (s === 'closed' && ended.has(task.status))) return;
    // The stream ended without the task's end (a task interrupted by a
    // restart has none), or was refused: ask the API why, and stop
    // reconnecting to a task that has ended.
    api('GET', taskURL(id)).then(t => {
      task = {...t, started: task.started, finished: task.finished};
      showHead();
      if (ended.has(t.status)) {
        stop();
        liveState.textContent = '';
        // The end may have come while the stream was away (a resumed task
        // that ran before its stream reconnected): take once what was
        // stored after the last event shown, then stop for good.
        const last = follow(id, onEvent, st => { if (st !== 'live') last(); }, lastSeq);
        stop = last;
      }
    }).catch(e => { clear(headErr).append(errorBox(e)); });
  };
  stop = follow(id, onEvent, onState);

  timeline.onTrim = first => { earlier.hidden = !(first > 1); };
  earlier.addEventListener('click', () => busy(earlier, earlierErr, async () => {
    const n = await loadEarlier(id, timeline);
    earlier.hidden = n === 0 || !(timeline.first > 1);
  }));

  showHead();
  loadApprovals();
  let tick = null;
  function ticker() {
    if (!ended.has(task.status)) return showHead();
    clearInterval(tick);
    tick = null;
  }
  tick = setInterval(ticker, 1000);
}

// loadEarlier fetches the stored events before the first one shown (GET
// .../steps?after=N&limit=M) and renders them; it returns how many.
async function loadEarlier(id, timeline, page = 200) {
  let before = timeline.first;
  for (let tries = 0; tries < 20 && before > 1; tries++) {
    const after = Math.max(0, before - 1 - page);
    const got = list(await api('GET', taskURL(id, 'steps') + `?after=${after}&limit=${page}`), 'steps', 'events');
    const n = timeline.prependEarlier(got.filter(e => e.seq < before && e.type !== 'model_delta' && e.type !== 'tool_output_delta'));
    if (n > 0) return n;
    before = after + 1; // a gap (live-only events): look further back
  }
  return 0;
}
