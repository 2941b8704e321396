"""E-mail answers end to end, beside SMS answers: a node with the SMSC simulator, an aiosmtpd smarthost and
its own SMTP listener. An e-mail "no" must be reported as an SMS "no" is, and the next linked alert
(previouslySeen) must treat the two people alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.nodeproc import RunningNode, free_port
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost, reply_message, send_with_smtplib

pytestmark = pytest.mark.peer

DOMAIN = "alertnode.test"
SENDER = "+447700100100"
CONTACTS = [
    {"id": f"p{i}", "sms": f"+4477009003{i:02d}", "email": f"p{i}@example.org"} for i in range(1, 5)
]


def alert(client_ref: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "version": "latest",
        "clientRef": client_ref,
        "linkedAlerts": {"linkRef": "answers-1", "lifetime": "1d"},
        "contactGroup": {
            "inlineContactGroup": {
                "name": "site",
                "contacts": CONTACTS,
                "sets": [{"name": "team", "ids": [c["id"] for c in CONTACTS]}],
            }
        },
        "alert": items,
        **extra,
    }


def test_an_email_no_is_a_declined_answer_like_an_sms_no(
    run_node: Callable[..., RunningNode], smsc: Smsc, threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    listen_port = free_port()
    node = run_node(
        {
            "sms": {"links": [smsc.link()]},
            "mail": {
                "smarthost_host": "127.0.0.1",
                "smarthost_port": threaded_smarthost.port,
                "smarthost_tls": "off",
                "listen_port": listen_port,
                "domain": DOMAIN,
            },
        },
        data_dir=tmp_path / "node",
    )
    sms_item = {"alertType": "sms", "tag": "sms", "sender": SENDER, "contactSets": ["team"], "content": "Drill?"}
    mail_item = {
        "alertType": "email",
        "tag": "mail",
        "contactSets": ["team"],
        "subject": "Drill",
        "replyTo": "responses",
        "content": "Can you take the drill? Reply yes or no.",
    }
    first = node.post("/api/json/sendalert", alert("first", [sms_item, mail_item]))
    assert first.status_code == 200, first.text
    mails = {m.rcpt_tos[0]: m.message for m in threaded_smarthost.wait_for(4)}
    node.wait_events(lambda evs: sum(e["event"] == "sent" and e.get("alertType") == "email" for e in evs) == 4)
    node.wait_events(lambda evs: sum(e["event"] in ("sent", "delivered") and e.get("alertType") == "sms"
                                     for e in evs) >= 4)

    # p1 declines by SMS, p2 declines by e-mail, p3 accepts by e-mail; p4 does not answer
    assert smsc.mo(to=SENDER[1:], **{"from": CONTACTS[0]["sms"][1:]}, text="No")[0] == 200
    for contact, body in (("p2", "No, sorry.\n\n> Can you take the drill?\n"), ("p3", "Yes")):
        original = mails[f"{contact}@example.org"]
        reply = reply_message(
            subject=f"Re: {original['Subject']}", body=body, sender=f"{contact}@example.org", to=f"responses@{DOMAIN}"
        )
        assert send_with_smtplib(listen_port, reply, mail_from=f"{contact}@example.org",
                                 rcpt_to=f"responses@{DOMAIN}").code == 250
    events = node.wait_events(lambda evs: sum(e["event"] == "replied" for e in evs) == 3)
    replied = {e["contact"]: e for e in events if e["event"] == "replied"}
    sms_no, mail_no, mail_yes = replied["p1"], replied["p2"], replied["p3"]
    assert sms_no["alertType"] == "sms" and mail_no["alertType"] == "email"
    assert mail_no["state"] == sms_no["state"]
    assert (mail_no["detail"]["ack"], mail_no["detail"]["declined"]) == (False, True)
    assert (sms_no["detail"]["ack"], sms_no["detail"]["declined"]) == (False, True)
    assert (mail_yes["detail"]["ack"], mail_yes["detail"]["declined"]) == (True, False)

    # the next linked alert skips those who answered by sms or email: the two who declined are treated
    # alike, whatever the channel they declined on
    follow_up = dict(mail_item, tag="again", linkedAlertModifiers={"except": {"previouslySeen": "sms,email"}})
    second_request = alert("second", [follow_up])
    del second_request["contactGroup"]  # a linked alert uses the contact-group of its first alert
    second = node.post("/api/json/sendalert", second_request)
    assert second.status_code == 200, second.text
    count = second.json()["alerts"][0]["sentCount"]
    again = {m.rcpt_tos[0] for m in threaded_smarthost.wait_for(4 + count)[4:]}
    assert "p3@example.org" not in again and "p4@example.org" in again
    assert ("p1@example.org" in again) == ("p2@example.org" in again), again


def test_a_forwarded_alert_answered_by_someone_else_does_not_stop_escalation(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    listen_port = free_port()
    node = run_node(
        {
            "mail": {
                "smarthost_host": "127.0.0.1",
                "smarthost_port": threaded_smarthost.port,
                "smarthost_tls": "off",
                "listen_port": listen_port,
                "domain": DOMAIN,
            },
        },
        data_dir=tmp_path / "node",
    )
    item = {
        "alertType": "email",
        "tag": "mail",
        "contactSets": ["team"],
        "subject": "Boiler pressure",
        "replyTo": "responses",
        "content": "Boiler 2 pressure high. Reply OK if you take it.",
    }
    first = node.post("/api/json/sendalert", alert("first", [item]))
    assert first.status_code == 200, first.text
    mails = {m.rcpt_tos[0]: m.message for m in threaded_smarthost.wait_for(4)}
    node.wait_events(lambda evs: sum(e["event"] == "sent" for e in evs) == 4)
    # p1 forwarded the alert to a colleague outside the team, who answers it
    original = mails["p1@example.org"]
    reply = reply_message(
        subject=f"Re: Fwd: {original['Subject']}",
        body="OK",
        sender="Colleague <colleague@example.org>",
        to=f"responses@{DOMAIN}",
    )
    assert send_with_smtplib(listen_port, reply, mail_from="colleague@example.org",
                             rcpt_to=f"responses@{DOMAIN}").code == 250
    events = node.wait_events(lambda evs: any(e["event"] == "replied" for e in evs))
    (replied,) = [e for e in events if e["event"] == "replied"]
    assert replied["contact"] == "p1" and replied["recipient"] == "p1@example.org"
    assert replied["detail"]["fromRecipient"] is False and replied["detail"]["ack"] is True
    assert replied.get("state") in (None, "sent")  # no state change: p1 has not answered
    resource = node.client().get(f"/api/json/alerts/{first.json()['alertRef']}")
    assert resource.status_code == 200, resource.text
    body = resource.json()
    assert body["read"] is False and body["counts"]["responded"] == 0
    (p1,) = [r for r in body["items"][0]["recipients"] if r["contact"] == "p1"]
    assert p1["state"] == "sent"

    follow_up = dict(item, tag="again", linkedAlertModifiers={"except": {"previouslySeen": "email"}})
    second_request = alert("second", [follow_up])
    del second_request["contactGroup"]
    second = node.post("/api/json/sendalert", second_request)
    assert second.status_code == 200, second.text
    assert second.json()["alerts"][0]["sentCount"] == 4  # p1 is still reached
