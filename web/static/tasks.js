// tasks.js is the task list: status, model, tokens and cost, when and for
// how long, filterable by status. While a listed task has not ended, the
// list refreshes itself.
import {api, list, atLeast} from './api.js';
import {h, clear, timeEl, statusBadge, errorBox, empty, fmtNumber, fmtCost, fmtDuration, firstLine, field, busy, shown} from './dom.js';

export const statuses = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'canceled', 'interrupted'];
const live = new Set(['queued', 'running', 'waiting']);

// usageOf returns {tokens, cost} of a task, from whichever fields the
// server gives.
export function usageOf(t) {
  const u = t.usage || {};
  const tokens = (u.input_tokens || 0) + (u.output_tokens || 0) || t.tokens || 0;
  return {tokens, cost: u.cost || t.cost || 0};
}

// elapsed returns how long a task ran (to now if it runs), in ms, or NaN.
// The API gives started and finished (RFC 3339) once the task has them.
export function elapsed(t) {
  const start = Date.parse(t.started || t.created);
  const endStr = t.finished || t.ended || (live.has(t.status) ? '' : t.updated);
  const end = endStr ? Date.parse(endStr) : (live.has(t.status) ? Date.now() : NaN);
  return end - start;
}

export async function render(main, ctx) {
  const filter = h('select', {name: 'status'},
    h('option', {value: ''}, 'All'),
    statuses.map(s => h('option', {value: s}, s)));
  filter.value = statuses.includes(ctx.params.get('status')) ? ctx.params.get('status') : '';
  const body = h('div', {class: 'list'});
  const head = h('div', {class: 'page-head'},
    h('h1', null, 'Tasks'),
    h('div', {class: 'tools'},
      field('Status', filter),
      atLeast(ctx.me.role, 'member') ? h('a', {class: 'button primary', href: '/tasks/new'}, 'New task') : null));
  main.append(head, body);

  const more = h('button', {type: 'button', class: 'more', hidden: true}, 'Show older tasks');
  const moreErr = h('div', {class: 'errors'});
  main.append(more, moreErr);
  let timer = 0;
  let pagesShown = 0; // pages shown: a refresh reloads as many
  let cursor = '';

  function url(after) {
    const q = new URLSearchParams({limit: '50'});
    if (filter.value) q.set('status', filter.value);
    if (after) q.set('cursor', after);
    return '/api/v1/tasks?' + q;
  }

  // load shows the first pages of tasks (as many as were shown), and
  // refreshes itself while one of them has not ended.
  async function load() {
    clearTimeout(timer);
    const status = filter.value;
    let tasks = [];
    let next = '';
    try {
      for (let page = 0; page < Math.max(pagesShown, 1); page++) {
        const data = await api('GET', url(next));
        tasks.push(...list(data, 'tasks'));
        next = (data && data.next_cursor) || '';
        if (!next) break;
      }
    } catch (e) {
      clear(body).append(errorBox(e));
      return;
    }
    if (status) tasks = tasks.filter(t => t.status === status);
    pagesShown = Math.max(pagesShown, 1);
    cursor = next;
    more.hidden = !cursor;
    clear(body).append(tasks.length ? table(tasks) : empty(
      status ? `No ${status} tasks.` : 'No tasks yet.',
      !status && atLeast(ctx.me.role, 'member') ? h('a', {href: '/tasks/new'}, 'Start the first one') : null));
    if (tasks.some(t => live.has(t.status))) timer = setTimeout(load, 4000);
  }

  more.addEventListener('click', () => busy(more, moreErr, async () => {
    const data = await api('GET', url(cursor));
    const tasks = list(data, 'tasks');
    const tbody = body.querySelector('tbody');
    if (tbody) tbody.append(...tasks.map(row));
    pagesShown++;
    cursor = (data && data.next_cursor) || '';
    more.hidden = !cursor;
  }));
  filter.addEventListener('change', () => {
    pagesShown = 0;
    const u = new URL(location.href);
    if (filter.value) u.searchParams.set('status', filter.value); else u.searchParams.delete('status');
    history.replaceState(null, '', u);
    load();
  });
  document.addEventListener('visibilitychange', () => { if (!document.hidden) load(); });
  await load();
}

function table(tasks) {
  return h('table', {class: 'tasks responsive'},
    h('thead', null, h('tr', null,
      ['Task', 'Status', 'Model', 'Tokens', 'Cost', 'Started', 'Time'].map(c => h('th', {scope: 'col'}, c)))),
    h('tbody', null, tasks.map(row)));
}

function row(t) {
  const {tokens, cost} = usageOf(t);
  const link = h('a', {href: '/tasks/' + encodeURIComponent(t.id)}, shown(firstLine(t.input, 120)) || t.id);
  if (t.turns > 1) link.append(' ', h('span', {class: 'badge turns', title: 'a conversation of ' + t.turns + ' turns'}, t.turns + ' turns'));
  if (t.parent_id) link.append(' ', h('span', {class: 'badge subagent', title: 'a sub-agent of task ' + t.parent_id}, 'sub-agent'));
  return h('tr', null,
    h('td', {'data-label': 'Task', class: 'task-input'}, link),
    h('td', {'data-label': 'Status'}, statusBadge(t.status), t.reason && t.reason !== 'done' && t.reason !== t.status ? h('small', {class: 'muted'}, ' ' + t.reason) : null),
    h('td', {'data-label': 'Model', class: 'mono model', title: modelOf(t) || null}, modelOf(t) || h('span', {class: 'muted'}, 'default')),
    h('td', {'data-label': 'Tokens', class: 'num'}, tokens ? fmtNumber(tokens) : '—'),
    h('td', {'data-label': 'Cost', class: 'num'}, fmtCost(cost) || '—'),
    h('td', {'data-label': 'Started'}, timeEl(t.created)),
    h('td', {'data-label': 'Time', class: 'num'}, fmtDuration(elapsed(t)) || '—'));
}

// modelOf is the model a task runs with, or '' for the server's default.
function modelOf(t) {
  return t.default_model ? '' : (t.effective_model || t.model || '');
}
