# ruff: noqa: E501  (the embedded HTML/JS is kept as written; wrapping it would only obscure it)
"""The sandbox phone page: one static HTML document (no CDN, works offline) driven by ``/api/sandbox/*``.

As the status page does, it takes the API key from the URL fragment (``/sandbox#key=...``, never sent to the
server), else from this tab's sessionStorage, else from a form, and sends it as a Bearer header. It long-polls
``/api/sandbox/phone`` (the answer comes as soon as anything changes), keeps what is being typed and the focus
across updates, and works with the keyboard alone: every control is a button or a form, and while a call is
answered the digit keys press keys on it. Narrow screens get one column.
"""

from __future__ import annotations

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alertnode sandbox phone</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
*{box-sizing:border-box} body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#f2f2f5}
header{background:#5b2a86;color:#fff;padding:.6em 1em} header h1{font-size:19px;margin:0}
#banner{font-weight:bold} #meta{font-size:13px;opacity:.9} #err{color:#ffd2d2;font-weight:bold}
#login{padding:1em} #ringing{margin:.6em 1em} .ring{background:#fff3c4;border:2px solid #e0a800;border-radius:8px;padding:.5em .8em;margin:.4em 0}
#layout{display:grid;grid-template-columns:17em 1fr;gap:1em;padding:1em}
@media (max-width:700px){#layout{grid-template-columns:1fr}}
nav button{display:block;width:100%;text-align:left;margin:0 0 .4em;padding:.5em .7em;border:1px solid #ccc;border-radius:8px;background:#fff;font:inherit;cursor:pointer}
nav button[aria-current=true]{border:2px solid #5b2a86;background:#f4ecfb} nav .counts{font-size:12px;color:#555}
section.box{background:#fff;border:1px solid #ddd;border-radius:10px;padding:.6em .9em;margin-bottom:1em}
section.box h2{font-size:16px;margin:.2em 0 .5em} .empty{color:#777}
.bubble{max-width:36em;border-radius:12px;padding:.4em .7em;margin:.35em 0;white-space:pre-wrap;word-wrap:break-word}
.to{background:#ececf1} .from{background:#dcf3dc;margin-left:auto} .small{font-size:12px;color:#555}
.bad{color:#a00;font-weight:bold} .good{color:#060;font-weight:bold}
button.act{font:inherit;padding:.35em .9em;margin:.15em .2em .15em 0;border-radius:6px;border:1px solid #888;background:#fff;cursor:pointer}
button.answer{background:#1f8f3a;color:#fff;border-color:#1f8f3a} button.decline,button.hangup{background:#c0392b;color:#fff;border-color:#c0392b}
.keypad{display:grid;grid-template-columns:repeat(3,3.2em);gap:.3em;margin:.4em 0} .keypad button{font-size:18px;padding:.3em 0}
button:focus-visible,input:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #e0a800;outline-offset:1px}
form.reply{display:flex;gap:.4em;margin-top:.5em} form.reply input,form.reply textarea{flex:1;font:inherit;padding:.35em}
.mail{border-top:1px solid #eee;padding:.5em 0} .mail pre{white-space:pre-wrap;font:inherit;margin:.3em 0;background:#fafafa;padding:.4em}
.call{border-top:1px solid #eee;padding:.5em 0}
</style></head><body>
<header><h1>alertnode sandbox phone</h1>
<div id="banner">SANDBOX: these people, phones and mailboxes are simulated on this machine; nothing leaves it.</div>
<div id="meta" aria-live="polite">loading&hellip;</div><div id="err" role="alert"></div></header>
<form id="login" style="display:none"><label>API key: <input id="key" type="password" size="40" autocomplete="off"></label> <button class="act">open</button></form>
<div id="ringing" aria-live="assertive" aria-label="calls in progress"></div>
<div id="layout"><nav id="people" aria-label="recipients"></nav><main id="detail"><p class="empty">Nothing arrived yet. Send an alert (see the README's quick start) and it shows up here.</p></main></div>
<script>
function keyFromUrl(){const m=/key=([^&]+)/.exec(location.hash);return m?decodeURIComponent(m[1]):null}
let key = keyFromUrl() || sessionStorage.getItem("alertnodeKey");
if (keyFromUrl()) { sessionStorage.setItem("alertnodeKey", key); history.replaceState(null, "", location.pathname); }
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const hhmm = t => t ? new Date(t*1000).toLocaleTimeString() : "";
let state = null, version = -1, selected = sessionStorage.getItem("sandboxSelected"), answeredCall = null;
const players = {};  // call id -> its <audio>, kept (and playing on) across updates of the page
const $ = id => document.getElementById(id);

async function api(method, path, body){
  const r = await fetch(path, {method, cache: "no-store", headers: Object.assign({"Authorization": "Bearer "+key},
    body ? {"Content-Type": "application/json"} : {}), body: body ? JSON.stringify(body) : undefined});
  if (r.status === 401) { sessionStorage.removeItem("alertnodeKey"); key = null; $("login").style.display = "block";
    throw new Error("the API key was not accepted"); }
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((data.failureReason || r.status) + (data.errors && data.errors.length ? ": " + data.errors.map(e => e.path+" "+e.message).join("; ") : ""));
  return data;
}
async function act(path, body){ try { await api("POST", path, body); $("err").textContent = ""; } catch (e) { $("err").textContent = String(e.message || e); } }

function linkList(links){ return (links||[]).map(l => " <a class='link' href='"+esc(l)+"' target='_blank' rel='noopener'>open link</a>").join(""); }
function callButtons(c){
  if (c.state === "ringing") return "<button class='act answer' data-call='"+esc(c.id)+"' data-action='answer'>Answer</button>"+
    "<button class='act decline' data-call='"+esc(c.id)+"' data-action='decline'>Decline</button>";
  if (c.state === "answered") return "<button class='act hangup' data-call='"+esc(c.id)+"' data-action='hangup'>Hang up</button>"+
    "<div class='keypad' role='group' aria-label='keys'>"+"123456789*0#".split("").map(k =>
    "<button class='act' data-call='"+esc(c.id)+"' data-key='"+k+"' aria-label='key "+k+"'>"+k+"</button>").join("")+"</div>";
  return "";
}
function callHtml(c){
  const dur = c.answered_at && c.ended_at ? ", "+Math.round(c.ended_at - c.answered_at)+" s" : "";
  return "<div class='call' data-call-row='"+esc(c.id)+"'><b>"+esc(c.state)+"</b> call from "+esc(c.caller)+" at "+hhmm(c.at)+dur+
    (c.keys ? ", keys pressed: <b>"+esc(c.keys)+"</b>" : "")+(c.code && c.state !== "answered" ? " <span class='small'>("+c.code+" "+esc(c.reason)+")</span>" : "")+
    "<div>"+callButtons(c)+(c.recording ? "<button class='act' data-play='"+esc(c.id)+"'>Play what the node said</button><span id='audio-"+esc(c.id)+"'></span>" : "")+"</div></div>";
}
function smsHtml(s){
  const st = s.status;
  return "<div class='bubble "+(s.direction === "to" ? "to" : "from")+"' data-sms='"+esc(s.id)+"'><span class='small'>"+
    (s.direction === "to" ? "from "+esc(s.peer) : "you, to "+esc(s.peer))+" · "+hhmm(s.at)+" · <span class='"+
    (/deliver|sent/.test(st) && !/un|not/.test(st) ? "good" : /reject|undeliv|not/.test(st) ? "bad" : "")+"'>"+esc(st)+"</span></span>\\n"+
    esc(s.text)+linkList(s.links)+"</div>";
}
function mailHtml(m){
  return "<div class='mail' data-mail='"+esc(m.id)+"'><div><b>"+esc(m.subject || "(no subject)")+"</b></div><div class='small'>from "+esc(m.sender)+
    " · "+hhmm(m.at)+" · <span class='"+(m.status === "bounced" ? "bad" : "good")+"'>"+esc(m.status)+"</span>"+
    (m.report ? " · report sent back: "+esc(m.report) : "")+"</div><pre>"+esc(m.text)+"</pre>"+linkList(m.links)+
    (m.replies||[]).map(r => "<div class='bubble from'><span class='small'>you replied · "+hhmm(r.at)+" · "+esc(r.result)+"</span>\\n"+esc(r.text)+"</div>").join("")+
    (m.status === "bounced" ? "" : "<form class='reply' data-mail-reply='"+esc(m.id)+"'><label class='small' for='mail-"+esc(m.id)+"'>reply</label><textarea id='mail-"+m.id+
    "' name='text' rows='2' data-draft required></textarea><button class='act'>Send reply</button></form>")+"</div>";
}
function personHtml(p){
  const last = [...p.sms].reverse().find(s => s.direction === "to");
  return "<h2 style='margin:0 0 .6em'>"+esc(p.address)+"</h2>"+
    (p.kind === "phone" ? "<section class='box'><h2>Calls</h2>"+(p.calls.length ? [...p.calls].reverse().map(callHtml).join("") : "<p class='empty'>no calls</p>")+"</section>"+
    "<section class='box'><h2>Text messages</h2>"+(p.sms.length ? p.sms.map(smsHtml).join("") : "<p class='empty'>no texts</p>")+
    (last ? "<form class='reply' data-sms-reply='"+esc(last.id)+"'><label class='small' for='sms-"+esc(p.address)+"'>reply</label><input id='sms-"+esc(p.address)+
    "' name='text' data-draft autocomplete='off' required placeholder='e.g. OK'><button class='act'>Send SMS</button></form>" : "")+"</section>" : "")+
    (p.emails.length || p.kind === "email" ? "<section class='box'><h2>E-mail</h2>"+(p.emails.length ? [...p.emails].reverse().map(mailHtml).join("") : "<p class='empty'>no e-mail</p>")+"</section>" : "");
}
function render(){
  const people = state.recipients;
  if (!selected || !people.some(p => p.address === selected)) selected = people.length ? people[0].address : null;
  const drafts = {}; document.querySelectorAll("[data-draft]").forEach(el => drafts[el.id] = el.value);
  const focus = document.activeElement && document.activeElement.id ? document.activeElement.id :
    (document.activeElement && document.activeElement.dataset && document.activeElement.dataset.call ? "call:"+document.activeElement.dataset.call+":"+(document.activeElement.dataset.action||document.activeElement.dataset.key||"") : null);
  const live = people.flatMap(p => p.calls.filter(c => c.state === "ringing" || c.state === "answered").map(c => [p, c]));
  $("ringing").innerHTML = live.map(([p, c]) => "<div class='ring' data-live-call='"+esc(c.id)+"'><b>"+esc(p.address)+"</b> "+
    (c.state === "ringing" ? "is ringing" : "is on a call")+" (from "+esc(c.caller)+") "+callButtons(c)+"</div>").join("");
  $("people").innerHTML = people.map(p => "<button data-recipient='"+esc(p.address)+"' aria-current='"+(p.address === selected)+"'>"+esc(p.address)+
    "<div class='counts'>"+[p.sms.length && p.sms.length+" text(s)", p.emails.length && p.emails.length+" e-mail(s)", p.calls.length && p.calls.length+" call(s)"].filter(Boolean).join(", ")+
    (p.calls.some(c => c.state === "ringing") ? " <b>ringing</b>" : "")+"</div></button>").join("") || "<p class='empty'>nobody yet</p>";
  const person = people.find(p => p.address === selected);
  if (person) $("detail").innerHTML = personHtml(person);
  Object.entries(players).forEach(([id, a]) => { const slot = $("audio-"+id); if (slot) slot.appendChild(a); });
  const answered = people.flatMap(p => p.calls).filter(c => c.state === "answered");
  answeredCall = answered.length ? answered[answered.length - 1].id : null;
  Object.entries(drafts).forEach(([id, v]) => { const el = document.getElementById(id); if (el) el.value = v; });
  if (focus) { const el = focus.startsWith("call:") ? (() => { const [, c, a] = focus.split(":");
      return document.querySelector("#ringing [data-call='"+c+"'][data-action='"+a+"'],#ringing [data-call='"+c+"'][data-key='"+a+"']"); })() : document.getElementById(focus);
    if (el) el.focus(); }
  $("meta").textContent = "sandbox peers: SMSC "+state.sandbox.smsc+", smarthost "+state.sandbox.smarthost+", phone "+
    (state.sandbox.phone ? state.sandbox.phone.sip : "none (no pjsua2)")+"; live, updated "+new Date().toLocaleTimeString();
}
document.addEventListener("click", async ev => {
  const b = ev.target.closest("button"); if (!b) return;
  if (b.dataset.recipient) { selected = b.dataset.recipient; sessionStorage.setItem("sandboxSelected", selected); render(); return; }
  if (b.dataset.action) { await act("/api/sandbox/calls/"+b.dataset.call+"/"+b.dataset.action); return; }
  if (b.dataset.key) { await act("/api/sandbox/calls/"+b.dataset.call+"/keys", {digits: b.dataset.key}); return; }
  if (b.dataset.play) { try {
      const r = await fetch("/api/sandbox/calls/"+b.dataset.play+"/recording", {headers: {"Authorization": "Bearer "+key}, cache: "no-store"});
      if (!r.ok) throw new Error("no recording yet");
      const old = players[b.dataset.play]; if (old) { old.pause(); URL.revokeObjectURL(old.src); old.remove(); }
      const a = players[b.dataset.play] = document.createElement("audio"); a.controls = true; a.src = URL.createObjectURL(await r.blob());
      const slot = $("audio-"+b.dataset.play); if (slot) slot.appendChild(a); a.play().catch(() => {});
    } catch (e) { $("err").textContent = String(e.message || e); } }
});
document.addEventListener("submit", async ev => {
  const f = ev.target; if (f.id === "login") return; ev.preventDefault();
  const field = f.querySelector("[name=text]"); const text = field.value.trim(); if (!text) return;
  const path = f.dataset.smsReply ? "/api/sandbox/sms/"+f.dataset.smsReply+"/reply" : "/api/sandbox/email/"+f.dataset.mailReply+"/reply";
  field.value = ""; await act(path, {text});
});
document.addEventListener("keydown", ev => {
  if (!answeredCall || /INPUT|TEXTAREA/.test(ev.target.tagName) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (/^[0-9*#]$/.test(ev.key)) { ev.preventDefault(); act("/api/sandbox/calls/"+answeredCall+"/keys", {digits: ev.key}); }
});
async function poll(){
  if (!key) { $("login").style.display = "block"; $("meta").textContent = "give the API key"; return; }
  try {
    const data = await api("GET", "/api/sandbox/phone?since="+version+"&wait="+(version < 0 ? 0 : 25));
    if (data.version !== version) { state = data; version = data.version; render(); }
    if ($("err").textContent.startsWith("node not reachable")) $("err").textContent = "";
    setTimeout(poll, 0);
  } catch (e) { if (key) { $("err").textContent = "node not reachable: "+(e.message || e); setTimeout(poll, 2000); } }
}
$("login").addEventListener("submit", ev => { ev.preventDefault(); key = $("key").value.trim();
  sessionStorage.setItem("alertnodeKey", key); $("login").style.display = "none"; poll(); });
poll();
</script></body></html>
"""


def page() -> str:
    return _PAGE
