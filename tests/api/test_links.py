"""A link scanner never acknowledges an alert (issue 14), through the real node, the SMSC simulator and headless
Chromium: every request shape of the common scanners and prefetchers only shows the page (or redirects) and is
reported as ``previewed``; a person acknowledges by pressing the page's button, which POSTs the form's token."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.api.links import links_by_recipient, public_section, sent_links, shortlink_alert
from tests.api.scanners import BROWSERS, SCANNERS
from tests.nodeproc import RunningNode
from tests.ops.cdp import Chromium
from tests.peers.smsc import Smsc

pytestmark = pytest.mark.peer

PERSON = BROWSERS[0][1]


def sms_node(run_node: Callable[..., RunningNode], smsc: Smsc) -> RunningNode:
    return run_node({"public": public_section(), "sms": {"links": [smsc.link(dcs0_charset="latin1")]}})


def request(method: str, url: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
    return httpx.request(method, url, headers=headers, follow_redirects=False, timeout=30, trust_env=False, **kw)


def recipient_states(node: RunningNode, ref: str) -> list[str]:
    with node.client() as c:
        alert = c.get(f"/api/json/alerts/{ref}").json()
    return [r["state"] for item in alert["items"] for r in item["recipients"]]


def form_of(page: str) -> tuple[str, str]:
    """The acknowledgement form's action and token."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    token = re.search(r'name="ack" value="([^"]+)"', page)
    assert action and token, page
    return html.unescape(action.group(1)), token.group(1)


def test_scanners_and_prefetches_never_acknowledge(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    node = sms_node(run_node, smsc)
    ref = node.post("/api/json/sendalert", shortlink_alert(["+447700900501"], {})).json()["alertRef"]
    (link,) = sent_links(smsc, 1)
    for name, method, headers in SCANNERS:
        resp = request(method, link, headers)
        assert resp.status_code == 200, (name, resp.status_code)
        if method == "GET":
            assert "Acknowledge" in resp.text, name  # the page is shown, nothing more
    # a person opening the page does not acknowledge either: only the button does
    page = request("GET", link, {"User-Agent": PERSON})
    assert page.status_code == 200 and form_of(page.text)[1]
    events = node.wait_events(lambda evs: any(e["event"] == "opened" for e in evs)
                              and any(e["event"] == "previewed" for e in evs))
    assert not [e for e in events if e["event"] == "clicked" or e.get("state") == "responded"]
    previewed = [e for e in events if e["event"] == "previewed"]
    # reported once per kind within ten minutes: the first scanner's visit
    assert [(e["detail"]["visitor"], e["detail"]["reason"]) for e in previewed] == [("scanner", "Slack")]
    assert recipient_states(node, ref) != ["responded"]
    with node.client() as c:
        assert c.get(f"/api/json/alerts/{ref}").json()["counts"].get("responded", 0) == 0


def test_scanners_following_a_redirect_link_acknowledge_nothing(run_node: Callable[..., RunningNode],
                                                                smsc: Smsc) -> None:
    node = sms_node(run_node, smsc)
    onward = "https://intranet.example/incident/42?src=alert"
    body = shortlink_alert(["+447700900511", "+447700900512"], {"url": onward, "reference": "inc-42"})
    ref = node.post("/api/json/sendalert", body).json()["alertRef"]
    links = links_by_recipient(smsc, 2)
    slack_link, person_link = links["+447700900511"], links["+447700900512"]
    for name, method, headers in SCANNERS:
        resp = request(method, slack_link, headers)
        assert resp.status_code == 302, (name, resp.status_code)
        assert resp.headers["location"].startswith(onward + "&"), name
    resp = request("GET", person_link, {"User-Agent": PERSON})
    assert resp.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["location"]).query).items()}
    assert query["reference"] == "inc-42" and query["type"] == "sms" and query["src"] == "alert"
    assert query["ackUrl"] == person_link
    events = node.wait_events(lambda evs: any(e["event"] == "opened" for e in evs))
    assert not [e for e in events if e.get("state") == "responded"]
    assert "responded" not in recipient_states(node, ref)

    # the onward site acknowledges for the person, with the token it was given: once
    wrong = request("POST", query["ackUrl"], {"User-Agent": "onward-site/1.0"}, data={"ack": "x" * 22})
    assert wrong.status_code == 403
    done = request("POST", query["ackUrl"], {"User-Agent": "onward-site/1.0"}, data={"ack": query["ackToken"]})
    assert done.status_code == 200 and "recorded" in done.text
    again = request("POST", query["ackUrl"], {"User-Agent": "onward-site/1.0"}, data={"ack": query["ackToken"]})
    assert again.status_code == 200 and "already" in again.text
    events = node.wait_events(lambda evs: any(e["event"] == "clicked" for e in evs))
    clicked = [e for e in events if e["event"] == "clicked"]
    assert len(clicked) == 1 and clicked[0]["state"] == "responded"
    assert clicked[0]["recipient"] == "+447700900512"
    # a token is good for its own link only
    other = request("POST", slack_link, {"User-Agent": PERSON}, data={"ack": query["ackToken"]})
    assert other.status_code == 403


def click_button(browser: Chromium) -> None:
    """Press the page's button as a person does: the mouse, at the button."""
    box = browser.wait_for("(() => { const b = document.getElementById('ack'); if (!b) return null;"
                           " const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    x, y = box
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def test_a_person_acknowledges_with_the_button(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    node = sms_node(run_node, smsc)
    ref = node.post("/api/json/sendalert", shortlink_alert(["+447700900521", "+447700900522"], {})).json()["alertRef"]
    links = links_by_recipient(smsc, 2)
    sandbox_link, person_link = links["+447700900521"], links["+447700900522"]
    browser = Chromium()
    try:
        # headless Chromium as it comes (HeadlessChrome in its User-Agent): a sandbox, whose press is refused
        browser.open(sandbox_link)
        click_button(browser)
        browser.wait_for("document.body.innerText.includes('cannot acknowledge')")
        # the same browser with a person's User-Agent
        browser.call("Emulation.setUserAgentOverride", userAgent=PERSON)
        browser.call("Page.navigate", url=person_link)
        browser.wait_for("document.title === 'Alert'")
        click_button(browser)
        browser.wait_for("document.body.innerText.includes('Your response has been recorded')")
        browser.call("Page.navigate", url=person_link)  # opening the link again shows it is done
        browser.wait_for("document.body.innerText.includes('recorded') && !document.getElementById('ack')")
    finally:
        browser.close()
    events = node.wait_events(lambda evs: any(e["event"] == "clicked" for e in evs))
    clicked = [e for e in events if e["event"] == "clicked"]
    assert len(clicked) == 1
    assert clicked[0]["recipient"] == "+447700900522" and clicked[0]["state"] == "responded"
    assert clicked[0]["detail"]["browser"].startswith("Chrome") and clicked[0]["detail"]["action"] == "acknowledge"
    deadline = time.monotonic() + 10
    while sorted(recipient_states(node, ref)) != ["delivered", "responded"] and time.monotonic() < deadline:
        time.sleep(0.1)
    states = recipient_states(node, ref)
    assert states[1] == "responded" and states[0] != "responded", states


def test_a_forged_post_acknowledges_nothing(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    node = sms_node(run_node, smsc)
    node.post("/api/json/sendalert", shortlink_alert(["+447700900531"], {}))
    (link,) = sent_links(smsc, 1)
    for data in ({}, {"ack": ""}, {"ack": "A" * 22}, {"ack": "x" * 5000}):
        resp = request("POST", link, {"User-Agent": PERSON, "Origin": "https://evil.example"}, data=data)
        assert resp.status_code in (403, 413), (data, resp.status_code)
    assert request("POST", link.replace("/s/", "/s/x"), {"User-Agent": PERSON}, data={"ack": "a"}).status_code == 404
    page = request("GET", link, {"User-Agent": PERSON})
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    time.sleep(0.5)  # nothing to wait for: make sure nothing arrives late either
    assert not [e for e in node.events(limit=5000)["events"] if e["event"] == "clicked"]
