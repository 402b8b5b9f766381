// The incident page: the record, its evidence, its timeline, and the
// decisions as forms. Forms are shown to everyone: the service decides who
// may act, and its refusal is shown as it words it.
import { get, post, listAll, query } from './api.js';
import { h, replace, words, list, yesNo, orNone, timeEl, facts, section, field, form, values, isoFromLocal, recordLink, details } from './dom.js';
import { staff, staffList, timeline, evidence, loadingSection } from './shared.js';

const reviewOutcomes = [
  ['REVIEW_OUTCOME_NO_FURTHER_ACTION', 'No further action'],
  ['REVIEW_OUTCOME_RESTORATIVE_APPROACH', 'Restorative approach'],
  ['REVIEW_OUTCOME_ACTIVE_MANAGEMENT', 'Active management (proposes a restriction when there is a subject)'],
  ['REVIEW_OUTCOME_ZERO_TOLERANCE', 'Zero tolerance'],
];

const policeOutcomes = [
  ['OUTCOME_REPORTED', 'Reported to the police'],
  ['OUTCOME_NOT_REPORTED', 'Not reported to the police'],
  ['OUTCOME_REPORTED_BY_STAFF_NO_MANAGER', 'Reported by the staff member, no manager available'],
];

export async function incidentPage(root, name, notice = '') {
  const inc = await get('/v1/' + name);
  document.title = `Incident ${inc.reference} · ContactGuard staff portal`;
  const heading = h('h1', { tabindex: '-1' }, 'Incident ', inc.reference);
  replace(root,
    h('p', { class: 'crumbs' }, h('a', { href: '/' }, 'Home'), ' › Incident'),
    heading,
    notice ? h('div', { class: 'notice', role: 'status' }, h('p', null, notice)) : null,
    h('p', { class: 'state' }, 'State: ', h('strong', null, words(inc.state, 'STATE_'))),
    record(inc),
    review(inc),
    tasks(inc),
    actions(inc, (msg) => incidentPage(root, name, msg)),
    evidence({ incident: inc.name }, { upload: true }),
    restrictions(inc.name),
    timeline(inc.name));
  if (notice) heading.focus();
}

function record(inc) {
  const a = inc.staffActions || {};
  const taken = [
    a.warningGiven && 'Warning given',
    a.warningNotGivenReason && `No warning: ${a.warningNotGivenReason}`,
    a.callPaused && 'Call paused',
    a.endedRecordedOrStreamed && 'Ended a recorded or streamed contact',
    a.staffRemovedThemselves && 'Staff member removed themselves',
    a.endedDistressingContact && 'Ended distressing contact',
    a.contactEnded && 'Contact ended',
    a.other && `Other: ${a.other}`,
  ].filter(Boolean);
  return section('The report', facts([
    ['Reference', inc.reference],
    ['Categories', list(inc.categories, (c) => words(c, 'CATEGORY_'))],
    ['Channel', words(inc.channel, 'CHANNEL_')],
    ['When', timeEl(inc.occurTime)],
    ['Where', orNone(inc.location)],
    ['Subject', inc.subject ? recordLink(inc.subject, 'View the subject') : 'No subject recorded'],
    ['Reported by', [staff(inc.reporter), ' on ', timeEl(inc.createTime)]],
    ['Staff involved', staffList(inc.staffInvolved)],
    ['Witnesses', inc.witnesses && inc.witnesses.length
      ? h('ul', null, inc.witnesses.map((w) => h('li', null, w.name || w.staffId || 'Witness', w.staffId ? ` (${w.staffId})` : '', w.contact ? ` · ${w.contact}` : '')))
      : null],
    ['Zero tolerance', yesNo(inc.zeroTolerance)],
    ['Physical threat', yesNo(inc.physicalThreat)],
    ['What happened', h('p', { class: 'prose' }, orNone(inc.description))],
    ['What staff did', taken.length ? h('ul', null, taken.map((t) => h('li', null, t))) : null],
    inc.publicNaming ? ['Staff named publicly', recordLink(inc.publicNaming, 'View the case')] : null,
    inc.sourceUrl ? ['Online source', [inc.sourceUrl, inc.platform ? ` (${inc.platform})` : '']] : null,
    ['Last changed', [timeEl(inc.updateTime), ` · version ${inc.version}`]],
  ]));
}

function review(inc) {
  const r = inc.review;
  const p = inc.policeDecision;
  const c = inc.closure;
  return section('Review and decisions',
    h('h3', null, 'Manager review'),
    r && r.outcome && r.outcome !== 'REVIEW_OUTCOME_UNSPECIFIED' ? facts([
      ['Outcome', words(r.outcome, 'REVIEW_OUTCOME_')],
      ['Reasons', h('p', { class: 'prose' }, orNone(r.reasons))],
      ['Reviewed by', [staff(r.reviewer), ' on ', timeEl(r.reviewTime)]],
      ['Register updated', yesNo(r.updateRegister)],
      ['Correspondence unacceptable', yesNo(r.correspondenceUnacceptable)],
      r.openInvestigation ? ['Investigation', orNone(r.investigationReference)] : null,
      r.proposedArrangements ? ['Proposed arrangements', r.proposedArrangements] : null,
      r.proposedRestriction ? ['Proposed restriction', recordLink(r.proposedRestriction, 'View the restriction')] : null,
    ]) : h('p', null, 'Not reviewed yet.'),
    h('h3', null, 'Police decision'),
    p && p.outcome && p.outcome !== 'OUTCOME_UNSPECIFIED' ? facts([
      ['Decision', words(p.outcome, 'OUTCOME_')],
      p.crimeReference ? ['Crime reference', p.crimeReference] : null,
      p.reason ? ['Reason', p.reason] : null,
      ['Staff views considered', yesNo(p.staffViewsConsidered)],
      ['Impact on others considered', yesNo(p.impactOnOthersConsidered)],
      p.reportTime ? ['Reported', timeEl(p.reportTime)] : null,
      ['Recorded by', [staff(p.decidedBy), ' on ', timeEl(p.decideTime)]],
    ]) : h('p', null, 'No police decision recorded.'),
    other(inc),
    h('h3', null, 'Closure'),
    c && c.closeTime ? facts([
      ['Closed by', [staff(c.closedBy), ' on ', timeEl(c.closeTime)]],
      ['Reason', orNone(c.reason)],
    ]) : h('p', null, 'Not closed.'));
}

// other lists the further records (support, restorative and online
// actions, witness statements, correspondence, outside contact) when there
// are any.
function other(inc) {
  const items = [];
  for (const s of inc.staffSupport || []) {
    items.push(['Staff support', [words(s.kind, 'STAFF_SUPPORT_KIND_'), ' for ', staff(s.staffId), s.note ? ` · ${s.note}` : '', ' · ', timeEl(s.recordTime)]]);
  }
  for (const a of inc.restorativeActions || []) {
    items.push(['Restorative action', [words(a.kind, 'RESTORATIVE_ACTION_KIND_'), a.description ? ` · ${a.description}` : '', ' · ', timeEl(a.recordTime)]]);
  }
  for (const a of inc.onlineActions || []) {
    items.push(['Online action', [words(a.kind, 'ONLINE_ACTION_KIND_'), a.platform ? ` · ${a.platform}` : '', a.note ? ` · ${a.note}` : '', ' · ', timeEl(a.recordTime)]]);
  }
  for (const w of inc.witnessStatements || []) {
    items.push(['Witness statement', [words(w.state, 'STATE_'), w.statement ? ` · ${w.statement}` : '', w.declineReason ? ` · declined: ${w.declineReason}` : '']]);
  }
  const cd = inc.correspondenceDecision;
  if (cd && cd.decideTime) {
    items.push(['Correspondence', [cd.unacceptable ? 'Unacceptable' : 'Acceptable', cd.reason ? ` · ${cd.reason}` : '', ' · ', staff(cd.decidedBy)]]);
  }
  const oc = inc.outsideContactDecision;
  if (oc && oc.decideTime) {
    items.push(['Contact outside the office', [oc.recorded ? 'Recorded' : 'Not recorded', oc.reason ? ` · ${oc.reason}` : '', ' · ', staff(oc.decidedBy)]]);
  }
  return items.length ? [h('h3', null, 'Other records'), facts(items)] : null;
}

function tasks(inc) {
  const t = (inc.pendingTasks || []).filter((x) => x !== 'REVIEW_TASK_UNSPECIFIED');
  return section('Pending tasks', t.length
    ? h('ul', null, t.map((x) => h('li', null, words(x, 'REVIEW_TASK_'))))
    : h('p', null, 'Nothing is waiting.'));
}

function actions(inc, refresh) {
  const done = (what) => () => refresh(`${what} recorded.`);
  const reviewForm = form('Manager review', [
    field('outcome', 'Outcome', { kind: 'select', required: true, options: reviewOutcomes }),
    field('reasons', 'Reasons', { kind: 'textarea', required: true, hint: 'Why this outcome, in plain words: the record and any letter rely on it.' }),
    field('updateRegister', 'Update the register', { kind: 'checkbox', value: true }),
    field('correspondenceUnacceptable', 'The correspondence was unacceptable', { kind: 'checkbox' }),
    field('openInvestigation', 'Open an investigation', { kind: 'checkbox' }),
    field('investigationReference', 'Investigation reference'),
    field('proposedArrangements', 'Proposed arrangements', { kind: 'textarea' }),
  ], 'Record the review', async (f) => {
    const v = values(f);
    await post(`/v1/${inc.name}:review`, {
      review: {
        outcome: v.outcome, reasons: v.reasons, updateRegister: v.updateRegister,
        correspondenceUnacceptable: v.correspondenceUnacceptable, openInvestigation: v.openInvestigation,
        investigationReference: v.investigationReference, proposedArrangements: v.proposedArrangements,
      },
      expectedVersion: inc.version,
    });
    return done('The review is')();
  });
  const policeForm = form('Police decision', [
    field('outcome', 'Decision', { kind: 'select', required: true, options: policeOutcomes }),
    field('crimeReference', 'Crime reference'),
    field('reason', 'Reason', { kind: 'textarea', hint: 'Needed when the incident is not reported.' }),
    field('staffViewsConsidered', 'The staff member\u2019s views were considered', { kind: 'checkbox' }),
    field('impactOnOthersConsidered', 'The impact on others was considered', { kind: 'checkbox' }),
    field('reportTime', 'When it was reported', { kind: 'datetime-local' }),
  ], 'Record the decision', async (f) => {
    const v = values(f);
    await post(`/v1/${inc.name}:recordPoliceDecision`, {
      decision: {
        outcome: v.outcome, crimeReference: v.crimeReference, reason: v.reason,
        staffViewsConsidered: v.staffViewsConsidered, impactOnOthersConsidered: v.impactOnOthersConsidered,
        reportTime: isoFromLocal(v.reportTime),
      },
      expectedVersion: inc.version,
    });
    return done('The police decision is')();
  });
  const closeForm = form('Close the incident', [
    field('reason', 'Reason', { kind: 'textarea' }),
  ], 'Close the incident', async (f) => {
    const v = values(f);
    await post(`/v1/${inc.name}:close`, { reason: v.reason, expectedVersion: inc.version });
    return done('The closure is')();
  });
  return section('Actions',
    h('p', { class: 'hint' }, 'Your organisation\u2019s policy decides who may take each action; if it is not yours to take, the service says so here.'),
    details('Manager review', reviewForm),
    details('Police decision', policeForm),
    details('Close the incident', closeForm));
}

// restrictions lists the restrictions linked to the incident.
function restrictions(name) {
  return loadingSection('Restrictions', async (body) => {
    const items = await listAll('/v1/restrictions' + query({ incident: name }), 'restrictions');
    replace(body, items.length === 0
      ? h('p', null, 'No restriction is linked to this incident.')
      : h('ul', null, items.map((r) => h('li', null, recordLink(r.name, r.reference || r.name), ' · ', words(r.state, 'STATE_')))));
  });
}
