// The alerts view (live activity chart, filters, the list paged by cursor) and the test-alert form.

import {h, replace, when, ago, badge, localToIso, isoToLocal} from "./dom.js";
import {get, post, ApiError} from "./api.js";
import {activityCharts, progressBar} from "./draw.js";

const STATUS_CHOICES = [["", "any status"], ["scheduled,running,on_hold", "active (scheduled, running, on hold)"],
  ["running", "running"], ["on_hold", "on hold"], ["scheduled", "scheduled"], ["completed", "completed"],
  ["cancelled", "cancelled"]];
const VIEW_CHOICES = [["all", "all"], ["pending", "pending (not published)"], ["history", "history"]];
const FILTERS = ["status", "view", "tag", "clientRef", "alertType", "from", "to", "unread"];

function select(id, choices, value, label) {
  return h("label", {for: id}, label, h("select", {id, name: id},
    choices.map(([v, text]) => h("option", {value: v, selected: v === (value || "")}, text))));
}

function input(id, label, value, attrs = {}) {
  return h("label", {for: id}, label, h("input", {id, name: id, value: value || "", ...attrs}));
}

/** The query of the list from the view's hash parameters. */
function listQuery(params, cursor) {
  const q = new URLSearchParams();
  for (const name of FILTERS) {
    const v = params.get(name);
    if (v) q.set(name, v);
  }
  q.set("limit", "25");
  if (cursor) q.set("cursor", cursor);
  return q;
}

function row(a) {
  const c = a.counts;
  const href = `#alert/${encodeURIComponent(a.alertRef)}`;
  return h("tr", {dataset: {alert: a.alertRef, status: a.status}, class: a.read ? "" : "unread"},
    h("td", {"data-label": "Alert"}, h("a", {href, class: "alert-link", dataset: {focus: `alert-${a.alertRef}`}}, a.clientRef),
      a.read ? null : h("span", {class: "dot-unread", title: "unread"}, h("span", {class: "sr-only"}, " (unread)")),
      h("div", {class: "sub mono"}, a.alertRef.slice(0, 8))),
    h("td", {"data-label": "Created"}, h("time", {datetime: a.created}, when(a.created)),
      h("div", {class: "sub"}, ago(a.created))),
    h("td", {"data-label": "Channels"}, a.alertType || "—", a.category === "admin" ? h("div", {class: "sub"}, "admin") : null),
    h("td", {"data-label": "Tags"}, a.tags.join(", ")),
    h("td", {"data-label": "Status"}, badge(a.status)),
    h("td", {"data-label": "Progress", class: "progress-cell"}, progressBar(c),
      h("div", {class: "sub"}, `${c.responded}/${c.targeted} answered · ${c.delivered} delivered` +
        (c.failed + c.expired ? ` · ${c.failed + c.expired} failed` : "") + (c.queued ? ` · ${c.queued} waiting` : ""))));
}

/** ``minutes`` minutes of activity ending with ``fresh``'s last: ``fresh`` where it has them, else ``old``. */
export function mergeActivity(old, fresh, minutes) {
  const end = fresh.startEpoch + fresh.minutes * 60;
  const start = end - minutes * 60;
  const channels = {};
  for (const name of new Set([...Object.keys(old.channels), ...Object.keys(fresh.channels)])) {
    channels[name] = {};
    for (const series of fresh.series) {
      channels[name][series] = Array.from({length: minutes}, (_, i) => {
        const at = start + i * 60;
        const from = (d) => {
          const k = Math.round((at - d.startEpoch) / 60);
          const values = d.channels[name] && d.channels[name][series];
          return values && k >= 0 && k < d.minutes ? values[k] : undefined;
        };
        return from(fresh) ?? from(old) ?? 0;
      });
    }
  }
  return {...fresh, startEpoch: start, start: new Date(start * 1000).toISOString(), minutes, channels};
}

export function alertsView(params, ui) {
  const activity = h("div", {id: "activity", "aria-live": "off"}, h("p", {class: "muted"}, "Loading…"));
  const tbody = h("tbody", {});
  const more = h("button", {type: "button", id: "more", hidden: true}, "Load older alerts");
  const state = h("p", {id: "list-state", class: "muted", "aria-live": "polite"});
  let cursor = null;
  let pages = 0;

  const form = h("form", {id: "filters", role: "search", "aria-label": "Filter alerts", class: "filters"},
    select("filter-status", STATUS_CHOICES, params.get("status"), "Status"),
    select("filter-view", VIEW_CHOICES, params.get("view") || "all", "Show"),
    input("filter-tag", "Tag", params.get("tag"), {type: "search", autocomplete: "off"}),
    input("filter-clientRef", "clientRef", params.get("clientRef"), {autocomplete: "off"}),
    input("filter-from", "Created from", isoToLocal(params.get("from")), {type: "datetime-local"}),
    input("filter-to", "to", isoToLocal(params.get("to")), {type: "datetime-local"}),
    h("label", {for: "filter-unread", class: "check"}, h("input", {type: "checkbox", id: "filter-unread",
      checked: params.get("unread") === "true"}), "unread only"),
    h("div", {class: "buttons"}, h("button", {type: "submit", class: "primary"}, "Apply"),
      h("button", {type: "button", id: "filter-clear"}, "Clear")));

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    const set = (name, value) => { if (value) q.set(name, value); };
    set("status", form.querySelector("#filter-status").value);
    const view = form.querySelector("#filter-view").value;
    if (view !== "all") q.set("view", view);
    set("tag", form.querySelector("#filter-tag").value.trim());
    set("clientRef", form.querySelector("#filter-clientRef").value.trim());
    set("from", localToIso(form.querySelector("#filter-from").value));
    set("to", localToIso(form.querySelector("#filter-to").value));
    if (form.querySelector("#filter-unread").checked) q.set("unread", "true");
    ui.navigate("#alerts" + (q.toString() ? "?" + q : ""));
  });
  form.querySelector("#filter-clear").addEventListener("click", () => ui.navigate("#alerts"));

  async function loadPage(next) {
    const data = await get(`/api/json/alerts?${listQuery(params, next)}`);
    ui.setWho(data.reader);
    if (!next) tbody.replaceChildren();
    for (const a of data._embedded.alerts) tbody.append(row(a));
    cursor = data.cursor;
    pages = next ? pages + 1 : 1;
    more.hidden = !data.more;
    const shown = tbody.childElementCount;
    state.textContent = shown ? `${shown} alert(s) shown${data.more ? ", older ones below" : ""}.` :
      "No alert matches these filters.";
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    try { await loadPage(cursor); } catch (e) { ui.error(e); } finally { more.disabled = false; }
  });

  // the whole hour once, then only the last minutes at each refresh (closed minutes do not change)
  let hour = null;
  async function loadActivity() {
    const fresh = await get(`/api/json/activity?minutes=${hour ? 3 : 60}`);
    hour = hour ? mergeActivity(hour, fresh, 60) : fresh;
    replace(activity, activityCharts(hour, ui.narrow()));
  }

  const filtered = FILTERS.some((f) => params.get(f));
  const el = h("div", {class: "view-alerts"},
    h("h1", {tabindex: "-1"}, "Alerts"),
    h("section", {class: "panel", "aria-labelledby": "activity-title"},
      h("h2", {id: "activity-title"}, `Activity per minute, last ${ui.narrow() ? 30 : 60} minutes`), activity),
    h("section", {class: "panel", "aria-labelledby": "list-title"},
      h("h2", {id: "list-title"}, filtered ? "Alerts (filtered)" : "Latest alerts"),
      h("details", {class: "filter-box", open: filtered || !ui.narrow()}, h("summary", {}, "Filters"), form),
      h("div", {class: "table-wrap"}, h("table", {id: "alert-table", class: "alerts"},
        h("caption", {class: "sr-only"}, "Alerts, newest first"),
        h("thead", {}, h("tr", {}, ["Alert", "Created", "Channels", "Tags", "Status", "Progress"].map((t) =>
          h("th", {scope: "col"}, t)))), tbody)),
      state, more));

  return {
    el,
    async load() { await Promise.all([loadPage(null), loadActivity()]); },
    async refresh() {
      // the first page follows the node; once older pages are shown the operator's place is kept
      await Promise.all([pages <= 1 ? loadPage(null) : Promise.resolve(), loadActivity()]);
    },
    rows() { return [...tbody.querySelectorAll("a.alert-link")]; },
  };
}

// -- the test alert form ----------------------------------------------------------------------------------

export function sendView(ui) {
  const result = h("div", {id: "send-result", "aria-live": "polite"});
  const type = h("select", {id: "send-type", name: "alertType", required: true});
  const form = h("form", {id: "send-form", class: "send", novalidate: true},
    h("label", {for: "send-type"}, "Channel", type),
    h("label", {for: "send-recipients"}, "Recipients",
      h("textarea", {id: "send-recipients", rows: 2, required: true, "aria-describedby": "send-recipients-hint",
        placeholder: "+447700900123, duty@example.com"}),
      h("small", {id: "send-recipients-hint"}, "Phone numbers (E.164) or e-mail addresses, separated by commas or lines.")),
    h("label", {for: "send-content"}, "Message",
      h("textarea", {id: "send-content", rows: 3, required: true}, "This is a test alert from the alertnode console.")),
    h("label", {for: "send-subject", class: "only-email"}, "Subject",
      h("input", {id: "send-subject", value: "alertnode test alert"})),
    h("label", {for: "send-sender", class: "only-sms only-call"}, "Sender",
      h("input", {id: "send-sender", value: "alertnode", "aria-describedby": "send-sender-hint"}),
      h("small", {id: "send-sender-hint"}, "SMS: a number, short code or up to 11 letters; calls: the caller's E.164 number.")),
    h("label", {for: "send-tag"}, "Tag", h("input", {id: "send-tag", value: "console-test", required: true})),
    h("label", {for: "send-ivr", class: "check only-call"}, h("input", {type: "checkbox", id: "send-ivr"}),
      "Ask for a key press (replay IVR: 1 repeats, 2 confirms)"),
    h("div", {class: "buttons"}, h("button", {type: "submit", class: "primary", id: "send-submit"}, "Send test alert")));

  const show = () => {
    form.dataset.type = type.value;
    const sender = form.querySelector("#send-sender");
    if (type.value === "call" && sender.value === "alertnode") sender.value = "";
    if (type.value === "sms" && !sender.value) sender.value = "alertnode";
  };
  type.addEventListener("change", show);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const kind = type.value;
    const recipients = form.querySelector("#send-recipients").value.split(/[\n,;]+/).map((r) => r.trim()).filter(Boolean);
    const item = {alertType: kind, tag: form.querySelector("#send-tag").value.trim(), recipients,
      content: form.querySelector("#send-content").value};
    const sender = form.querySelector("#send-sender").value.trim();
    if (kind === "email") item.subject = form.querySelector("#send-subject").value;
    else if (sender) item.sender = sender;
    if (kind === "call") {
      item.voiceFormat = "tts";
      if (form.querySelector("#send-ivr").checked) item.ivrControl = {ivrType: "replay", ivrAttempts: 2};
    }
    const body = {version: "latest", clientRef: "console-test", category: "admin", lifetime: "1d",
      appData: `console test by ${ui.who() || "an operator"}`, alert: [item]};
    const submit = form.querySelector("#send-submit");
    submit.disabled = true;
    replace(result, h("p", {class: "muted"}, "Sending…"));
    try {
      const answer = await post("/api/json/sendalert", body);
      ui.toast(`Test alert accepted: ${answer.alerts.map((a) => `${a.sentCount} ${a.alertType}`).join(", ")}`);
      ui.navigate(`#alert/${encodeURIComponent(answer.alertRef)}`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      replace(result, h("div", {class: "error", role: "alert"}, h("p", {}, h("strong", {}, "Refused: "), e.message),
        h("ul", {}, e.errors.map((p) => h("li", {}, h("code", {}, p.path), " ", p.message)))));
    } finally {
      submit.disabled = false;
    }
  });

  return {
    el: h("div", {class: "view-send"}, h("h1", {tabindex: "-1"}, "Send a test alert"),
      h("p", {class: "muted"}, "It is sent like any alert, through the channels configured on this node, and marked ",
        h("code", {}, "category: admin"), " so that it can be told apart."),
      h("section", {class: "panel"}, form, result)),
    async load() {
      const info = await post("/api/json/getinfo", {});
      const usable = info.alertTypes.filter((t) => ["sms", "email", "call"].includes(t));
      replace(type, usable.map((t) => h("option", {value: t}, {sms: "SMS", email: "E-mail", call: "Call"}[t])));
      if (!usable.length) replace(result, h("p", {class: "error"}, "No channel is configured on this node."));
      show();
    },
    async refresh() {},
  };
}
