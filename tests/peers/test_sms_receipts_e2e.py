"""Receipts that never come, end to end: sendalert → the node (a subprocess) → the SMSC simulator, which
accepts a message and never sends its receipt (``--silent-prefix``), or restarts and forgets the receipts
it still owed. While a receipt is awaited the alert reads ``running``; at the link's receipt time-out the
delivery ends ``unconfirmed`` with a final event and its callback, and the alert reads ``completed``. The
time-out survives a node restart. Message ids are reported as the SMSC wrote them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.callback_receiver import Receiver
from tests.nodeproc import RunningNode
from tests.peers.smsc import Smsc
from tests.peers.test_sms_node import of, sms_alert

pytestmark = pytest.mark.peer

RECEIPT_WAIT_S = 6.0
SILENT = "+447995000001"  # the simulator accepts it and never sends its receipt
NORMAL = "+447700900001"


def resource(node: RunningNode, ref: str) -> dict[str, Any]:
    with node.client() as c:
        resp = c.get(f"/api/json/alerts/{ref}")
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_receipt_that_never_comes_keeps_the_alert_running_then_ends_unconfirmed(
    run_node: Callable[..., RunningNode], smsc_factory: Callable[..., Smsc]
) -> None:
    smsc = smsc_factory(silent_prefix="447995", id_format="uuid")
    node = run_node({"sms": {"links": [smsc.link(receipt_timeout_s=RECEIPT_WAIT_S)]}})
    with Receiver() as receiver:
        body = {**sms_alert([SILENT, NORMAL], "Fire drill at 3 pm"), "callbackURL": receiver.url, "notification": True}
        resp = node.post("/api/json/sendalert", body)
        assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
        ref = resp.json()["alertRef"]
        events = node.wait_events(lambda evs: bool(of(evs, SILENT, "sent")) and bool(of(evs, NORMAL, "delivered")))
        # read the resource, then the events: no unconfirmed event yet means none when the resource was read
        seen = resource(node, ref)
        if not of(node.wait_events(lambda evs: True), SILENT, "unconfirmed"):
            assert seen["status"] == "running", seen
            assert seen["counts"]["delivered"] == 1 and seen["counts"]["unconfirmed"] == 0
        [sent] = of(events, SILENT, "sent")
        assert sent["final"] is False and sent["state"] == "sent"
        # the id as the SMSC wrote it: the leading zeros of a Jasmin-style UUID stay
        [written] = sent["detail"]["message_ids"]
        assert written.startswith("0000000") and written == next(
            r["id"] for r in smsc.submits() if r["dest"] == SILENT.lstrip("+")
        )
        [delivered] = of(events, NORMAL, "delivered")
        assert delivered["final"] is True and delivered["detail"]["message_id"].startswith("0000000")

        events = node.wait_events(lambda evs: bool(of(evs, SILENT, "unconfirmed")), timeout=RECEIPT_WAIT_S + 30)
        [unconfirmed] = of(events, SILENT, "unconfirmed")
        assert unconfirmed["final"] is True and unconfirmed["state"] == "unconfirmed"
        assert unconfirmed["detail"]["message_ids"] == [written]
        assert unconfirmed["detail"]["receipt_timeout_s"] == RECEIPT_WAIT_S
        wait_for(lambda: bool(of(receiver.accepted_events(), SILENT, "unconfirmed")), what="the callback")
        done = resource(node, ref)
        assert done["status"] == "completed", done
        counts = done["counts"]
        assert (counts["sent"], counts["delivered"], counts["unconfirmed"], counts["failed"]) == (2, 1, 1, 0)
        assert smsc.stats()["dlr_withheld"] == 1


def test_an_smsc_that_restarts_and_forgets_and_a_node_restart_past_the_time_out(
    run_node: Callable[..., RunningNode], smsc_factory: Callable[..., Smsc]
) -> None:
    # receipts come only after a minute: the SMSC is killed before, and the new process knows nothing
    smsc = smsc_factory(dlr_delay_ms=60_000)
    link = smsc.link(receipt_timeout_s=RECEIPT_WAIT_S, reconnect_initial_s=0.1, reconnect_max_s=0.5)
    node = run_node({"sms": {"links": [link]}})
    resp = node.post("/api/json/sendalert", sms_alert([NORMAL], "Lockdown drill"))
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    ref = resp.json()["alertRef"]
    node.wait_events(lambda evs: bool(of(evs, NORMAL, "sent")))
    smsc.restart()  # SIGKILL: the receipt it owed is gone
    node.stop()  # the node is down when the time-out passes
    sent_at = time.monotonic()
    wait_for(lambda: time.monotonic() - sent_at > RECEIPT_WAIT_S + 1, timeout=RECEIPT_WAIT_S + 5)
    node.start()
    events = node.wait_events(lambda evs: bool(of(evs, NORMAL, "unconfirmed")), timeout=30)
    [unconfirmed] = of(events, NORMAL, "unconfirmed")
    assert unconfirmed["final"] is True
    assert resource(node, ref)["status"] == "completed"
    assert not of(events, NORMAL, "delivered")


def test_a_receipt_that_comes_after_the_time_out_still_delivers(
    run_node: Callable[..., RunningNode], smsc_factory: Callable[..., Smsc]
) -> None:
    smsc = smsc_factory(dlr_delay_ms=5_000)  # the receipt comes 5 s after the submit
    node = run_node({"sms": {"links": [smsc.link(receipt_timeout_s=1.0)]}})
    resp = node.post("/api/json/sendalert", sms_alert([NORMAL], "Slow network"))
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    ref = resp.json()["alertRef"]
    events = node.wait_events(lambda evs: bool(of(evs, NORMAL, "delivered")), timeout=30)
    [unconfirmed] = of(events, NORMAL, "unconfirmed")
    [late] = of(events, NORMAL, "delivered")
    assert unconfirmed["seq"] < late["seq"] and late["final"] is True and late["detail"]["late"] is True
    done = resource(node, ref)
    assert done["status"] == "completed" and done["items"][0]["recipients"][0]["state"] == "delivered"
    assert (done["counts"]["delivered"], done["counts"]["unconfirmed"]) == (1, 0)
