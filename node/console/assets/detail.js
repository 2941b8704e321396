// One alert: what it is, its actions (hold, resume, cancel, unread), its funnel and escalation drawings, its
// recipients with acknowledge, and each recipient's timeline (attempts, receipts, keys, replies, clicks).

import {h, replace, when, ago, badge} from "./dom.js";
import {get, post, del, alertPath, ApiError} from "./api.js";
import {funnel, escalationTimeline} from "./draw.js";

const CAN = {
  hold: ["running", "scheduled"],
  resume: ["on_hold"],
  cancel: ["scheduled", "running", "on_hold"],
};

function describe(e) {
  const d = e.detail || {};
  const bits = [];
  for (const k of ["digit", "text", "reason", "error", "outcome", "attempt", "sip_code", "stat", "codec", "note",
    "operator", "reader", "via", "ack", "declined", "retryUntil", "deliveries"]) {
    if (d[k] !== undefined && d[k] !== null && d[k] !== "") bits.push(`${k}: ${typeof d[k] === "object" ? JSON.stringify(d[k]) : d[k]}`);
  }
  return bits.join(" · ");
}

function eventList(events, id) {
  if (!events.length) return h("p", {class: "muted", id}, "No events yet.");
  return h("ol", {class: "timeline", id}, events.map((e) =>
    h("li", {dataset: {event: e.event, seq: e.seq}, class: e.state ? `ev-${e.state}` : ""},
      h("time", {datetime: e.at}, when(e.at)), " ", h("strong", {}, e.event),
      e.state ? [" → ", badge(e.state, "state")] : null,
      describe(e) ? h("span", {class: "detail"}, " ", describe(e)) : null)));
}

export function detailView(ref, ui) {
  const head = h("div", {class: "detail-head"}, h("p", {class: "muted"}, "Loading…"));
  const actions = h("div", {class: "actions", role: "group", "aria-label": "Alert actions"});
  const drawings = h("div", {class: "drawings"});
  const recipients = h("div", {id: "recipients"});
  const alertEvents = h("div", {id: "alert-events"});
  const personal = h("section", {class: "panel", id: "recipient-timeline", hidden: true, tabindex: "-1",
    "aria-labelledby": "recipient-timeline-title"});
  let alert = null;
  let openDelivery = null;
  let confirming = null;

  async function command(name) {
    try {
      await post(alertPath(ref, `/${name}`));
      ui.toast(`Alert ${name === "cancel" ? "cancelled" : name === "hold" ? "on hold" : "resumed"}.`);
    } catch (e) {
      ui.error(e);
    }
    confirming = null;
    await load();
  }

  function renderActions() {
    const st = alert.status;
    const buttons = [];
    if (confirming === "cancel") {
      buttons.push(h("span", {class: "confirm", role: "alert"}, "Cancel this alert? Nothing more will be sent."),
        h("button", {type: "button", class: "danger", id: "confirm-cancel", onclick: () => command("cancel")}, "Yes, cancel it"),
        h("button", {type: "button", id: "keep-alert", onclick: () => { confirming = null; renderActions(); }}, "No, keep it"));
    } else {
      buttons.push(
        h("button", {type: "button", id: "act-hold", disabled: !CAN.hold.includes(st), onclick: () => command("hold")}, "Hold"),
        h("button", {type: "button", id: "act-resume", disabled: !CAN.resume.includes(st), onclick: () => command("resume")}, "Resume"),
        h("button", {type: "button", id: "act-cancel", class: "danger", disabled: !CAN.cancel.includes(st),
          onclick: () => { confirming = "cancel"; renderActions(); actions.querySelector("#keep-alert").focus(); }}, "Cancel…"),
        h("button", {type: "button", id: "act-unread", onclick: async () => {
          try { await del(alertPath(ref, "/read")); ui.toast("Marked unread."); } catch (e) { ui.error(e); }
          ui.navigate("#alerts");
        }}, "Mark unread"));
    }
    replace(actions, buttons);
  }

  function meta(label, value) {
    return value === null || value === undefined || value === "" ? null : [h("dt", {}, label), h("dd", {}, value)];
  }

  function renderHead() {
    const a = alert;
    const links = a._links;
    const groups = (links.groups || []).map((g) => h("a", {href: `#alerts?group=${encodeURIComponent(g.name)}`,
      class: "chip"}, g.name));
    const bodies = Object.entries(a.body || {});
    replace(head,
      h("h1", {tabindex: "-1"}, a.clientRef, " ", badge(a.status)),
      h("dl", {class: "meta"},
        meta("alertRef", h("code", {}, a.alertRef)),
        meta("Created", [when(a.created), " (", ago(a.created), ")"]),
        meta("Channels", a.alertType),
        meta("Category", a.category),
        meta("appData", a.appData ? h("code", {}, a.appData) : null),
        meta("Tags", a.items.map((i) => i.tag).join(", ")),
        meta("Groups", groups.length ? groups : null),
        meta("Originators", (links.originators || []).map((o) => o.name).join(", ")),
        meta("Coalesced", a.numCoalesced ? String(a.numCoalesced) : null),
        meta("Link", a.linkRef),
        meta("Publish at", a.publishAt ? when(a.publishAt) : "not published (waiting for its schedule)"),
        meta("Expires", a.expiresAt ? when(a.expiresAt) : null)),
      bodies.length ? h("details", {class: "bodies"}, h("summary", {}, `Text sent (${bodies.map(([l]) => l).join(", ")})`),
        h("dl", {}, bodies.map(([locale, text]) => [h("dt", {}, locale), h("dd", {}, text)]))) : null);
  }

  function ackForm(r, cell) {
    const note = h("input", {id: `ack-note-${r.deliveryId}`, placeholder: "note (who called in…)", maxlength: 500,
      "aria-label": "Note"});
    const form = h("form", {class: "ack-form"}, note,
      h("button", {type: "submit", class: "primary"}, "Confirm"),
      h("button", {type: "button", onclick: () => renderRecipients()}, "Back"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const body = {deliveryId: r.deliveryId};
        if (note.value.trim()) body.note = note.value.trim();
        await post(alertPath(ref, "/acknowledge"), body);
        ui.toast(`Acknowledged for ${r.contact || r.recipient}.`);
      } catch (e) { ui.error(e); }
      await load();
    });
    replace(cell, form);
    note.focus();
  }

  function renderRecipients() {
    const rows = [];
    for (const item of alert.items) {
      for (const r of item.recipients) {
        const actionsCell = h("td", {"data-label": "Actions", class: "row-actions"});
        const answered = r.state === "responded" && r.responses.some((x) => !x.declined && x.event !== "recipientNotOk");
        actionsCell.append(
          h("button", {type: "button", class: "small", "aria-pressed": String(openDelivery === r.deliveryId),
            dataset: {focus: `tl-${r.deliveryId}`}, onclick: () => showTimeline(r)}, "Timeline"),
          h("button", {type: "button", class: "small", disabled: answered, title: answered ? "already answered" : null,
            dataset: {focus: `ack-${r.deliveryId}`}, onclick: () => ackForm(r, actionsCell)}, "Acknowledge…"));
        rows.push(h("tr", {dataset: {delivery: r.deliveryId, state: r.state}},
          h("td", {"data-label": "Recipient"}, r.recipient, r.contact ? h("div", {class: "sub"}, r.contact) : null),
          h("td", {"data-label": "Channel"}, item.alertType),
          h("td", {"data-label": "State"}, badge(r.state, "state")),
          h("td", {"data-label": "Attempts"}, String(r.attempts)),
          h("td", {"data-label": "Updated"}, h("time", {datetime: r.updated}, ago(r.updated))),
          actionsCell));
      }
    }
    replace(recipients, h("div", {class: "table-wrap"}, h("table", {class: "recipients", id: "recipient-table"},
      h("caption", {class: "sr-only"}, "Recipients"),
      h("thead", {}, h("tr", {}, ["Recipient", "Channel", "State", "Attempts", "Updated", ""].map((t) =>
        h("th", {scope: "col"}, t)))), h("tbody", {}, rows))));
  }

  async function showTimeline(r, focus = true) {
    openDelivery = r.deliveryId;
    const data = await get(alertPath(ref, `/timeline?deliveryId=${r.deliveryId}&limit=1000`));
    replace(personal,
      h("h2", {id: "recipient-timeline-title"}, `Timeline of ${r.recipient}`),
      h("p", {class: "muted"}, "Attempts, receipts, key presses, replies, clicks and acknowledgements, oldest first."),
      eventList(data.events, "delivery-events"),
      h("button", {type: "button", onclick: () => { openDelivery = null; personal.hidden = true; renderRecipients(); }},
        "Close timeline"));
    personal.hidden = false;
    renderRecipients();
    if (focus) personal.focus();
  }

  async function load() {
    let esc, events;
    try {
      [alert, esc, events] = await Promise.all([get(alertPath(ref, "?limit=500")), get(alertPath(ref, "/escalation")),
        get(alertPath(ref, "/timeline?limit=1000"))]);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        replace(head, h("h1", {tabindex: "-1"}, "No such alert"), h("p", {}, "It is unknown or past its lifetime."));
        return;
      }
      throw e;
    }
    renderHead();
    if (confirming === null || !CAN.cancel.includes(alert.status)) confirming = null;
    renderActions();
    replace(drawings,
      h("figure", {class: "panel", id: "funnel"}, h("figcaption", {}, "Funnel"), funnel(alert.counts)),
      h("figure", {class: "panel", id: "escalation"}, h("figcaption", {},
        esc.steps.length > 1 || esc.planned.length ? "Escalation steps" : "Escalation steps (no follow-up)"),
      escalationTimeline(esc, Date.now(), ui.narrow()),
      h("ol", {class: "steps"}, esc.steps.map((st) => h("li", {}, st.current ? h("strong", {}, `Step ${st.step}`) :
        h("a", {href: `#alert/${encodeURIComponent(st.alertRef)}`}, `Step ${st.step}`),
        ` ${st.alertTypes.join("+")}, ${when(st.created)}, `, badge(st.status), ` ${st.counts.responded}/${st.counts.targeted} answered`)),
        esc.planned.map((p) => h("li", {class: "planned"}, `Planned ${p.alertTypes.join("+")} at ${when(p.dueAt)}`,
          p.outcome ? ` — ${p.outcome}` : "")))));
    renderRecipients();
    replace(alertEvents, eventList(events.events.filter((e) => e.deliveryId === undefined), "alert-event-list"));
    if (openDelivery !== null) {
      const r = alert.items.flatMap((i) => i.recipients).find((x) => x.deliveryId === openDelivery);
      if (r) await showTimeline(r, false);
    }
  }

  const el = h("div", {class: "view-detail"},
    h("p", {}, h("a", {href: "#alerts", class: "back"}, "← All alerts")),
    head, actions, drawings,
    h("section", {class: "panel", "aria-labelledby": "recipients-title"}, h("h2", {id: "recipients-title"}, "Recipients"),
      recipients),
    personal,
    h("section", {class: "panel", "aria-labelledby": "alert-events-title"},
      h("h2", {id: "alert-events-title"}, "Alert events"), alertEvents));

  return {
    el,
    async load() {
      await load();
      // opening an alert is reading it (for this key)
      if (alert && !alert.read) await post(alertPath(ref, "/read")).catch(() => {});
    },
    async refresh() {
      if (!document.activeElement || !document.activeElement.closest(".ack-form")) await load();
    },
  };
}
