// The /v1 API with the signed-in member's bearer token. The token lives in
// sessionStorage only: it is gone when the tab closes.

const KEY = 'contactguard.token';

export function token() {
  return sessionStorage.getItem(KEY) || '';
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t.trim());
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

// claims reads a token's payload (sub, org, roles, exp) for display only:
// the gateway verifies the token on every call.
export function claims(t) {
  try {
    const part = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const c = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    return c && typeof c === 'object' ? c : null;
  } catch {
    return null;
  }
}

// expired reports whether a token's expiry has passed (or it cannot be read).
export function expired(t) {
  const c = claims(t);
  return !c || (typeof c.exp === 'number' && c.exp * 1000 <= Date.now());
}

// APIError carries the API's own message, written for people.
export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};

// whenUnauthorized sets what happens when the API answers 401.
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

// request calls the API. body may be a FormData (sent as multipart) or any
// value sent as JSON. With raw, a successful Response is returned as is.
export async function request(method, path, body, { raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store', redirect: 'error' });
  } catch {
    throw new APIError(0, 14, 'The service could not be reached. Check your connection and try again.');
  }
  if (raw && resp.ok) return resp;
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const message = data && typeof data.message === 'string' && data.message
      ? data.message
      : `The request was refused (HTTP ${resp.status}).`;
    const err = new APIError(resp.status, data ? data.code : undefined, message);
    if (resp.status === 401) onUnauthorized(err);
    throw err;
  }
  return data || {};
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body === undefined ? {} : body);

// query builds a query string from the non-empty values of params.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// listAll follows nextPageToken (at most maxPages pages) and returns the
// items under key.
export async function listAll(path, key, { pageSize = 100, maxPages = 20 } = {}) {
  const out = [];
  let pageToken = '';
  const sep = path.includes('?') ? '&' : '?';
  for (let i = 0; i < maxPages; i++) {
    const page = await get(path + sep + query({ pageSize, pageToken }).slice(1));
    out.push(...(page[key] || []));
    pageToken = page.nextPageToken || '';
    if (!pageToken) break;
  }
  return out;
}

// download fetches a file with the bearer token and saves it from a Blob:
// the token never goes into a URL.
export async function download(path, fallbackName) {
  const resp = await request('GET', path, undefined, { raw: true });
  const blob = await resp.blob();
  const name = filenameFrom(resp.headers.get('Content-Disposition')) || fallbackName || 'evidence';
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return { name, size: blob.size, sha256: resp.headers.get('X-Evidence-Sha256') || '' };
}

function filenameFrom(header) {
  if (!header) return '';
  const star = /filename\*=(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (star) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      /* fall through */
    }
  }
  const plain = /filename="((?:[^"\\]|\\.)*)"/.exec(header) || /filename=([^;]+)/.exec(header);
  return plain ? plain[1].replace(/\\(.)/g, '$1').trim() : '';
}
