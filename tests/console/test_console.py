"""The operator console in headless Chromium (DevTools over a pipe) against the real node with real alerts flowing:
SMS through the SMSC simulator (receipts, a reply), e-mail through an SMTP smarthost, an events route that
escalates. One page load: the live chart, filters, an alert's funnel, escalation drawing and per-recipient
timeline, acknowledge, hold, resume and cancel, the test-alert form, the keyboard, and a phone-sized viewport.
Screenshots go to test-artifacts/ (console-*.png)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events.support import SENDER, contact, mail_section
from tests.nodeproc import API_KEY, RunningNode
from tests.ops.cdp import Chromium
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost

pytestmark = pytest.mark.peer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
GROUP = {"name": "site", "contacts": [contact(1), contact(2), contact(3), contact(5), contact(6)],
         "sets": [{"name": "wardens", "ids": ["p1", "p2"]}, {"name": "firstaid", "ids": ["p3"]},
                  {"name": "night", "ids": ["p5", "p6"]}]}
ROUTE = {"name": "site", "match": ["site.*"], "contact_group": "site", "contact_sets": ["night"],
         "alert_types": ["sms"], "sms_sender": SENDER, "template": "{message}",
         "escalation": {"after_min": 0.15, "alert_types": ["email"], "previously_seen": "sms,email"}}
KEYS = {"Enter": ("Enter", 13, "\r"), "Tab": ("Tab", 9, ""), "Escape": ("Escape", 27, "")}


class Page:
    """The console in a Chromium tab, driven like a user: clicks, typing, keys."""

    def __init__(self, browser: Chromium) -> None:
        self.b = browser

    def js(self, expression: str) -> Any:
        return self.b.evaluate(expression)

    def until(self, expression: str, timeout: float = 30.0) -> Any:
        return self.b.wait_for(expression, timeout)

    def click(self, selector: str) -> None:
        assert self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
                       " e.click(); return true; })()"), f"nothing to click at {selector}"

    def fill(self, selector: str, value: str) -> None:
        assert self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
                       f" e.value = {json.dumps(value)}; e.dispatchEvent(new Event('change', {{bubbles: true}}));"
                       " return true; })()"), f"no field at {selector}"

    def submit(self, selector: str) -> None:
        assert self.js(f"(() => {{ const f = document.querySelector({json.dumps(selector)}); if (!f) return false;"
                       " f.requestSubmit(); return true; })()"), f"no form at {selector}"

    def press(self, key: str) -> None:
        name, code, text = KEYS[key] if key in KEYS else (key, ord(key.upper()), key)
        for kind in ("keyDown", "keyUp"):
            params: dict[str, Any] = {"type": kind, "key": name, "windowsVirtualKeyCode": code,
                                      "code": name if len(name) > 1 else f"Key{name.upper()}"}
            if kind == "keyDown" and text:
                params["text"] = text
            self.b.call("Input.dispatchKeyEvent", **params)

    def text(self, selector: str) -> str:
        return str(self.js(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''"))

    def go(self, hash_: str, ready: str) -> None:
        self.js(f"location.hash = {json.dumps(hash_)}")
        self.until(ready)

    def shot(self, name: str, full: bool = False) -> None:
        """A screenshot in test-artifacts/ (``full``: the whole page, not only the viewport), once the toast is gone."""
        self.until("!document.getElementById('toast').classList.contains('show')")
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"console-{name}.png"
        if full:
            width, height = self.js("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            data = self.b.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                               clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})["data"]
            path.write_bytes(base64.b64decode(data))
        else:
            self.b.screenshot(path)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.b.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                    mobile=mobile)


def api(node: RunningNode, method: str, path: str, body: Any = None) -> dict[str, Any]:
    with httpx.Client(base_url=node.url, headers=node.headers, timeout=30, trust_env=False) as c:
        resp = c.request(method, path, json=body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def test_the_console_with_real_alerts(run_node: Callable[..., RunningNode], smsc: Smsc,
                                      threaded_smarthost: ThreadedSmarthost) -> None:
    node = run_node({"sms": {"links": [smsc.link()]}, "mail": mail_section(threaded_smarthost),
                     "events": {"contact_groups": {"site": GROUP}, "routes": [ROUTE]},
                     "ops": {"console_refresh_s": 1}})
    sms = {"alertType": "sms", "tag": "oncall", "sender": SENDER, "contactSets": ["wardens"],
           "content": "Boiler 3 pressure high. Reply OK."}
    boiler = api(node, "POST", "/api/json/sendalert", {
        "version": "latest", "clientRef": "boiler-3", "appData": "ticket-4711", "alert": [sms],
        "contactGroup": {"inlineContactGroup": GROUP}})["alertRef"]
    first_aid = api(node, "POST", "/api/json/sendalert", {
        "version": "latest", "clientRef": "first-aid", "contactGroup": {"inlineContactGroup": GROUP},
        "alert": [{"alertType": "email", "tag": "mail", "contactSets": ["firstaid"], "subject": "First aid",
                   "content": "Kit needed in hall B"}]})["alertRef"]
    drill = api(node, "POST", "/api/json/sendalert", {
        "version": "latest", "clientRef": "drill", "schedule": {"publish": False},
        "alert": [{"alertType": "sms", "tag": "drill", "sender": SENDER, "recipients": ["+447700900190"],
                   "content": "Drill at 14:00"}]})["alertRef"]
    node.wait_events(lambda evs: sum(e["event"] == "delivered" and e["alertRef"] == boiler for e in evs) == 2)
    assert smsc.mo(to=SENDER[1:], text="OK", **{"from": "447700900101"})[0] == 200
    node.wait_events(lambda evs: any(e["event"] == "replied" for e in evs))

    browser = Chromium()
    page = Page(browser)
    try:
        browser.open(f"{node.url}/console#key={API_KEY}")
        page.until("document.querySelectorAll('#alert-table tbody tr').length === 3")
        assert page.js("location.hash") == "#alerts"  # the key left the address bar
        assert page.js("sessionStorage.getItem('alertnodeKey')") == API_KEY
        assert API_KEY not in page.js("document.documentElement.outerHTML")
        # the live chart, drawn by the page from /api/json/activity
        chart = "document.querySelector('svg.chart[data-channel=sms]').dataset"
        page.until(f"{chart}.totalSent >= 2 && {chart}.totalDelivered >= 2 && {chart}.totalAnswered >= 1")
        assert int(page.js("document.querySelector('svg.chart[data-channel=email]').dataset.totalSent")) >= 1
        assert page.js("document.querySelectorAll('svg.chart[data-channel=sms] rect.bar').length") >= 3
        row = f"document.querySelector('tr[data-alert=\"{boiler}\"]')"
        assert page.js(f"{row}.classList.contains('unread')") and "1/2 answered" in page.js(f"{row}.textContent")
        assert page.js(f"document.querySelector('tr[data-alert=\"{drill}\"]').dataset.status") == "scheduled"
        assert page.js(f"document.querySelector('tr[data-alert=\"{first_aid}\"] td[data-label=Channels]')"
                       ".textContent") == "email"
        # nothing comes from elsewhere: every file is the node's, scripts only from files (CSP)
        assert page.js("performance.getEntriesByType('resource').every(r => r.name.startsWith(location.origin))")
        assert page.js("document.querySelectorAll('script:not([src])').length") == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.shot("list")

        # filters: by tag, then by status and view
        page.fill("#filter-tag", "oncall")
        page.submit("#filters")
        page.until(f"location.hash.includes('tag=oncall') && document.querySelectorAll('#alert-table tbody tr')"
                   f".length === 1 && !!{row}")
        page.click("#filter-clear")
        page.until("document.querySelectorAll('#alert-table tbody tr').length === 3")
        page.fill("#filter-view", "pending")
        page.submit("#filters")
        page.until(f"document.querySelectorAll('#alert-table tbody tr').length === 1 && "
                   f"!!document.querySelector('tr[data-alert=\"{drill}\"]')")
        page.click("#filter-clear")
        page.until("document.querySelectorAll('#alert-table tbody tr').length === 3")

        # the keyboard: j moves through the rows, Enter opens one, Esc comes back, n opens the form
        page.js("document.activeElement.blur()")
        page.press("j")
        assert page.js("document.activeElement.classList.contains('alert-link')")
        first = page.js("document.activeElement.closest('tr').dataset.alert")
        page.press("Enter")
        page.until(f"location.hash === '#alert/{first}' && !!document.querySelector('#funnel svg')")
        page.press("Escape")
        page.until("location.hash === '#alerts' && document.querySelectorAll('#alert-table tbody tr').length === 3")
        page.press("n")
        page.until("location.hash === '#send' && document.activeElement.tagName === 'H1'")
        page.press("Tab")
        assert page.js("document.activeElement.id") == "send-type"  # the form comes first after the heading

        # the alert: funnel, escalation drawing, recipients and one recipient's timeline
        page.go(f"#alert/{boiler}", "document.querySelectorAll('#recipient-table tbody tr').length === 2")
        bars = ("Object.fromEntries([...document.querySelectorAll('#funnel rect.bar')]"
                ".map(r => [r.dataset.step, +r.dataset.value]))")
        page.until(f"JSON.stringify({bars}) === JSON.stringify({{targeted: 2, sent: 2, delivered: 2, answered: 1}})")
        assert page.js("document.querySelectorAll('#escalation circle.step.current').length") == 1
        assert "ticket-4711" in page.text(".meta") and "set:wardens" in page.text(".meta")
        p1 = api(node, "GET", f"/api/json/alerts/{boiler}")["items"][0]["recipients"]
        by_contact = {r["contact"]: r["deliveryId"] for r in p1}
        page.click(f"[data-focus='tl-{by_contact['p1']}']")
        page.until("document.querySelectorAll('#delivery-events li').length >= 3")
        kinds = page.js("[...document.querySelectorAll('#delivery-events li')].map(li => li.dataset.event)")
        assert kinds[:3] == ["sent", "delivered", "replied"], kinds
        assert api(node, "GET", f"/api/json/alerts/{boiler}")["read"] is True  # opening it read it
        page.shot("detail")

        # acknowledge p2 for them (the operator took their call)
        page.click(f"[data-focus='ack-{by_contact['p2']}']")
        page.until(f"document.activeElement.id === 'ack-note-{by_contact['p2']}'")
        page.fill(f"#ack-note-{by_contact['p2']}", "phoned the desk")
        page.submit(".ack-form")
        page.until(f"document.querySelector('tr[data-delivery=\"{by_contact['p2']}\"]').dataset.state === 'responded'")
        page.until(f"{bars}.answered === 2")
        acked = [e for e in node.events(limit=5000)["events"] if e["event"] == "acknowledged"]
        assert [(e["contact"], e["detail"]["note"]) for e in acked] == [("p2", "phoned the desk")]

        # hold, resume and cancel the drill (not published yet)
        page.go(f"#alert/{drill}", "!!document.querySelector('#act-hold') && "
                                   "!document.querySelector('#act-hold').disabled")
        page.click("#act-hold")
        page.until("document.querySelector('h1 .badge').textContent === 'on hold' && "
                   "!document.querySelector('#act-resume').disabled")
        page.click("#act-resume")
        page.until("document.querySelector('h1 .badge').textContent === 'scheduled'")
        page.click("#act-cancel")
        page.until("document.activeElement.id === 'keep-alert'")
        page.click("#confirm-cancel")
        page.until("document.querySelector('h1 .badge').textContent === 'cancelled'")
        assert api(node, "GET", f"/api/json/alerts/{drill}")["status"] == "cancelled"
        held = [e["event"] for e in api(node, "GET", f"/api/json/alerts/{drill}/timeline")["events"]
                if "deliveryId" not in e]
        assert held == ["accepted", "read", "held", "resumed", "cancelled"], held

        # an event escalates: the drawing shows the planned follow-up, then the second step
        site = api(node, "POST", "/api/events", {"event": "site.fire", "message": "Fire alarm in hall B"})["alertRef"]
        page.go(f"#alert/{site}", "!!document.querySelector('#escalation circle.planned')")
        page.until("document.querySelectorAll('#escalation circle.step:not(.planned)').length === 2 && "
                   "!document.querySelector('#escalation circle.planned')", timeout=60)
        assert "route:site" in page.text(".meta")
        page.shot("escalation")

        # a test alert from the form: a refusal names its JSON path, then it is sent
        page.go("#send", "document.querySelectorAll('#send-type option').length >= 2")
        page.fill("#send-type", "sms")
        page.fill("#send-recipients", "12")
        page.submit("#send-form")
        page.until("document.querySelector('#send-result .error') && "
                   "document.querySelector('#send-result').textContent.includes('alert[0].recipients[0]')")
        page.shot("send")
        page.fill("#send-recipients", "+447700900150")
        page.submit("#send-form")
        page.until("location.hash.startsWith('#alert/') && !!document.querySelector('.meta')")
        sent = page.js("location.hash.slice(7)")
        page.until("document.querySelector('.meta').textContent.includes('admin')")
        deadline = time.monotonic() + 30
        while not any(s["dest"].endswith("447700900150") for s in smsc.submits()):
            assert time.monotonic() < deadline, "the test alert never reached the SMSC"
            time.sleep(0.1)
        assert api(node, "GET", f"/api/json/alerts/{sent}")["category"] == "admin"

        # every field has a label; every drawing a text alternative
        assert page.js("[...document.querySelectorAll('input, select, textarea')].filter(e => !e.labels.length && "
                       "!e.getAttribute('aria-label')).length") == 0
        page.go("#alerts", "document.querySelectorAll('#alert-table tbody tr').length >= 5")
        assert page.js("[...document.querySelectorAll('svg.chart, svg.funnel, svg.escalation')]"
                       ".every(s => s.getAttribute('role') === 'img' && s.getAttribute('aria-label'))")

        # a phone: nothing wider than the screen, rows as cards, the chart narrowed to 30 minutes
        page.viewport(390, 844, mobile=True)
        page.go("#alerts?view=history", "document.querySelectorAll('#alert-table tbody tr').length >= 4")
        page.until("document.querySelector('svg.chart').getAttribute('viewBox').startsWith('0 0 360')")
        # the chart follows new activity without a reload (its refresh fetches the last minutes only)
        before = int(page.js(f"{chart}.totalSent"))
        api(node, "POST", "/api/json/sendalert", {"version": "latest", "clientRef": "late", "alert": [
            {"alertType": "sms", "tag": "late", "sender": SENDER, "recipients": ["+447700900191"], "content": "x"}]})
        page.until(f"+{chart}.totalSent === {before + 1}")
        assert page.js(f"{chart}.minutes") == "30"  # the refreshed minutes joined to the hour, its last 30 shown
        merged = browser.call("Runtime.evaluate", awaitPromise=True, returnByValue=True, expression="""
            import('/console/views.js').then(({mergeActivity}) => {
              const series = ['sent', 'delivered', 'answered', 'failed'];
              const old = {startEpoch: 6000, minutes: 60, series, channels: {sms: {sent: Array(60).fill(1),
                delivered: Array(60).fill(0), answered: Array(60).fill(0), failed: Array(60).fill(0)}}};
              const fresh = {startEpoch: 6000 + 59 * 60, minutes: 3, series, channels: {
                sms: {sent: [5, 0, 7], delivered: [0, 0, 0], answered: [0, 0, 1], failed: [0, 0, 0]},
                email: {sent: [0, 2, 0], delivered: [0, 0, 0], answered: [0, 0, 0], failed: [0, 0, 0]}}};
              const m = mergeActivity(old, fresh, 60);
              return [m.startEpoch, m.minutes, m.channels.sms.sent.slice(55), m.channels.sms.answered[59],
                      m.channels.email.sent.slice(56)];
            })""")["result"]["value"]
        assert merged == [6120, 60, [1, 1, 5, 0, 7], 1, [0, 0, 2, 0]]
        assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.js("getComputedStyle(document.querySelector('#alert-table tbody tr')).display") == "block"
        page.shot("phone-list")
        page.go(f"#alert/{boiler}", "!!document.querySelector('#funnel svg')")
        assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
        page.shot("phone-detail", full=True)
    finally:
        browser.close()


def test_signing_in_and_the_switch(run_node: Callable[..., RunningNode]) -> None:
    node = run_node({})
    resp = httpx.get(f"{node.url}/console", timeout=10, trust_env=False)
    assert resp.status_code == 200 and "default-src 'none'" in resp.headers["content-security-policy"]
    assert httpx.get(f"{node.url}/console/app.js", timeout=10, trust_env=False).headers["content-type"].startswith(
        "text/javascript")
    browser = Chromium()
    page = Page(browser)
    try:
        browser.open(f"{node.url}/console")
        page.until("document.activeElement.id === 'key'")
        page.fill("#key", "not-the-key")
        page.submit("#login")
        page.until("document.querySelector('#login .error') && document.activeElement.id === 'key'")
        page.fill("#key", API_KEY)
        page.submit("#login")
        page.until("document.querySelector('#list-state').textContent.includes('No alert')")
        assert page.text("#who").startswith("signed in as key-")
        page.click("#signout")
        page.until("!!document.querySelector('#login') && sessionStorage.getItem('alertnodeKey') === null")
    finally:
        browser.close()
    off = run_node({"ops": {"console": False}})
    assert httpx.get(f"{off.url}/console", timeout=10, trust_env=False).status_code == 404
