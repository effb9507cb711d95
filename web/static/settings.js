// settings.js is the tenant's settings (GET/PUT /api/v1/settings): the
// model and its API key, allowed commands and domains, MCP servers, what
// taints a task, tool rules, task limits and quotas. The API key is entered, never shown: the
// server answers only whether one is set (api_key_set). The MCP servers
// are a JSON document with {{secret:NAME}} placeholders, shown as stored.
// Only admins may save.
import {api, atLeast} from './api.js';
import {h, clear, field, errorBox, note, busy, timeEl} from './dom.js';

const decisions = ['allow', 'ask', 'deny'];

// lines splits a textarea of one entry per line (or comma) into entries.
export function lines(text) {
  return String(text).split(/[\n,]/).map(s => s.trim()).filter(Boolean);
}

// mcpText is the MCP servers document as the textarea shows it: indented
// JSON, or empty for none.
export function mcpText(doc) {
  return doc === undefined || doc === null ? '' : JSON.stringify(doc, null, 2);
}

// parseMCP reads the MCP servers textarea: null when empty, else its JSON
// value, which the server checks. Text that is not JSON throws, with a
// message for the field.
export function parseMCP(text) {
  if (!String(text).trim()) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error('mcp: not valid JSON (' + e.message + ').');
  }
}

// isMCPError reports whether an error is about the MCP servers document:
// the server names the field first ("mcp: ...").
function isMCPError(e) {
  return String(e && e.message || '').startsWith('mcp:');
}

const mcpExample = '{"mcpServers": {"github": {"url": "https://api.githubcopilot.com/mcp/", "headers": {"Authorization": "Bearer {{secret:GITHUB_TOKEN}}"}}}}';

// num is a number field; def is what an empty field means on this
// server, shown as its placeholder.
function num(value, min, max, step, def) {
  return h('input', {type: 'number', min, max, step: step || 1, value: value || '', inputmode: step && step < 1 ? 'decimal' : 'numeric',
    placeholder: def !== undefined && def !== '' ? String(def) + ' (default)' : null});
}

// minutes turns nanoseconds into minutes, for the time fields.
function minutes(ns) {
  return ns ? Math.round(ns / 60e9 * 100) / 100 : '';
}

// withDefault is a help text that says what an empty field means.
function withDefault(text, def) {
  return (text ? text + ' ' : '') + (def !== undefined && def !== '' && def !== 0 ? `Empty: ${def}, the default.` : 'Empty: the default.');
}

// decisionSelect is a decision; withDefault, when set, is the default an
// empty choice stands for.
function decisionSelect(value, withDefault) {
  const s = h('select', null,
    withDefault ? h('option', {value: ''}, `${withDefault} (the default)`) : null,
    decisions.map(d => h('option', {value: d}, d)));
  s.value = value || '';
  return s;
}

// taintModes are the taint modes, weakest first, with what each does.
export const taintModes = [
  ['off', 'off: nothing the guard finds taints a task'],
  ['detected', 'detected: text the guard flags as prompt injection taints the task'],
  ['source', 'source: any text from outside taints the task (the strongest)'],
];

// taintChoices are the modes a tenant may choose under the operator's
// mode op: op and the stricter ones, and the stored one (which may be
// weaker, if the operator raised its mode since) so that it can be kept.
export function taintChoices(op, stored) {
  const from = taintModes.findIndex(([m]) => m === (op || 'detected'));
  return taintModes.filter(([m], i) => i >= from || m === stored);
}

// taintSelect is the tenant's taint mode; '' is the server's.
function taintSelect(value, op) {
  const s = h('select', null,
    h('option', {value: ''}, `the server's: ${op || 'detected'}`),
    taintChoices(op, value).map(([m, label]) => h('option', {value: m}, label)));
  s.value = value || '';
  return s;
}

// ruleRow is one editable tool rule: tool, pattern, decision.
function ruleRow(r, remove) {
  const tool = h('input', {type: 'text', value: r.tool || '', placeholder: 'run_shell, or * for every tool', 'aria-label': 'Tool', required: true, spellcheck: 'false'});
  const pattern = h('input', {type: 'text', value: r.pattern || '', placeholder: 'rm * (empty: every call)', 'aria-label': 'Pattern', spellcheck: 'false'});
  const decision = decisionSelect(r.decision || 'ask', false);
  decision.setAttribute('aria-label', 'Decision');
  const row = h('tr', null,
    h('td', {'data-label': 'Tool'}, tool), h('td', {'data-label': 'Pattern'}, pattern), h('td', {'data-label': 'Decision'}, decision),
    h('td', null, h('button', {type: 'button', class: 'link', onclick: () => remove(row)}, 'Remove')));
  row.value = () => ({tool: tool.value.trim(), pattern: pattern.value, decision: decision.value});
  return row;
}

export async function render(main, ctx) {
  const s = await api('GET', '/api/v1/settings');
  const admin = atLeast(ctx.me.role, 'admin');
  const L = s.limits || {};
  const RL = s.rate_limit || {};
  const D = s.defaults || {};
  const DL = D.limits || {};
  const DR = D.rate_limit || {};

  const model = h('input', {type: 'text', value: s.model || '', placeholder: s.default_model ? "the server's default model" : 'openai:gpt-4o', spellcheck: 'false'});
  const keyState = h('span', {class: 'badge ' + (s.api_key_set ? 'ok' : '')});
  const apiKey = h('input', {type: 'password', autocomplete: 'off', placeholder: 'enter a new key to replace it'});
  const removeKey = h('input', {type: 'checkbox'});
  const commands = h('textarea', {rows: 3, spellcheck: 'false', placeholder: "the server's allowed commands (python3, node, bash, sh and the core utilities, unless the operator changed them)"}, (s.allowed_commands || []).join('\n'));
  const domains = h('textarea', {rows: 3, spellcheck: 'false', placeholder: 'none: no network'}, (s.allowed_domains || []).join('\n'));
  const mcpShown = mcpText(s.mcp);
  const mcp = h('textarea', {rows: Math.min(24, Math.max(6, mcpShown.split('\n').length + 1)), class: 'mcp mono', spellcheck: 'false', autocomplete: 'off',
    placeholder: mcpExample}, mcpShown);
  const mcpErrors = h('div', {class: 'errors mcp-errors'});
  const def = decisionSelect((s.policy || {}).default, D.policy_default || 'allow');
  const taint = taintSelect(s.taint, D.taint);
  const require2FA = h('input', {type: 'checkbox', id: 'require-two-factor', checked: !!s.require_two_factor});
  const keyAge = num(s.key_max_age_days, 0, 3650, 1, 'never');
  const rulesBody = h('tbody');
  const removeRow = row => row.remove();
  for (const r of (s.policy || {}).rules || []) rulesBody.append(ruleRow(r, removeRow));
  const addRule = h('button', {type: 'button', onclick: () => { const r = ruleRow({}, removeRow); rulesBody.append(r); r.querySelector('input').focus(); }}, 'Add a rule');
  const lim = {
    steps: num(L.max_steps, 0, 10000, 1, DL.max_steps), tokens: num(L.max_tokens, 0, undefined, 1, DL.max_tokens),
    cost: num(L.max_cost, 0, 1000000, 0.01, DL.max_cost),
    minutes: num(minutes(L.max_duration), 0, 1440, 0.5, minutes(DL.max_duration)), output: num(L.max_output, 0, 16777216, 1, DL.max_output),
    concurrent: num(s.max_concurrent_tasks, 0, 1000, 1, D.max_concurrent_tasks),
    perKey: num(RL.per_key_rps, 0, 10000, 0.1, DR.per_key_rps), perTenant: num(RL.per_tenant_rps, 0, 100000, 0.1, DR.per_tenant_rps),
    burst: num(RL.burst, 0, 100000, 1, DR.burst),
  };
  function showKeyState(set) {
    keyState.className = 'badge ' + (set ? 'ok' : '');
    keyState.textContent = set ? 'a key is set' : 'no key set';
  }
  showKeyState(s.api_key_set);

  const errors = h('div', {class: 'errors'});
  const saved = h('div');
  const save = h('button', {type: 'submit', class: 'primary'}, 'Save settings');
  const form = h('form', {class: 'card settings'},
    h('div', {class: 'page-head'}, h('h1', null, 'Settings'),
      s.updated ? h('p', {class: 'muted'}, 'Last changed ', timeEl(s.updated)) : null),
    admin ? null : note('Only admins can change the settings.'),
    h('fieldset', null, h('legend', null, 'Model'),
      field('Model', model, 'PROVIDER:MODEL (openai, anthropic or ollama). Empty: the server\'s default model, if it has one.'),
      h('div', {class: 'field'}, h('span', {class: 'label'}, 'Provider API key '), keyState),
      field('New API key', apiKey, 'Stored encrypted and never shown again. Leave empty to keep the current key.'),
      h('label', {class: 'check'}, removeKey, ' Remove the stored key')),
    h('fieldset', null, h('legend', null, 'Sandbox'),
      field('Allowed commands', commands, 'One per line: a name (python3) or an absolute path. Empty: the server default.'),
      field('Allowed domains', domains, 'One per line (example.com, *.example.com). Empty: no network.')),
    h('fieldset', null, h('legend', null, 'MCP servers'),
      field('Servers (JSON)', mcp, 'JSON as other MCP clients use it: {"mcpServers": {"NAME": {"url": ..., "headers": {...}}}}, or {"command": ..., "args": [...], "env": {...}}. ' +
        'Write {{secret:NAME}} for a secret value, never the value. A URL must be an HTTPS host in the allowed domains; command servers run in the sandbox. Empty: none.'),
      mcpErrors),
    h('fieldset', null, h('legend', null, 'Tool rules'),
      field('When no rule matches', def),
      h('table', {class: 'rules responsive'},
        h('thead', null, h('tr', null, ['Tool', 'Pattern', 'Decision', ''].map(c => h('th', {scope: 'col'}, c)))), rulesBody),
      h('p', {class: 'help'}, 'The pattern matches what a call acts on: the command line, path or URL; * is any text. The strictest matching rule wins.'),
      addRule),
    h('fieldset', null, h('legend', null, 'Prompt injection'),
      field('What taints a task', taint, 'Once a task is tainted, its actions with side effects (writes outside scratch/, commands, new hosts, secrets, MCP calls) wait for a person, who is told which text tainted it. ' +
        'Source taints a task as soon as it reads a page, search results, an MCP answer, a file or command output, whatever the guard says of it. ' +
        'You may choose the server\'s mode or a stricter one.')),
    h('fieldset', null, h('legend', null, 'Logins and keys'),
      h('label', {class: 'check'}, require2FA, ' Require two-factor login: users without it must turn it on (on their Account page) before anything else'),
      field('Flag API keys older than (days)', keyAge, 'The API keys page and bulwark doctor ask to rotate them. Empty or 0: never.')),
    h('fieldset', null, h('legend', null, 'Limits of each task'),
      h('div', {class: 'grid'},
        field('Max steps', lim.steps, withDefault('', DL.max_steps)), field('Max tokens', lim.tokens, withDefault('', DL.max_tokens)),
        field('Max cost (USD)', lim.cost, withDefault('', DL.max_cost)),
        field('Max time (minutes)', lim.minutes, withDefault('', minutes(DL.max_duration))),
        field('Max tool output (bytes)', lim.output, withDefault('', DL.max_output)))),
    h('fieldset', null, h('legend', null, 'Quotas'),
      h('div', {class: 'grid'},
        field('Tasks at once', lim.concurrent, withDefault('', D.max_concurrent_tasks)),
        field('Requests/s per key', lim.perKey, withDefault('', DR.per_key_rps)),
        field('Requests/s for the tenant', lim.perTenant, withDefault('', DR.per_tenant_rps)), field('Burst', lim.burst, withDefault('', DR.burst)))),
    h('p', {class: 'help'}, 'Empty or 0: the server default, shown in each empty field.'),
    errors, saved,
    admin ? h('div', {class: 'actions'}, save) : null);
  if (!admin) for (const el of form.querySelectorAll('input, select, textarea, fieldset button')) el.disabled = true;
  main.append(form);

  const n = el => Number(el.value) || 0;
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(saved);
    clear(mcpErrors);
    mcp.removeAttribute('aria-invalid');
    // badMCP shows an error about the MCP servers next to them.
    const badMCP = e => {
      mcpErrors.append(errorBox(e));
      mcp.setAttribute('aria-invalid', 'true');
      mcp.focus();
    };
    let mcpDoc;
    try {
      mcpDoc = parseMCP(mcp.value);
    } catch (e) {
      badMCP(e);
      return;
    }
    busy(save, errors, async () => {
      const body = {
        model: model.value.trim(),
        policy: {default: def.value, rules: [...rulesBody.children].map(r => r.value()).filter(r => r.tool)},
        allowed_commands: lines(commands.value),
        allowed_domains: lines(domains.value),
        limits: {max_steps: n(lim.steps), max_tokens: n(lim.tokens), max_cost: n(lim.cost),
          max_duration: Math.round(n(lim.minutes) * 60e9), max_output: n(lim.output)},
        max_concurrent_tasks: n(lim.concurrent),
        rate_limit: {per_key_rps: n(lim.perKey), per_tenant_rps: n(lim.perTenant), burst: n(lim.burst)},
        mcp: mcpDoc,
        taint: taint.value,
        require_two_factor: require2FA.checked,
        key_max_age_days: n(keyAge),
      };
      if (removeKey.checked) body.api_key = '';
      else if (apiKey.value) body.api_key = apiKey.value;
      let out;
      try {
        out = await api('PUT', '/api/v1/settings', body);
      } catch (e) {
        if (!isMCPError(e)) throw e;
        badMCP(e);
        return;
      }
      mcp.value = mcpText(out.mcp);
      apiKey.value = '';
      removeKey.checked = false;
      showKeyState(out.api_key_set);
      saved.append(note('Saved.', 'ok'));
    });
  });
}
