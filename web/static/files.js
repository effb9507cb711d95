// files.js is a task's workspace files, and nothing outside them: browse
// its folders, preview a text file, download any, upload into it (PUT
// /api/v1/tasks/{id}/files/{path}). Paths come from the server's listing
// and go back URL-encoded segment by segment; the server confines them.
import {api, request, list, atLeast, taskURL} from './api.js';
import {h, add, clear, timeEl, errorBox, empty, note, fmtBytes, field, busy, pathURL, firstLine, shown, fileName} from './dom.js';

const previewMax = 512 << 10; // bytes of a file shown as text

// entries returns the folders and files directly in folder (a prefix
// ending in '/', or '' for the top).
export function entries(files, folder) {
  const dirs = new Map();
  const here = [];
  for (const f of files) {
    if (!f.path.startsWith(folder)) continue;
    const rest = f.path.slice(folder.length);
    const i = rest.indexOf('/');
    if (i < 0) here.push(f);
    else {
      const d = rest.slice(0, i);
      const cur = dirs.get(d) || {name: d, count: 0, size: 0};
      cur.count++;
      cur.size += f.size >= 0 ? f.size : NaN; // a file listed without its size (masked): the folder's is unknown too
      dirs.set(d, cur);
    }
  }
  return {dirs: [...dirs.values()].sort((a, b) => a.name.localeCompare(b.name)), files: here};
}

// looksText reports whether bytes are probably text: valid UTF-8 with no
// NUL byte.
export function looksText(bytes) {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', {fatal: true}).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export async function render(main, ctx) {
  const id = ctx.id;
  const task = await api('GET', taskURL(id));
  const canUpload = atLeast(ctx.me.role, 'member');
  let folder = '';
  let files = [];
  const crumbs = h('nav', {class: 'crumbs', 'aria-label': 'Folder'});
  const listing = h('div', {class: 'list'});
  const preview = h('section', {class: 'preview', 'aria-label': 'Preview', hidden: true});
  const upErr = h('div', {class: 'errors'});
  const upNote = h('div');
  const picker = h('input', {type: 'file', multiple: true, name: 'upload'});
  const upload = h('button', {type: 'submit'}, 'Upload');
  const upForm = h('form', {class: 'card upload'},
    h('h2', null, 'Upload into this folder'),
    field('Files', picker, 'They land in the folder shown above; a file of the same name is replaced.'),
    h('div', {class: 'actions'}, upload), upNote, upErr);

  add(main, [
    h('div', {class: 'page-head'},
      h('h1', null, 'Files'),
      h('a', {class: 'button', href: '/tasks/' + encodeURIComponent(id)}, 'Back to the task')),
    h('p', {class: 'muted'}, 'The workspace of ', h('a', {href: '/tasks/' + encodeURIComponent(id)}, shown(firstLine(task.input, 80)) || id),
      '. The agent sees only these files.'),
    crumbs, listing, preview, canUpload ? upForm : null]);

  async function load() {
    try {
      files = list(await api('GET', taskURL(id, 'files')), 'files', 'artifacts');
    } catch (e) {
      clear(listing).append(errorBox(e));
      return;
    }
    show();
  }

  function show() {
    const parts = folder.split('/').filter(Boolean);
    clear(crumbs).append(crumb('workspace', ''),
      parts.map((p, i) => [' / ', crumb(shown(p), parts.slice(0, i + 1).join('/') + '/')]));
    const {dirs, files: here} = entries(files, folder);
    if (!dirs.length && !here.length) {
      clear(listing).append(empty(folder ? 'This folder is empty.' : 'No files yet. The agent\'s output and your uploads appear here.'));
      return;
    }
    clear(listing).append(h('table', {class: 'files responsive'},
      h('thead', null, h('tr', null, ['Name', 'Size', 'Changed', ''].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', null,
        dirs.map(d => h('tr', {class: 'dir'},
          h('td', {'data-label': 'Name'}, h('button', {type: 'button', class: 'link', onclick: () => go(folder + d.name + '/')}, shown(d.name) + '/')),
          h('td', {'data-label': 'Size', class: 'num'}, `${d.count} file${d.count === 1 ? '' : 's'}`),
          h('td', null), h('td', null))),
        here.map(fileRow))));
  }

  function crumb(label, to) {
    if (to === folder) return h('span', {'aria-current': 'location'}, label);
    return h('button', {type: 'button', class: 'link', onclick: () => go(to)}, label);
  }

  function go(to) {
    folder = to;
    preview.hidden = true;
    show();
  }

  function fileRow(f) {
    const name = f.path.slice(folder.length);
    const url = taskURL(id, 'files', pathURL(f.path));
    return h('tr', null,
      h('td', {'data-label': 'Name'}, h('span', {class: 'mono'}, shown(name)), f.uploaded ? h('span', {class: 'badge'}, 'uploaded') : null),
      h('td', {'data-label': 'Size', class: 'num'}, fmtBytes(f.size)),
      h('td', {'data-label': 'Changed'}, timeEl(f.created)),
      h('td', null, h('div', {class: 'row-actions'},
        h('button', {type: 'button', onclick: () => showPreview(f, url)}, 'Preview'),
        h('a', {class: 'button', href: url, download: fileName(name)}, 'Download'))));
  }

  async function showPreview(f, url) {
    preview.hidden = false;
    clear(preview).append(h('h2', null, shown(f.path)), note('Loading…'));
    if (f.size > previewMax) {
      clear(preview).append(h('h2', null, shown(f.path)), note(`Too large to preview (${fmtBytes(f.size)}): download it instead.`));
      return;
    }
    try {
      const res = await request('GET', url);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const body = looksText(bytes)
        ? h('pre', {class: 'file-text', tabindex: 0}, new TextDecoder().decode(bytes))
        : note('This is not a text file: download it to open it.');
      clear(preview).append(h('h2', null, shown(f.path)), body);
    } catch (e) {
      clear(preview).append(h('h2', null, shown(f.path)), errorBox(e));
    }
    preview.scrollIntoView({block: 'nearest'});
  }

  upForm.addEventListener('submit', ev => {
    ev.preventDefault();
    const chosen = [...picker.files];
    if (!chosen.length) {
      clear(upErr).append(errorBox('Choose one or more files first.'));
      return;
    }
    busy(upload, upErr, async () => {
      for (const [i, f] of chosen.entries()) {
        clear(upNote).append(note(`Uploading ${f.name} (${i + 1} of ${chosen.length})…`));
        await request('PUT', taskURL(id, 'files', pathURL(folder + f.name)), {
          body: f, headers: {'Content-Type': 'application/octet-stream'}});
      }
      clear(upNote).append(note(chosen.length === 1 ? `Uploaded ${chosen[0].name}.` : `Uploaded ${chosen.length} files.`));
      picker.value = '';
      await load();
    }).catch(() => {});
  });

  await load();
}
