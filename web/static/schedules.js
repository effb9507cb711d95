// schedules.js is the tenant's schedules: each starts a task at the ticks
// of its cron spec, as the person who made it. The list shows when each
// fires next, how often it ran and was skipped and why (or why it
// stopped); members add schedules and delete their own (admins any).
import {api, list, atLeast} from './api.js';
import {h, clear, field, errorBox, empty, note, busy, timeEl, firstLine, shown} from './dom.js';

function scheduleURL(id) {
  return '/api/v1/schedules/' + encodeURIComponent(id);
}

export async function render(main, ctx) {
  const canAdd = atLeast(ctx.me.role, 'member');
  const listing = h('div', {class: 'list'});
  const cron = h('input', {type: 'text', required: true, maxlength: 200, spellcheck: 'false', placeholder: '0 9 * * 1-5', name: 'cron'});
  const tz = h('input', {type: 'text', maxlength: 64, spellcheck: 'false', placeholder: 'UTC', name: 'timezone'});
  try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { tz.value = ''; }
  const input = h('textarea', {rows: 4, required: true, name: 'input', placeholder: 'Summarise yesterday’s support tickets'});
  const model = h('input', {type: 'text', maxlength: 200, spellcheck: 'false', placeholder: 'the tenant’s model', name: 'model'});
  const overlap = h('input', {type: 'checkbox', name: 'overlap'});
  const errors = h('div', {class: 'errors'});
  const done = h('div');
  const save = h('button', {type: 'submit', class: 'primary'}, 'Add schedule');
  const form = h('form', {class: 'card new-schedule'},
    h('h2', null, 'New schedule'),
    h('div', {class: 'grid'},
      field('When', cron, 'Five cron fields (0 9 * * 1-5: 09:00 on weekdays), @hourly, @daily, or @every 2h.'),
      field('Time zone', tz, 'An IANA name such as Europe/Paris; empty: UTC.')),
    field('Task', input, 'What the agent is asked at each tick.'),
    field('Model', model, 'Empty: the tenant’s model.'),
    h('label', {class: 'check'}, overlap, ' Start a new run even while the previous one still runs'),
    errors, h('div', {class: 'actions'}, save), done);
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Schedules')), listing);
  if (canAdd) main.append(form);

  async function load() {
    try {
      const schedules = list(await api('GET', '/api/v1/schedules'), 'schedules');
      clear(listing).append(schedules.length ? table(schedules)
        : empty('No schedules. Add one below to run a task every morning, every hour, or on the days you choose.'));
    } catch (e) {
      clear(listing).append(errorBox(e));
    }
  }

  function table(schedules) {
    return h('div', {class: 'scroll'}, h('table', {class: 'schedules responsive'},
      h('thead', null, h('tr', null, ['When', 'Task', 'Next run', 'Runs', 'Skipped', ''].map(c => h('th', {scope: 'col'}, c)))),
      h('tbody', null, schedules.map(row))));
  }

  function row(sc) {
    const err = h('div', {class: 'errors'});
    const del = h('button', {type: 'button', class: 'danger'}, 'Delete');
    del.addEventListener('click', () => {
      if (del.dataset.armed !== '1') {
        del.dataset.armed = '1';
        del.textContent = 'Click again to delete';
        return;
      }
      busy(del, err, async () => { await api('DELETE', scheduleURL(sc.id)); await load(); });
    });
    const next = sc.stopped
      ? h('span', {class: 'stopped'}, 'Stopped: ' + sc.stopped)
      : timeEl(sc.next_run);
    const skipped = h('td', {'data-label': 'Skipped', class: 'skipped'}, String(sc.skipped || 0));
    if (sc.skip_reason) {
      skipped.append(h('div', {class: 'muted'}, sc.skip_reason), h('div', {class: 'muted'}, timeEl(sc.last_skipped)));
    }
    const last = sc.last_task ? h('a', {href: '/tasks/' + encodeURIComponent(sc.last_task)}, 'last run') : null;
    return h('tr', {dataset: {id: sc.id}},
      h('td', {'data-label': 'When'}, h('code', null, sc.cron), h('div', {class: 'muted'}, sc.timezone || 'UTC')),
      h('td', {'data-label': 'Task', class: 'input'}, shown(firstLine(sc.input, 120))),
      h('td', {'data-label': 'Next run', class: 'next'}, next),
      h('td', {'data-label': 'Runs', class: 'runs'}, String(sc.runs || 0), last ? ' · ' : '', last),
      skipped,
      h('td', null, canAdd ? h('div', {class: 'row-actions'}, del) : null, err));
  }

  form.addEventListener('submit', ev => {
    ev.preventDefault();
    clear(done);
    busy(save, errors, async () => {
      const body = {cron: cron.value.trim(), timezone: tz.value.trim(), input: input.value, overlap: overlap.checked};
      if (model.value.trim()) body.model = model.value.trim();
      const sc = await api('POST', '/api/v1/schedules', body);
      input.value = '';
      done.append(note('Schedule added; it runs next at ' + new Date(sc.next_run).toLocaleString() + '.', 'ok'));
      await load();
    });
  });
  await load();
}
