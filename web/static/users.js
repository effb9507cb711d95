// users.js is the tenant's people and their roles (admins): add a user
// with a first password, change a role. A role change ends that user's
// sessions (the server's rule).
import {api, list, atLeast} from './api.js';
import {h, clear, field, errorBox, empty, note, busy, timeEl} from './dom.js';

const roles = ['viewer', 'member', 'admin', 'owner'];

export async function render(main, ctx) {
  const mine = ctx.me.role;
  const grantable = roles.filter(r => atLeast(mine, r));
  const listing = h('div', {class: 'list'});
  const email = h('input', {type: 'email', required: true, autocomplete: 'off'});
  const role = h('select', null, grantable.map(r => h('option', {value: r}, r)));
  role.value = 'member';
  const password = h('input', {type: 'password', required: true, autocomplete: 'new-password', minlength: 12});
  const errors = h('div', {class: 'errors'});
  const done = h('div');
  const add = h('button', {type: 'submit', class: 'primary'}, 'Add user');
  const form = h('form', {class: 'card'},
    h('h2', null, 'Add a user'),
    h('div', {class: 'grid'}, field('Email', email), field('Role', role),
      field('First password', password, 'Give it to them privately.')),
    errors, h('div', {class: 'actions'}, add), done);
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Users')), listing, form);

  async function load() {
    try {
      const users = list(await api('GET', '/api/v1/users'), 'users');
      clear(listing).append(users.length ? table(users) : empty('No users.'));
    } catch (e) {
      clear(listing).append(errorBox(e));
    }
  }

  function table(users) {
    return h('table', {class: 'responsive'},
      h('thead', null, h('tr', null, ['Email', 'Role', 'Two-factor', 'Added', ''].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', null, users.map(u => {
        const err = h('div', {class: 'errors'});
        const sel = h('select', {'aria-label': 'Role of ' + u.email, disabled: !atLeast(mine, u.role)},
          roles.map(r => h('option', {value: r, disabled: !atLeast(mine, r)}, r)));
        sel.value = u.role;
        sel.addEventListener('change', () => busy(sel, err, async () => {
          try {
            await api('PATCH', '/api/v1/users/' + encodeURIComponent(u.id), {role: sel.value});
            err.append(note('Role changed; their sessions ended.', 'ok'));
          } catch (e) {
            sel.value = u.role;
            throw e;
          }
          u.role = sel.value;
        }));
        // Deleting a user ends their sessions and the keys they made.
        const del = h('button', {type: 'button', class: 'danger', disabled: !atLeast(mine, u.role)}, 'Delete');
        del.addEventListener('click', () => {
          if (del.dataset.armed !== '1') {
            del.dataset.armed = '1';
            del.textContent = 'Click again to delete (their keys go too)';
            return;
          }
          busy(del, err, async () => { await api('DELETE', '/api/v1/users/' + encodeURIComponent(u.id)); await load(); });
        });
        // Resetting the second factor is for a user who lost the device:
        // they log in with the password alone (or enrol again, where the
        // tenant requires it). Not one's own: the Account page does that.
        const self = ctx.me.user && ctx.me.user.id === u.id;
        const reset = h('button', {type: 'button', hidden: !u.two_factor || self, disabled: !atLeast(mine, u.role)}, 'Reset two-factor');
        reset.addEventListener('click', () => {
          if (reset.dataset.armed !== '1') {
            reset.dataset.armed = '1';
            reset.textContent = 'Click again to reset (their sessions end)';
            return;
          }
          busy(reset, err, async () => { await api('DELETE', '/api/v1/users/' + encodeURIComponent(u.id) + '/totp'); await load(); });
        });
        return h('tr', null,
          h('td', {'data-label': 'Email'}, u.email, self ? h('span', {class: 'muted'}, ' (you)') : null),
          h('td', {'data-label': 'Role'}, sel, err),
          h('td', {'data-label': 'Two-factor'}, u.two_factor ? 'on' : 'off'),
          h('td', {'data-label': 'Added'}, timeEl(u.created)),
          h('td', null, h('div', {class: 'row-actions'}, reset, del)));
      })));
  }

  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(done);
    busy(add, errors, async () => {
      const u = await api('POST', '/api/v1/users', {email: email.value.trim(), role: role.value, password: password.value});
      email.value = password.value = '';
      done.append(note(`Added ${u.email} as ${u.role}.`, 'ok'));
      await load();
    });
  });
  await load();
}
