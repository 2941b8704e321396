"""The whole loop in headless Chromium, through the sandbox phone page only: an SMS alert to three people; Ann
replies OK in the page, Cy opens her short link and presses its Acknowledge button (opening a link alone
acknowledges nothing: link scanners open every link); the linked escalation calls whoever has not answered (Bob),
whose call is answered in the page and 2 pressed on the keyboard; both alerts complete, the callbacks arrive
signed, and the page plays back what the node said. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from alertnode.jobs.callbacks import verify
from tests.callback_receiver import Receiver
from tests.nodeproc import API_KEY, RunningNode
from tests.ops.cdp import Chromium
from tests.sandbox.support import person, sandbox_node, wait_book

pytestmark = pytest.mark.peer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SECRET = "sandbox-callback-secret"
PEOPLE = {"Ann": ("+447700900101", "+447700900201"), "Bob": ("+447700900102", "+447700900202"),
          "Cy": ("+447700900103", "+447700900203")}
CONTACTS = [{"id": name.lower(), "sms": sms, "call": call, "lookups": {"firstname": name}}
            for name, (sms, call) in PEOPLE.items()]
IVR = {"ivrType": "replay", "ivrAttempts": 1}
PROMPTS = [{"contentTag": tag, "content": text, "contentEncoding": "utf8", "voiceFormat": "tts"} for tag, text in (
    ("pre", "This is the site alerting system."), ("post", "Press 1 to hear this again, 2 to confirm."),
    ("done", "Thank you."))]


def alert(node: RunningNode, body: dict[str, Any]) -> dict[str, Any]:
    resp = node.post("/api/json/sendalert", {"version": "latest", **body})
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def js(value: str) -> str:
    return json.dumps(value)


def click(browser: Chromium, selector: str) -> None:
    """A click the page sees as the user's (a gesture: a link may open a tab)."""
    found = browser.wait_for(f"!!document.querySelector({js(selector)})")
    assert found
    browser.call("Runtime.evaluate", expression=f"document.querySelector({js(selector)}).click()", userGesture=True)


def type_into(browser: Chromium, selector: str, text: str) -> None:
    browser.wait_for(f"!!document.querySelector({js(selector)})")
    browser.evaluate(f"document.querySelector({js(selector)}).focus()")
    browser.call("Input.insertText", text=text)


def press(browser: Chromium, key: str) -> None:
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key=key, text=key if kind == "keyDown" else "",
                     code=f"Digit{key}", windowsVirtualKeyCode=ord(key))


# a person's browser: headless Chromium names itself HeadlessChrome, which the short-link page takes for a
# link scanner that may not acknowledge
PERSON_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
             "Safari/537.36")


def acknowledge_in_new_tab(browser: Chromium, path_part: str) -> None:
    """Press the Acknowledge button of the short-link page the last click opened in a new tab, then come
    back to the sandbox page."""
    home = browser.session
    deadline = time.monotonic() + 30
    while True:
        pages = [t for t in browser.call("Target.getTargets")["targetInfos"]
                 if t["type"] == "page" and path_part in t["url"]]
        if pages:
            break
        assert time.monotonic() < deadline, "the short link never opened"
        time.sleep(0.2)
    browser.session = browser.call("Target.attachToTarget", targetId=pages[0]["targetId"], flatten=True)["sessionId"]
    try:
        click(browser, "#ack")
        browser.wait_for("!document.getElementById('ack') && document.body.textContent.includes('recorded')")
    finally:
        browser.session = home
    browser.call("Page.bringToFront")  # back from the link's tab (a background tab defers loading audio)


def test_escalation_through_the_sandbox_phone_page(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with Receiver() as receiver:
        node = sandbox_node(tmp_path / "n", {"callbacks": {"secret": SECRET, "batch_size": 50}}).start()
        browser = Chromium(window=(1280, 1000), extra_flags=(f"--user-agent={PERSON_UA}",))
        try:
            browser.open(f"{node.url}/sandbox#key={API_KEY}")
            browser.wait_for("document.getElementById('meta').textContent.includes('live')")
            assert browser.evaluate("location.hash") == ""  # the key left the address bar

            first = alert(node, {
                "clientRef": "drill-1", "callbackURL": receiver.url,
                "linkedAlerts": {"linkRef": "drill-sandbox", "lifetime": "1d"},
                "contactGroup": {"inlineContactGroup": {"name": "site", "contacts": CONTACTS,
                                                        "sets": [{"name": "team", "ids": ["ann", "bob", "cy"]}]}},
                "alert": [{"alertType": "sms", "tag": "sms", "sender": "ALERTS", "contactSets": ["team"],
                           "content": "Hi {firstname}, fire drill at 14:00. Reply OK, or confirm: {shortlink}",
                           "lookups": {"performLookups": True, "shortlink": {"reference": "drill"}}}],
            })
            ref1 = first["alertRef"]
            assert first["alerts"][0]["sentCount"] == 3

            # Ann answers OK in the page
            ann, bob, cy = (PEOPLE[n][0] for n in ("Ann", "Bob", "Cy"))
            click(browser, f"nav button[data-recipient='{ann}']")
            browser.wait_for("[...document.querySelectorAll('.bubble.to')].some(b => b.textContent.includes('Hi Ann')"
                             " && b.textContent.includes('delivered'))")
            type_into(browser, "form[data-sms-reply] input[name=text]", "OK")
            click(browser, "form[data-sms-reply] button")
            browser.wait_for("[...document.querySelectorAll('.bubble.from')].some(b => b.textContent.includes('OK')"
                             " && b.textContent.includes('sent'))")
            browser.screenshot(ARTIFACTS / "sandbox-sms-reply.png")

            # Cy opens her short link from the page (a new tab on the public listener) and acknowledges
            click(browser, f"nav button[data-recipient='{cy}']")
            browser.wait_for("[...document.querySelectorAll('.bubble.to')].some(b => b.textContent.includes('Hi Cy'))")
            click(browser, ".bubble.to a.link")
            acknowledge_in_new_tab(browser, "/s/")
            events = node.wait_events(lambda evs: {"replied", "clicked"} <= {e["event"] for e in evs}, timeout=60)
            answered = {e["recipient"]: e["event"] for e in events if e.get("state") == "responded"}
            assert answered == {ann: "replied", cy: "clicked"}

            # the escalation calls only Bob, who has not answered
            second = alert(node, {
                "clientRef": "drill-2", "callbackURL": receiver.url,
                "linkedAlerts": {"linkRef": "drill-sandbox", "linkOnlyIfRefAlreadyExists": True},
                "alert": [{"alertType": "call", "tag": "call", "sender": "+441632960000", "contactSets": ["team"],
                           "content": "Fire drill at 14:00 in building B.", "contentEncoding": "utf8",
                           "voiceFormat": "tts", "ivrControl": IVR, "additionalContent": PROMPTS,
                           "linkedAlertModifiers": {"except": {"previouslySeen": "sms,shortlink"}}}],
            })
            ref2 = second["alertRef"]
            assert second["alerts"][0]["requestedCount"] == 3 and second["alerts"][0]["sentCount"] == 1
            bob_call = PEOPLE["Bob"][1]
            browser.wait_for(f"document.getElementById('ringing').textContent.includes({js(bob_call)})", timeout=60)
            browser.screenshot(ARTIFACTS / "sandbox-ringing.png")
            click(browser, "#ringing button[data-action=answer]")
            browser.wait_for("!!document.querySelector('#ringing .keypad')", timeout=30)  # the call in progress
            assert not browser.evaluate("document.querySelector('#ringing button[data-action=answer]')")
            browser.evaluate("document.activeElement && document.activeElement.blur()")
            press(browser, "2")  # the keyboard: the digit keys press keys on the answered call
            events = node.wait_events(lambda evs: any(e.get("alertRef") == ref2 and e.get("final") for e in evs),
                                      timeout=90)
            final = next(e for e in events if e.get("alertRef") == ref2 and e.get("final"))
            assert final["recipient"] == bob_call and final["state"] == "responded"
            assert final["detail"]["response"] == "recipientOk" and final["detail"]["sandbox"] is True
            key = next(e for e in events if e.get("alertRef") == ref2 and e["event"] == "key")
            assert key["detail"] == {"digit": "2", "source": "rfc4733", "sandbox": True}

            # the page shows the call as it ended, with the key, and plays back what the node said
            call = wait_book(node, lambda s: (p := person(s, bob_call)) and p["calls"][-1]["state"] == "ended"
                             and p["calls"][-1])
            assert call["keys"] == "2" and call["recording"]
            click(browser, f"nav button[data-recipient='{bob_call}']")
            browser.wait_for(f"!!document.querySelector(\"[data-call-row='{call['id']}'] button[data-play]\")")
            click(browser, f"[data-call-row='{call['id']}'] button[data-play]")
            duration = browser.wait_for(f"(a => a && a.readyState >= 1 && a.duration)(document.querySelector("
                                        f"'#audio-{call['id']} audio'))", timeout=30)
            assert duration > 3  # the prompts were heard: pre, main and post at least
            browser.screenshot(ARTIFACTS / "sandbox-call-answered.png")

            # both alerts complete; every event reached the callback receiver, signed, marked sandbox
            deadline = time.monotonic() + 60
            with node.client() as c:
                while True:
                    statuses = [c.get(f"/api/json/alerts/{r}").json()["status"] for r in (ref1, ref2)]
                    if statuses == ["completed", "completed"] or time.monotonic() > deadline:
                        break
                    time.sleep(0.3)
            assert statuses == ["completed", "completed"]
            collected = node.events(0, limit=5000)["events"]
            while len(receiver.accepted_events()) < len(collected) and time.monotonic() < deadline:
                time.sleep(0.2)
            got = receiver.accepted_events()
            assert sorted(e["seq"] for e in got) == sorted(e["seq"] for e in collected)
            for request in receiver.requests:
                headers = {k.lower(): v for k, v in request["headers"].items()}
                assert verify(SECRET.encode(), headers["x-alertnode-timestamp"], request["body"],
                              headers["x-alertnode-signature"])
            channel_events = [e for e in got if "deliveryId" in e and e["event"] not in ("accepted", "requeued")]
            assert channel_events and all(e["detail"]["sandbox"] is True for e in channel_events)
            assert {e["alertRef"] for e in got} == {ref1, ref2}
            assert bob in {e.get("recipient") for e in got}  # Bob's text was delivered, though never answered
        finally:
            browser.close()
            node.stop()


def test_the_page_on_a_phone_sized_screen(tmp_path: Path) -> None:
    node = sandbox_node(tmp_path / "n").start()
    browser = Chromium(window=(390, 844))
    try:
        browser.open(f"{node.url}/sandbox")
        browser.wait_for("document.getElementById('login').style.display === 'block'")  # no key yet: the form
        type_into(browser, "#key", API_KEY)
        click(browser, "#login button")
        browser.wait_for("document.getElementById('meta').textContent.includes('live')")
        alert(node, {"clientRef": "p", "alert": [{"alertType": "sms", "tag": "t", "sender": "ALERTS",
                                                  "recipients": ["+447700900150"], "content": "Hello from the node"}]})
        browser.wait_for("document.querySelector('.bubble.to') && "
                         "document.querySelector('.bubble.to').textContent.includes('Hello from the node')")
        # one column: nothing wider than the screen
        assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        browser.screenshot(ARTIFACTS / "sandbox-phone-screen.png")
    finally:
        browser.close()
        node.stop()
