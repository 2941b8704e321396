"""Every event that leaves a node in sandbox mode says so (``detail.sandbox: true``, the mark the sandbox's
channels put on theirs), also those the store writes itself (accepted, cancelled): through collectevents,
the callbacks and the alert's timeline. A node outside sandbox mode marks none."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.callback_receiver import Receiver
from tests.nodeproc import RunningNode, free_port
from tests.sandbox.support import sandbox_node

pytestmark = pytest.mark.peer


def _alert(callback_url: str) -> dict[str, Any]:
    # stored unpublished: nothing is sent, so every event of it is one the store writes itself
    return {"version": "latest", "clientRef": "marks", "callbackURL": callback_url, "schedule": {"publish": False},
            "alert": [{"alertType": "sms", "tag": "t", "content": "Boiler 3", "sender": "ALERTS",
                       "recipients": ["+447700900101", "+447700900102"]}]}


def _through_every_way_out(node: RunningNode, receiver: Receiver) -> list[list[dict[str, Any]]]:
    """The alert's accepted and cancelled events as collectevents, the callback receiver and the timeline
    give them."""
    resp = node.post("/api/json/sendalert", _alert(receiver.url))
    assert resp.status_code == 200, resp.text
    ref = resp.json()["alertRef"]
    with node.client() as c:
        assert c.post(f"/api/json/alerts/{ref}/cancel").status_code == 200
        deadline = time.monotonic() + 30
        while [e["event"] for e in receiver.accepted_events()].count("cancelled") < 3:
            assert time.monotonic() < deadline, receiver.accepted_events()
            time.sleep(0.1)
        timeline = c.get(f"/api/json/alerts/{ref}/timeline").json()["events"]
    collected = node.events(0, alertRef=ref, limit=100)["events"]
    out = [collected, receiver.accepted_events(), timeline]
    for events in out:
        kinds = [e["event"] for e in events]
        assert "accepted" in kinds and kinds.count("cancelled") == 3, kinds  # two deliveries and the alert
    return out


def test_store_events_of_a_sandbox_node_carry_the_sandbox_mark(tmp_path: Path) -> None:
    node = sandbox_node(tmp_path / "n").start()
    try:
        with Receiver() as receiver:
            for events in _through_every_way_out(node, receiver):
                assert all(e.get("detail", {}).get("sandbox") is True for e in events), events
    finally:
        node.stop()


def test_a_node_outside_sandbox_mode_marks_nothing(run_node: Callable[..., RunningNode]) -> None:
    # an SMSC that is not there: the alert waits in the queue
    node = run_node({"sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                                        "password": "y"}]}})
    with Receiver() as receiver:
        for events in _through_every_way_out(node, receiver):
            assert not any("sandbox" in e.get("detail", {}) for e in events), events
