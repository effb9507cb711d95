// secrets.js is the tenant's secrets (admins): their names, the hosts
// each is bound to, where in a request it may go, and when it changed;
// set a new one, replace one's value, hosts and places, delete one. A value is typed into a password field,
// sent only in the body of PUT /api/v1/secrets/{name}, and never shown:
// the API never returns it, and the field is emptied once it is sent.
import {api, list} from './api.js';
import {h, clear, field, errorBox, empty, note, busy, timeEl, shown} from './dom.js';
import {lines} from './settings.js';

// secretURL is the API path of one secret.
function secretURL(name) {
  return '/api/v1/secrets/' + encodeURIComponent(name);
}

// valueInput is a field a secret's value is typed into, never filled in
// by the page.
function valueInput(label) {
  return h('input', {type: 'password', autocomplete: 'new-password', spellcheck: 'false', required: true, 'aria-label': label || null});
}

// injectBoxes are the choices of where, beyond headers, a secret's value
// may go (the API's inject list); inject is the current list, if any.
function injectBoxes(inject, label) {
  const has = p => (inject || []).includes(p);
  const url = h('input', {type: 'checkbox', name: 'inject-url', 'aria-label': label ? 'URL for ' + label : null});
  const body = h('input', {type: 'checkbox', name: 'inject-body', 'aria-label': label ? 'Body for ' + label : null});
  url.checked = has('url');
  body.checked = has('body');
  const el = h('div', {class: 'field inject'},
    h('span', {class: 'label'}, 'Put into'),
    h('small', {class: 'help'}, 'Request headers always (Authorization: Bearer {{secret:NAME}}). The URL or the body only if ticked: a host that stores what it is sent could hand the value back in a form masking misses, so leave them off unless the API needs them.'),
    h('label', {class: 'check'}, url, ' also the URL (path and query)'),
    h('label', {class: 'check'}, body, ' also the body'));
  return {el, value: () => ['headers'].concat(url.checked ? ['url'] : [], body.checked ? ['body'] : []), reset: () => { url.checked = false; body.checked = false; }};
}

export async function render(main) {
  const listing = h('div', {class: 'list'});
  const name = h('input', {type: 'text', required: true, maxlength: 100, spellcheck: 'false', placeholder: 'GITHUB_TOKEN', name: 'name'});
  const value = valueInput();
  value.name = 'value';
  const hosts = h('textarea', {rows: 2, spellcheck: 'false', placeholder: 'api.github.com', name: 'hosts'});
  const inject = injectBoxes(null);
  const errors = h('div', {class: 'errors'});
  const done = h('div');
  const save = h('button', {type: 'submit', class: 'primary'}, 'Set secret');
  const form = h('form', {class: 'card new-secret'},
    h('h2', null, 'New secret'),
    h('div', {class: 'grid'},
      field('Name', name, 'Letters, digits and _. Tools write {{secret:NAME}} where the value belongs.'),
      field('Value', value, 'Stored encrypted; never shown again.')),
    field('Hosts', hosts, 'One per line (api.github.com, *.example.com): the only hosts the value is sent to. Empty: code cannot use it.'),
    inject.el,
    errors, h('div', {class: 'actions'}, save), done);
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Secrets')), listing, form);

  async function load() {
    try {
      const secrets = list(await api('GET', '/api/v1/secrets'), 'secrets');
      clear(listing).append(secrets.length ? table(secrets)
        : empty('No secrets. Store an API token here and bind it to its hosts; tasks use it without ever seeing it.'));
    } catch (e) {
      clear(listing).append(errorBox(e));
    }
  }

  function table(secrets) {
    return h('div', {class: 'scroll'}, h('table', {class: 'secrets responsive'},
      h('thead', null, h('tr', null, ['Name', 'Hosts', 'Put into', 'Changed', ''].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', null, secrets.map(row))));
  }

  function row(sec) {
    const err = h('div', {class: 'errors'});
    const replaceBox = h('div', {class: 'replace-box'});
    const replace = h('button', {type: 'button'}, 'Replace');
    const del = h('button', {type: 'button', class: 'danger'}, 'Delete');
    replace.addEventListener('click', () => {
      if (replaceBox.firstChild) { clear(replaceBox); return; }
      replaceBox.append(replaceForm(sec, err));
      replaceBox.querySelector('input').focus();
    });
    del.addEventListener('click', () => {
      if (del.dataset.armed !== '1') {
        del.dataset.armed = '1';
        del.textContent = 'Click again to delete';
        return;
      }
      busy(del, err, async () => { await api('DELETE', secretURL(sec.name)); await load(); });
    });
    const hs = sec.hosts || [];
    return h('tr', {dataset: {name: sec.name}},
      h('td', {'data-label': 'Name', class: 'mono name'}, shown(sec.name)),
      h('td', {'data-label': 'Hosts', class: 'hosts'}, hs.length ? hs.map(x => h('code', null, x)) : h('span', {class: 'muted'}, 'none: not usable by code')),
      h('td', {'data-label': 'Put into', class: 'inject'}, hs.length ? (sec.inject || ['headers']).join(', ') : h('span', {class: 'muted'}, '-')),
      h('td', {'data-label': 'Changed'}, timeEl(sec.updated || sec.created)),
      h('td', null, h('div', {class: 'row-actions'}, replace, del), replaceBox, err));
  }

  // replaceForm sets a new value (and hosts and places) for an existing secret.
  function replaceForm(sec, err) {
    const v = valueInput('New value of ' + sec.name);
    const hs = h('textarea', {rows: 2, spellcheck: 'false', 'aria-label': 'Hosts of ' + sec.name}, (sec.hosts || []).join('\n'));
    const places = injectBoxes(sec.inject, sec.name);
    const ok = h('button', {type: 'submit', class: 'primary'}, 'Save');
    const f = h('form', {class: 'replace'}, field('New value', v), field('Hosts', hs), places.el, h('div', {class: 'actions'}, ok));
    f.addEventListener('submit', ev => {
      ev.preventDefault();
      busy(ok, err, async () => {
        const hosts = lines(hs.value);
        const body = {value: v.value, hosts, inject: hosts.length ? places.value() : ['headers']};
        v.value = '';
        await api('PUT', secretURL(sec.name), body);
        await load();
      });
    });
    return f;
  }

  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(done);
    busy(save, errors, async () => {
      const n = name.value.trim();
      const hs = lines(hosts.value);
      const body = {value: value.value, hosts: hs, inject: hs.length ? inject.value() : ['headers']};
      try {
        await api('PUT', secretURL(n), body);
      } finally {
        value.value = '';
      }
      name.value = '';
      hosts.value = '';
      inject.reset();
      done.append(note(`Secret ${n} set.`, 'ok'));
      await load();
    });
  });
  await load();
}
