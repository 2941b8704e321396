"""Escalation end to end over real peers (SMSC simulator, SMTP smarthost and listener, SIPp, short links):
a first linked alert by SMS and e-mail to a set of four; one replies by SMS, one by e-mail, one acknowledges
through its short link's onward page; the second linked alert (previouslySeen sms,email,shortlink) calls only
the fourth, who presses 2. Results, counts and callbacks are checked."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from alertnode.jobs.callbacks import verify
from tests.callback_receiver import Receiver
from tests.nodeproc import RunningNode, free_port
from tests.peers.sip import SippUas, free_rtp_base
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost, reply_message, send_with_smtplib

pytestmark = pytest.mark.peer

DOMAIN = "alertnode.test"
SENDER = "+447700100100"
CONTACTS = [
    {
        "id": f"p{i}",
        "sms": f"+4477009001{i:02d}",
        "email": f"p{i}@example.org",
        "call": f"+4477009002{i:02d}",
        "lookups": {"firstname": name},
    }
    for i, name in enumerate(["Ann", "Bob", "Cy", "Dee"], start=1)
]


def test_escalation_calls_only_who_has_not_answered(
    run_node: Callable[..., RunningNode],
    smsc: Smsc,
    threaded_smarthost: ThreadedSmarthost,
    sipp_uas: Callable[..., SippUas],
    tmp_path: Path,
) -> None:
    uas = sipp_uas("uas_press2.xml")
    listen_port, public_port = free_port(), free_port()
    secret = "escalation-secret"
    with Receiver() as receiver:
        node = run_node(
            {
                "public": {"port": public_port, "base_url": f"http://127.0.0.1:{public_port}"},
                "callbacks": {"secret": secret, "batch_size": 20},
                "sms": {"links": [smsc.link(dcs0_charset="latin1")]},
                "mail": {
                    "smarthost_host": "127.0.0.1",
                    "smarthost_port": threaded_smarthost.port,
                    "smarthost_tls": "off",
                    "listen_port": listen_port,
                    "domain": DOMAIN,
                    "retry_backoff_s": [0.1],
                },
                "voice": {
                    "enabled": True,
                    "trunk": uas.hostport,
                    "sip_port_base": 0,
                    "rtp_port_base": free_rtp_base(40),
                    "max_concurrent_calls": 4,
                    "key_wait_s": 8,
                    "retry_interval_s": 1,
                },
            },
            data_dir=tmp_path / "node",
        )
        first = node.post(
            "/api/json/sendalert",
            {
                "version": "latest",
                "clientRef": "drill-1",
                "callbackURL": receiver.url,
                "linkedAlerts": {"linkRef": "drill-2026", "lifetime": "1d"},
                "contactGroup": {
                    "inlineContactGroup": {
                        "name": "site",
                        "contacts": CONTACTS,
                        "sets": [{"name": "team", "ids": ["p1", "p2", "p3", "p4"]}],
                    }
                },
                "alert": [
                    {
                        "alertType": "sms",
                        "tag": "sms",
                        "sender": SENDER,
                        "contactSets": ["team"],
                        "content": "Hi {firstname}, drill at 14:00. Reply OK.",
                        "lookups": {"performLookups": True},
                    },
                    {
                        "alertType": "email",
                        "tag": "mail",
                        "contactSets": ["team"],
                        "subject": "Drill",
                        "sender": "alerts",
                        "replyTo": "responses",
                        "content": "Hi {firstname}, drill at 14:00. Confirm: {shortlink}",
                        "lookups": {"shortlink": {"reference": "drill", "url": "http://127.0.0.1:9/onward"}},
                    },
                ],
            },
        )
        assert first.status_code == 200, first.text
        ref1 = first.json()["alertRef"]
        assert [a["sentCount"] for a in first.json()["alerts"]] == [4, 4]

        node.wait_events(
            lambda evs: (
                sum(e["event"] == "delivered" for e in evs) >= 4
                and sum(e["event"] == "sent" and e.get("alertType") == "email" for e in evs) >= 4
            ),
            timeout=60,
        )
        mails = {m.rcpt_tos[0]: m.message for m in threaded_smarthost.wait_for(4)}

        # p1 replies by SMS
        code, _ = smsc.mo(to=SENDER[1:], **{"from": CONTACTS[0]["sms"][1:]}, text="OK")
        assert code == 200
        # p2 replies by e-mail
        bob = mails["p2@example.org"]
        reply = reply_message(
            subject=f"Re: {bob['Subject']}",
            body="On my way.\n\n> Hi Bob\n",
            sender="Bob <p2@example.org>",
            to=f"responses@{DOMAIN}",
        )
        assert (
            send_with_smtplib(listen_port, reply, mail_from="p2@example.org", rcpt_to=f"responses@{DOMAIN}").code == 250
        )
        # p3 opens the short link in its e-mail (redirected to the onward page: that alone acknowledges
        # nothing), then acknowledges there: the onward page POSTs the token it was given to ackUrl
        body = mails["p3@example.org"].get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_\-]+", body)
        assert link, body
        phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac "
                 "OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"}
        click = httpx.get(link.group(0), headers=phone, follow_redirects=False, trust_env=False)
        assert click.status_code == 302
        onward = httpx.URL(click.headers["location"])
        assert onward.params["recipient"] == "p3@example.org" and onward.params["reference"] == "drill"
        ack = httpx.post(onward.params["ackUrl"], data={"ack": onward.params["ackToken"]}, headers=phone,
                         trust_env=False)
        assert ack.status_code == 200, ack.text
        assert httpx.get(f"http://127.0.0.1:{public_port}/s/unknown-token-123", trust_env=False).status_code == 404

        events = node.wait_events(
            lambda evs: sum(e["state"] == "responded" for e in evs if "state" in e) >= 3, timeout=60
        )
        responded = {e["contact"]: e for e in events if e.get("state") == "responded"}
        assert set(responded) == {"p1", "p2", "p3"}
        assert responded["p1"]["event"] == "replied" and responded["p2"]["event"] == "replied"
        assert responded["p3"]["event"] == "clicked"
        assert responded["p3"]["detail"]["os"].startswith("iOS")

        second = node.post(
            "/api/json/sendalert",
            {
                "version": "latest",
                "clientRef": "drill-2",
                "callbackURL": receiver.url,
                "linkedAlerts": {"linkRef": "drill-2026", "linkOnlyIfRefAlreadyExists": True},
                "alert": [
                    {
                        "alertType": "call",
                        "tag": "call",
                        "sender": SENDER,
                        "contactSets": ["team"],
                        "content": "Drill. Press 2 to confirm.",
                        "contentEncoding": "utf8",
                        "voiceFormat": "tts",
                        "ivrControl": {"ivrRequireResponse": True},
                        "linkedAlertModifiers": {"except": {"previouslySeen": "sms,email,shortlink"}},
                    }
                ],
            },
        )
        assert second.status_code == 200, second.text
        ref2 = second.json()["alertRef"]
        item = second.json()["alerts"][0]
        assert item["requestedCount"] == 4 and item["sentCount"] == 1

        events = node.wait_events(
            lambda evs: any(e.get("alertRef") == ref2 and e.get("final") for e in evs), timeout=90
        )
        final = [e for e in events if e.get("alertRef") == ref2 and e.get("final")]
        assert len(final) == 1
        assert final[0]["contact"] == "p4" and final[0]["recipient"] == CONTACTS[3]["call"]
        assert final[0]["state"] == "responded" and final[0]["detail"]["response"] == "2"
        assert uas.wait() == 0, uas.output()[-2000:]

        with node.client() as c:
            a1 = c.get(f"/api/json/alerts/{ref1}").json()
            a2 = c.get(f"/api/json/alerts/{ref2}").json()
        assert a1["counts"]["targeted"] == 8 and a1["counts"]["responded"] == 3 and a1["counts"]["clicked"] == 1
        assert a1["counts"]["responseRate"] == pytest.approx(3 / 8)
        assert a2["counts"] == {**a2["counts"], "targeted": 1, "responded": 1, "responseRate": 1.0}
        assert a2["_links"]["linkFirst"]["href"].endswith(ref1)

        # every event reached the callback, signed, once
        collected = node.events(0, limit=5000)["events"]
        deadline = time.monotonic() + 30
        while len(receiver.accepted_events()) < len(collected) and time.monotonic() < deadline:
            time.sleep(0.2)
        got = receiver.accepted_events()
        assert sorted(e["seq"] for e in got) == sorted(e["seq"] for e in collected)
        for request in receiver.requests:
            headers = {k.lower(): v for k, v in request["headers"].items()}
            assert verify(
                secret.encode(), headers["x-alertnode-timestamp"], request["body"], headers["x-alertnode-signature"]
            )
        assert {e["alertRef"] for e in got} == {ref1, ref2}
