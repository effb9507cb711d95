// login.js is the login page: email and password to POST /api/v1/login,
// which sets the session cookie; then back to where the user was going.
import {api} from './api.js';
import {h, field, busy} from './dom.js';

// safeNext keeps a ?next= that is a path of this site, never another
// origin ("//evil.example", "/\\evil.example", "javascript:...").
export function safeNext(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') ||
      next.startsWith('/login')) {
    return '/tasks';
  }
  return next;
}

export async function render(main, ctx) {
  const email = h('input', {type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true});
  const password = h('input', {type: 'password', name: 'password', autocomplete: 'current-password', required: true});
  const errors = h('div', {class: 'errors'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Log in');
  const form = h('form', {class: 'card narrow', novalidate: false},
    h('h1', null, 'Log in to Bulwark'),
    field('Email', email),
    field('Password', password),
    errors,
    h('div', {class: 'actions'}, submit));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    busy(submit, errors, async () => {
      await api('POST', '/api/v1/login', {email: email.value.trim(), password: password.value}, {login: false});
      location.assign(safeNext(ctx.params.get('next')));
    }).then(() => password.select());
  });
  main.append(form);
  email.focus();
}
