// The control API with the API key. The key is read once from the URL fragment (#key=..., never sent to the
// server), else from this tab's sessionStorage, else asked for; a 401 forgets it.

const STORE = "alertnodeKey";
let key = null;
let onSignedOut = () => {};

export function takeKeyFromUrl() {
  const m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (m) {
    key = decodeURIComponent(m[1]);
    sessionStorage.setItem(STORE, key);
    history.replaceState(null, "", location.pathname + location.search + "#alerts");
  } else {
    key = sessionStorage.getItem(STORE);
  }
  return key;
}

export function hasKey() { return Boolean(key); }

export function signIn(value) {
  key = value;
  sessionStorage.setItem(STORE, key);
}

export function signOut() {
  key = null;
  sessionStorage.removeItem(STORE);
  onSignedOut();
}

export function whenSignedOut(fn) { onSignedOut = fn; }

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.failureReason ? body.failureReason : `HTTP ${status}`);
    this.status = status;
    this.errors = (body && body.errors) || [];
  }
}

/** The JSON of a control API call; ApiError when it is refused (401 also signs out). */
export async function call(method, path, body) {
  if (!key) throw new ApiError(401, {failureReason: "not signed in"});
  const init = {method, headers: {"Authorization": `Bearer ${key}`}, cache: "no-store"};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (resp.status === 401) { signOut(); throw new ApiError(401, data); }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body === undefined ? {} : body);
export const del = (path) => call("DELETE", path);

export function alertPath(ref, tail = "") {
  return `/api/json/alerts/${encodeURIComponent(ref)}${tail}`;
}
