// task.js is the task view: the conversation and every step, live over
// SSE; approval prompts for calls a policy holds; cancel; a box to send a
// message (or an answer) into the running task; old steps loaded on
// demand.
import {api, list, atLeast, taskURL} from './api.js';
import {h, add, clear, timeEl, statusBadge, errorBox, fmtNumber, fmtCost, fmtDuration, firstLine, field, busy} from './dom.js';
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
      h('h1', null, firstLine(task.input, 90) || 'Task'), status, liveState),
    facts,
    h('div', {class: 'tools'},
      h('a', {class: 'button', href: '/tasks/' + encodeURIComponent(id) + '/files'}, 'Files'),
      canAct ? cancelBox : null),
    headErr);

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

  add(main, [head, approvals, earlier, earlierErr, steps, canAct ? messageForm : null]);

  function showHead() {
    clear(status).append(statusBadge(task.status));
    const u = usageOf(task).tokens ? usageOf(task) : {tokens: usage.input_tokens + usage.output_tokens, cost: usage.cost};
    add(clear(facts), [
      task.status === 'queued' && task.position ? h('div', null, h('dt', null, 'In the queue'), h('dd', null, 'number ' + task.position)) : null,
      h('div', null, h('dt', null, 'Model'), h('dd', {class: 'mono'}, task.model || 'the default')),
      h('div', null, h('dt', null, 'Started'), h('dd', null, timeEl(task.created))),
      h('div', null, h('dt', null, 'Time'), h('dd', null, fmtDuration(elapsed(task)) || '—')),
      h('div', null, h('dt', null, 'Tokens'), h('dd', null, u.tokens ? fmtNumber(u.tokens) : '—')),
      u.cost ? h('div', null, h('dt', null, 'Cost'), h('dd', null, fmtCost(u.cost))) : null]);
    const running = !ended.has(task.status);
    messageForm.hidden = !running;
    clear(cancelBox);
    if (running && canAct) cancelBox.append(cancelButton());
  }

  function cancelButton() {
    const b = h('button', {type: 'button', class: 'danger'}, 'Cancel task');
    b.addEventListener('click', () => {
      const yes = h('button', {type: 'button', class: 'danger'}, 'Yes, cancel it');
      const no = h('button', {type: 'button'}, 'Keep it running');
      no.addEventListener('click', () => { clear(cancelBox).append(cancelButton()); });
      yes.addEventListener('click', () => busy(yes, headErr, async () => {
        await api('POST', taskURL(id, 'cancel'));
        clear(cancelBox).append(h('span', {class: 'muted'}, 'Canceling…'));
      }));
      clear(cancelBox).append(h('span', null, 'Cancel this task? '), yes, no);
      no.focus();
    });
    return b;
  }

  let question = '';
  function setQuestion(q) {
    question = q;
    textField.querySelector('label').textContent = q ? 'Answer the agent' : 'Message the agent';
    text.placeholder = q ? firstLine(q, 120) : 'Steer the agent: it reads this before its next step.';
  }

  messageForm.addEventListener('submit', ev => {
    ev.preventDefault();
    if (!text.value.trim()) return;
    busy(send, sendErr, async () => {
      await api('POST', taskURL(id, 'messages'), {text: text.value});
      text.value = '';
      setQuestion('');
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

  function onEvent(e) {
    timeline.push(e);
    switch (e.type) {
      case 'task_started': task.status = 'running'; task.started = e.time; break;
      case 'model_text': if (e.usage) addUsage(e.usage); break;
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
  const stop = follow(id, onEvent, s => {
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
      }
    }).catch(e => { clear(headErr).append(errorBox(e)); });
  });

  timeline.onTrim = first => { earlier.hidden = !(first > 1); };
  earlier.addEventListener('click', () => busy(earlier, earlierErr, async () => {
    const n = await loadEarlier(id, timeline);
    earlier.hidden = n === 0 || !(timeline.first > 1);
  }));

  showHead();
  loadApprovals();
  const tick = setInterval(() => { if (ended.has(task.status)) clearInterval(tick); else showHead(); }, 1000);
}

// loadEarlier fetches the stored events before the first one shown (GET
// .../steps?after=N&limit=M) and renders them; it returns how many.
async function loadEarlier(id, timeline, page = 200) {
  let before = timeline.first;
  for (let tries = 0; tries < 20 && before > 1; tries++) {
    const after = Math.max(0, before - 1 - page);
    const got = list(await api('GET', taskURL(id, 'steps') + `?after=${after}&limit=${page}`), 'steps', 'events');
    const n = timeline.prependEarlier(got.filter(e => e.seq < before && e.type !== 'model_delta'));
    if (n > 0) return n;
    before = after + 1; // a gap (live-only events): look further back
  }
  return 0;
}
