// The staff portal: reads location.pathname, asks the member to sign in
// if needed, and renders the page from the /v1 API.
import { token, setToken, clearToken, claims, expired, request, get, whenUnauthorized } from './api.js';
import { h, replace, showError, clear, words } from './dom.js';
import { staffName } from './shared.js';
import { incidentPage } from './incident.js';
import { restrictionPage } from './restriction.js';
import { homePage } from './home.js';
import { publicNamingPage, subjectPage, evidencePage } from './records.js';

const pageEl = document.getElementById('page');
const alertEl = document.getElementById('page-alert');
const whoEl = document.getElementById('who');

const routes = {
  incidents: incidentPage,
  restrictions: restrictionPage,
  publicNamings: publicNamingPage,
  subjects: subjectPage,
  evidence: evidencePage,
};

whenUnauthorized((err) => {
  clearToken();
  showError(alertEl, new Error(err.message + ' Sign in again to continue.'));
  render();
});

function route() {
  const path = location.pathname;
  if (path === '/') return { page: homePage, title: 'Home' };
  const m = /^\/([A-Za-z]+)\/([A-Za-z0-9_-]+)$/.exec(path);
  if (m && routes[m[1]]) return { page: routes[m[1]], name: m[1] + '/' + m[2] };
  return null;
}

async function render() {
  const t = token();
  if (!t || expired(t)) {
    if (t) {
      clearToken();
      showError(alertEl, new Error('Your session has ended. Sign in again to continue.'));
    }
    renderWho(null);
    document.title = 'Sign in · ContactGuard staff portal';
    await signIn();
    return;
  }
  renderWho(claims(t));
  const r = route();
  if (!r) {
    replace(pageEl, h('h1', null, 'Page not found'), h('p', null, 'This address is not a page of the portal. ', h('a', { href: '/' }, 'Go to the home page.')));
    return;
  }
  replace(pageEl, h('p', null, 'Loading…'));
  try {
    await r.page(pageEl, r.name);
  } catch (err) {
    replace(pageEl, h('h1', null, 'This page could not be shown'), h('p', null, h('a', { href: '/' }, 'Go to the home page.')));
    showError(alertEl, err);
  }
}

function renderWho(c) {
  if (!c) {
    replace(whoEl);
    return;
  }
  const name = h('strong', null, c.sub);
  staffName(c.sub).then((n) => { name.textContent = n; });
  const out = h('button', { type: 'button', class: 'link' }, 'Sign out');
  out.addEventListener('click', () => {
    clearToken();
    clear(alertEl);
    render();
  });
  replace(whoEl,
    h('p', null, 'Signed in as ', name),
    h('p', { class: 'hint' }, `${c.org} · roles: ${(c.roles || []).map((r) => words(r)).join(', ') || 'none'}`),
    out);
}

async function signIn() {
  let staff = null;
  let devRefused = null;
  try {
    staff = (await get('/dev/staff')).staff || [];
  } catch (err) {
    devRefused = err;
  }
  const formAlert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const heading = h('h1', { tabindex: '-1' }, 'Sign in');
  if (staff) {
    const orgs = new Map();
    for (const m of staff) {
      if (!orgs.has(m.organization_name)) orgs.set(m.organization_name, []);
      orgs.get(m.organization_name).push(m);
    }
    replace(pageEl, heading,
      h('p', null, 'This gateway runs in development mode: choose one of the seeded staff to act as. Outside development, sign-in goes through your organisation\u2019s identity provider.'),
      formAlert,
      [...orgs].map(([org, members]) => h('section', null, h('h2', null, org),
        h('ul', { class: 'people' }, members.map((m) => h('li', null, devButton(m, formAlert)))))));
    return;
  }
  const ta = h('textarea', { id: 'token', name: 'token', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false' });
  const f = h('form', { class: 'action' },
    h('div', { class: 'field' }, h('label', { for: 'token' }, 'Bearer token'), ta),
    formAlert, h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Sign in')));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(formAlert);
    const t = ta.value.trim().replace(/^Bearer\s+/i, '');
    if (!claims(t)) {
      showError(formAlert, new Error('That is not a token this portal can read: paste the whole token, three parts separated by dots.'));
      return;
    }
    await accept(t, formAlert);
  });
  replace(pageEl, heading,
    h('p', null, 'Sign-in through your organisation\u2019s identity provider is set up by your IT team; until it is, paste the bearer token you were given. It is kept in this browser tab only and is forgotten when the tab closes.'),
    devRefused && devRefused.status !== 403 ? h('p', { class: 'hint' }, 'The list of development staff could not be loaded: ' + devRefused.message) : null,
    f);
}

function devButton(m, formAlert) {
  const b = h('button', { type: 'button', class: 'person' },
    h('span', { class: 'pname' }, m.name),
    h('span', { class: 'hint' }, `${m.team} · ${(m.roles || []).map((r) => words(r)).join(', ')} · ${m.staff_id}`));
  b.addEventListener('click', async () => {
    clear(formAlert);
    b.disabled = true;
    try {
      const got = await request('POST', '/dev/token', { staff_id: m.staff_id });
      await accept(got.token, formAlert);
    } catch (err) {
      showError(formAlert, err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// accept keeps a token once the gateway has taken it, then shows the page
// the member came for.
async function accept(t, formAlert) {
  const c = claims(t);
  setToken(t);
  try {
    await get('/v1/staff/' + encodeURIComponent(c.sub));
  } catch (err) {
    // The directory may not know every member; only a refused token stops here.
    if (err.status === 401 || err.status === 403) {
      clearToken();
      showError(formAlert, err);
      return;
    }
  }
  clear(alertEl);
  await render();
  document.getElementById('main').focus();
}

render();
