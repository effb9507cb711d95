// app.js starts every page: it finds out who is logged in (GET
// /api/v1/me), shows the navigation that user's role may use, then loads
// the page's module (named by <body data-page>) and lets it render into
// <main>. A page module exports render(main, ctx).
import {api, atLeast, APIError} from './api.js';
import {clear, errorBox} from './dom.js';

const pages = {
  login: () => import('./login.js'),
  tasks: () => import('./tasks.js'),
  newtask: () => import('./newtask.js'),
  task: () => import('./task.js'),
  files: () => import('./files.js'),
  settings: () => import('./settings.js'),
  keys: () => import('./keys.js'),
  memories: () => import('./memories.js'),
  secrets: () => import('./secrets.js'),
  schedules: () => import('./schedules.js'),
  skills: () => import('./skills.js'),
  users: () => import('./users.js'),
  audit: () => import('./audit.js'),
  security: () => import('./security.js'),
  account: () => import('./account.js'),
};

function showNav(me) {
  const nav = document.getElementById('nav');
  for (const li of nav.querySelectorAll('[data-role]')) {
    li.hidden = !atLeast(me.role, li.dataset.role);
  }
  const who = document.getElementById('who');
  who.textContent = (me.user && me.user.email) || 'API key';
  who.title = 'Role: ' + me.role;
  document.getElementById('logout').addEventListener('click', logout);
  nav.hidden = false;
}

async function logout() {
  try {
    await api('POST', '/api/v1/logout', undefined, {login: false});
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 401) {
      alertError(e);
      return;
    }
  }
  location.assign('/login');
}

function alertError(e) {
  const main = document.getElementById('main');
  main.prepend(errorBox(e));
}

async function start() {
  const main = document.getElementById('main');
  const body = document.body;
  const page = body.dataset.page;
  const ctx = {id: body.dataset.id || '', params: new URLSearchParams(location.search), me: null};
  try {
    if (page !== 'login') {
      ctx.me = await api('GET', '/api/v1/me');
      if (ctx.me.enrol_second_factor && page !== 'account') { // the tenant requires a second factor first
        location.assign('/account');
        return;
      }
      showNav(ctx.me);
    }
    const load = pages[page];
    if (!load) throw new Error('This page does not exist.');
    const mod = await load();
    clear(main);
    await mod.render(main, ctx);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return; // on the way to the login page
    clear(main).append(errorBox(e));
  }
}

start();
