// security.js is the tenant's Security page (admins): charts of the
// security events of the last day (by hour) or week (by day) and of
// usage, from GET /api/v1/security. The server draws each chart (its
// shapes: bars, axis, labels, computed in Go); this module only makes
// those SVG elements with createElementNS and textContent, and each bar
// links to the audit records it counts (the /audit page, filtered).
import {api} from './api.js';
import {h, clear, errorBox, note, fmtNumber} from './dom.js';

const svgNS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// sameOrigin keeps a link only when it is the audit page of this site
// (the only link the server draws): a bare "starts with one /" check let
// "/\\host" through, which a browser reads as "//host", another site.
function sameOrigin(href) {
  return typeof href === 'string' && href.startsWith('/audit?') && !href.includes('\\') ? href : '';
}

// drawChart makes the SVG of a chart the server drew.
export function drawChart(c) {
  const svg = svgEl('svg', {viewBox: `0 0 ${c.width} ${c.height}`, class: 'chart', role: 'img'});
  svg.setAttribute('aria-label', c.title);
  for (const s of c.shapes || []) {
    let el;
    switch (s.kind) {
      case 'rect':
        el = svgEl('rect', {x: s.x, y: s.y, width: s.w || 0, height: s.h || 0, class: s.class || ''});
        break;
      case 'line':
        el = svgEl('line', {x1: s.x, y1: s.y, x2: s.x2 || 0, y2: s.y2 || 0, class: s.class || ''});
        break;
      case 'text':
        el = svgEl('text', {x: s.x, y: s.y, class: s.class || '', 'text-anchor': s.anchor || 'start'});
        el.textContent = s.text || '';
        break;
      default:
        continue;
    }
    if (s.title) {
      const t = document.createElementNS(svgNS, 'title');
      t.textContent = s.title;
      el.append(t);
    }
    const href = sameOrigin(s.href);
    if (href) {
      const a = svgEl('a', {href});
      a.append(el);
      el = a;
    }
    svg.append(el);
  }
  return svg;
}

function card(c, fmt) {
  return h('figure', {class: 'card chart-card', 'data-series': c.name},
    h('figcaption', null, c.title, ' ', h('strong', {class: 'chart-total'}, fmt(c.total))),
    drawChart(c));
}

export async function render(main) {
  const day = h('button', {type: 'button', 'aria-pressed': 'true'}, 'Last day');
  const week = h('button', {type: 'button', 'aria-pressed': 'false'}, 'Last week');
  const out = h('div', {class: 'security'});
  main.append(h('div', {class: 'page-head'}, h('h1', null, 'Security'), h('div', {class: 'tools'}, day, week)), out);

  async function load(window) {
    day.setAttribute('aria-pressed', String(window === 'day'));
    week.setAttribute('aria-pressed', String(window === 'week'));
    clear(out).append(note('Loading…'));
    try {
      const data = await api('GET', '/api/v1/security?window=' + window);
      clear(out);
      if (data.truncated) out.append(note('The oldest part of this window is counted from the newest records only: there were more than a chart reads.'));
      out.append(
        h('h2', null, 'Security events'),
        h('div', {class: 'charts'}, (data.security || []).map(c => card(c, fmtNumber))),
        h('h2', null, 'Usage'),
        h('div', {class: 'charts'}, (data.usage || []).map(c => card(c, v => c.name === 'cost' ? '$' + v.toFixed(4) : fmtNumber(v)))));
    } catch (e) {
      clear(out).append(errorBox(e));
    }
  }
  day.addEventListener('click', () => load('day'));
  week.addEventListener('click', () => load('week'));
  await load('day');
}
