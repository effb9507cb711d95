// login.js is the login page: email and password to POST /api/v1/login,
// which sets the session cookie; then back to where the user was going.
import {api} from './api.js';
import {h, field, busy} from './dom.js';

// safeNext keeps a ?next= that is a path of this site, never another
// origin ("//evil.example", "/\\evil.example", "/\t/evil.example",
// "javascript:..."). The browser strips TAB, LF and CR anywhere in a URL
// and reads \ as /, so any of them, or any control character, refuses
// next outright; then it is parsed as a URL against this origin and kept
// only as a path of it (the same rules as web.SafeNext on the server).
export function safeNext(next) {
  const fallback = '/tasks';
  if (typeof next !== 'string' || next.length > 2048 || !next.startsWith('/') || next.startsWith('//') ||
      /[\u0000-\u001f\u007f-\u009f\\]/.test(next)) {
    return fallback;
  }
  let u;
  try {
    u = new URL(next, location.origin);
  } catch {
    return fallback;
  }
  if (u.origin !== location.origin || u.username || u.password || u.pathname.startsWith('//') ||
      u.pathname === '/login' || u.pathname.startsWith('/login/')) {
    return fallback;
  }
  return u.pathname + u.search + u.hash;
}

export async function render(main, ctx) {
  const email = h('input', {type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true});
  const password = h('input', {type: 'password', name: 'password', autocomplete: 'current-password', required: true});
  const tenant = h('input', {type: 'text', name: 'tenant', autocomplete: 'organization'});
  const errors = h('div', {class: 'errors'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Log in');
  const form = h('form', {class: 'card narrow', novalidate: false},
    h('h1', null, 'Log in to Bulwark'),
    field('Email', email),
    field('Password', password),
    field('Tenant (only if your email is in several)', tenant),
    errors,
    h('div', {class: 'actions'}, submit));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    busy(submit, errors, async () => {
      const body = {email: email.value.trim(), password: password.value};
      if (tenant.value.trim()) body.tenant = tenant.value.trim();
      await api('POST', '/api/v1/login', body, {login: false});
      location.assign(safeNext(ctx.params.get('next')));
    }).then(() => password.select());
  });
  main.append(form);
  email.focus();
}
