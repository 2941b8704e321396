"""POST /api/events end to end through the real node (``run_node``) over the SMSC simulator and an SMTP
smarthost: routing by glob to the right sets and channels, templates, localized bodies, the default route,
refusals in the standard error shape, per-contact caps with their audit, escalation to who has not answered,
and a stored contact-group named by uuid."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events.support import SENDER, contact, event_body, mail_section
from tests.nodeproc import RunningNode
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost

pytestmark = pytest.mark.peer

GROUP = {
    "name": "ops",
    "contacts": [contact(1, firstname="Ann"), contact(2, firstname="Bob"), contact(3, locale="de-DE"),
                 contact(4), contact(5), contact(6)],
    "sets": [{"name": "db", "ids": ["p1", "p2"]}, {"name": "ci", "ids": ["p3"]}, {"name": "fallback", "ids": ["p4"]},
             {"name": "site", "ids": ["p5", "p6"]}],
}

ROUTES = [
    {"name": "ci", "match": ["ci.*"], "contact_group": "ops", "contact_sets": ["ci"], "alert_types": ["email"],
     "template": "{title}: {message} {link} (plan {data.plan})", "bodies": {"de": "{title}: {message} auf Deutsch"},
     "subject": "[{event}] {title}"},
    {"name": "db-down", "match": ["db.*.down"], "contact_group": "ops", "contact_sets": ["db"],
     "alert_types": ["sms"], "sms_sender": SENDER, "template": "Hi {firstname}, DB {data.host} down: {message}"},
    {"name": "fallback", "contact_group": "ops", "contact_sets": ["fallback"], "alert_types": ["email"],
     "template": "{event}: {message}"},
    {"name": "site", "match": ["site.*"], "contact_group": "ops", "contact_sets": ["site"], "alert_types": ["sms"],
     "sms_sender": SENDER, "template": "{message}. Reply OK.",
     "escalation": {"after_min": 0.05, "alert_types": ["email"], "previously_seen": "sms,email",
                    "template": "Still open: {message}"}},
]


def post(node: RunningNode, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or node.api_key}"}
    with httpx.Client(base_url=node.url, headers=headers, timeout=30, trust_env=False) as c:
        return c.post("/api/events", json=body)


def sms_text(submit: dict[str, Any]) -> str:
    # dcs 0 is latin-1 on this link (dcs0_charset); the texts here are plain ASCII
    return bytes.fromhex(submit["sm"]).decode("latin-1")


def submits_to(smsc: Smsc, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(smsc.submits()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"SMSC got {len(smsc.submits())} of {count} submits")
        time.sleep(0.05)
    return smsc.submits()


def test_events_are_routed_by_glob_to_sets_and_channels(
    run_node: Callable[..., RunningNode], smsc: Smsc, threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir()
    node = run_node({
        "sms": {"links": [smsc.link(dcs0_charset="latin1")]},
        "mail": mail_section(threaded_smarthost),
        "events": {"contact_groups": {"ops": GROUP}, "routes": ROUTES, "default_route": "fallback",
                   "cap_per_contact": 1, "cap_window_min": 60},
    }, data_dir=data_dir)

    info = node.post("/api/json/getinfo", {}).json()["events"]
    assert info["routes"] == ["ci", "db-down", "fallback", "site"] and info["defaultRoute"] == "fallback"

    # ci.* → e-mail to the set "ci" (p3, whose locale picks the German body)
    ci = post(node, event_body(event="ci.deploy.failed", title="CI", message="deploy of web failed",
                               link="https://ci.example/1", data={"plan": "pro"}))
    assert ci.status_code == 200, ci.text
    assert ci.json()["route"] == "ci" and ci.json()["alertRef"]
    mail = threaded_smarthost.wait_for(1)[0]
    assert mail.rcpt_tos == ["p3@example.org"]
    assert mail.message["Subject"].startswith("[ci.deploy.failed] CI [")
    assert "CI: deploy of web failed auf Deutsch" in mail.message.get_body(preferencelist=("plain",)).get_content()

    # db.*.down → SMS to the set "db" (p1, p2) with data fields and per-contact lookups in the template
    db = post(node, event_body(event="db.main.down", message="no answer on 5432", data={"host": "db1"}))
    assert db.status_code == 200, db.text
    assert db.json()["route"] == "db-down"
    submits = submits_to(smsc, 2)
    assert {s["dest"] for s in submits} == {"447700900101", "447700900102"}
    texts = sorted(sms_text(s) for s in submits)
    assert texts == ["Hi Ann, DB db1 down: no answer on 5432", "Hi Bob, DB db1 down: no answer on 5432"]

    # no rule matches → the default route (p4 by e-mail)
    other = post(node, event_body(event="User Signup", message="new user"))
    assert other.status_code == 200, other.text
    assert other.json()["route"] == "fallback"
    mails = threaded_smarthost.wait_for(2)
    assert mails[1].rcpt_tos == ["p4@example.org"]

    # the cap (1 per 60 min): p3 was alerted already, a different ci event reaches nobody and is audited
    capped = post(node, event_body(event="ci.build.failed", message="build failed"))
    assert capped.status_code == 200, capped.text
    assert "alertRef" not in capped.json()
    assert capped.json()["suppressedContacts"] == ["p3"]
    assert "per-contact cap" in capped.json()["warnings"][0]
    with node.client() as c:
        audit = c.get("/api/events/suppressed").json()["suppressed"]
    assert [(a["contact"], a["route"], a["event"]) for a in audit] == [("ops/p3", "ci", "ci.build.failed")]

    # escalation: SMS to p5 and p6; p5 replies; the e-mail follow-up goes to p6 only
    site = post(node, event_body(event="site.fire", message="fire alarm in building 3"))
    assert site.status_code == 200, site.text
    assert "escalationAt" in site.json()
    submits_to(smsc, 4)
    code, _ = smsc.mo(to=SENDER[1:], **{"from": "447700900105"}, text="OK")
    assert code == 200
    node.wait_events(lambda evs: any(e.get("state") == "responded" for e in evs))
    mails = threaded_smarthost.wait_for(3, timeout=60)
    assert mails[2].rcpt_tos == ["p6@example.org"]
    assert "Still open: fire alarm in building 3" in mails[2].message.get_body(("plain",)).get_content()

    # refusals, in the standard error shape
    null = post(node, {"message": "x", "title": None})
    assert null.status_code == 400
    assert null.json()["success"] is False
    assert null.json()["errors"] == [{"path": "title", "message": "must be omitted rather than null"}]
    missing = post(node, {"event": "ci.x"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["path"] == "message"
    bad_key = post(node, event_body(event="ci.x"), key="wrong")
    assert bad_key.status_code == 401 and bad_key.json()["failureReason"] == "missing or wrong API key"
    unknown = post(node, {"message": "x", "severity": "high"})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["path"] == "severity"

    # a stored contact-group named by uuid; without a default route an unmatched event is refused
    stored = node.post("/api/json/storecontent", {"contentType": "contactGroup", "contactGroup": {
        "name": "stored", "contacts": [contact(7)], "sets": [{"name": "users", "ids": ["p7"]}]}})
    assert stored.status_code == 200, stored.text
    uid = stored.json()["uuid"]
    node.stop()
    node2 = run_node({
        "sms": {"links": [smsc.link(dcs0_charset="latin1")]},
        "mail": mail_section(threaded_smarthost),
        "events": {"routes": [{"name": "users", "match": ["User *"], "contact_group": uid,
                               "contact_sets": ["users"], "alert_types": ["email"], "template": "{message}"}]},
    }, data_dir=data_dir)
    user = post(node2, event_body(event="User Login", message="login from a new device"))
    assert user.status_code == 200, user.text
    mails = threaded_smarthost.wait_for(4)
    assert mails[3].rcpt_tos == ["p7@example.org"]
    refused = post(node2, event_body(event="ci.deploy.failed"))
    assert refused.status_code == 400
    assert refused.json()["failureReason"] == "no route for this event"
    assert refused.json()["errors"][0]["path"] == "event"
