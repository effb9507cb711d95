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
  // The second step: the server answers second_factor_required to a
  // login without a code that fails (whatever failed: it does not say),
  // and the code field appears, the password kept.
  const code = h('input', {type: 'text', name: 'code', autocomplete: 'one-time-code', maxlength: 24, id: 'login-code'});
  const codeStep = h('div', {hidden: true, id: 'login-code-step'},
    field('Code from your authenticator app, or a recovery code', code,
      'If your account has no two-factor login, the email or the password is wrong: check them instead.'));
  const errors = h('div', {class: 'errors'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Log in');
  const form = h('form', {class: 'card narrow', novalidate: false},
    h('h1', null, 'Log in to Bulwark'),
    field('Email', email),
    field('Password', password),
    field('Tenant (only if your email is in several)', tenant),
    codeStep,
    errors,
    h('div', {class: 'actions'}, submit));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    let focus = password;
    busy(submit, errors, async () => {
      const body = {email: email.value.trim(), password: password.value};
      if (tenant.value.trim()) body.tenant = tenant.value.trim();
      if (!codeStep.hidden && code.value.trim()) body.code = code.value.trim();
      try {
        const me = await api('POST', '/api/v1/login', body, {login: false});
        location.assign(me && me.enrol_second_factor ? '/account' : safeNext(ctx.params.get('next')));
      } catch (e) {
        code.value = '';
        if (e.code === 'second_factor_required') {
          codeStep.hidden = false;
          focus = code;
        }
        throw e;
      }
    }).then(() => focus === code ? code.focus() : password.select());
  });
  main.append(form);
  email.focus();
}
