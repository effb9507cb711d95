// audit.js is the tenant's audit log (admins): filters by action (a
// trailing * for a prefix), actor and time, pages of records newest
// first (order=desc), people and keys by their emails and names (the
// raw id in small type below), and the verification of the whole hash
// chain and its signed checkpoints (GET /api/v1/audit/verify).
import {api, list} from './api.js';
import {h, clear, field, errorBox, empty, busy, timeEl, fmtNumber, shown} from './dom.js';

// rfc3339 turns a datetime-local value (the viewer's zone) into UTC.
export function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return isNaN(d) ? '' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// localValue turns an RFC 3339 time (a link's since or until) into a
// datetime-local value in the viewer's zone.
export function localValue(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

export async function render(main, ctx) {
  const action = h('input', {type: 'text', placeholder: 'auth.* or task.cancel_requested', spellcheck: 'false', value: ctx.params.get('action') || ''});
  const actor = h('input', {type: 'text', placeholder: 'user:u_… or key:k_… (as shown under a name)', spellcheck: 'false', value: ctx.params.get('actor') || ''});
  const since = h('input', {type: 'datetime-local', value: localValue(ctx.params.get('since'))});
  const until = h('input', {type: 'datetime-local', value: localValue(ctx.params.get('until'))});
  const outcome = h('select', null, ['', 'ok', 'denied', 'error'].map(o => h('option', {value: o}, o || 'any')));
  outcome.value = ctx.params.get('outcome') || '';
  // detail (KEY=VALUE) comes only from a link, such as the Security page's.
  const detail = ctx.params.get('detail') || '';
  const filterErr = h('div', {class: 'errors'});
  const apply = h('button', {type: 'submit', class: 'primary'}, 'Show');
  const filters = h('form', {class: 'card filters'},
    h('div', {class: 'grid'}, field('Action', action), field('Actor', actor), field('Since', since), field('Until', until), field('Outcome', outcome)),
    h('div', {class: 'actions'}, apply), filterErr);
  const verifyOut = h('div', {class: 'verify-out', 'aria-live': 'polite'});
  const verify = h('button', {type: 'button'}, 'Verify the chain');
  const listing = h('div', {class: 'list'});
  const more = h('button', {type: 'button', hidden: true}, 'Next page');
  main.append(
    h('div', {class: 'page-head'}, h('h1', null, 'Audit log'), h('div', {class: 'tools'}, verify)),
    verifyOut, filters, listing, more);

  let next = 0;
  function query(before) {
    const q = new URLSearchParams({order: 'desc'});
    if (action.value.trim()) q.set('action', action.value.trim());
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (rfc3339(since.value)) q.set('since', rfc3339(since.value));
    if (rfc3339(until.value)) q.set('until', rfc3339(until.value));
    if (outcome.value) q.set('outcome', outcome.value);
    if (detail) q.set('detail', detail);
    if (before) q.set('before', String(before));
    return '/api/v1/audit' + (q.toString() ? '?' + q : '');
  }

  async function load(before) {
    const data = await api('GET', query(before));
    const recs = list(data, 'records');
    next = data && data.next ? data.next : 0;
    more.hidden = !next;
    if (!before) clear(listing);
    if (!recs.length && !before) {
      listing.append(empty('No audit records match.'));
      return;
    }
    let body = listing.querySelector('tbody');
    if (!body) {
      body = h('tbody');
      listing.append(h('div', {class: 'scroll'}, h('table', {class: 'audit responsive'},
        h('thead', null, h('tr', null, ['#', 'Time', 'Actor', 'Action', 'Target', 'Outcome', 'Details'].map(c => h('th', {scope: 'col'}, c)))), body)));
    }
    for (const r of recs) body.append(row(r));
  }

  function row(r) {
    const details = Object.entries(r.details || {}).sort(([a], [b]) => a.localeCompare(b));
    return h('tr', {class: 'outcome-' + String(r.outcome).replace(/[^a-z]/g, '')},
      h('td', {'data-label': '#', class: 'num'}, String(r.seq)),
      h('td', {'data-label': 'Time'}, timeEl(r.time)),
      h('td', {'data-label': 'Actor', class: 'actor'}, named(r.actor_name, r.actor)),
      h('td', {'data-label': 'Action', class: 'mono'}, r.action),
      h('td', {'data-label': 'Target', class: 'target'}, named(r.target_name, r.target || '')),
      h('td', {'data-label': 'Outcome'}, h('span', {class: 'badge ' + (r.outcome === 'ok' ? 'ok' : 'bad')}, r.outcome)),
      h('td', {'data-label': 'Details'}, details.length
        ? h('dl', {class: 'kv'}, details.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))))
        : ''));
  }

  // named shows a person's email or a key's name, with its raw id in
  // small type below (what the Actor filter takes), or the id alone.
  function named(name, id) {
    if (!name) return h('span', {class: 'mono id'}, shown(id));
    return [h('span', {class: 'name'}, shown(name)), h('span', {class: 'mono id actor-id'}, shown(id))];
  }

  filters.addEventListener('submit', ev => {
    ev.preventDefault();
    busy(apply, filterErr, () => load(0));
  });
  more.addEventListener('click', () => busy(more, filterErr, () => load(next)));
  verify.addEventListener('click', () => busy(verify, verifyOut, async () => {
    clear(verifyOut);
    const v = await api('GET', '/api/v1/audit/verify');
    verifyOut.append(v.intact
      ? h('p', {class: 'verdict ok', role: 'status'}, h('strong', null, 'The chain is intact. '),
        `${fmtNumber(v.records)} records, ${fmtNumber(v.checkpoints)} signed checkpoints, covering ${fmtNumber(v.signed)} records` +
        (v.macs_checked ? '; each record\'s MAC checked.' : '.'))
      : h('p', {class: 'verdict bad', role: 'alert'}, h('strong', null, 'The chain is broken. '), v.problem || 'A record was changed, removed or reordered.'));
  }));
  try {
    await load(0);
  } catch (e) {
    listing.append(errorBox(e));
  }
}
