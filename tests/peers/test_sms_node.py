"""End to end through the HTTP API: sendalert → the node's SMPP link → the SMSC simulator → receipts
and replies → collectevents. The node runs as a subprocess (``run_node``), the SMSC as another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.nodeproc import API_KEY, RunningNode
from tests.peers.smsc import Smsc

pytestmark = pytest.mark.peer


def sms_alert(recipients: list[str], content: str, **fields: Any) -> dict[str, Any]:
    item = {
        "alertType": "sms",
        "tag": "sms-1",
        "content": content,
        "contentEncoding": "utf8",
        "sender": "+447700100100",
        "recipients": recipients,
        **fields,
    }
    return {"version": "latest", "apiKey": API_KEY, "clientRef": "sms-e2e", "lifetime": "1h", "alert": [item]}


def of(events: list[dict[str, Any]], recipient: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("recipient") == recipient and e["event"] == kind]


def test_sms_delivered_failed_and_replied_through_the_api(
    run_node: Callable[..., RunningNode], smsc_factory: Callable[..., Smsc]
) -> None:
    smsc = smsc_factory(reject_prefix="447999")  # the API takes only real E.164 numbers
    node = run_node({"sms": {"links": [smsc.link(dcs0_charset="latin1")]}})
    resp = node.post("/api/json/sendalert", sms_alert(["+447700900001", "+447999000001", "+447700900002"], "Gas leak"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["success"] is True

    events = node.wait_events(
        lambda evs: (
            bool(of(evs, "+447700900001", "delivered"))
            and bool(of(evs, "+447999000001", "failed"))
            and bool(of(evs, "+447700900002", "delivered"))
        )
    )
    [failed] = of(events, "+447999000001", "failed")
    assert failed["detail"]["smpp_status"] == 0x0B and failed["final"] is True
    assert of(events, "+447700900001", "sent")[0]["state"] in ("sent", "delivered")

    code, _ = smsc.mo(to="447700100100", **{"from": "447700900002"}, text="OK, on my way")
    assert code == 200
    events = node.wait_events(lambda evs: bool(of(evs, "+447700900002", "replied")))
    [reply] = of(events, "+447700900002", "replied")
    assert reply["state"] == "responded"
    assert reply["detail"]["text"] == "OK, on my way" and reply["detail"]["ack"] is True

    with node.client() as c:
        info = c.post("/api/json/getinfo", json={"version": "latest"}).json()
    assert "bound" in str(info)


def test_invalid_sender_is_refused_with_its_path(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    node = run_node({"sms": {"links": [smsc.link()]}})
    resp = node.post("/api/json/sendalert", sms_alert(["+447700900001"], "x", sender="THIS SENDER IS TOO LONG"))
    body = resp.json()
    assert body["success"] is False
    assert "alert[0].sender" in str(body)
