// memories.js is what the tenant's agents remember (GET /api/v1/memories):
// the memories the logged-in user may read, the tenant's and their own,
// newest first or searched (?q=, best match first); remember a new one,
// edit one, clear the taint of one a person has checked, forget one. A
// memory written by a tainted task is marked: tasks that recall it see it
// as untrusted. Every text is shown with textContent only (dom.js's h).
import {api, list, atLeast} from './api.js';
import {h, clear, field, errorBox, empty, note, busy, timeEl, shown} from './dom.js';

function memoryURL(id) {
  return '/api/v1/memories/' + encodeURIComponent(id);
}

// tagList reads comma-separated tags.
function tagList(s) {
  return s.split(',').map(t => t.trim()).filter(t => t);
}

export async function render(main, ctx) {
  const canEdit = !ctx || !ctx.me || atLeast(ctx.me.role, 'member');
  const listing = h('div', {class: 'list'});
  const q = h('input', {type: 'search', name: 'q', maxlength: 1000, placeholder: 'Search memories', 'aria-label': 'Search memories'});
  const search = h('form', {class: 'memory-search actions'}, q, h('button', {type: 'submit'}, 'Search'));
  const text = h('textarea', {rows: 3, required: true, maxlength: 8192, name: 'text'});
  const tags = h('input', {type: 'text', name: 'tags', spellcheck: 'false', placeholder: 'ops, deploy'});
  const scope = h('select', {name: 'scope'},
    h('option', {value: 'user'}, 'Only my tasks'),
    h('option', {value: 'tenant'}, 'Every task of the team'));
  const errors = h('div', {class: 'errors'});
  const done = h('div');
  const save = h('button', {type: 'submit', class: 'primary'}, 'Remember');
  const form = h('form', {class: 'card new-memory'},
    h('h2', null, 'New memory'),
    field('Text', text, 'One fact for later tasks; at most 8 KB. Tasks find it with recall.'),
    h('div', {class: 'grid'}, field('Tags', tags, 'Comma-separated.'), field('Who recalls it', scope)),
    errors, h('div', {class: 'actions'}, save), done);
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Memory')), search, listing);
  if (canEdit) main.append(form);

  async function load() {
    try {
      const query = q.value.trim();
      const path = '/api/v1/memories' + (query ? '?q=' + encodeURIComponent(query) : '');
      const ms = list(await api('GET', path), 'memories');
      clear(listing).append(ms.length ? table(ms)
        : empty(query ? 'No memory matches.' : 'No memories yet. Agents keep facts here with the remember tool, and find them in later tasks with recall.'));
    } catch (e) {
      clear(listing).append(errorBox(e));
    }
  }

  function table(ms) {
    return h('div', {class: 'scroll'}, h('table', {class: 'memories responsive'},
      h('thead', null, h('tr', null, ['Memory', 'Tags', 'Scope', 'Changed', ''].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', null, ms.map(row))));
  }

  function row(m) {
    const err = h('div', {class: 'errors'});
    const editBox = h('div', {class: 'edit-box'});
    const actions = h('div', {class: 'row-actions'});
    if (canEdit) {
      const edit = h('button', {type: 'button'}, 'Edit');
      const del = h('button', {type: 'button', class: 'danger'}, 'Forget');
      edit.addEventListener('click', () => {
        if (editBox.firstChild) { clear(editBox); return; }
        editBox.append(editForm(m, err));
        editBox.querySelector('textarea').focus();
      });
      del.addEventListener('click', () => {
        if (del.dataset.armed !== '1') {
          del.dataset.armed = '1';
          del.textContent = 'Click again to forget';
          return;
        }
        busy(del, err, async () => { await api('DELETE', memoryURL(m.id)); await load(); });
      });
      actions.append(edit, del);
      if (m.tainted) {
        const trust = h('button', {type: 'button'}, 'Mark checked');
        trust.title = 'Clear the taint: you have read this memory and it holds no instructions from outside.';
        trust.addEventListener('click', () => busy(trust, err, async () => {
          await api('PUT', memoryURL(m.id), {text: m.text, tags: m.tags || [], tainted: false});
          await load();
        }));
        actions.append(trust);
      }
    }
    const textCell = h('td', {'data-label': 'Memory', class: 'text'}, h('div', {class: 'memory-text'}, m.text));
    if (m.tainted) {
      textCell.append(h('span', {class: 'badge warn tainted', title: 'Written by a task that had read text flagged as prompt injection: tasks see it as untrusted.'}, 'untrusted'));
    }
    return h('tr', {dataset: {id: m.id}, class: m.tainted ? 'tainted' : null},
      textCell,
      h('td', {'data-label': 'Tags', class: 'tags'}, (m.tags || []).map(t => h('code', null, shown(t)))),
      h('td', {'data-label': 'Scope', class: 'scope'}, m.user ? 'mine' : 'team'),
      h('td', {'data-label': 'Changed'}, timeEl(m.updated || m.created)),
      h('td', null, actions, editBox, err));
  }

  function editForm(m, err) {
    const t = h('textarea', {rows: 3, required: true, maxlength: 8192, 'aria-label': 'Text'}, m.text);
    const tg = h('input', {type: 'text', value: (m.tags || []).join(', '), 'aria-label': 'Tags'});
    const ok = h('button', {type: 'submit', class: 'primary'}, 'Save');
    const f = h('form', {class: 'edit'}, field('Text', t), field('Tags', tg), h('div', {class: 'actions'}, ok));
    f.addEventListener('submit', ev => {
      ev.preventDefault();
      busy(ok, err, async () => {
        await api('PUT', memoryURL(m.id), {text: t.value, tags: tagList(tg.value)});
        await load();
      });
    });
    return f;
  }

  search.addEventListener('submit', ev => { ev.preventDefault(); load(); });
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(done);
    busy(save, errors, async () => {
      await api('POST', '/api/v1/memories', {text: text.value, tags: tagList(tags.value), scope: scope.value});
      text.value = '';
      tags.value = '';
      done.append(note('Remembered.', 'ok'));
      await load();
    });
  });
  await load();
}
