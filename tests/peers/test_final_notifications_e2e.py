"""``notificationType: "final"`` end to end: collectevents and the callback report each recipient's final
result, once, and nothing else. SMS through the SMSC simulator (delivered, failed at submit, a receipt that
never comes), e-mail through a smarthost without DSN (sent is final) and one with DSN (the DSN is final;
``sent`` is not). The node runs as a subprocess (``run_node``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.callback_receiver import Receiver
from tests.nodeproc import RunningNode
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost, postfix_dsn, send_with_smtplib
from tests.peers.test_mail_node import email_alert, mail_node
from tests.peers.test_sms_node import sms_alert

pytestmark = pytest.mark.peer


def final(body: dict[str, Any], receiver: Receiver) -> dict[str, Any]:
    return {**body, "notification": True, "notificationType": "final", "callbackURL": receiver.url}


def by_recipient(events: list[dict[str, Any]]) -> dict[str, list[tuple[str, str | None, bool]]]:
    out: dict[str, list[tuple[str, str | None, bool]]] = {}
    for e in events:
        if "recipient" in e:
            out.setdefault(e["recipient"], []).append((e["event"], e.get("state"), e["final"]))
    return out


def wait_callbacks(receiver: Receiver, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(got := receiver.accepted_events()) < count:
        assert time.monotonic() < deadline, f"callbacks: {got}"
        time.sleep(0.05)
    return got


def test_final_reports_each_sms_recipients_result_once(
    run_node: Callable[..., RunningNode], smsc_factory: Callable[..., Smsc]
) -> None:
    smsc = smsc_factory(silent_prefix="447995", reject_prefix="447999")
    node = run_node({"sms": {"links": [smsc.link(receipt_timeout_s=4.0)]}})
    delivered, failed, silent = "+447700900001", "+447999000001", "+447995000001"
    with Receiver() as receiver:
        resp = node.post("/api/json/sendalert", final(sms_alert([delivered, failed, silent], "Drill"), receiver))
        assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
        events = node.wait_events(lambda evs: len(by_recipient(evs)) == 3 and silent in by_recipient(evs),
                                  timeout=40)
        expected = {
            delivered: [("delivered", "delivered", True)],
            failed: [("failed", "failed", True)],
            silent: [("unconfirmed", "unconfirmed", True)],
        }
        assert by_recipient(events) == expected  # no sent, no accepted: final results only
        assert by_recipient(wait_callbacks(receiver, 3)) == expected


def test_final_reports_each_email_recipients_result_once(
    run_node: Callable[..., RunningNode], tmp_path: Path
) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "dsn").mkdir()
    plain, with_dsn = ThreadedSmarthost(), ThreadedSmarthost(dsn=True)
    plain.start()
    with_dsn.start()
    try:
        with Receiver() as receiver:
            node, _ = mail_node(run_node, plain, tmp_path / "plain")
            resp = node.post("/api/json/sendalert", final(email_alert(["ann@example.org"]), receiver))
            assert resp.status_code == 200, resp.text
            events = node.wait_events(lambda evs: bool(by_recipient(evs)))
            assert by_recipient(events) == {"ann@example.org": [("sent", "sent", True)]}
            node.stop()

            node, listen_port = mail_node(run_node, with_dsn, tmp_path / "dsn")
            resp = node.post("/api/json/sendalert", final(email_alert(["bob@example.org"]), receiver))
            assert resp.status_code == 200, resp.text
            [captured] = with_dsn.wait_for(1)
            # the sent event is there (not final): the resource shows the delivery sent and the alert running
            all_events = node.events(0, limit=100)
            assert by_recipient(all_events["events"]) == {}
            report = postfix_dsn(action="delivered", rcpt="bob@example.org", envelope_to=captured.mail_from,
                                 original_headers=None, envid=captured.dsn_mail["ENVID"])
            assert send_with_smtplib(listen_port, report, mail_from="", rcpt_to=captured.mail_from).code == 250
            events = node.wait_events(lambda evs: bool(by_recipient(evs)))
            assert by_recipient(events) == {"bob@example.org": [("delivered", "delivered", True)]}
            got = by_recipient(wait_callbacks(receiver, 2))
            assert got == {"ann@example.org": [("sent", "sent", True)],
                           "bob@example.org": [("delivered", "delivered", True)]}
    finally:
        plain.stop()
        with_dsn.stop()
