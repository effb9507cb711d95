// approvals.js is the prompt for a call a policy holds for a person: the
// exact command, path or URL, the rule that asked and its reason, and
// Allow / Deny (POST /api/v1/tasks/{id}/approvals/{aid}).
import {api, taskURL} from './api.js';
import {h, clear, errorBox, busy, shown} from './dom.js';

const targetLabels = {run_shell: 'Command', run_code: 'Language', fetch_url: 'URL', search_files: 'Pattern',
  read_file: 'Path', write_file: 'Path', edit_file: 'Path', delete_file: 'Path', list_files: 'Folder'};

// approvalCard renders one open approval (a bulwark.Approval). canAct: the
// viewer may decide. done is called after a decision.
export function approvalCard(taskID, a, canAct, done) {
  const errors = h('div', {class: 'errors'});
  let pretty = '';
  try {
    pretty = JSON.stringify(typeof a.args === 'string' ? JSON.parse(a.args) : a.args, null, 2);
  } catch {
    pretty = String(a.args || '');
  }
  const code = a.tool === 'run_code' && a.args && a.args.code;
  const card = h('article', {class: 'approval-card', 'aria-label': 'Approval for ' + a.tool},
    h('h2', null, 'Allow ', h('code', null, shown(a.tool)), '?'),
    h('dl', null,
      h('dt', null, targetLabels[a.tool] || 'Target'),
      h('dd', null, h('pre', {class: 'target'}, a.target ? shown(a.target) : '(none)')),
      code ? [h('dt', null, 'Code'), h('dd', null, h('pre', null, code))] : null,
      a.reason ? [h('dt', null, 'Reason'), h('dd', {class: 'reason'}, a.reason)] : null,
      a.rule ? [h('dt', null, 'Rule'), h('dd', null, h('code', null, a.rule))] : null),
    h('details', null, h('summary', null, 'All arguments'), h('pre', null, pretty)),
    errors);
  if (!canAct) {
    card.append(h('p', {class: 'muted'}, 'Waiting for a member of the tenant to decide.'));
    return card;
  }
  const allow = h('button', {type: 'button', class: 'primary'}, 'Allow');
  const deny = h('button', {type: 'button', class: 'danger'}, 'Deny');
  const decide = (button, decision) => busy(button, errors, async () => {
    allow.disabled = deny.disabled = true;
    try {
      await api('POST', taskURL(taskID, 'approvals', encodeURIComponent(a.id)), {decision});
    } finally {
      allow.disabled = deny.disabled = false;
    }
    clear(card).append(h('p', {class: 'muted', role: 'status'}, decision === 'allow' ? 'Allowed.' : 'Denied.'));
    done();
  });
  allow.addEventListener('click', () => decide(allow, 'allow'));
  deny.addEventListener('click', () => decide(deny, 'deny'));
  card.append(h('div', {class: 'actions'}, allow, deny));
  return card;
}
