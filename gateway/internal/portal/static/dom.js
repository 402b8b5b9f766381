// DOM helpers. Every value from the API goes in as text (text nodes,
// textContent, attributes): never as HTML.

// h builds an element. attrs: attributes, except "on*" functions (event
// listeners) and "class". Children: nodes, strings (as text), arrays, or
// null/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.append(c);
    else el.append(document.createTextNode(String(c)));
  }
}

// replace empties el and puts children in it.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const NONE = '—';

// words turns an enum value into plain words: CATEGORY_NAMING_STAFF_PUBLICLY
// with prefix CATEGORY_ is "Naming staff publicly".
export function words(value, prefix = '') {
  if (!value) return NONE;
  let s = String(value);
  if (prefix && s.startsWith(prefix)) s = s.slice(prefix.length);
  if (s === 'UNSPECIFIED') return 'Not given';
  s = s.toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function list(values, fn = (v) => v) {
  if (!values || values.length === 0) return NONE;
  return values.map(fn).join(', ');
}

export function yesNo(b) {
  return b ? 'Yes' : 'No';
}

export function orNone(v) {
  return v === undefined || v === null || v === '' ? NONE : String(v);
}

const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium' });

// when formats an API timestamp; an unset one is "Not set".
export function when(ts, { date = false } = {}) {
  if (!ts) return 'Not set';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return (date ? dateOnly : dateTime).format(d);
}

// timeEl is a <time> element for a timestamp.
export function timeEl(ts, opts) {
  return ts ? h('time', { datetime: ts }, when(ts, opts)) : 'Not set';
}

// duration turns an API duration ("604800s") into words.
export function duration(d) {
  if (!d) return NONE;
  const secs = Number(String(d).replace(/s$/, ''));
  if (!Number.isFinite(secs)) return String(d);
  const units = [['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
  for (const [name, n] of units) {
    if (secs >= n && secs % n === 0) {
      const k = secs / n;
      return `${k} ${name}${k === 1 ? '' : 's'}`;
    }
  }
  return `${secs} seconds`;
}

export function bytes(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return NONE;
  if (v < 1024) return `${v} bytes`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

// idOf returns the id part of a resource name ("incidents/abc" -> "abc").
export function idOf(name) {
  const i = String(name || '').lastIndexOf('/');
  return i < 0 ? String(name || '') : String(name).slice(i + 1);
}

// link to a record page, for a resource name like "subjects/abc".
export function recordLink(name, label) {
  if (!name) return NONE;
  if (!/^(incidents|restrictions|publicNamings|subjects|evidence)\/[A-Za-z0-9_-]+$/.test(name)) return String(name);
  return h('a', { href: '/' + name }, label || name);
}

// facts is a description list of [label, value] rows; a value may be a
// node, a string or an array of them.
export function facts(rows) {
  const dl = h('dl', { class: 'facts' });
  for (const row of rows) {
    if (!row) continue;
    const [label, value] = row;
    dl.append(h('dt', null, label), h('dd', null, value === undefined || value === null || value === '' ? NONE : value));
  }
  return dl;
}

export function section(title, ...children) {
  const id = 'sec-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), children);
}

// alert shows an error message (the API's own) in a role="alert" region.
export function showError(region, err) {
  const msg = err && err.message ? err.message : String(err);
  replace(region, h('p', null, msg));
  region.hidden = false;
}

export function clear(region) {
  replace(region);
  region.hidden = true;
}

let seq = 0;
function nextId(name) {
  seq += 1;
  return `f-${name}-${seq}`;
}

// field is a labelled form control. kind: text, textarea, select, checkbox,
// date, datetime-local, number, file, checkboxes (several values).
export function field(name, label, { kind = 'text', required = false, options = [], hint = '', value = '', attrs = {} } = {}) {
  const id = nextId(name);
  const hintId = hint ? id + '-hint' : null;
  const hintEl = hint ? h('p', { class: 'hint', id: hintId }, hint) : null;
  if (kind === 'checkbox') {
    return h('div', { class: 'field check' },
      h('input', { type: 'checkbox', id, name, 'aria-describedby': hintId, checked: !!value, ...attrs }),
      h('label', { for: id }, label), hintEl);
  }
  if (kind === 'checkboxes') {
    return h('fieldset', { class: 'field group' },
      h('legend', null, label + (required ? ' (at least one)' : '')), hintEl,
      options.map(([v, text]) => {
        const oid = nextId(name);
        return h('div', { class: 'check' },
          h('input', { type: 'checkbox', id: oid, name, value: v }),
          h('label', { for: oid }, text));
      }));
  }
  let control;
  if (kind === 'textarea') {
    control = h('textarea', { id, name, rows: 3, required, 'aria-describedby': hintId, ...attrs });
    control.value = value;
  } else if (kind === 'select') {
    control = h('select', { id, name, required, 'aria-describedby': hintId, ...attrs },
      options.map(([v, text]) => h('option', { value: v }, text)));
    if (value) control.value = value;
  } else {
    control = h('input', { type: kind, id, name, required, 'aria-describedby': hintId, ...attrs });
    if (value) control.value = value;
  }
  return h('div', { class: 'field' }, h('label', { for: id }, label + (required ? '' : ' (optional)')), hintEl, control);
}

// form builds a form whose submit calls onSubmit(form) with the controls
// disabled meanwhile; a thrown error's message is shown in the form's
// alert region, a returned string in its status region.
export function form(title, fields, submitLabel, onSubmit, { intro = '' } = {}) {
  const alertEl = h('div', { class: 'alert', role: 'alert', hidden: true });
  const statusEl = h('div', { class: 'status', role: 'status' });
  const button = h('button', { type: 'submit' }, submitLabel);
  const id = nextId('form');
  const f = h('form', { class: 'action', 'aria-labelledby': id, novalidate: false },
    h('h3', { id }, title), intro ? h('p', { class: 'hint' }, intro) : null, fields, alertEl, h('div', { class: 'buttons' }, button), statusEl);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(alertEl);
    replace(statusEl);
    button.disabled = true;
    f.setAttribute('aria-busy', 'true');
    try {
      const msg = await onSubmit(f);
      if (msg) replace(statusEl, h('p', null, msg));
    } catch (err) {
      showError(alertEl, err);
      alertEl.focus?.();
    } finally {
      button.disabled = false;
      f.removeAttribute('aria-busy');
    }
  });
  return f;
}

// values reads a form's controls: strings, booleans for checkboxes, arrays
// for groups of checkboxes sharing a name.
export function values(f) {
  const out = {};
  for (const el of f.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') {
      const group = f.querySelectorAll(`input[type="checkbox"][name="${el.name}"]`);
      if (group.length > 1 || el.value !== 'on') {
        out[el.name] = out[el.name] || [];
        if (el.checked) out[el.name].push(el.value);
      } else {
        out[el.name] = el.checked;
      }
    } else if (el.type !== 'file' && el.tagName !== 'BUTTON') {
      out[el.name] = el.value.trim();
    }
  }
  return out;
}

// isoFromLocal turns a datetime-local or date value into an RFC 3339
// timestamp in UTC (a date alone means dayTime, local time: 09:00 for dates
// ahead such as a review, 00:00 for a day that has begun such as a receipt);
// empty stays empty.
export function isoFromLocal(v, dayTime = '09:00') {
  if (!v) return undefined;
  const d = new Date(v.length === 10 ? v + 'T' + dayTime : v);
  if (Number.isNaN(d.getTime())) throw new Error(`"${v}" is not a date this form understands.`);
  return d.toISOString();
}

// localNow is the current time for a datetime-local input.
export function localNow() {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

// details is a collapsible block (keyboard usable without script).
export function details(summary, ...children) {
  return h('details', null, h('summary', null, summary), children);
}
