// settings.js is the tenant's settings (GET/PUT /api/v1/settings): the
// model and its API key, allowed commands and domains, tool rules, task
// limits and quotas. The API key is entered, never shown: the server
// answers only whether one is set (api_key_set). Only admins may save.
import {api, atLeast} from './api.js';
import {h, clear, field, errorBox, note, busy, timeEl} from './dom.js';

const decisions = ['allow', 'ask', 'deny'];

// lines splits a textarea of one entry per line (or comma) into entries.
export function lines(text) {
  return String(text).split(/[\n,]/).map(s => s.trim()).filter(Boolean);
}

function num(value, min, max, step) {
  return h('input', {type: 'number', min, max, step: step || 1, value: value || '', inputmode: step && step < 1 ? 'decimal' : 'numeric'});
}

function decisionSelect(value, withDefault) {
  const s = h('select', null,
    withDefault ? h('option', {value: ''}, 'allow (the default)') : null,
    decisions.map(d => h('option', {value: d}, d)));
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

  const model = h('input', {type: 'text', value: s.model || '', placeholder: s.effective_model || 'openai:gpt-4o', spellcheck: 'false'});
  const keyState = h('span', {class: 'badge ' + (s.api_key_set ? 'ok' : '')});
  const apiKey = h('input', {type: 'password', autocomplete: 'off', placeholder: 'enter a new key to replace it'});
  const removeKey = h('input', {type: 'checkbox'});
  const commands = h('textarea', {rows: 3, spellcheck: 'false'}, (s.allowed_commands || []).join('\n'));
  const domains = h('textarea', {rows: 3, spellcheck: 'false'}, (s.allowed_domains || []).join('\n'));
  const def = decisionSelect((s.policy || {}).default, true);
  const rulesBody = h('tbody');
  const removeRow = row => row.remove();
  for (const r of (s.policy || {}).rules || []) rulesBody.append(ruleRow(r, removeRow));
  const addRule = h('button', {type: 'button', onclick: () => { const r = ruleRow({}, removeRow); rulesBody.append(r); r.querySelector('input').focus(); }}, 'Add a rule');
  const lim = {
    steps: num(L.max_steps, 0, 10000), tokens: num(L.max_tokens, 0), cost: num(L.max_cost, 0, 1000000, 0.01),
    minutes: num(L.max_duration ? L.max_duration / 60e9 : '', 0, 1440, 0.5), output: num(L.max_output, 0, 16777216),
    concurrent: num(s.max_concurrent_tasks, 0, 1000),
    perKey: num(RL.per_key_rps, 0, 10000, 0.1), perTenant: num(RL.per_tenant_rps, 0, 100000, 0.1), burst: num(RL.burst, 0, 100000),
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
      field('Model', model, 'PROVIDER:MODEL (openai, anthropic or ollama). Empty: the server default, ' + (s.effective_model || 'none') + '.'),
      h('div', {class: 'field'}, h('span', {class: 'label'}, 'Provider API key '), keyState),
      field('New API key', apiKey, 'Stored encrypted and never shown again. Leave empty to keep the current key.'),
      h('label', {class: 'check'}, removeKey, ' Remove the stored key')),
    h('fieldset', null, h('legend', null, 'Sandbox'),
      field('Allowed commands', commands, 'One per line: a name (python3) or an absolute path. Empty: the server default.'),
      field('Allowed domains', domains, 'One per line (example.com, *.example.com). Empty: no network.')),
    h('fieldset', null, h('legend', null, 'Tool rules'),
      field('When no rule matches', def),
      h('table', {class: 'rules responsive'},
        h('thead', null, h('tr', null, ['Tool', 'Pattern', 'Decision', ''].map(c => h('th', {scope: 'col'}, c)))), rulesBody),
      h('p', {class: 'help'}, 'The pattern matches what a call acts on: the command line, path or URL; * is any text. The strictest matching rule wins.'),
      addRule),
    h('fieldset', null, h('legend', null, 'Limits of each task'),
      h('div', {class: 'grid'},
        field('Max steps', lim.steps), field('Max tokens', lim.tokens), field('Max cost (USD)', lim.cost),
        field('Max time (minutes)', lim.minutes), field('Max tool output (bytes)', lim.output))),
    h('fieldset', null, h('legend', null, 'Quotas'),
      h('div', {class: 'grid'},
        field('Tasks at once', lim.concurrent), field('Requests/s per key', lim.perKey),
        field('Requests/s for the tenant', lim.perTenant), field('Burst', lim.burst))),
    h('p', {class: 'help'}, 'Empty or 0: the server default.'),
    errors, saved,
    admin ? h('div', {class: 'actions'}, save) : null);
  if (!admin) for (const el of form.querySelectorAll('input, select, textarea, fieldset button')) el.disabled = true;
  main.append(form);

  const n = el => Number(el.value) || 0;
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(saved);
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
      };
      if (removeKey.checked) body.api_key = '';
      else if (apiKey.value) body.api_key = apiKey.value;
      const out = await api('PUT', '/api/v1/settings', body);
      apiKey.value = '';
      removeKey.checked = false;
      showKeyState(out.api_key_set);
      saved.append(note('Saved.', 'ok'));
    });
  });
}
