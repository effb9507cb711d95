// newtask.js is the new-task form: the task text, an optional model and
// limits, and files to put in the task's workspace. The task is created
// first (POST /api/v1/tasks), then each file is uploaded into it (PUT
// .../files/NAME), then the browser goes to the task's view.
import {api, request, taskURL} from './api.js';
import {h, clear, field, errorBox, note, pathURL} from './dom.js';

// limitsOf reads the limit fields; empty ones are left out (the tenant's
// settings apply).
export function limitsOf(f) {
  const l = {};
  const int = (el) => el.value === '' ? 0 : Math.floor(Number(el.value));
  if (int(f.steps) > 0) l.max_steps = int(f.steps);
  if (int(f.tokens) > 0) l.max_tokens = int(f.tokens);
  if (Number(f.cost.value) > 0) l.max_cost = Number(f.cost.value);
  if (Number(f.minutes.value) > 0) l.max_duration = Math.round(Number(f.minutes.value) * 60e9); // nanoseconds
  return l;
}

export async function render(main) {
  const input = h('textarea', {name: 'input', rows: 6, required: true, maxlength: 100000,
    placeholder: 'What should the agent do? For example: summarise report.csv into summary.md'});
  const model = h('input', {name: 'model', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'the tenant default'});
  const files = h('input', {name: 'files', type: 'file', multiple: true});
  const lim = {
    steps: h('input', {type: 'number', min: 1, max: 10000, step: 1, inputmode: 'numeric'}),
    tokens: h('input', {type: 'number', min: 1, step: 1, inputmode: 'numeric'}),
    cost: h('input', {type: 'number', min: 0, step: 0.01, inputmode: 'decimal'}),
    minutes: h('input', {type: 'number', min: 0, step: 1, max: 1440, inputmode: 'numeric'}),
  };
  const errors = h('div', {class: 'errors'});
  const progress = h('div', {class: 'progress'});
  const submit = h('button', {type: 'submit', class: 'primary'}, 'Start task');
  const form = h('form', {class: 'card'},
    h('h1', null, 'New task'),
    field('Task', input, 'Plain text. The agent works in a fresh workspace with the files you add below.'),
    field('Model', model, 'PROVIDER:MODEL, such as openai:gpt-4o. Empty: the model in the settings.'),
    field('Files', files, 'Uploaded into the task\'s workspace after it is created.'),
    h('details', {class: 'limits'},
      h('summary', null, 'Limits'),
      h('p', {class: 'help'}, 'Empty fields take the tenant\'s limits; a task cannot go above them.'),
      h('div', {class: 'grid'},
        field('Max steps', lim.steps), field('Max tokens', lim.tokens),
        field('Max cost (USD)', lim.cost), field('Max time (minutes)', lim.minutes))),
    errors, progress,
    h('div', {class: 'actions'}, submit));
  main.append(form);

  api('GET', '/api/v1/settings').then(s => {
    if (s && s.effective_model) model.placeholder = s.default_model ? s.effective_model : s.effective_model + ' (the default)';
  }).catch(() => {});

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clear(errors);
    clear(progress);
    if (!input.value.trim()) {
      errors.append(errorBox('Say what the agent should do.'));
      input.focus();
      return;
    }
    submit.disabled = true;
    let task;
    try {
      const body = {input: input.value};
      if (model.value.trim()) body.model = model.value.trim();
      const limits = limitsOf(lim);
      if (Object.keys(limits).length) body.limits = limits;
      task = await api('POST', '/api/v1/tasks', body);
    } catch (e) {
      errors.append(errorBox(e));
      submit.disabled = false;
      return;
    }
    const view = '/tasks/' + encodeURIComponent(task.id);
    const chosen = [...files.files];
    for (let i = 0; i < chosen.length; i++) {
      const f = chosen[i];
      clear(progress).append(note(`Uploading ${f.name} (${i + 1} of ${chosen.length})…`));
      try {
        await request('PUT', taskURL(task.id, 'files', pathURL(f.name)), {
          body: f, headers: {'Content-Type': 'application/octet-stream'}});
      } catch (e) {
        clear(progress);
        errors.append(errorBox(`The task started, but ${f.name} was not uploaded: ${e.message}`),
          h('p', null, h('a', {href: view}, 'Open the task')));
        return;
      }
    }
    location.assign(view);
  });
}
