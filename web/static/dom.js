// dom.js builds the DOM from data without ever parsing HTML: text goes in
// as text nodes (textContent) and attributes through setAttribute, so
// nothing a model, a tool, a web page or a user wrote can become markup.
// The page's Trusted Types policy makes every HTML sink throw besides.

// h returns a new element: h('a', {href: '/x', class: 'btn'}, 'text', node).
// Props: class, text, dataset (an object), on<event> (a function), and
// attributes (true sets an empty attribute; false, null and undefined
// skip it). Children are nodes, strings (as text) or arrays of them.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

// add appends children (nodes, strings, arrays; null skipped) to el.
export function add(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else if (c instanceof Node) el.append(c);
    else el.append(document.createTextNode(String(c)));
  }
  return el;
}

// clear removes every child of el.
export function clear(el) {
  el.replaceChildren();
  return el;
}

const dateTime = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
const timeOnly = new Intl.DateTimeFormat(undefined, {timeStyle: 'medium'});
const zone = new Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';

// validDate returns a Date of an RFC 3339 string, or null for none or the
// zero time.
function validDate(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return isNaN(d) || d.getUTCFullYear() <= 1 ? null : d;
}

// fmtTime formats an RFC 3339 time in the viewer's zone ('' for none).
export function fmtTime(iso, short) {
  const d = validDate(iso);
  if (!d) return '';
  return (short ? timeOnly : dateTime).format(d);
}

// timeEl is a <time> element of iso in the viewer's zone, with the zone
// and the exact time in its title.
export function timeEl(iso, short) {
  const d = validDate(iso);
  if (!d) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: d.toISOString(), title: d.toISOString() + ' (shown in ' + zone + ')'}, fmtTime(iso, short));
}

// fmtDuration formats milliseconds as "1h 2m", "3m 4s", "5.6s".
export function fmtDuration(ms) {
  if (!(ms >= 0)) return '';
  if (ms < 10000) return (ms / 1000).toFixed(1) + 's';
  const s = Math.round(ms / 1000), m = Math.floor(s / 60), hr = Math.floor(m / 60);
  if (hr > 0) return `${hr}h ${m % 60}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

// fmtBytes formats a size: "512 B", "1.5 KiB", "2.0 MiB".
export function fmtBytes(n) {
  if (!(n >= 0)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

const numbers = new Intl.NumberFormat();
export function fmtNumber(n) { return typeof n === 'number' ? numbers.format(n) : ''; }

const money = new Intl.NumberFormat(undefined, {style: 'currency', currency: 'USD', maximumFractionDigits: 4});
export function fmtCost(n) { return typeof n === 'number' && n > 0 ? money.format(n) : ''; }

// statusBadge shows a task status.
export function statusBadge(status) {
  return h('span', {class: 'badge status-' + String(status || 'unknown').replace(/[^a-z]/g, '')}, status || 'unknown');
}

// errorBox is a message for an error, announced to screen readers.
export function errorBox(err) {
  return h('p', {class: 'error', role: 'alert'}, err && err.message ? err.message : String(err));
}

// note is a short status line, announced politely.
export function note(text, cls) {
  return h('p', {class: 'note ' + (cls || ''), role: 'status'}, text);
}

// empty is an empty state: a sentence and, optionally, what to do next.
export function empty(text, action) {
  return h('div', {class: 'empty'}, h('p', null, text), action || null);
}

// field is a labelled form control: field('Name', input, 'help text').
let fieldSeq = 0;
export function field(label, control, help) {
  if (!control.id) control.id = 'f' + (++fieldSeq);
  let helpEl = null;
  if (help) {
    helpEl = h('small', {id: control.id + '-help', class: 'help'}, help);
    control.setAttribute('aria-describedby', helpEl.id);
  }
  return h('div', {class: 'field'}, h('label', {for: control.id}, label), control, helpEl);
}

// busy disables a button while an async action runs, and reports the
// action's error into errEl (cleared first).
export async function busy(button, errEl, action) {
  button.disabled = true;
  if (errEl) clear(errEl);
  try {
    return await action();
  } catch (e) {
    if (errEl) errEl.append(errorBox(e));
    else throw e;
  } finally {
    button.disabled = false;
  }
}

// pathURL encodes a workspace path for a URL, segment by segment.
export function pathURL(p) {
  return String(p).split('/').filter(Boolean).map(encodeURIComponent).join('/');
}

// invisible matches what shown spells out: every control (Cc, the C1
// controls included), format character (Cf: bidirectional overrides,
// embeddings, isolates and marks, zero-width characters, tag characters),
// lone surrogate, line or paragraph separator, and the characters shown
// as nothing though not of category Cf. It is the set of
// bulwark.IsInvisibleFormat (names.go) with the controls;
// TestShownMatchesGo holds the two together.
const invisible = /[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029\u034F\uFE00-\uFE0F\u180B-\u180D\u180F\u115F\u1160\u3164\uFFA0\u17B4\u17B5\u{E0100}-\u{E01EF}]/gu;

// shownPattern matches an emoji sequence, whose joiners (U+200D) and
// presentation selectors (U+FE0E, U+FE0F) only draw the emoji and are
// left alone ("👩‍💻" stays one picture), or one character of invisible.
const shownPattern = new RegExp('(\\p{Extended_Pictographic}[\\uFE0E\\uFE0F]?(?:\\u200D\\p{Extended_Pictographic}[\\uFE0E\\uFE0F]?)*)|' + invisible.source, 'gu');

// shown returns a name (a file's path, a skill's, a task's title, a tool
// call's target) as the page shows it: each character that would be
// invisible or would change how the name reads around it spelled out as
// its code point, "report\u202Efdp.exe" as "report⟨U+202E⟩fdp.exe",
// so a name cannot pass for another. Only what is shown changes: links
// and requests go on using the name itself.
export function shown(name) {
  return String(name ?? '').replace(shownPattern, (c, emoji) => emoji ||
    '⟨U+' + c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0') + '⟩');
}

// fileName is a download's file name: the base name of path without the
// characters shown spells out, as the server's Content-Disposition has it.
export function fileName(path) {
  return String(path).split('/').pop().replace(invisible, '');
}

// firstLine returns the first line of text, cut at max characters.
export function firstLine(text, max) {
  const line = String(text || '').split('\n', 1)[0];
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}
