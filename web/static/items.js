// items.js turns one task event into its element in the task view. All
// text (the model's, tools', web pages', people's) goes in as text nodes:
// a model reply holding <script> or <img onerror> shows those characters
// and nothing else.
import {h, timeEl, firstLine, shown} from './dom.js';

// targetOf returns what a tool call acts on, for its one-line summary:
// the command line, the path, the URL, the question.
export function targetOf(tool, args) {
  if (!args || typeof args !== 'object') return '';
  switch (tool) {
    case 'run_shell': return args.command || '';
    case 'run_code': return (args.language || '') + (args.code ? ': ' + firstLine(args.code, 80) : '');
    case 'fetch_url': return args.url || '';
    case 'search_files': return args.pattern + (args.path ? ' in ' + args.path : '');
    case 'ask_user': return args.question || '';
    case 'finish': return ''; // the answer shows once, in the task's end
  }
  return args.path || args.url || args.command || '';
}

// parseArgs returns the arguments of an event as an object (or the raw
// text when they are not JSON).
export function parseArgs(raw) {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'object') return raw;
  try { return JSON.parse(raw); } catch { return String(raw); }
}

// sandboxFacts reads the first lines of a run_shell or run_code result:
// "exit status N (1.2s)" and the limits that ended the command.
export function sandboxFacts(text) {
  const facts = [];
  const lines = String(text || '').split('\n', 8);
  const m = /^exit status (-?\d+)(?: \(([^)]*)\))?/.exec(lines[0] || '');
  if (m) facts.push({label: 'exit ' + m[1] + (m[2] ? ' · ' + m[2] : ''), bad: m[1] !== '0'});
  for (const l of lines.slice(1)) {
    const k = /^\[((?:killed: |the .* limit of the sandbox was hit|output was cut).*)\]$/.exec(l);
    if (k) facts.push({label: k[1], bad: true});
  }
  return facts;
}

function badge(text, cls) {
  return h('span', {class: 'badge ' + (cls || '')}, text);
}

function meta(e, label) {
  return h('div', {class: 'meta'}, h('span', {class: 'who'}, label), timeEl(e.time, true));
}

// message is a block of prose: the task, the model's reply, a person's
// message. Its .text element takes streamed text.
export function message(e, cls, label) {
  const text = h('div', {class: 'text'}, e.text || '');
  const el = h('article', {class: 'msg ' + cls, dataset: {seq: e.seq}}, meta(e, label), text);
  el.textEl = text;
  return el;
}

// toolCall is a tool call: the tool and its target at a glance, the
// arguments on demand, and a place for its result.
export function toolCall(e) {
  const args = parseArgs(e.args);
  const target = targetOf(e.tool, args);
  const badges = h('span', {class: 'badges'});
  const pretty = typeof args === 'string' ? args : JSON.stringify(args, null, 2);
  const el = h('article', {class: 'call', dataset: {seq: e.seq, call: e.call_id || ''}},
    h('div', {class: 'call-head'},
      h('span', {class: 'tool'}, shown(e.tool || 'tool')),
      target ? h('code', {class: 'target'}, shown(target)) : null,
      badges, timeEl(e.time, true)),
    e.tool === 'finish' ? null : h('details', {class: 'args'}, h('summary', null, 'Arguments'), h('pre', null, pretty || '{}')));
  el.badges = badges;
  return el;
}

// toolResult is a tool's result, collapsible, with the sandbox's exit
// status and any limit hit shown in its summary.
export function toolResult(e) {
  const text = e.text || '';
  const lines = text.split('\n').length;
  const facts = (e.tool === 'run_shell' || e.tool === 'run_code') ? sandboxFacts(text) : [];
  const summary = h('summary', null,
    e.is_error ? badge('error', 'bad') : badge('result', 'ok'),
    facts.map(f => badge(f.label, f.bad ? 'bad' : 'ok')),
    h('span', {class: 'muted'}, lines > 1 ? ` ${lines} lines` : ' ' + firstLine(text, 80)));
  const el = h('details', {class: 'result' + (e.is_error ? ' error' : ''), dataset: {seq: e.seq, call: e.call_id || ''}},
    summary, h('pre', null, text));
  if (e.is_error || lines <= 8) el.open = true;
  el.facts = facts;
  return el;
}

// pending is a message a person sent that the task has not yet read
// back as its user_message event.
export function pending(text) {
  const el = message({text, time: new Date().toISOString()}, 'user pending', 'Message from a person');
  const state = h('span', {class: 'badge warn pending-state', role: 'status'}, 'sending…');
  el.querySelector('.meta .who').after(state);
  el.state = state;
  return el;
}

// approval is a line about an approval: asked (waiting) or decided.
export function approval(e) {
  const decided = e.decision ? badge(e.decision === 'allow' ? 'allowed' : 'denied', e.decision === 'allow' ? 'ok' : 'bad') : badge('waiting for a person', 'warn');
  const el = h('div', {class: 'line approval', dataset: {seq: e.seq, call: e.call_id || ''}},
    h('span', {class: 'kind'}, e.decision && !e.args ? 'Decision' : 'Approval'),
    h('span', {class: 'text'}, e.text || ''), decided);
  el.badge = decided;
  return el;
}

// decide marks an approval line decided.
export function decide(el, decision) {
  const b = badge(decision === 'allow' ? 'allowed' : 'denied', decision === 'allow' ? 'ok' : 'bad');
  el.badge.replaceWith(b);
  el.badge = b;
}

const lineKinds = {notice: 'Notice', guard: 'Guard', error: 'Error', compacted: 'Compacted',
  mcp_log: 'MCP server', tool_progress: 'Progress'};

// line is a notice, a guard warning or an error.
export function line(e) {
  return h('div', {class: 'line ' + e.type, role: e.type === 'error' ? 'alert' : null, dataset: {seq: e.seq}},
    h('span', {class: 'kind'}, lineKinds[e.type] || e.type),
    e.tool ? h('code', null, shown(e.tool)) : null,
    h('span', {class: 'text'}, e.text || ''),
    e.child ? h('a', {class: 'child-link', href: '/tasks/' + encodeURIComponent(e.child)}, 'Open the sub-agent') : null);
}

const reasons = {
  done: 'Finished', max_steps: 'Stopped: step limit', max_tokens: 'Stopped: token limit', max_cost: 'Stopped: cost limit',
  timeout: 'Stopped: time limit', loop: 'Stopped: repeated the same call', canceled: 'Canceled', error: 'Failed',
  leak: 'Stopped: leaked its instructions',
};

// finished is the end of the task: its reason and its answer or failure.
export function finished(e) {
  const ok = e.reason === 'done';
  return h('article', {class: 'finish ' + (ok ? 'ok' : 'bad'), dataset: {seq: e.seq}},
    h('div', {class: 'meta'}, h('strong', null, reasons[e.reason] || ('Ended: ' + (e.reason || 'unknown'))), timeEl(e.time, true)),
    e.text ? h('div', {class: 'text'}, e.text) : null);
}

// item returns the element of an event that stands alone (not deltas,
// results or decisions, which the timeline joins to earlier elements).
export function item(e) {
  switch (e.type) {
    case 'task_started': return e.text ? message(e, 'task', 'Task') : line({...e, type: 'notice', text: 'The task goes on in a new turn.'});
    case 'model_text': return message(e, 'assistant', 'Agent');
    case 'user_message': return message(e, 'user', 'Message from a person');
    case 'ask_user': return message(e, 'question', 'The agent asks');
    case 'tool_call': return toolCall(e);
    case 'tool_result': return toolResult(e);
    case 'approval': return approval(e);
    case 'task_finished': return finished(e);
    case 'notice': case 'guard': case 'error': case 'compacted': case 'mcp_log': case 'tool_progress': return line(e);
  }
  return line({...e, type: e.type || 'event'});
}
