# ruff: noqa: E501  (the embedded HTML/JS is kept as written; wrapping it would only obscure it)
"""The status page: one static HTML document that polls ``/api/ops/status`` with the API key.

The key is taken from the URL fragment (``/status#key=...``, never sent to the server or logged),
else from this tab's sessionStorage, else asked for in a form. Everything shown comes from the JSON,
so the page itself holds no data and needs no key to load.
"""

from __future__ import annotations

import json

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alertnode status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 .3em} h2{font-size:16px;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;min-width:40%} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#eee} .ok{color:#060;font-weight:bold} .bad{color:#a00;font-weight:bold} #err{color:#a00}
#meta{color:#555} code{font-size:12px}
</style></head><body>
<h1>alertnode status</h1>
<div id="meta">loading&hellip;</div><div id="err"></div>
<div id="sandbox" style="display:none;background:#5b2a86;color:#fff;padding:.4em .8em;font-weight:bold">SANDBOX MODE: every channel goes to sandbox peers on this machine; nothing leaves it. <a style="color:#fff" href="/sandbox">The sandbox phone</a></div>
<form id="login" style="display:none">API key: <input id="key" type="password" size="40"> <button>show</button></form>
<h2>Readiness</h2><div id="ready"></div>
<h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>alive</th><th>last heartbeat</th><th>holds</th>
<th>channels and links</th></tr></thead><tbody></tbody></table>
<h2>Channels and links</h2><table id="channels"><thead><tr><th>channel</th><th>state</th><th>ready</th>
<th>in flight / capacity</th><th>details</th></tr></thead><tbody></tbody></table>
<h2>Calls in progress</h2><div id="calls"></div>
<h2>Queues</h2><table id="queues"><thead><tr><th>alert type</th><th>queued</th><th>in progress</th>
</tr></thead><tbody></tbody></table><p id="callbacks"></p>
<h2>Latest alerts</h2><table id="alerts"><thead><tr><th>alertRef</th><th>clientRef</th><th>created (UTC)</th>
<th>status</th><th>progress</th></tr></thead><tbody></tbody></table>
<script>
const REFRESH_MS = __REFRESH_MS__;
function keyFromUrl(){const m=/key=([^&]+)/.exec(location.hash);return m?decodeURIComponent(m[1]):null}
let key = keyFromUrl() || sessionStorage.getItem("alertnodeKey");
if (keyFromUrl()) { sessionStorage.setItem("alertnodeKey", key); history.replaceState(null, "", location.pathname); }
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
const cls = ok => ok ? "ok" : "bad";
function rows(id, html){document.querySelector("#"+id+" tbody").innerHTML = html}
function linkText(ch){
  if (ch.name === "sms") return Object.entries(ch.details).map(([n,l]) => esc(n)+" "+esc(l.host)+":"+esc(l.port)+": "+
    Object.entries(l).filter(([,t]) => t && typeof t === "object").map(([r,t]) =>
      esc(r)+" <span class='"+cls(t.state==="bound")+"'>"+esc(t.state)+"</span>"+(t.reason && t.reason !== t.state?" ("+esc(t.reason)+")":"")+
      ", submitted "+esc(t.submitted)+", acked "+esc(t.acked)).join("; ")).join("<br>");
  if (ch.name === "voice") { const r = ch.details.registration;
    return (r ? "registration: <span class='"+cls(r.registered)+"'>"+(r.registered?"registered":"not registered")+"</span>" : "trunk mode")+
      "; workers: "+(ch.details.workers||[]).map(w => (w.ready?"ready":"starting")+" ("+w.calls+" calls)").join(", "); }
  if (ch.name === "email") return "smarthost "+esc(ch.details.smarthost)+": <span class='"+cls(ch.details.smarthostReachable)+"'>"+
      (ch.details.smarthostReachable?"reachable":"not reachable")+"</span>, sent "+esc(ch.details.sent)+", failed "+esc(ch.details.failed)+
      (ch.details.lastError?", last error: "+esc(ch.details.lastError):"");
  return "<code>"+esc(JSON.stringify(ch.details))+"</code>";
}
function render(s){
  document.getElementById("meta").textContent = "node "+s.version+", up "+Math.round(s.uptimeSeconds)+" s, updated "+
    new Date(s.now*1000).toISOString().replace("T"," ").slice(0,19)+" UTC, refreshing every "+(REFRESH_MS/1000)+" s";
  document.getElementById("sandbox").style.display = s.readiness.sandbox ? "block" : "none";
  document.getElementById("ready").innerHTML = "<span id='readyState' class='"+cls(s.readiness.ready)+"'>"+
    (s.readiness.ready?"READY":"NOT READY")+"</span>, store: "+esc(s.readiness.store);
  rows("nodes", (s.cluster||[]).map(n => "<tr data-node='"+esc(n.node)+"'><td>"+esc(n.node)+(n.self?" (this node)":"")+
    "<br>"+esc(n.host)+" pid "+esc(n.pid)+"</td><td class='"+cls(n.alive)+"'>"+(n.alive?"yes":"no")+"</td><td>"+
    esc(n.lastBeatSecondsAgo)+" s ago</td><td>"+Object.entries(n.holds||{}).map(([t,c]) => esc(t)+" "+c).join(", ")+
    "</td><td>"+(n.channels||[]).map(ch => esc(ch.name)+" <span class='"+cls(ch.ready)+"'>"+esc(ch.state)+"</span> "+
    ch.inFlight+"/"+ch.capacity).join("<br>")+(n.smsAccounts||[]).map(a => "<br>"+esc(a.link)+" "+esc(a.account)+
    (a.bound?" bound":" not bound")+", share "+esc(a.share)).join("")+"</td></tr>").join("")
    || "<tr><td colspan=5>no heartbeat yet</td></tr>");
  rows("channels", s.channels.map(ch => "<tr data-channel='"+esc(ch.name)+"'><td>"+esc(ch.name)+"</td><td class='state'>"+esc(ch.state)+
    "</td><td class='"+cls(ch.ready)+"'>"+(ch.ready?"yes":"no")+"</td><td>"+ch.inFlight+" / "+ch.capacity+"</td><td>"+linkText(ch)+
    "</td></tr>").join("") || "<tr><td colspan=5>no channel configured</td></tr>");
  document.getElementById("calls").textContent = s.callsActive === null ? "voice not configured" : s.callsActive+" call(s) in progress";
  rows("queues", Object.entries(s.queues).map(([t,q]) => "<tr><td>"+esc(t)+"</td><td>"+q.queued+"</td><td>"+q.inProgress+"</td></tr>").join("")
    || "<tr><td colspan=3>nothing waiting</td></tr>");
  document.getElementById("callbacks").textContent = "callbacks waiting: "+s.callbacks.queued+", given up: "+s.callbacks.dead+
    ", sent since start: "+s.callbacks.sent+", failed attempts: "+s.callbacks.failures;
  rows("alerts", s.alerts.map(a => "<tr data-alert='"+esc(a.alertRef)+"'><td>"+esc(a.alertRef)+"</td><td>"+esc(a.clientRef)+"</td><td>"+
    new Date(a.createdAt*1000).toISOString().replace("T"," ").slice(0,19)+"</td><td>"+esc(a.status)+"</td><td class='progress'>"+
    Object.entries(a.deliveries).map(([st,n]) => esc(st)+" "+n).join(", ")+"</td></tr>").join("") || "<tr><td colspan=5>no alerts</td></tr>");
}
async function poll(){
  if (!key) { document.getElementById("login").style.display = "block"; return; }
  try {
    const r = await fetch("/api/ops/status", {headers: {"Authorization": "Bearer "+key}, cache: "no-store"});
    if (r.status === 401) { sessionStorage.removeItem("alertnodeKey"); key = null;
      document.getElementById("err").textContent = "the API key was not accepted"; document.getElementById("login").style.display = "block"; return; }
    render(await r.json()); document.getElementById("err").textContent = "";
  } catch (e) { document.getElementById("err").textContent = "node not reachable: "+e; }
  setTimeout(poll, REFRESH_MS);
}
document.getElementById("login").addEventListener("submit", ev => { ev.preventDefault();
  key = document.getElementById("key").value; sessionStorage.setItem("alertnodeKey", key);
  document.getElementById("login").style.display = "none"; poll(); });
poll();
</script></body></html>
"""


def page(refresh_s: float) -> str:
    return _PAGE.replace("__REFRESH_MS__", json.dumps(int(refresh_s * 1000)))
