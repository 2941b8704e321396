"""Voice in the operations surface of the real node: a call answered by SIPp with an RFC 4733 key press
moves the DTMF and call-outcome metrics; the SIP registration at kamailio shows in /readyz, /metrics
and the status JSON (and a wrong password keeps the node not ready)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.nodeproc import API_KEY, RunningNode
from tests.ops.test_node_ops import metrics, readyz
from tests.peers.sip import Kamailio, SippUas, free_rtp_base

pytestmark = pytest.mark.peer


def voice(**extra: Any) -> dict[str, Any]:
    return {"voice": {"enabled": True, "sip_port_base": 0, "rtp_port_base": free_rtp_base(40),
                      "max_concurrent_calls": 4, "key_wait_s": 5, "retry_interval_s": 1, **extra}}


def test_call_with_a_key_press_moves_the_voice_metrics(
    run_node: Callable[..., RunningNode], sipp_uas: Callable[..., SippUas]
) -> None:
    uas = sipp_uas("uas_press2.xml")
    node = run_node(voice(trunk=uas.hostport))
    before = metrics(node)
    assert before["alertnode_calls_active"] == 0
    assert not any(k.startswith("alertnode_dtmf_digits_total") for k in before)
    item = {"alertType": "call", "tag": "call-1", "sender": "+447700100100", "recipients": ["+447700900001"],
            "content": "Main.", "contentEncoding": "utf8", "voiceFormat": "tts",
            "ivrControl": {"ivrRequireResponse": True}}
    resp = node.post("/api/json/sendalert", {"version": "latest", "apiKey": API_KEY, "clientRef": "ops-voice",
                                             "lifetime": "1h", "alert": [item]})
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    events = node.wait_events(lambda evs: any(e.get("final") for e in evs), timeout=60)
    [final] = [e for e in events if e.get("final")]
    after = metrics(node)
    assert after['alertnode_dtmf_digits_total{source="rfc4733"}'] == 1
    outcomes = {k: v for k, v in after.items() if k.startswith("alertnode_call_outcomes_total")}
    assert sum(outcomes.values()) == 1, outcomes
    assert after['alertnode_channel_events_total{kind="answered",state="answered"}'] == 1
    assert after['alertnode_deliveries{alert_type="call",state="' + final["state"] + '"}'] == 1
    assert after["alertnode_calls_active"] == 0
    assert uas.wait() == 0, uas.output()[-2000:]


def _registered(node: RunningNode) -> bool:
    return metrics(node).get("alertnode_sip_registered") == 1.0


def test_sip_registration_in_readiness_metrics_and_status(
    run_node: Callable[..., RunningNode], kamailio: Callable[..., Kamailio]
) -> None:
    pbx = kamailio()
    node = run_node(voice(registrar=pbx.hostport, user="ivr1", password="s3cret"))
    deadline = time.monotonic() + 30
    while not _registered(node):
        assert time.monotonic() < deadline, "not registered"
        time.sleep(0.2)
    code, body = readyz(node)
    assert code == 200 and body["channels"]["voice"]["ready"] is True
    status = httpx.get(f"{node.url}/api/ops/status", headers=node.headers, timeout=10, trust_env=False).json()
    [ch] = [c for c in status["channels"] if c["name"] == "voice"]
    assert ch["details"]["registration"]["registered"] is True and status["callsActive"] == 0

    bad = run_node(voice(registrar=pbx.hostport, user="ivr1", password="Wr0ngPass9"))
    time.sleep(3)  # give the registration time to be refused (not a timing assert: it must never succeed)
    code, body = readyz(bad)
    assert code == 503 and body["channels"]["voice"]["ready"] is False
    assert metrics(bad)["alertnode_sip_registered"] == 0
