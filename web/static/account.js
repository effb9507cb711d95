// account.js is the user's own account: two-factor login. Turning it on
// is two steps, as the API has them: POST /api/v1/me/totp makes a secret
// (shown once, as text and as a QR code the server draws), then a code of
// the app confirms it and the recovery codes are shown, once. Turning it
// off needs a current code (or a recovery code).
import {api} from './api.js';
import {h, clear, field, errorBox, note, busy} from './dom.js';

export async function render(main, ctx) {
  const me = await api('GET', '/api/v1/me');
  const box = h('section', {class: 'card', id: 'two-factor'});
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Account')), box);
  if (me.enrol_second_factor) {
    main.insertBefore(note('Your tenant requires two-factor login: turn it on to continue.', 'warn'), box);
  }
  if (me.user && me.user.two_factor) showOn(); else showOff();

  function showOff() {
    const errors = h('div', {class: 'errors'});
    const password = h('input', {type: 'password', autocomplete: 'current-password', required: true, id: 'totp-password'});
    const start = h('button', {type: 'submit', class: 'primary'}, 'Turn on two-factor login');
    const form = h('form', null, h('h2', null, 'Two-factor login'),
      h('p', null, 'Off. With it on, logging in needs a code from an authenticator app as well as your password.'),
      field('Your password', password), errors, h('div', {class: 'actions'}, start));
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      busy(start, errors, async () => enrol(await api('POST', '/api/v1/me/totp', {password: password.value})));
    });
    clear(box).append(form);
  }

  function enrol(pending) {
    const code = h('input', {type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', required: true, maxlength: 7, id: 'totp-code'});
    const errors = h('div', {class: 'errors'});
    const confirm = h('button', {type: 'submit', class: 'primary'}, 'Confirm');
    const qr = h('img', {src: '/api/v1/me/totp/qr?' + Date.now(), alt: 'QR code of the secret below', width: 220, height: 220, class: 'qr', id: 'totp-qr'});
    const form = h('form', null,
      h('h2', null, 'Turn on two-factor login'),
      h('ol', null,
        h('li', null, 'Scan this QR code with your authenticator app, or type in the secret.'),
        h('li', null, 'Enter the 6-digit code the app shows.')),
      qr,
      h('p', null, 'Secret: ', h('code', {class: 'mono', id: 'totp-secret'}, pending.secret)),
      field('Code', code), errors, h('div', {class: 'actions'}, confirm));
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      busy(confirm, errors, async () => {
        const out = await api('POST', '/api/v1/me/totp/confirm', {code: code.value.replace(/\s/g, '')});
        showRecovery(out.recovery_codes || []);
      });
    });
    clear(box).append(form);
    code.focus();
  }

  function showRecovery(codes) {
    const done = h('button', {type: 'button', class: 'primary'}, 'I have saved them');
    done.addEventListener('click', () => {
      if (ctx.me && ctx.me.enrol_second_factor) location.assign('/tasks'); else location.reload();
    });
    clear(box).append(h('h2', null, 'Two-factor login is on'),
      h('div', {class: 'once', role: 'status'},
        h('p', null, h('strong', null, 'Save these recovery codes now: they are shown only once.'),
          ' Each logs you in once in place of a code, if you lose your device.'),
        h('ul', {class: 'mono', id: 'recovery-codes'}, codes.map(c => h('li', null, c)))),
      h('div', {class: 'actions'}, done));
  }

  function showOn() {
    const code = h('input', {type: 'text', autocomplete: 'one-time-code', required: true, maxlength: 24});
    const errors = h('div', {class: 'errors'});
    const off = h('button', {type: 'submit', class: 'danger'}, 'Turn off');
    const form = h('form', null,
      h('h2', null, 'Two-factor login'),
      h('p', null, 'On: logging in needs a code from your authenticator app (or a recovery code).'),
      field('Code or recovery code', code, 'To turn it off.'), errors, h('div', {class: 'actions'}, off));
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      busy(off, errors, async () => {
        await api('DELETE', '/api/v1/me/totp', {code: code.value.trim()});
        clear(box);
        showOff();
        box.prepend(note('Two-factor login is off.', 'ok'));
      });
    });
    clear(box).append(form);
  }
}
