// keys.js is the tenant's API keys: make one (its token is shown once,
// here, and never again) and revoke one.
import {api, list} from './api.js';
import {h, clear, field, errorBox, empty, note, busy, timeEl, shown} from './dom.js';

const roles = ['viewer', 'member', 'admin', 'owner'];
const scopes = ['tasks', 'keys', 'secrets', 'users', 'settings', 'audit'];

export async function render(main) {
  const listing = h('div', {class: 'list'});
  const name = h('input', {type: 'text', required: true, maxlength: 100, placeholder: 'CI pipeline'});
  const role = h('select', null, roles.map(r => h('option', {value: r}, r)));
  role.value = 'member';
  const days = h('input', {type: 'number', min: 1, max: 1825, step: 1, placeholder: 'never'});
  const boxes = scopes.map(s => h('input', {type: 'checkbox', value: s}));
  const errors = h('div', {class: 'errors'});
  const tokenBox = h('div');
  const create = h('button', {type: 'submit', class: 'primary'}, 'Create key');
  const form = h('form', {class: 'card'},
    h('h2', null, 'New key'),
    h('div', {class: 'grid'}, field('Name', name), field('Role', role, 'At most your own.'), field('Expires after (days)', days)),
    h('fieldset', {class: 'inline'}, h('legend', null, 'Scopes (none checked: all the role allows)'),
      boxes.map(b => h('label', {class: 'check'}, b, ' ' + b.value))),
    errors, h('div', {class: 'actions'}, create), tokenBox);
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'API keys')), listing, form);

  async function load() {
    try {
      const resp = await api('GET', '/api/v1/keys');
      const keys = list(resp, 'keys');
      const stale = keys.filter(k => k.stale).length;
      clear(listing).append(keys.length ? table(keys) : empty('No API keys. Scripts and tools use one to call the API.'));
      if (stale) {
        listing.prepend(note(`${stale} ${stale === 1 ? 'key is' : 'keys are'} older than ${resp.max_age_days} days (the tenant's key_max_age_days): rotate ${stale === 1 ? 'it' : 'them'}.`, 'warn'));
      }
    } catch (e) {
      clear(listing).append(errorBox(e));
    }
  }

  function table(keys) {
    return h('table', {class: 'responsive'},
      h('thead', null, h('tr', null, ['Name', 'Key', 'Role', 'Scopes', 'Created', 'Last used', 'Expires', ''].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', null, keys.map(k => {
        const err = h('div', {class: 'errors'});
        const revoke = h('button', {type: 'button', class: 'danger'}, 'Revoke');
        revoke.addEventListener('click', () => {
          if (revoke.dataset.armed !== '1') {
            revoke.dataset.armed = '1';
            revoke.textContent = 'Click again to revoke';
            return;
          }
          busy(revoke, err, async () => { await api('DELETE', '/api/v1/keys/' + encodeURIComponent(k.id)); await load(); });
        });
        // Rotating makes a new key like this one; this one keeps working
        // for an hour, so that whatever uses it can change over.
        const rotate = h('button', {type: 'button'}, 'Rotate');
        rotate.addEventListener('click', () => busy(rotate, err, async () => {
          const out = await api('POST', '/api/v1/keys/' + encodeURIComponent(k.id) + '/rotate', {grace: '1h'});
          await load();
          showToken(out.token, 'The old key keeps working for an hour.');
        }));
        return h('tr', {class: k.stale ? 'stale' : null},
          h('td', {'data-label': 'Name'}, shown(k.name), k.stale ? h('span', {class: 'badge warn', title: 'Older than the tenant\'s key_max_age_days'}, ' rotate me') : null),
          h('td', {'data-label': 'Key', class: 'mono'}, (k.prefix || '') + '…'),
          h('td', {'data-label': 'Role'}, k.role),
          h('td', {'data-label': 'Scopes'}, (k.scopes || []).join(', ') || 'all'),
          h('td', {'data-label': 'Created'}, timeEl(k.created)),
          h('td', {'data-label': 'Last used'}, timeEl(k.last_used)),
          h('td', {'data-label': 'Expires'}, k.expires ? timeEl(k.expires) : 'never'),
          h('td', null, h('div', {class: 'row-actions'}, rotate, revoke), err));
      })));
  }

  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(tokenBox);
    busy(create, errors, async () => {
      const body = {name: name.value.trim(), role: role.value};
      const chosen = boxes.filter(b => b.checked).map(b => b.value);
      if (chosen.length) body.scopes = chosen;
      if (Number(days.value) > 0) body.expires_in = Math.round(Number(days.value) * 24) + 'h';
      const out = await api('POST', '/api/v1/keys', body);
      name.value = '';
      await load();
      showToken(out.token, '');
    });
  });

  // showToken shows a new key's token, this once.
  function showToken(value, extra) {
    clear(tokenBox);
    const token = h('input', {type: 'text', readonly: true, value, class: 'mono token', 'aria-label': 'The new key'});
    const copy = h('button', {type: 'button'}, 'Copy');
    copy.addEventListener('click', async () => {
      token.select();
      try { await navigator.clipboard.writeText(value); copy.textContent = 'Copied'; } catch { copy.textContent = 'Select and copy it'; }
    });
    tokenBox.append(h('div', {class: 'once', role: 'status'},
      h('p', null, h('strong', null, 'Copy this key now: it is shown only once.'), extra ? ' ' + extra : ''), h('div', {class: 'row'}, token, copy)));
    token.focus();
    token.select();
  }
  await load();
}
