// Parts several pages use: the timeline, evidence, staff names.
import { get, listAll, query, request, download } from './api.js';
import { h, replace, words, timeEl, bytes, facts, section, showError, clear, field, form, values, recordLink, orNone } from './dom.js';

const names = new Map();

// staffName resolves a staff id to "Name (id)" through GET /v1/staff/{id};
// an id the directory does not answer for is shown as it is.
export function staffName(id) {
  if (!id) return Promise.resolve('—');
  if (!names.has(id)) {
    names.set(id, get('/v1/staff/' + encodeURIComponent(id))
      .then((m) => (m.name ? `${m.name} (${id})` : id))
      .catch(() => id));
  }
  return names.get(id);
}

// staff is an element showing a staff id, filled in with the name.
export function staff(id) {
  const el = h('span', { class: 'staff' }, id || '—');
  if (id) staffName(id).then((n) => { el.textContent = n; });
  return el;
}

export function staffList(ids) {
  if (!ids || ids.length === 0) return '—';
  const out = [];
  ids.forEach((id, i) => {
    if (i) out.push(', ');
    out.push(staff(id));
  });
  return out;
}

// loadingSection renders a section whose body is loaded by fill(body); an
// error is shown in the section's alert region.
export function loadingSection(title, fill) {
  const alertEl = h('div', { class: 'alert', role: 'alert', hidden: true });
  const body = h('div', null, h('p', null, 'Loading…'));
  const sec = section(title, alertEl, body);
  const reload = async () => {
    clear(alertEl);
    try {
      await fill(body, reload);
    } catch (err) {
      replace(body);
      showError(alertEl, err);
    }
  };
  reload();
  sec.reload = reload;
  return sec;
}

// timeline renders the events of a record (GET /v1/{name}/events), oldest
// first: the record's history as the service keeps it.
export function timeline(name) {
  return loadingSection('Timeline', async (body) => {
    const events = await listAll('/v1/' + name + '/events', 'events');
    if (events.length === 0) {
      replace(body, h('p', null, 'No events recorded.'));
      return;
    }
    replace(body, h('ol', { class: 'timeline' }, events.map((e) => h('li', null,
      h('p', { class: 'when' }, timeEl(e.eventTime), ' · ', staff(e.actor)),
      h('p', { class: 'what' }, e.summary || words(e.type)),
      e.reason ? h('p', null, 'Reason: ', e.reason) : null,
      e.changedFields && e.changedFields.length ? h('p', { class: 'hint' }, 'Changed: ', e.changedFields.join(', ')) : null))));
  });
}

const evidenceKinds = ['SCREENSHOT', 'WEB_PAGE_LINK', 'EMAIL', 'LETTER', 'CALL_RECORDING', 'PHOTO', 'DOCUMENT', 'WITNESS_STATEMENT']
  .map((k) => ['EVIDENCE_KIND_' + k, words(k)]);

// evidence lists the evidence of a record (filter: {incident: name} or
// {publicNaming: name}), offers downloads, and, with upload, an upload form.
// Nothing is previewed: a file is only ever saved on request.
export function evidence(filter, { upload = false } = {}) {
  const sec = loadingSection('Evidence', async (body) => {
    const items = await listAll('/v1/evidence' + query(filter), 'evidence');
    replace(body, items.length === 0
      ? h('p', null, 'No evidence recorded.')
      : h('ul', { class: 'cards' }, items.map((e) => h('li', null, evidenceCard(e)))));
  });
  if (upload) sec.append(uploadForm(filter, () => sec.reload()));
  return sec;
}

export function evidenceCard(e) {
  const alertEl = h('div', { class: 'alert', role: 'alert', hidden: true });
  const statusEl = h('div', { class: 'status', role: 'status' });
  const ack = e.distressing ? field('ack', 'I understand this material is distressing', { kind: 'checkbox' }) : null;
  const button = h('button', { type: 'button' }, 'Download');
  button.addEventListener('click', async () => {
    clear(alertEl);
    replace(statusEl);
    button.disabled = true;
    try {
      const acknowledged = ack ? ack.querySelector('input').checked : false;
      const got = await download('/v1/' + e.name + ':download' + query({ acknowledgeDistressing: acknowledged ? 'true' : '' }), e.filename);
      replace(statusEl, h('p', null, `Saved ${got.name} (${bytes(got.size)}).`));
    } catch (err) {
      showError(alertEl, err);
    } finally {
      button.disabled = false;
    }
  });
  return h('article', { class: 'card' + (e.distressing ? ' distressing' : '') },
    h('h3', null, recordLink(e.name, e.filename || e.originalFilename || e.name)),
    e.distressing ? h('p', { class: 'flag' }, 'Marked as distressing: no preview is shown.') : null,
    facts([
      ['Kind', words(e.kind, 'EVIDENCE_KIND_')],
      ['Description', orNone(e.description)],
      ['Size', bytes(e.sizeBytes)],
      ['Uploaded', [timeEl(e.createTime), ' by ', staff(e.uploader)]],
      ['State', words(e.state, 'STATE_')],
      ['SHA-256', h('code', { class: 'hash' }, orNone(e.sha256))],
    ]),
    e.state === 'STATE_DELETED' ? null : h('div', { class: 'download' }, ack, button),
    alertEl, statusEl);
}

function uploadForm(filter, reload) {
  const [[key, name]] = Object.entries(filter);
  return form('Add evidence', [
    field('kind', 'Kind of evidence', { kind: 'select', required: true, options: evidenceKinds }),
    field('description', 'Description', { kind: 'textarea', hint: 'What it shows, factually and briefly.' }),
    field('sourceUrl', 'Where it was found (web address)', { kind: 'url' }),
    field('captureTime', 'When it was captured', { kind: 'datetime-local' }),
    field('distressing', 'This material is distressing', { kind: 'checkbox', hint: 'Others will have to confirm before they can download it.' }),
    field('file', 'File', { kind: 'file', required: true }),
  ], 'Upload', async (f) => {
    const v = values(f);
    const file = f.querySelector('input[type="file"]').files[0];
    if (!file) throw new Error('Choose the file to upload.');
    // Metadata first, then the file: the gateway streams the file through.
    const fd = new FormData();
    fd.append('kind', v.kind);
    fd.append(key, name);
    if (v.description) fd.append('description', v.description);
    if (v.sourceUrl) fd.append('sourceUrl', v.sourceUrl);
    if (v.captureTime) fd.append('captureTime', new Date(v.captureTime).toISOString());
    fd.append('distressing', v.distressing ? 'true' : 'false');
    fd.append('file', file, file.name);
    const item = await request('POST', '/v1/evidence:upload', fd);
    f.reset();
    reload();
    return `Uploaded ${item.filename || file.name}.`;
  });
}

