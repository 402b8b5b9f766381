// The home page: report an incident, the register, the review queue, and
// restrictions due for review.
import { get, post, query } from './api.js';
import { h, replace, words, list, timeEl, field, form, values, isoFromLocal, localNow, recordLink, section, showError, clear } from './dom.js';
import { staff, loadingSection } from './shared.js';

const categories = ['VIOLENCE', 'ABUSE', 'HARASSMENT', 'CONTACT_OUTSIDE_OFFICE', 'NAMING_STAFF_PUBLICLY', 'DEMANDS_ON_OFFICE',
  'LEVELS_OF_CONTACT', 'REFUSAL_TO_COOPERATE', 'REPEATED_COMPLAINTS'].map((c) => ['CATEGORY_' + c, words(c)]);
const channels = ['PHONE', 'IN_PERSON', 'LETTER', 'EMAIL', 'SOCIAL_MEDIA', 'ONLINE_FORM', 'PAPER_FORM', 'EVENT', 'TRAINING_SESSION',
  'ONLINE_PUBLIC_COMMENT', 'OUTSIDE_OFFICE'].map((c) => ['CHANNEL_' + c, words(c)]);

const PAGE = 20;

export async function homePage(root) {
  document.title = 'Home · ContactGuard staff portal';
  replace(root,
    h('h1', { tabindex: '-1' }, 'Unacceptable behaviour: incidents and restrictions'),
    reportSection(),
    queue(),
    dueForReview(),
    register());
}

function reportSection() {
  const f = form('Report an incident', [
    field('categories', 'What kind of behaviour', { kind: 'checkboxes', required: true, options: categories }),
    field('channel', 'How the contact happened', { kind: 'select', required: true, options: channels }),
    field('occurTime', 'When', { kind: 'datetime-local', required: true, value: localNow() }),
    field('location', 'Where', { hint: 'e.g. Phone line, Service Point reception.' }),
    field('description', 'What happened', { kind: 'textarea', required: true, hint: 'Factually and briefly: what was said or done. Emails about the report carry only its reference.' }),
    field('subject', 'Subject (resource name)', { hint: 'The customer\u2019s record if known, e.g. subjects/j4ygqzgd4gdkbteg.' }),
    field('staffInvolved', 'Other staff involved (staff ids)', { hint: 'Separated by commas, e.g. hc-cso-2.' }),
    field('zeroTolerance', 'Zero tolerance (violence or a threat of violence)', { kind: 'checkbox' }),
    field('physicalThreat', 'A physical threat was made', { kind: 'checkbox' }),
  ], 'Report', async (el) => {
    const v = values(el);
    const inc = await post('/v1/incidents', {
      categories: v.categories, channel: v.channel, occurTime: isoFromLocal(v.occurTime), location: v.location,
      description: v.description, subject: v.subject,
      staffInvolved: v.staffInvolved ? v.staffInvolved.split(',').map((s) => s.trim()).filter(Boolean) : [],
      zeroTolerance: v.zeroTolerance, physicalThreat: v.physicalThreat,
    });
    el.reset();
    const status = el.querySelector('[role="status"]');
    replace(status, h('p', null, 'Reported as ', recordLink(inc.name, inc.reference), '.'));
    return '';
  });
  return section('Report', h('details', null, h('summary', null, 'Report an incident'), f));
}

function queue() {
  return loadingSection('Waiting for a decision', async (body) => {
    const res = await get('/v1/incidents:reviewQueue' + query({ pageSize: 50 }));
    const items = res.items || [];
    replace(body, items.length === 0 ? h('p', null, 'Nothing is waiting for a decision.') : h('ul', { class: 'rows' }, items.map((it) => h('li', null,
      recordLink(it.incident.name, it.incident.reference), ' · ', list(it.pendingTasks, (t) => words(t, 'REVIEW_TASK_')),
      ' · waiting since ', timeEl(it.waitingSince)))),
    res.nextPageToken ? h('p', { class: 'hint' }, 'The first 50 are shown.') : null);
  });
}

function dueForReview() {
  return loadingSection('Restrictions due for review in the next 30 days', async (body) => {
    const before = new Date(Date.now() + 30 * 86400000).toISOString();
    const res = await get('/v1/restrictions' + query({ reviewDueBefore: before, pageSize: 50 }));
    const items = res.restrictions || [];
    replace(body, items.length === 0 ? h('p', null, 'No restriction is due for review.') : h('ul', { class: 'rows' }, items.map((r) => h('li', null,
      recordLink(r.name, r.reference), ' · ', words(r.state, 'STATE_'), ' · review by ', timeEl(r.nextReviewTime, { date: true })))));
  });
}

// register is the incident register, a page at a time.
function register() {
  const alertEl = h('div', { class: 'alert', role: 'alert', hidden: true });
  const body = h('div');
  const tokens = ['']; // page tokens of the pages seen; the last is the current page
  const sec = section('The register', alertEl, body);
  const load = async () => {
    clear(alertEl);
    try {
      const res = await get('/v1/incidents' + query({ pageSize: PAGE, pageToken: tokens[tokens.length - 1] }));
      const items = res.incidents || [];
      const prev = h('button', { type: 'button', disabled: tokens.length === 1 }, 'Previous page');
      prev.addEventListener('click', () => { tokens.pop(); load(); });
      const next = h('button', { type: 'button', disabled: !res.nextPageToken }, 'Next page');
      next.addEventListener('click', () => { tokens.push(res.nextPageToken); load(); });
      replace(body,
        items.length === 0 ? h('p', null, 'No incidents on this page.') : h('div', { class: 'table-wrap' }, h('table', null,
          h('caption', { class: 'hint' }, `Page ${tokens.length}`),
          h('thead', null, h('tr', null, ['Reference', 'When', 'Categories', 'Reported by', 'State'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', null, items.map((i) => h('tr', null,
            h('td', null, recordLink(i.name, i.reference)),
            h('td', null, timeEl(i.occurTime)),
            h('td', null, list(i.categories, (c) => words(c, 'CATEGORY_'))),
            h('td', null, staff(i.reporter)),
            h('td', null, words(i.state, 'STATE_'))))))),
        h('div', { class: 'buttons' }, prev, next));
    } catch (err) {
      replace(body);
      showError(alertEl, err);
    }
  };
  load();
  return sec;
}
