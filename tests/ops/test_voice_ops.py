"""Voice in the operations surface of the real node: a call answered by SIPp with an RFC 4733 key press
moves the DTMF and call-outcome metrics; the SIP registration at kamailio shows in /readyz, /metrics
and the status JSON (and a wrong password keeps the node not ready)."""

from __future__ import annotations

import base64
import io
import time
import wave
from collections.abc import Callable
from pathlib import Path
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
    # the prompt was synthesized once for this call: a look-up that missed (hits come with repeats)
    assert after['alertnode_prompt_cache_total{result="misses"}'] >= 1
    assert 'alertnode_prompt_cache_total{result="hits"}' in after
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


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(int(seconds * rate) * 2))
    return buf.getvalue()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_to_the_node_alone_hangs_up_the_call_and_stops_its_workers(
    run_node: Callable[..., RunningNode], sipp_uas: Callable[..., SippUas]
) -> None:
    """What KillMode=mixed does: SIGTERM reaches only the node's main process, which must end its calls
    (SIPp gets its BYE) and its voice workers by itself."""
    uas = sipp_uas("uas_press2.xml")
    node = run_node(voice(trunk=uas.hostport))
    item = {"alertType": "call", "tag": "call-1", "sender": "+447700100100", "recipients": ["+447700900002"],
            "content": base64.b64encode(_wav(20)).decode(), "contentEncoding": "base64", "voiceFormat": "wav"}
    resp = node.post("/api/json/sendalert", {"version": "latest", "apiKey": API_KEY, "clientRef": "ops-term",
                                             "lifetime": "1h", "alert": [item]})
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    # the key comes during the 20 s prompt; SIPp then waits for the node's BYE
    node.wait_events(lambda evs: any(e["event"] == "key" for e in evs), timeout=60)
    assert node.proc is not None
    workers = _children(node.proc.pid)
    assert workers, "no voice worker processes"
    assert node.stop() == 0  # SIGTERM to the main process only
    assert uas.wait() == 0, uas.output()[-2000:]  # SIPp got its BYE
    assert not [w for w in workers if _alive(w)]
