// The restriction page: state, the rules in plain words, the decision,
// review and appeal dates, appeals, letters, the staff marker, and the
// decisions as forms (the service decides who may take them).
import { get, post, listAll } from './api.js';
import { h, replace, words, list, orNone, timeEl, duration, facts, section, field, form, values, isoFromLocal, recordLink, details, when } from './dom.js';
import { staff, staffList, timeline, loadingSection } from './shared.js';

const channelNames = ['PHONE', 'EMAIL', 'LETTER', 'IN_PERSON', 'ONLINE_FORM', 'SOCIAL_MEDIA', 'PAPER_FORM'];
const channels = channelNames.map((c) => ['CONTACT_CHANNEL_' + c, words(c)]);

function channelWords(cs) {
  return list(cs, (c) => words(c, 'CONTACT_CHANNEL_').toLowerCase());
}

const days = { WEEKDAY_MONDAY: 'Mon', WEEKDAY_TUESDAY: 'Tue', WEEKDAY_WEDNESDAY: 'Wed', WEEKDAY_THURSDAY: 'Thu', WEEKDAY_FRIDAY: 'Fri', WEEKDAY_SATURDAY: 'Sat', WEEKDAY_SUNDAY: 'Sun' };

// ruleWords says what one rule means for staff and the customer.
export function ruleWords(rule) {
  const [kind, r] = Object.entries(rule || {})[0] || [];
  const v = r || {};
  switch (kind) {
    case 'channelsOnly':
      return `Contact only by ${channelWords(v.channels)}.`;
    case 'namedOfficer':
      return [`Contact only through a named officer: `, staff(v.staffId), '.'];
    case 'withholdStaffDetails':
      return 'Staff names and contact details are not given to the customer.';
    case 'thirdPartyOnly':
      return `Contact only through a representative: ${v.representative || 'not named'}${v.contact ? ` (${v.contact})` : ''}.`;
    case 'automatedService':
      return v.channels && v.channels.length
        ? `Contact by ${channelWords(v.channels)} goes to the automated service.`
        : 'Contact goes to the automated service.';
    case 'volumeLimit':
      return `At most ${v.maxContacts} contact${v.maxContacts === 1 ? '' : 's'}${v.channel && v.channel !== 'CONTACT_CHANNEL_UNSPECIFIED' ? ' by ' + channelWords([v.channel]) : ''} in ${duration(v.period)}.`;
    case 'callDurationLimit':
      return `Calls last at most ${duration(v.maxDuration)}.`;
    case 'timeWindows':
      return `Contact only at these times${v.channels && v.channels.length ? ' by ' + channelWords(v.channels) : ''}: ${
        (v.windows || []).map((w) => `${list(w.days, (d) => days[d] || d)} ${w.start}\u2013${w.end}`).join('; ')}${v.timeZone ? ` (${v.timeZone})` : ''}.`;
    case 'complaintsRestricted':
      return `Complaints are restricted${v.terms ? ': ' + v.terms : ''}.`;
    case 'staffNoContact':
      return ['No contact with: ', staffList(v.staffIds), '.'];
    default:
      return 'A rule this portal cannot describe yet; see the timeline.';
  }
}

function rules(rs) {
  return rs && rs.length ? h('ul', { class: 'rules' }, rs.map((r) => h('li', null, ruleWords(r)))) : 'No rules.';
}

export async function restrictionPage(root, name, notice = '') {
  const r = await get('/v1/' + name);
  document.title = `Restriction ${r.reference} · ContactGuard staff portal`;
  const heading = h('h1', { tabindex: '-1' }, 'Restriction ', r.reference);
  const refresh = (msg) => restrictionPage(root, name, msg);
  replace(root,
    h('p', { class: 'crumbs' }, h('a', { href: '/' }, 'Home'), ' › Restriction'),
    heading,
    notice ? h('div', { class: 'notice', role: 'status' }, h('p', null, notice)) : null,
    h('p', { class: 'state' }, 'State: ', h('strong', null, words(r.state, 'STATE_'))),
    section('What applies', rules(r.rules)),
    overview(r),
    appeals(r),
    marker(r),
    letters(r, refresh),
    actions(r, refresh),
    timeline(r.name));
  if (notice) heading.focus();
}

function overview(r) {
  const d = r.decision || {};
  return section('Decision and dates', facts([
    ['Subject', recordLink(r.subject, 'View the subject')],
    ['Incidents', r.incidents && r.incidents.length ? r.incidents.map((n, i) => [i ? ', ' : '', recordLink(n)]) : null],
    ['Behaviour', h('p', { class: 'prose' }, orNone(r.behaviour))],
    ['Impact', h('p', { class: 'prose' }, orNone(r.impact))],
    r.proportionality ? ['Why it is proportionate', h('p', { class: 'prose' }, r.proportionality)] : null,
    ['Proposed by', [staff(r.proposedBy), ' on ', timeEl(r.proposeTime)]],
    ['Decision', d.outcome && d.outcome !== 'OUTCOME_UNSPECIFIED'
      ? [words(d.outcome, 'OUTCOME_'), ' by ', staff(d.decidedBy), ' on ', timeEl(d.decideTime)]
      : 'Not decided yet.'],
    d.reasons ? ['Reasons', h('p', { class: 'prose' }, d.reasons)] : null,
    ['Starts', timeEl(r.startTime)],
    ['Ends', r.endTime ? timeEl(r.endTime) : (r.noEndReason ? `No end date: ${r.noEndReason}` : 'Not set')],
    ['Next review', r.nextReviewTime ? timeEl(r.nextReviewTime, { date: true }) : (r.reviewWaivedReason ? `Review waived: ${r.reviewWaivedReason}` : 'Not set')],
    r.reviewInterval ? ['Reviewed every', duration(r.reviewInterval)] : null,
    ['Appeal by', timeEl(r.appealDeadlineTime, { date: true })],
    r.reviews && r.reviews.length ? ['Reviews', h('ul', null, r.reviews.map((v) => h('li', null,
      words(v.outcome, 'OUTCOME_'), ' by ', staff(v.reviewedBy), ' on ', timeEl(v.reviewTime), v.reasons ? ` · ${v.reasons}` : '')))] : null,
    r.variations && r.variations.length ? ['Variations', h('ul', null, r.variations.map((v) => h('li', null,
      'Varied by ', staff(v.variedBy), ' on ', timeEl(v.varyTime), v.reasons ? ` · ${v.reasons}` : '')))] : null,
    r.lift && r.lift.liftTime ? ['Lifted', [staff(r.lift.liftedBy), ' on ', timeEl(r.lift.liftTime), r.lift.reasons ? ` · ${r.lift.reasons}` : '']] : null,
    r.notices && r.notices.length ? ['Customer told', h('ul', null, r.notices.map((n) => h('li', null,
      n.told ? `Told by ${words(n.method, 'METHOD_').toLowerCase()}` : `Not told: ${n.notToldReason || 'no reason given'}`, ' · ', timeEl(n.noticeTime))))] : null,
    ['Last changed', [timeEl(r.updateTime), ` · version ${r.version}`]],
  ]));
}

function appeals(r) {
  const as = r.appeals || [];
  return section('Appeals', as.length === 0 ? h('p', null, 'No appeal lodged.') : h('ul', { class: 'cards' }, as.map((a) => h('li', null,
    h('article', { class: 'card' },
      h('h3', null, 'Appeal: ', words(a.state, 'STATE_')),
      facts([
        ['Grounds', h('p', { class: 'prose' }, orNone(a.grounds))],
        ['Lodged by', [staff(a.lodgedBy), ' on ', timeEl(a.lodgeTime)]],
        a.receiveTime ? ['Received', timeEl(a.receiveTime)] : null,
        ['Appeal officer', a.appealOfficer ? [staff(a.appealOfficer), ' (assigned by ', staff(a.assignedBy), ')'] : 'Not assigned yet.'],
        a.outcome && a.outcome !== 'OUTCOME_UNSPECIFIED' ? ['Outcome', [words(a.outcome, 'OUTCOME_'), ' by ', staff(a.decidedBy), ' on ', timeEl(a.decideTime)]] : null,
        a.reasons ? ['Reasons', h('p', { class: 'prose' }, a.reasons)] : null,
        a.variedRules && a.variedRules.length ? ['Varied rules', rules(a.variedRules)] : null,
      ]))))));
}

function marker(r) {
  const m = r.marker;
  if (!m || (!m.restricted && !(m.instructions || []).length)) {
    return section('What staff see', h('p', null, 'No marker: nothing applies to contact with this customer from this restriction.'));
  }
  return section('What staff see',
    h('p', { class: 'hint' }, 'The marker staff apply when this customer gets in touch (no incident details).'),
    facts([
      ['Restricted', m.restricted ? 'Yes' : 'No'],
      ['Instructions', m.instructions && m.instructions.length ? h('ul', null, m.instructions.map((i) => h('li', null, i))) : null],
      m.allowedChannels && m.allowedChannels.length ? ['Allowed channels', channelWords(m.allowedChannels)] : null,
      m.namedOfficer ? ['Named officer', staff(m.namedOfficer)] : null,
      m.representative ? ['Representative', m.representative] : null,
      ['Staff details withheld', m.withholdStaffDetails ? 'Yes' : 'No'],
    ]));
}

const letterKinds = ['DECISION', 'APPEAL_OUTCOME', 'REVIEW_OUTCOME', 'VARIATION', 'LIFTED'].map((k) => ['KIND_' + k, words(k) + ' letter']);

function letters(r, refresh) {
  const sec = loadingSection('Letters', async (body) => {
    const ls = await listAll('/v1/' + r.name + '/letters', 'letters');
    replace(body, ls.length === 0 ? h('p', null, 'No letter generated yet.') : h('ul', { class: 'cards' }, ls.map((l) => h('li', null, letter(l)))));
  });
  sec.append(form('Generate a letter', [
    field('kind', 'Letter', { kind: 'select', required: true, options: letterKinds }),
  ], 'Generate', async (f) => {
    const l = await post(`/v1/${r.name}:generateLetter`, { kind: values(f).kind });
    await sec.reload();
    return `Generated: ${l.subjectLine || words(l.kind, 'KIND_')}.`;
  }, { intro: 'The letter to the customer: what, why, the arrangements, how long, the review date and how to appeal.' }));
  return sec;
}

// letter shows a letter as plain text; its HTML (generated by
// restriction-svc) only ever goes into a sandboxed frame that runs nothing.
function letter(l) {
  const frameSlot = h('div');
  const show = h('button', { type: 'button', class: 'link' }, 'Show the formatted letter');
  show.addEventListener('click', () => {
    if (frameSlot.firstChild) {
      replace(frameSlot);
      show.textContent = 'Show the formatted letter';
      return;
    }
    const frame = h('iframe', { sandbox: '', title: 'Letter: ' + (l.subjectLine || 'formatted'), class: 'letter', referrerpolicy: 'no-referrer' });
    frame.srcdoc = l.html || '';
    replace(frameSlot, frame);
    show.textContent = 'Hide the formatted letter';
  });
  return h('article', { class: 'card' },
    h('h3', null, l.subjectLine || words(l.kind, 'KIND_')),
    h('p', { class: 'hint' }, words(l.kind, 'KIND_'), ' letter · generated by ', staff(l.creator), ' on ', when(l.createTime), ` · for version ${l.restrictionVersion}`),
    details('Read the letter (text)', h('pre', { class: 'letter-text' }, l.text || '')),
    l.html ? show : null, frameSlot);
}

const ruleKinds = [
  ['', 'No rule (when rejecting)'],
  ['automatedService', 'Automated service'],
  ['channelsOnly', 'Channels only'],
  ['volumeLimit', 'Volume limit'],
];

function ruleFrom(v) {
  switch (v.ruleKind) {
    case 'automatedService':
      return [{ automatedService: { channels: v.ruleChannels || [] } }];
    case 'channelsOnly':
      return [{ channelsOnly: { channels: v.ruleChannels || [] } }];
    case 'volumeLimit': {
      const n = Number(v.maxContacts);
      const d = Number(v.periodDays);
      return [{ volumeLimit: {
        channel: (v.ruleChannels || [])[0] || 'CONTACT_CHANNEL_UNSPECIFIED',
        maxContacts: Number.isFinite(n) ? n : 0,
        period: `${Number.isFinite(d) ? Math.round(d * 86400) : 0}s`,
      } }];
    }
    default:
      return [];
  }
}

function actions(r, refresh) {
  const decide = form('Decide', [
    field('outcome', 'Outcome', { kind: 'select', required: true, options: [['OUTCOME_IMPOSED', 'Impose the restriction'], ['OUTCOME_REJECTED', 'Reject the proposal']] }),
    field('reasons', 'Reasons', { kind: 'textarea', required: true }),
    field('behaviour', 'The behaviour', { kind: 'textarea', value: r.behaviour || '', hint: 'What the customer did that this responds to.' }),
    field('impact', 'Its impact', { kind: 'textarea', value: r.impact || '', hint: 'On staff and on other customers.' }),
    field('reviewDate', 'Review date', { kind: 'date' }),
    field('reviewWaivedReason', 'Or: why there is no review', { kind: 'textarea' }),
    field('endDate', 'End date', { kind: 'date' }),
    field('noEndReason', 'Or: why there is no end date', { kind: 'textarea' }),
    field('ruleKind', 'The rule', { kind: 'select', options: ruleKinds, hint: 'Other rules (named officer, time windows, \u2026) can be set through the API.' }),
    field('ruleChannels', 'Channels the rule applies to', { kind: 'checkboxes', options: channels, hint: 'Automated service: the channels that go to it (none: all). Channels only: the channels allowed. Volume limit: the first one ticked (none: all).' }),
    field('maxContacts', 'Volume limit: most contacts', { kind: 'number', attrs: { min: 1, step: 1 } }),
    field('periodDays', 'Volume limit: in how many days', { kind: 'number', attrs: { min: 1, step: 1 } }),
  ], 'Record the decision', async (f) => {
    const v = values(f);
    await post(`/v1/${r.name}:decide`, {
      outcome: v.outcome, reasons: v.reasons, behaviour: v.behaviour, impact: v.impact,
      reviewTime: isoFromLocal(v.reviewDate), reviewWaivedReason: v.reviewWaivedReason,
      endTime: isoFromLocal(v.endDate), noEndReason: v.noEndReason,
      rules: ruleFrom(v), expectedVersion: r.version,
    });
    await refresh('The decision is recorded.');
  });
  const lodge = form('Lodge an appeal', [
    field('grounds', 'Grounds of appeal', { kind: 'textarea', required: true, hint: 'As the customer gave them.' }),
    field('receiveDate', 'Date the appeal was received', { kind: 'date' }),
  ], 'Lodge the appeal', async (f) => {
    const v = values(f);
    await post(`/v1/${r.name}:appeal`, { grounds: v.grounds, receiveTime: isoFromLocal(v.receiveDate, '00:00'), expectedVersion: r.version });
    await refresh('The appeal is lodged.');
  });
  const assign = form('Assign the appeal', [
    field('appealOfficer', 'Appeal officer (staff id)', { required: true, hint: 'Someone the policy allows to hear appeals, who did not make the decision, e.g. hc-eco-1.' }),
  ], 'Assign', async (f) => {
    await post(`/v1/${r.name}:assignAppeal`, { appealOfficer: values(f).appealOfficer, expectedVersion: r.version });
    await refresh('The appeal is assigned.');
  });
  const decideAppeal = form('Decide the appeal', [
    field('outcome', 'Outcome', { kind: 'select', required: true, options: [['OUTCOME_UPHELD', 'Upheld: the restriction stands'], ['OUTCOME_VARIED', 'Varied'], ['OUTCOME_LIFTED', 'Lifted']] }),
    field('reasons', 'Reasons', { kind: 'textarea', required: true }),
  ], 'Record the appeal decision', async (f) => {
    const v = values(f);
    await post(`/v1/${r.name}:decideAppeal`, { outcome: v.outcome, reasons: v.reasons, expectedVersion: r.version });
    await refresh('The appeal decision is recorded.');
  });
  return section('Actions',
    h('p', { class: 'hint' }, 'Your organisation\u2019s policy decides who may take each action; if it is not yours to take, the service says so here.'),
    details('Decide', decide),
    details('Lodge an appeal', lodge),
    details('Assign the appeal', assign),
    details('Decide the appeal', decideAppeal));
}
