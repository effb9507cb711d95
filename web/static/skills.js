// skills.js is the tenant's skills: folders of instructions (SKILL.md
// with front matter naming and describing the skill, and files beside it)
// that every task of the tenant is offered by name and description, and
// reads with load_skill when it needs one. Everyone sees the list and can
// open a skill; admins upload, replace and delete. The operator's skills
// are listed apart: they win over a tenant's skill of the same name.
// Skill text is shown with textContent only.
import {api, list, atLeast} from './api.js';
import {h, clear, field, errorBox, empty, note, busy, timeEl, fmtBytes, shown} from './dom.js';

// skillURL is the API path of one skill.
function skillURL(name) {
  return '/api/v1/skills/' + encodeURIComponent(name);
}

const template = '---\nname: my-skill\ndescription: What the skill is for, and when to use it.\n---\n# My skill\n\nThe steps to follow.\n';

// folderFiles reads the files of a picked folder (NAME/SKILL.md, NAME/...)
// into {path: text}, paths relative to the folder.
async function folderFiles(input) {
  const files = {};
  for (const f of input.files) {
    const rel = f.webkitRelativePath || f.name;
    const p = rel.includes('/') ? rel.slice(rel.indexOf('/') + 1) : rel;
    files[p] = await f.text();
  }
  return files;
}

export async function render(main, ctx) {
  const admin = atLeast(ctx.me.role, 'admin');
  const listing = h('div', {class: 'list'});
  const opListing = h('div', {class: 'list'});
  const viewer = h('div', {class: 'skill-view'});
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Skills')),
    h('p', {class: 'muted'}, 'Tasks see each skill\'s name and description, and read its instructions when the task needs them.'),
    listing);

  const errors = h('div', {class: 'errors'});
  const done = h('div');
  const text = h('textarea', {rows: 12, spellcheck: 'false', name: 'skill', class: 'mono'}, template);
  const folder = h('input', {type: 'file', multiple: true, webkitdirectory: true, name: 'folder'});
  const save = h('button', {type: 'submit', class: 'primary'}, 'Save skill');
  const form = h('form', {class: 'card new-skill'},
    h('h2', null, 'New or replaced skill'),
    field('SKILL.md', text, 'Front matter with name (lowercase letters, digits, hyphens) and description, then the instructions. A skill of the same name is replaced.'),
    field('Or a folder', folder, 'A folder holding SKILL.md and the files beside it (text only): it is used instead of the text above.'),
    errors, h('div', {class: 'actions'}, save), done);
  if (admin) main.append(form);
  main.append(viewer, h('h2', null, 'The operator\'s skills'), opListing);

  async function load() {
    try {
      const data = await api('GET', '/api/v1/skills');
      const skills = list(data, 'skills');
      clear(listing).append(skills.length ? table(skills)
        : empty('No skills yet. A skill teaches tasks how your team does a kind of work.'));
      const ops = list(data, 'operator');
      clear(opListing).append(ops.length ? h('ul', {class: 'operator-skills'}, ops.map(o =>
        h('li', {dataset: {name: o.name}}, h('code', null, shown(o.name)), ' ', o.description)))
        : empty('The operator offers no skills.'));
    } catch (e) {
      clear(listing).append(errorBox(e));
    }
  }

  function table(skills) {
    return h('div', {class: 'scroll'}, h('table', {class: 'skills responsive'},
      h('thead', null, h('tr', null, ['Name', 'Description', 'Files', 'Changed', ''].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', null, skills.map(row))));
  }

  function row(sk) {
    const err = h('div', {class: 'errors'});
    const open = h('button', {type: 'button'}, 'Open');
    open.addEventListener('click', () => busy(open, err, async () => show(await api('GET', skillURL(sk.name)))));
    const actions = [open];
    if (admin) {
      const del = h('button', {type: 'button', class: 'danger'}, 'Delete');
      del.addEventListener('click', () => {
        if (del.dataset.armed !== '1') {
          del.dataset.armed = '1';
          del.textContent = 'Click again to delete';
          return;
        }
        busy(del, err, async () => { await api('DELETE', skillURL(sk.name)); clear(viewer); await load(); });
      });
      actions.push(del);
    }
    return h('tr', {dataset: {name: sk.name}},
      h('td', {'data-label': 'Name', class: 'mono name'}, shown(sk.name)),
      h('td', {'data-label': 'Description', class: 'description'}, sk.description),
      h('td', {'data-label': 'Files'}, String((sk.files || []).length) + ' (' + fmtBytes(sk.size) + ')'),
      h('td', {'data-label': 'Changed'}, timeEl(sk.updated || sk.created)),
      h('td', null, h('div', {class: 'row-actions'}, actions), err));
  }

  // show puts a skill's files in the viewer, SKILL.md first.
  function show(sk) {
    const paths = Object.keys(sk.files || {}).sort((a, b) => (a === 'SKILL.md' ? -1 : b === 'SKILL.md' ? 1 : a.localeCompare(b)));
    const edit = h('button', {type: 'button'}, 'Edit SKILL.md');
    edit.addEventListener('click', () => { text.value = sk.files['SKILL.md'] || ''; text.focus(); });
    clear(viewer).append(h('div', {class: 'card', dataset: {name: sk.name}},
      h('h2', null, shown(sk.name)),
      paths.map(p => h('section', {class: 'skill-file'}, h('h3', {class: 'mono'}, shown(p)), h('pre', {class: 'mono'}, sk.files[p]))),
      admin ? h('div', {class: 'actions'}, edit) : null));
  }

  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(done);
    busy(save, errors, async () => {
      let files;
      if (folder.files && folder.files.length) {
        files = await folderFiles(folder);
      } else {
        files = {'SKILL.md': text.value};
      }
      const m = /^---\s*\n(?:[^\n]*\n)*?name:\s*["']?([a-z0-9-]+)/.exec(files['SKILL.md'] || '');
      if (!m) {
        // The server says what is wrong with it.
        await api('POST', '/api/v1/skills', {files});
        return;
      }
      const res = await api('PUT', skillURL(m[1]), {files});
      folder.value = '';
      done.append(note(`Skill ${shown(res.name)} saved.`, 'ok'));
      if (res.warning) done.append(note(res.warning, 'warn'));
      await load();
    });
  });
  await load();
}
