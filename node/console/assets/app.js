// The console's shell: sign-in, the views by URL fragment (#alerts?…, #alert/REF, #send), the refresh loop
// and the keyboard shortcuts.

import {h, replace} from "./dom.js";
import {takeKeyFromUrl, hasKey, signIn, signOut, whenSignedOut, post, ApiError} from "./api.js";
import {alertsView, sendView} from "./views.js";
import {detailView} from "./detail.js";

const settings = JSON.parse(document.body.dataset.settings || "{}");
const REFRESH_MS = settings.refreshMs || 5000;
const main = document.getElementById("main");
const toastBox = document.getElementById("toast");
let view = null;
let timer = null;
let whoName = "";

const ui = {
  navigate(hash) {
    if (location.hash === hash) route(); else location.hash = hash;
  },
  toast(text) {
    replace(toastBox, h("p", {}, text));
    toastBox.classList.add("show");
    clearTimeout(ui._toastTimer);
    ui._toastTimer = setTimeout(() => toastBox.classList.remove("show"), 4000);
  },
  error(e) {
    ui.toast(e instanceof ApiError ? `Refused: ${e.message}` : `The node is not reachable: ${e.message || e}`);
  },
  who() { return whoName; },
  narrow() { return window.matchMedia("(max-width: 760px)").matches; },
  setWho(name) {
    whoName = name;
    document.getElementById("who").textContent = name ? `signed in as ${name}` : "";
  },
};

function showSignIn(message) {
  clearTimeout(timer);
  view = null;
  document.getElementById("signout").hidden = true;
  const keyInput = h("input", {id: "key", type: "password", autocomplete: "current-password", required: true, size: 40});
  const form = h("form", {id: "login", class: "panel login"},
    h("h1", {tabindex: "-1"}, "Sign in"),
    h("p", {}, "The console reads the node with an API key. It stays in this tab only (sessionStorage)."),
    message ? h("p", {class: "error", role: "alert"}, message) : null,
    h("label", {for: "key"}, "API key", keyInput),
    h("div", {class: "buttons"}, h("button", {type: "submit", class: "primary"}, "Sign in")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn(keyInput.value.trim());
    start();
  });
  replace(main, form);
  keyInput.focus();
}

whenSignedOut(() => showSignIn("The API key was not accepted (or you signed out)."));

function parseHash() {
  const raw = location.hash.replace(/^#/, "");
  const [path, query] = raw.split("?");
  return {path: path || "alerts", params: new URLSearchParams(query || "")};
}

async function route() {
  if (!hasKey()) { showSignIn(); return; }
  clearTimeout(timer);
  const {path, params} = parseHash();
  let next;
  if (path.startsWith("alert/")) next = detailView(decodeURIComponent(path.slice(6)), ui);
  else if (path === "send") next = sendView(ui);
  else next = alertsView(params, ui);
  view = next;
  for (const link of document.querySelectorAll("nav a")) {
    const current = (path === "send" && link.id === "nav-send") || (path !== "send" && link.id === "nav-alerts");
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  replace(main, next.el);
  try {
    await next.load();
  } catch (e) {
    if (view === next) ui.error(e);
  }
  if (view !== next) return;
  const heading = main.querySelector("h1");
  if (heading && !main.contains(document.activeElement)) heading.focus();
  schedule();
}

function focusKey(el) {
  if (!el || el === document.body || !main.contains(el)) return null;
  if (el.id) return `#${CSS.escape(el.id)}`;
  if (el.dataset && el.dataset.focus) return `[data-focus="${CSS.escape(el.dataset.focus)}"]`;
  return null;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(refresh, REFRESH_MS);
}

async function refresh() {
  const current = view;
  if (!current) return;
  const active = document.activeElement;
  // never redraw under an operator who is typing or choosing
  const busy = active && main.contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
  if (!busy && !document.hidden) {
    const keep = focusKey(active);
    try {
      await current.refresh();
      await nodeState();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) ui.error(e);
    }
    if (keep && view === current && !main.contains(document.activeElement)) {
      const again = main.querySelector(keep);
      if (again) again.focus();
    }
  }
  if (view === current) schedule();
}

async function nodeState() {
  // readiness needs no key: the store, the listeners and each channel (503 while one is down)
  const resp = await fetch("/readyz", {cache: "no-store"});
  const state = await resp.json();
  const pill = document.getElementById("node-state");
  const channels = Object.entries(state.channels || {});
  pill.textContent = (state.ready ? "ready" : "NOT READY") + (channels.length ? " · " +
    channels.map(([name, c]) => `${name} ${c.ready ? "up" : c.state}`).join(", ") : " · no channel");
  pill.className = `pill ${state.ready ? "ok" : "warn"}`;
  pill.dataset.ready = String(Boolean(state.ready));
}

async function start() {
  document.getElementById("signout").hidden = false;
  nodeState().catch((e) => ui.error(e));
  route();
}

function typing(ev) {
  const t = ev.target;
  return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const help = document.getElementById("help");
  if (ev.key === "Escape") {
    if (help.open) return;
    if (!location.hash.startsWith("#alerts") || location.hash.includes("?")) { ev.preventDefault(); ui.navigate("#alerts"); }
    return;
  }
  if (typing(ev) || !hasKey()) return;
  if (ev.key === "?") { ev.preventDefault(); help.showModal(); }
  else if (ev.key === "a") { ev.preventDefault(); ui.navigate("#alerts"); }
  else if (ev.key === "n") { ev.preventDefault(); ui.navigate("#send"); }
  else if (ev.key === "r") { ev.preventDefault(); refresh(); }
  else if (ev.key === "/") {
    const tag = document.getElementById("filter-tag");
    if (tag) { ev.preventDefault(); tag.focus(); }
  } else if ((ev.key === "j" || ev.key === "k") && view && view.rows) {
    const rows = view.rows();
    if (!rows.length) return;
    ev.preventDefault();
    const at = rows.indexOf(document.activeElement);
    const next = ev.key === "j" ? Math.min(rows.length - 1, at + 1) : Math.max(0, at < 0 ? 0 : at - 1);
    rows[next].focus();
  }
});

document.getElementById("skip").addEventListener("click", () => {
  const heading = main.querySelector("h1");
  (heading || main).focus();
});
document.getElementById("signout").addEventListener("click", () => signOut());
document.getElementById("help-open").addEventListener("click", () => document.getElementById("help").showModal());
window.addEventListener("hashchange", route);

takeKeyFromUrl();
if (hasKey()) start(); else showSignIn();
