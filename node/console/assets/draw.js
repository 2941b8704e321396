// The console's drawings, made here as SVG (no chart library): the activity per minute per channel, an alert's
// funnel, its escalation steps on a time line, and the small progress bar of a list row. Colours come from
// classes in console.css (the CSP allows no inline style); each drawing has a text alternative.

import {h, s, clock} from "./dom.js";

export const SERIES = ["sent", "delivered", "answered", "failed"];
const CHANNEL_LABEL = {sms: "SMS", email: "E-mail", call: "Calls", inboundCall: "Inbound calls"};

/** The top of a count axis: a round number at or above ``value``, even so that its half is a whole count. */
function niceMax(value) {
  if (value <= 4) return 4;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * step >= value && (m * step) % 2 === 0) return m * step;
  return 10 * step;
}

/** One chart per channel: per minute of ``data`` (GET /api/json/activity) a bar per series; on a narrow screen
 * the last 30 minutes only, so that the bars stay visible. */
export function activityCharts(data, narrow = false) {
  const wrap = h("div", {class: "charts"});
  const shown = narrow ? Math.min(30, data.minutes) : data.minutes;
  const skip = data.minutes - shown;
  const start = data.startEpoch * 1000 + skip * 60000;
  for (const [channel, series] of Object.entries(data.channels)) {
    const tail = Object.fromEntries(SERIES.map((k) => [k, (series[k] || []).slice(skip)]));
    wrap.append(channelChart(channel, tail, start, shown, narrow));
  }
  if (!wrap.childElementCount) wrap.append(h("p", {class: "muted"}, "No channel is configured."));
  return wrap;
}

function channelChart(channel, series, start, minutes, narrow) {
  const W = narrow ? 360 : 600, H = narrow ? 150 : 170, L = 30, R = 6, T = 10, B = 22;
  const max = niceMax(Math.max(0, ...SERIES.flatMap((k) => series[k])));
  const slot = (W - L - R) / minutes;
  const bar = Math.max(1, (slot * 0.8) / SERIES.length);
  const x = (i) => L + i * slot;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const totals = Object.fromEntries(SERIES.map((k) => [k, series[k].reduce((a, b) => a + b, 0)]));
  const label = CHANNEL_LABEL[channel] || channel;
  const summary = `${label}, last ${minutes} minutes: ` + SERIES.map((k) => `${totals[k]} ${k}`).join(", ");
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": summary,
    dataset: {channel, minutes, ...Object.fromEntries(SERIES.map((k) => [`total${k[0].toUpperCase()}${k.slice(1)}`, totals[k]]))}},
  s("title", {}, summary));
  for (const v of [0, max / 2, max]) {
    svg.append(s("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid"}),
      s("text", {x: L - 5, y: y(v) + 4, class: "tick", "text-anchor": "end"}, String(v)));
  }
  const every = minutes > 120 ? 60 : minutes > 40 ? 10 : minutes > 10 ? 5 : 1;
  for (let i = 0; i < minutes; i++) {
    const t = new Date(start + i * 60000);
    if (t.getMinutes() % every === 0) {
      const at = x(i) + slot / 2;
      svg.append(s("line", {x1: at, x2: at, y1: H - B, y2: H - B + 4, class: "axis"}),
        s("text", {x: Math.min(at, W - R), y: H - 6, class: "tick", "text-anchor": at > W - R - 14 ? "end" : "middle"},
          clock(t)));
    }
    SERIES.forEach((k, j) => {
      const v = series[k][i];
      if (v > 0) {
        svg.append(s("rect", {x: x(i) + slot * 0.1 + j * bar, y: y(v), width: bar, height: y(0) - y(v),
          class: `bar series-${k}`, dataset: {minute: i, series: k, value: v}},
        s("title", {}, `${clock(t)}: ${v} ${k}`)));
      }
    });
  }
  svg.append(s("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis"}));
  const legend = h("ul", {class: "legend"}, SERIES.map((k) =>
    h("li", {}, h("span", {class: `swatch series-${k}`, "aria-hidden": "true"}), `${k} `, h("strong", {}, totals[k]))));
  return h("figure", {class: "chart-box", dataset: {channel}}, h("figcaption", {}, label), svg, legend);
}

/** targeted → sent → delivered → answered, as bars in proportion to the recipients targeted. */
export function funnel(counts) {
  const steps = [["targeted", counts.targeted], ["sent", counts.sent], ["delivered", counts.delivered],
    ["answered", counts.responded]];
  const W = 420, row = 30, L = 86, R = 96;
  const top = Math.max(1, counts.targeted);
  const summary = "Funnel: " + steps.map(([k, v]) => `${v} ${k}`).join(", ");
  const svg = s("svg", {viewBox: `0 0 ${W} ${steps.length * row}`, class: "funnel", role: "img", "aria-label": summary},
    s("title", {}, summary));
  steps.forEach(([name, value], i) => {
    const width = Math.max(value > 0 ? 2 : 0, ((W - L - R) * value) / top);
    const pct = counts.targeted ? Math.round((100 * value) / counts.targeted) : 0;
    const yTop = i * row + 4;
    svg.append(
      s("text", {x: L - 8, y: yTop + 15, class: "label", "text-anchor": "end"}, name),
      s("rect", {x: L, y: yTop, width: W - L - R, height: row - 10, rx: 3, class: "track"}),
      s("rect", {x: L, y: yTop, width, height: row - 10, rx: 3, class: `bar funnel-${name}`, dataset: {step: name, value}}),
      s("text", {x: W - R + 8, y: yTop + 15, class: "value"}, `${value} (${pct}%)`));
  });
  return svg;
}

/**
 * The escalation steps on a time line: each alert of the link at its creation time (the current one marked),
 * follow-ups an events route planned at their due time (dashed), and now. Markers closer than a label's width are
 * moved apart (the order stays true; the spacing is then not to scale).
 */
export function escalationTimeline(esc, nowMs, narrow = false) {
  const marks = [...esc.steps.map((st) => ({t: Date.parse(st.created), st})),
    ...esc.planned.filter((p) => !p.doneAt).map((p) => ({t: Date.parse(p.dueAt), p}))];
  const times = [...marks.map((m) => m.t), nowMs];
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t1 - t0 < 60000) t1 = t0 + 60000;
  const pad = (t1 - t0) * 0.08;
  t0 -= pad; t1 += pad;
  const W = narrow ? 360 : 640, H = 132, L = 16, R = 16, axisY = 72, gap = narrow ? 56 : 76;
  const x = (t) => L + ((t - t0) * (W - L - R)) / (t1 - t0);
  let last = -Infinity;
  for (const m of marks) {
    m.x = Math.max(x(m.t), last + gap);
    last = m.x;
  }
  const summary = `Escalation: ${esc.steps.length} step(s)` + (marks.length > esc.steps.length ?
    `, ${marks.length - esc.steps.length} planned` : "");
  const svg = s("svg", {viewBox: `0 0 ${Math.max(W, last + R + 30)} ${H}`, class: "escalation", role: "img",
    "aria-label": summary}, s("title", {}, summary),
  s("line", {x1: L, x2: Math.max(W, last + 30) - R, y1: axisY, y2: axisY, class: "axis"}));
  for (const tick of [t0 + pad, t1 - pad]) {
    svg.append(s("text", {x: x(tick), y: H - 4, class: "tick", "text-anchor": "middle"}, clock(new Date(tick))));
  }
  const nx = x(nowMs);
  svg.append(s("line", {x1: nx, x2: nx, y1: 16, y2: axisY + 12, class: "now"}),
    s("text", {x: nx, y: 11, class: "tick now-label", "text-anchor": "middle"}, "now"));
  marks.forEach((m, i) => {
    const up = i % 2 === 0;
    const cx = m.x;
    if (m.st) {
      const st = m.st, c = st.counts;
      svg.append(
        s("line", {x1: cx, x2: cx, y1: axisY, y2: up ? axisY - 24 : axisY + 22, class: "stem"}),
        s("circle", {cx, cy: axisY, r: st.current ? 8 : 6, class: `step status-${st.status}${st.current ? " current" : ""}`,
          dataset: {step: st.step, alert: st.alertRef}}, s("title", {}, `Step ${st.step}: ${st.status}`)),
        s("text", {x: cx, y: up ? axisY - 40 : axisY + 36, class: "label", "text-anchor": "middle"},
          `${st.step}. ${st.alertTypes.join("+")}`),
        s("text", {x: cx, y: up ? axisY - 28 : axisY + 48, class: "tick", "text-anchor": "middle"},
          `${c.responded}/${c.targeted} answered`));
    } else {
      svg.append(
        s("line", {x1: cx, x2: cx, y1: axisY, y2: up ? axisY - 24 : axisY + 22, class: "stem"}),
        s("circle", {cx, cy: axisY, r: 6, class: "step planned", dataset: {planned: m.p.dueAt}},
          s("title", {}, `Planned: ${m.p.alertTypes.join("+")}`)),
        s("text", {x: cx, y: up ? axisY - 40 : axisY + 36, class: "label", "text-anchor": "middle"},
          `then ${m.p.alertTypes.join("+")}`),
        s("text", {x: cx, y: up ? axisY - 28 : axisY + 48, class: "tick", "text-anchor": "middle"},
          `at ${clock(new Date(m.t))}`));
    }
  });
  return svg;
}

/** The small stacked bar of a list row: answered, delivered, sent, failed and waiting recipients. */
export function progressBar(c) {
  const total = Math.max(1, c.targeted);
  const parts = [["answered", c.responded], ["delivered", c.delivered - c.responded], ["sent", c.sent - c.delivered],
    ["failed", c.failed + c.expired], ["queued", c.queued]];
  const svg = s("svg", {viewBox: "0 0 100 8", class: "progress", preserveAspectRatio: "none", "aria-hidden": "true"});
  let at = 0;
  for (const [name, value] of parts) {
    if (value <= 0) continue;
    const w = (100 * value) / total;
    svg.append(s("rect", {x: at, y: 0, width: w, height: 8, class: `seg seg-${name}`}));
    at += w;
  }
  return svg;
}
