"""End to end through the HTTP API: sendalert → the node's smarthost client → a captured message →
a reply via smtplib to the node's listener → collectevents shows the response. The node runs as a
subprocess (``run_node``); the smarthost runs in its own thread."""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.nodeproc import API_KEY, RunningNode, free_port
from tests.peers.smtp import ThreadedSmarthost, make_certificate, postfix_dsn, reply_message, send_with_smtplib
from tests.peers.test_mail_channel import dsn

DOMAIN = "alertnode.test"
pytestmark = pytest.mark.peer


def mail_node(
    run_node: Callable[..., RunningNode], smarthost: ThreadedSmarthost, tmp_path: Path, **mail: Any
) -> tuple[RunningNode, int]:
    listen_port = free_port()
    data_dir = tmp_path / "mailnode"
    data_dir.mkdir()  # run_node writes its config file there before creating it
    node = run_node(
        {
            "mail": {
                "smarthost_host": "127.0.0.1",
                "smarthost_port": smarthost.port,
                "smarthost_tls": "off",
                "listen_port": listen_port,
                "domain": DOMAIN,
                "retry_backoff_s": [0.1],
                **mail,
            }
        },
        data_dir=data_dir,
    )
    return node, listen_port


def email_alert(recipients: list[str], **fields: Any) -> dict[str, Any]:
    item = {
        "alertType": "email",
        "tag": "mail-1",
        "content": "Fire alarm in building 3. Reply when safe.",
        "contentEncoding": "utf8",
        "subject": "Fire alarm",
        "sender": "alerts",
        "replyTo": "responses",
        "recipients": recipients,
        **fields,
    }
    return {"version": "latest", "apiKey": API_KEY, "clientRef": "mail-e2e", "alert": [item]}


def test_alert_goes_out_and_a_reply_comes_back_as_an_event(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    node, listen_port = mail_node(run_node, threaded_smarthost, tmp_path)
    resp = node.post("/api/json/sendalert", email_alert(["ann@example.org", "bob@example.org"]))
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    subject_ref = answer["emailSubjectRef"]
    assert subject_ref
    captured = {m.rcpt_tos[0]: m for m in threaded_smarthost.wait_for(2)}
    ann = captured["ann@example.org"].message
    assert str(ann["Subject"]).startswith(f"Fire alarm [{subject_ref}-")
    assert str(ann["Reply-To"]) == f"responses@{DOMAIN}"
    assert str(ann["From"]) == f"alerts@{DOMAIN}"
    node.wait_events(lambda evs: sum(e["event"] == "sent" for e in evs) == 2)

    reply = reply_message(
        subject=f"Re: {ann['Subject']}",
        body="Safe at the assembly point.\n\n> Fire alarm in building 3.\n",
        sender="Ann <ann@example.org>",
        to=f"responses@{DOMAIN}",
    )
    result = send_with_smtplib(listen_port, reply, mail_from="ann@example.org", rcpt_to=f"responses@{DOMAIN}")
    assert result.code == 250
    events = node.wait_events(lambda evs: any(e["event"] == "replied" for e in evs))
    (replied,) = [e for e in events if e["event"] == "replied"]
    assert replied["recipient"] == "ann@example.org"
    assert replied["state"] == "responded"
    assert replied["detail"]["text"] == "Safe at the assembly point."
    assert replied["alertRef"] == answer["alertRef"]

    relay = send_with_smtplib(listen_port, reply, rcpt_to="someone@example.com")
    assert relay.code == 550


def test_bad_email_fields_are_refused_with_their_path(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    node, _ = mail_node(run_node, threaded_smarthost, tmp_path)
    resp = node.post("/api/json/sendalert", email_alert(["ann@example.org"], replyTo="responses@elsewhere.example"))
    assert resp.status_code == 400, resp.text
    assert "alert[0].replyTo" in resp.text
    assert not threaded_smarthost.messages


def test_permanent_refusal_reaches_collectevents(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    threaded_smarthost.refuse_rcpt["gone@example.org"] = "550 5.1.1 <gone@example.org>: user unknown"
    node, _ = mail_node(run_node, threaded_smarthost, tmp_path)
    assert node.post("/api/json/sendalert", email_alert(["gone@example.org"])).status_code == 200
    events = node.wait_events(lambda evs: any(e["event"] == "failed" for e in evs))
    (failed,) = [e for e in events if e["event"] == "failed"]
    assert failed["state"] == "failed"
    assert failed["detail"]["smtp_reply"] == "550 5.1.1 <gone@example.org>: user unknown"


def test_bounce_fails_the_delivery_in_collectevents(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    node, listen_port = mail_node(run_node, threaded_smarthost, tmp_path)
    assert node.post("/api/json/sendalert", email_alert(["person@example.org"])).status_code == 200
    (captured,) = threaded_smarthost.wait_for(1)
    node.wait_events(lambda evs: any(e["event"] == "sent" for e in evs))
    bounce = dsn(captured.message, to=captured.mail_from)
    result = send_with_smtplib(listen_port, bounce, mail_from="", rcpt_to=captured.mail_from)
    assert result.code == 250
    events = node.wait_events(lambda evs: any(e["event"] == "bounced" for e in evs))
    (bounced,) = [e for e in events if e["event"] == "bounced"]
    assert bounced["state"] == "failed"
    assert bounced["recipient"] == "person@example.org"
    assert bounced["detail"]["status"] == "5.1.1"


def test_temporary_refusals_are_retried_inside_and_through_the_dispatcher(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    # first refusal: retried after the channel's own back-off; second: the waits are used up, so the
    # delivery goes back to the dispatcher (retry_after) and is submitted again, then accepted
    threaded_smarthost.fail_next("451 4.3.0 Try again later", times=2)
    node, _ = mail_node(run_node, threaded_smarthost, tmp_path, retry_backoff_s=[0.1], requeue_after_s=0.5)
    assert node.post("/api/json/sendalert", email_alert(["later@example.org"])).status_code == 200
    events = node.wait_events(lambda evs: any(e["event"] == "sent" for e in evs))
    kinds = [e["event"] for e in events if e.get("recipient") == "later@example.org"]
    assert kinds[-2:] == ["retry", "sent"], kinds
    (captured,) = threaded_smarthost.wait_for(1)
    assert captured.rcpt_tos == ["later@example.org"]


def test_starttls_and_auth_with_the_password_from_the_environment(
    run_node: Callable[..., RunningNode], tmp_path: Path
) -> None:
    cert = make_certificate(tmp_path)
    smarthost = ThreadedSmarthost(certificate=cert, credentials=("alertnode", "pa55-word"))
    smarthost.start()
    try:
        data_dir = tmp_path / "tlsnode"
        data_dir.mkdir()
        node = run_node(
            {
                "mail": {
                    "smarthost_host": "127.0.0.1",
                    "smarthost_port": smarthost.port,
                    "smarthost_tls": "starttls",
                    "smarthost_ca_file": str(cert[0]),
                    "smarthost_username": "alertnode",
                    "listen_port": free_port(),
                    "domain": DOMAIN,
                }
            },
            env={"ALERTNODE__mail__smarthost_password": "pa55-word"},
            data_dir=data_dir,
        )
        assert node.post("/api/json/sendalert", email_alert(["ann@example.org"])).status_code == 200
        (captured,) = smarthost.wait_for(1)
        assert captured.tls and captured.user == "alertnode"
        node.wait_events(lambda evs: any(e["event"] == "sent" for e in evs))
        assert "pa55-word" not in "".join(node.output)
    finally:
        smarthost.stop()


def test_internal_domains_are_accepted_sent_and_answered(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    # .local (Active Directory) and localhost are special-use names (RFC 6761/6762), and exactly what
    # on-premises mail uses: recipients, contacts, the node's own domain and its reply domain
    node, listen_port = mail_node(run_node, threaded_smarthost, tmp_path, domain="plant.local")
    recipients = ["ops@plant.local", "a@plant.local", "ops@localhost", "b@corp"]
    resp = node.post("/api/json/sendalert", email_alert(recipients))
    assert resp.status_code == 200, resp.text
    group = {
        "inlineContactGroup": {
            "name": "site",
            "contacts": [{"id": "sec", "email": "security@site.local"}],
            "sets": [{"name": "guards", "ids": ["sec"]}],
        }
    }
    contact_alert = email_alert([])
    del contact_alert["alert"][0]["recipients"]
    contact_alert["alert"][0]["contacts"] = ["sec"]
    contact_alert["contactGroup"] = group
    resp = node.post("/api/json/sendalert", contact_alert)
    assert resp.status_code == 200, resp.text
    captured = {m.rcpt_tos[0]: m for m in threaded_smarthost.wait_for(5)}
    assert set(captured) == {*recipients, "security@site.local"}
    ops = captured["ops@plant.local"]
    assert ops.mail_from.startswith("bounces+") and ops.mail_from.endswith("@plant.local")
    assert str(ops.message["From"]) == "alerts@plant.local"
    node.wait_events(lambda evs: sum(e["event"] == "sent" for e in evs) == 5)

    reply = reply_message(
        subject=f"Re: {ops.message['Subject']}", body="on it", sender="ops@plant.local", to="responses@plant.local"
    )
    result = send_with_smtplib(listen_port, reply, mail_from="ops@plant.local", rcpt_to="responses@plant.local")
    assert result.code == 250
    events = node.wait_events(lambda evs: any(e["event"] == "replied" for e in evs))
    (replied,) = [e for e in events if e["event"] == "replied"]
    assert replied["recipient"] == "ops@plant.local"
    assert replied["state"] == "responded"


def test_a_malformed_address_is_still_refused_with_its_path(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    node, _ = mail_node(run_node, threaded_smarthost, tmp_path)
    resp = node.post("/api/json/sendalert", email_alert(["ok@plant.local", "two@@plant.local"]))
    assert resp.status_code == 400, resp.text
    assert "alert[0].recipients[1]" in resp.text
    assert "not a valid e-mail address" in resp.text


def test_a_refused_domain_is_a_400_at_request_time_and_nothing_is_sent(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    node, _ = mail_node(run_node, threaded_smarthost, tmp_path, refuse_domains=["*.invalid", "localhost"])
    resp = node.post("/api/json/sendalert", email_alert(["ok@plant.local", "x@mx.invalid"]))
    assert resp.status_code == 400, resp.text
    errors = resp.json()["errors"]
    assert errors == [{"path": "alert[0].recipients",
                       "message": "x@mx.invalid: the domain is refused by mail.refuse_domains ('*.invalid')"}]
    contact_alert = email_alert([])
    del contact_alert["alert"][0]["recipients"]
    contact_alert["alert"][0]["contacts"] = ["sec"]
    contact_alert["contactGroup"] = {"inlineContactGroup": {"name": "site", "contacts": [
        {"id": "sec", "email": "security@localhost"}]}}
    resp = node.post("/api/json/sendalert", contact_alert)
    assert resp.status_code == 400 and resp.json()["errors"][0]["path"] == "alert[0].contacts[sec]", resp.text
    assert node.post("/api/json/sendalert", email_alert(["ok@plant.local"])).status_code == 200
    assert [m.rcpt_tos for m in threaded_smarthost.wait_for(1)] == [["ok@plant.local"]]


def test_delivery_reports_asked_of_a_dsn_smarthost_move_the_deliveries(
    run_node: Callable[..., RunningNode], tmp_path: Path
) -> None:
    smarthost = ThreadedSmarthost(dsn=True)
    smarthost.start()
    try:
        node, listen_port = mail_node(run_node, smarthost, tmp_path)
        resp = node.post("/api/json/sendalert", email_alert(["ok@example.org", "slow@example.org"]))
        assert resp.status_code == 200, resp.text
        captured = {m.rcpt_tos[0]: m for m in smarthost.wait_for(2)}
        node.wait_events(lambda evs: sum(e["event"] == "sent" for e in evs) == 2)
        for address, action in (("ok@example.org", "delivered"), ("slow@example.org", "delayed")):
            sent = captured[address]
            assert sent.dsn_rcpt["NOTIFY"] == "SUCCESS,FAILURE,DELAY"
            report = postfix_dsn(
                action=action,
                rcpt=address,
                envelope_to=sent.mail_from,
                original_headers=sent.data.split(b"\r\n\r\n", 1)[0] + b"\r\n",
                envid=sent.dsn_mail["ENVID"],
            )
            assert send_with_smtplib(listen_port, report, mail_from="", rcpt_to=sent.mail_from).code == 250
        events = node.wait_events(lambda evs: {"delivered", "delayed"} <= {e["event"] for e in evs})
        by_kind = {e["event"]: e for e in events}
        assert by_kind["delivered"]["recipient"] == "ok@example.org"
        assert by_kind["delivered"]["state"] == "delivered"
        delayed = by_kind["delayed"]
        assert delayed["recipient"] == "slow@example.org" and delayed.get("state") is None
        assert delayed["detail"]["action"] == "delayed"
        assert "Connection refused" in delayed["detail"]["diagnostic"]
    finally:
        smarthost.stop()


def test_a_crowd_of_idle_clients_is_capped_and_dropped_while_replies_go_through(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    node, listen_port = mail_node(
        run_node, threaded_smarthost, tmp_path, listen_timeout_s=2.0, listen_max_connections=20
    )
    assert node.post("/api/json/sendalert", email_alert(["ann@example.org"])).status_code == 200
    (captured,) = threaded_smarthost.wait_for(1)
    crowd = 200

    async def hold() -> list[bytes]:
        async def one() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", listen_port)
            try:
                greeting = await asyncio.wait_for(reader.readline(), 30)
                await asyncio.wait_for(reader.read(), 30)  # until the node closes it
                return greeting
            finally:
                writer.close()

        return await asyncio.gather(*(one() for _ in range(crowd)))

    holding = threading.Thread(target=lambda: greetings.extend(asyncio.run(hold())))
    greetings: list[bytes] = []
    holding.start()
    # while the crowd is there (or being dropped), a real reply is still taken, at once or on a retry
    reply = reply_message(subject=f"Re: {captured.message['Subject']}", body="OK", sender="ann@example.org")
    deadline = time.monotonic() + 30
    while True:
        try:
            result = send_with_smtplib(listen_port, reply, mail_from="ann@example.org", rcpt_to=f"responses@{DOMAIN}")
        except smtplib.SMTPConnectError as exc:  # 421 instead of the greeting
            assert exc.smtp_code == 421, exc
        else:
            assert result.code == 250, result
            break
        assert time.monotonic() < deadline, "the reply was never taken"
        time.sleep(0.2)  # an MTA tries again later; here soon
    holding.join(60)
    assert not holding.is_alive()
    served = sum(g.startswith(b"220 ") for g in greetings)
    busy = sum(g.startswith(b"421 4.7.0") for g in greetings)
    assert served + busy == crowd and 0 < served <= 20 and busy >= crowd - 20
    events = node.wait_events(lambda evs: any(e["event"] == "replied" for e in evs))
    assert [e["detail"]["ack"] for e in events if e["event"] == "replied"] == [True]
