// api.js calls Bulwark's JSON API from the page, with the session cookie.
// Errors carry the API's own message ({"error": {"message"}}); an ended
// session sends the browser to the login page and back afterwards.

// APIError is a failed call: status 0 when the server was not reached.
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code || '';
  }
}

// toLogin goes to the login page, which comes back here after login.
export function toLogin() {
  const here = location.pathname + location.search;
  location.assign('/login' + (here && here !== '/' ? '?next=' + encodeURIComponent(here) : ''));
}

// request sends a request and returns the Response, or throws APIError.
// init.login false: a 401 is an error, not a trip to the login page.
export async function request(method, path, init = {}) {
  const opts = {method, credentials: 'same-origin', headers: {Accept: 'application/json', ...(init.headers || {})},
    body: init.body, signal: init.signal, cache: 'no-store'};
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  if (res.ok) return res;
  let body = null;
  if ((res.headers.get('Content-Type') || '').includes('json')) body = await res.json().catch(() => null);
  const msg = body && body.error && body.error.message;
  if (res.status === 401 && init.login !== false) {
    toLogin();
  }
  throw new APIError(res.status, body && body.error && body.error.code, msg || `The server answered ${res.status} ${res.statusText}.`);
}

// api sends JSON (when body is given) and returns the decoded answer, or
// null for an answer without a body.
export async function api(method, path, body, init = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await request(method, path, {...init, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// list returns the array of a list answer: {"tasks": [...]} or [...].
export function list(data, ...names) {
  if (Array.isArray(data)) return data;
  for (const n of names) if (data && Array.isArray(data[n])) return data[n];
  return [];
}

// roles in order: each includes the ones before it.
const roles = ['viewer', 'member', 'admin', 'owner'];

// atLeast reports whether role includes min.
export function atLeast(role, min) {
  return roles.indexOf(role) >= 0 && roles.indexOf(role) >= roles.indexOf(min);
}

// taskURL is the API path of a task, or of one of its sub-resources.
export function taskURL(id, ...rest) {
  return '/api/v1/tasks/' + encodeURIComponent(id) + rest.map(r => '/' + r).join('');
}
