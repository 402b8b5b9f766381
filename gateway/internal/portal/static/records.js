// Read-only pages: staff named publicly, a subject, an evidence item.
import { get, listAll, query } from './api.js';
import { h, replace, words, list, yesNo, orNone, timeEl, facts, section, recordLink } from './dom.js';
import { staff, timeline, evidence, evidenceCard, loadingSection } from './shared.js';

// webAddress shows a web address as text, and as a link only for http(s).
function webAddress(u) {
  if (!u) return null;
  return /^https?:\/\//i.test(u) ? h('a', { href: u, rel: 'noopener noreferrer', target: '_blank' }, u) : u;
}

function crumbs(what) {
  return h('p', { class: 'crumbs' }, h('a', { href: '/' }, 'Home'), ' › ', what);
}

export async function publicNamingPage(root, name) {
  const p = await get('/v1/' + name);
  document.title = `Staff named publicly ${p.reference} · ContactGuard staff portal`;
  const d = p.personalRecordDecision;
  replace(root,
    crumbs('Staff named publicly'),
    h('h1', { tabindex: '-1' }, 'Staff named publicly ', p.reference),
    h('p', { class: 'state' }, 'State: ', h('strong', null, words(p.state, 'STATE_'))),
    section('The case', facts([
      ['Reference', p.reference],
      ['Staff member named', staff(p.staffMember)],
      ['Where', webAddress(p.url)],
      ['Platform', orNone(p.platform)],
      ['Description', h('p', { class: 'prose' }, orNone(p.description))],
      ['Incident', p.incident ? recordLink(p.incident, 'View the incident') : null],
      ['Subject', p.subject ? recordLink(p.subject, 'View the subject') : null],
      ['Intends to keep a record', yesNo(p.intentToRecord)],
      ['Reported by', [staff(p.reporter), ' on ', timeEl(p.createTime)]],
      d && d.decideTime ? ['Personal record', [d.onPersonalRecord ? 'On the staff member\u2019s record' : 'Not on the staff member\u2019s record',
        d.reason ? ` · ${d.reason}` : '', ' · ', staff(d.recordedBy)]] : null,
    ])),
    section('Steps taken', (p.steps || []).length === 0 ? h('p', null, 'No steps recorded yet.') : h('ol', null, p.steps.map((s) => h('li', null,
      h('strong', null, words(s.kind, 'PUBLIC_NAMING_STEP_KIND_')), ' · ', timeEl(s.stepTime || s.recordTime), ' · recorded by ', staff(s.recordedBy),
      s.note ? h('p', null, s.note) : null,
      s.externalReference ? h('p', null, 'Reference: ', s.externalReference) : null,
      s.recipient ? h('p', null, 'Sent to: ', s.recipient) : null)))),
    evidence({ publicNaming: p.name }),
    timeline(p.name));
}

export async function subjectPage(root, name) {
  const s = await get('/v1/' + name);
  document.title = `Subject ${s.displayName} · ContactGuard staff portal`;
  const rep = s.representative;
  replace(root,
    crumbs('Subject'),
    h('h1', { tabindex: '-1' }, s.displayName || 'Subject'),
    section('The subject', facts([
      ['Kind', words(s.kind, 'KIND_')],
      ['Name', [s.givenName, s.familyName].filter(Boolean).join(' ') || orNone(s.displayName)],
      ['Other names', list(s.otherNames)],
      ['Contact details', s.identifiers && s.identifiers.length ? h('ul', null, s.identifiers.map((i) => h('li', null,
        words(i.type, 'TYPE_'), ': ', i.value, i.label ? ` (${i.label})` : ''))) : null],
      ['Representative', rep && rep.displayName ? [rep.displayName, rep.relationship ? ` (${rep.relationship})` : ''] : null],
      ['Reasonable adjustments', s.reasonableAdjustments && s.reasonableAdjustments.length ? h('ul', null, s.reasonableAdjustments.map((a) => h('li', null, a))) : null],
      ['Support needs', s.supportNeeds && s.supportNeeds.length ? h('ul', null, s.supportNeeds.map((a) => h('li', null, a))) : null],
      ['Child in an education setting', yesNo(s.childInEducationSetting)],
      ['Incidents', String(s.incidentCount ?? 0)],
      ['Warnings', String(s.warningCount ?? 0)],
      ['Recorded by', [staff(s.creator), ' on ', timeEl(s.createTime)]],
    ])),
    loadingSection('What staff apply', async (body) => {
      const m = await get('/v1/' + name + '/marker');
      replace(body, !m.restricted && !(m.instructions || []).length ? h('p', null, 'No restriction applies to contact with this subject.') : facts([
        ['Restricted', yesNo(m.restricted)],
        ['Instructions', m.instructions && m.instructions.length ? h('ul', null, m.instructions.map((i) => h('li', null, i))) : null],
        ['Restrictions', m.restrictions && m.restrictions.length ? m.restrictions.map((r, i) => [i ? ', ' : '', recordLink(r)]) : null],
      ]));
    }),
    loadingSection('Restrictions', async (body) => {
      const rs = await listAll('/v1/restrictions' + query({ subject: name }), 'restrictions');
      replace(body, rs.length === 0 ? h('p', null, 'No restrictions.') : h('ul', null, rs.map((r) => h('li', null,
        recordLink(r.name, r.reference), ' · ', words(r.state, 'STATE_')))));
    }),
    loadingSection('Incidents', async (body) => {
      const is = await listAll('/v1/incidents' + query({ subject: name }), 'incidents', { maxPages: 5 });
      replace(body, is.length === 0 ? h('p', null, 'No incidents.') : h('ul', null, is.map((i) => h('li', null,
        recordLink(i.name, i.reference), ' · ', timeEl(i.occurTime), ' · ', list(i.categories, (c) => words(c, 'CATEGORY_')), ' · ', words(i.state, 'STATE_')))));
    }),
    timeline(s.name));
}

export async function evidencePage(root, name) {
  const e = await get('/v1/' + name);
  document.title = `Evidence ${e.filename} · ContactGuard staff portal`;
  replace(root,
    crumbs('Evidence'),
    h('h1', { tabindex: '-1' }, 'Evidence'),
    evidenceCard(e),
    section('Linked to', facts([
      e.incident ? ['Incident', recordLink(e.incident, 'View the incident')] : null,
      e.restriction ? ['Restriction', recordLink(e.restriction, 'View the restriction')] : null,
      e.publicNaming ? ['Staff named publicly', recordLink(e.publicNaming, 'View the case')] : null,
      ['Source', webAddress(e.sourceUrl)],
      ['Captured', e.captureTime ? [timeEl(e.captureTime), e.capturedBy ? ' by ' : '', e.capturedBy ? staff(e.capturedBy) : ''] : null],
    ])));
}
