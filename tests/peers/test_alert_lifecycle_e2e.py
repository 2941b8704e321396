"""An alert's status while its call is still up, end to end: sendalert (a call that waits for a key) → the
node's voice worker → a SIPp UAS that answers and then stays silent (no key, no BYE of its own). While the
call is up waiting for the key the alert resource reads ``running``; once the node has given up waiting,
hung up and reported the delivery's final event it reads ``completed``. /metrics agrees at both moments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.nodeproc import API_KEY, RunningNode
from tests.peers.sip import SippUas, free_rtp_base

pytestmark = pytest.mark.peer

# the node hangs up when no key came this long after the prompt: the call is up at least this long
KEY_WAIT_S = 8


def _config(trunk: str) -> dict[str, Any]:
    return {"voice": {"enabled": True, "trunk": trunk, "sip_port_base": 0, "rtp_port_base": free_rtp_base(40),
                      "max_concurrent_calls": 4, "key_wait_s": KEY_WAIT_S, "retry_interval_s": 1}}


def _status(node: RunningNode, ref: str) -> str:
    with node.client() as c:
        resp = c.get(f"/api/json/alerts/{ref}")
    resp.raise_for_status()
    return str(resp.json()["status"])


def _metric_alerts(node: RunningNode) -> dict[str, float]:
    body = httpx.get(f"{node.url}/metrics", timeout=30, trust_env=False).text
    out: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("alertnode_alerts{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            out[status] = float(line.rsplit(" ", 1)[1])
    return out


def test_an_answered_call_waiting_for_a_key_keeps_its_alert_running(
    run_node: Callable[..., RunningNode], sipp_uas: Callable[..., SippUas]
) -> None:
    uas = sipp_uas("uas_silent.xml")
    node = run_node(_config(uas.hostport))
    body = {"version": "latest", "apiKey": API_KEY, "clientRef": "held-call", "lifetime": "1h",
            "alert": [{"alertType": "call", "tag": "c", "sender": "+447700100100", "recipients": ["+447700900001"],
                       "content": "Press a key.", "contentEncoding": "utf8", "voiceFormat": "tts",
                       "ivrControl": {"ivrType": "simple", "ivrRequireResponse": True, "ivrAttempts": 1}}]}
    resp = node.post("/api/json/sendalert", body)
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    ref = resp.json()["alertRef"]
    events = node.wait_events(lambda evs: any(e["event"] == "answered" for e in evs), timeout=60)
    assert not any(e.get("final") for e in events)
    # the UAS never hangs up and the node waits KEY_WAIT_S for a key after its prompt: the call is up
    assert _status(node, ref) == "running"
    assert _metric_alerts(node) == {"running": 1}
    events = node.wait_events(lambda evs: any(e.get("final") for e in evs), timeout=60)
    [final] = [e for e in events if e.get("final")]
    assert final["event"] == "completed" and final["detail"]["outcome"] == "no_response"
    assert _status(node, ref) == "completed"
    assert _metric_alerts(node) == {"completed": 1}
    assert uas.wait() == 0, uas.output()[-2000:]
