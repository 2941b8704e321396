// Small DOM helpers. Every text goes in as a text node or an attribute value (never as HTML), so nothing an
// alert carries (a reply, appData, a tag) can inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h("a", {href: "#x"}, "text", otherNode). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function replace(el, ...children) {
  el.replaceChildren();
  return fill(el, {}, children);
}

const pad = (n) => String(n).padStart(2, "0");

/** A time as the operator reads it: local, to the second. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** "3 min ago", "in 2 min". */
export function ago(iso, now = Date.now()) {
  if (!iso) return "";
  const secs = Math.round((now - new Date(iso).getTime()) / 1000);
  const abs = Math.abs(secs);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ?
    `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return secs >= 0 ? `${text} ago` : `in ${text}`;
}

export const STATUS_LABEL = {scheduled: "scheduled", running: "running", on_hold: "on hold", completed: "completed",
  cancelled: "cancelled"};

export function badge(value, kind = "status") {
  return h("span", {class: `badge ${kind}-${value}`}, STATUS_LABEL[value] || String(value).replace("_", " "));
}

/** A date-time input's local value as RFC 3339 with offset, for the API. */
export function localToIso(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function isoToLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
