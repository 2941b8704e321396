"""End to end through the HTTP API: sendalert (call, replay IVR, TTS prompts) → the node's voice workers
→ a SIPp UAS that presses say-again then OK → collectevents; and validation errors with their paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.nodeproc import API_KEY, RunningNode
from tests.peers.sip import SippUas, free_rtp_base, free_udp_port

pytestmark = pytest.mark.peer


def voice_config(trunk: str) -> dict[str, Any]:
    return {
        "voice": {
            "enabled": True,
            "trunk": trunk,
            "sip_port_base": 0,
            "rtp_port_base": free_rtp_base(40),
            "max_concurrent_calls": 4,
            "key_wait_s": 5,
            "retry_interval_s": 1,
        }
    }


def tts(tag: str, text: str) -> dict[str, Any]:
    return {"contentTag": tag, "content": text, "contentEncoding": "utf8", "voiceFormat": "tts"}


def call_alert(**fields: Any) -> dict[str, Any]:
    item = {
        "alertType": "call",
        "tag": "call-1",
        "sender": "+447700100100",
        "recipients": ["+447700900001"],
        "content": "Main.",
        "contentEncoding": "utf8",
        "voiceFormat": "tts",
        **fields,
    }
    return {
        "version": "latest",
        "apiKey": API_KEY,
        "clientRef": "voice-e2e",
        "lifetime": "1h",
        "alert": [item],
    }


def test_replay_call_through_the_api(run_node: Callable[..., RunningNode], sipp_uas: Callable[..., SippUas]) -> None:
    uas = sipp_uas("uas_replay.xml")
    node = run_node(voice_config(uas.hostport))
    body = call_alert(
        ivrControl={"ivrType": "replay"},
        additionalContent=[tts("pre", "Hi."), tts("post", "Press."), tts("done", "Thanks.")],
    )
    resp = node.post("/api/json/sendalert", body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["success"] is True, resp.text
    events = node.wait_events(lambda evs: any(e.get("final") for e in evs), timeout=60)
    mine = [e for e in events if e.get("recipient") == "+447700900001"]
    kinds = [e["event"] for e in mine]
    assert "answered" in kinds and "say_again" in kinds and "recipientOk" in kinds, kinds
    [final] = [e for e in mine if e.get("final")]
    assert final["state"] == "responded"
    assert final["detail"]["response"] == "recipientOk"
    assert uas.wait() == 0, uas.output()[-2000:]


def test_bad_ivr_control_is_refused_with_paths(
    run_node: Callable[..., RunningNode], sipp_uas: Callable[..., SippUas]
) -> None:
    node = run_node(voice_config("127.0.0.1:9"))
    resp = node.post("/api/json/sendalert", call_alert(ivrControl={"ivrType": "replay", "ivrAmOkDigits": "1"},
                                                       additionalContent=[{"contentTag": "intro", "content": "Hi",
                                                                           "contentEncoding": "utf8",
                                                                           "voiceFormat": "tts"}]))
    text = resp.text
    assert resp.json()["success"] is False
    # (pre, post and done left out are the stock prompts: no fault)
    assert "alert[0].additionalContent[0].contentTag" in text  # a prompt the replay IVR has no use for
    assert "alert[0].ivrControl.ivrAmOkDigits" in text
    resp = node.post("/api/json/sendalert", call_alert(ivrControl={"ivrAnsweringMachine": "maybe"}))
    assert resp.json()["success"] is False
    assert "alert[0].ivrControl.ivrAnsweringMachine" in resp.text
    resp = node.post("/api/json/sendalert", call_alert(ivrControl={"ivrType": "simple", "ivrDigitsStopPlay": True}))
    assert resp.json()["success"] is False
    assert "alert[0].ivrControl.ivrDigitsStopPlay" in resp.text  # an option of the replay IVR only
    body = call_alert(voiceFormat="wav", content="bm90IGF1ZGlv", contentEncoding="base64")
    resp = node.post("/api/json/sendalert", body)
    assert resp.json()["success"] is False
    assert "alert[0].content" in resp.text  # audio that does not decode (the channel's validate_item)


def test_inbound_call_through_the_api(run_node: Callable[..., RunningNode], sipp_uac: Callable[..., SippUas]) -> None:
    sip_port = free_udp_port()
    config = voice_config("127.0.0.1:9")
    config["voice"]["sip_port_base"] = sip_port
    node = run_node(config)
    item = {
        "alertType": "inboundCall",
        "tag": "in-1",
        "telephoneNumber": "+442000000009",
        "recipients": ["+447700900002"],
        "content": "Call received. Press any key.",
        "contentEncoding": "utf8",
        "voiceFormat": "tts",
    }
    body = {"version": "latest", "apiKey": API_KEY, "clientRef": "voice-in", "lifetime": "1h", "alert": [item]}
    resp = node.post("/api/json/sendalert", body)
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    node.wait_events(lambda evs: any(e["event"] == "waiting_for_call" for e in evs), timeout=30)
    uac = sipp_uac("uac_inbound.xml", f"127.0.0.1:{sip_port}", "+442000000009", 1, "-key", "caller", "+447700900002")
    events = node.wait_events(lambda evs: any(e.get("final") for e in evs), timeout=60)
    [final] = [e for e in events if e.get("final")]
    assert final["state"] == "responded"
    assert final["detail"]["response"] == "2" and final["detail"]["caller"] == "+447700900002"
    assert uac.wait() == 0, uac.output()[-2000:]


def test_cancelling_an_alert_hangs_up_its_answered_call(
    run_node: Callable[..., RunningNode], sipp_uas: Callable[..., SippUas]
) -> None:
    """Issue 15 reverses "an answered call plays on": the node sends BYE and the recipient gets the final
    ``cancelled`` event (the answered delivery had none yet)."""
    uas = sipp_uas("uas_answer.xml")  # answers, says nothing, waits for the BYE
    node = run_node(voice_config(uas.hostport))
    resp = node.post("/api/json/sendalert", call_alert(content="This alert takes a while to read out. " * 8))
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    ref = resp.json()["alertRef"]
    node.wait_events(lambda evs: any(e["event"] == "answered" for e in evs), timeout=60)
    with node.client() as c:
        assert c.post(f"/api/json/alerts/{ref}/cancel").json()["cancelledDeliveries"] == 1
    events = node.wait_events(lambda evs: any(e["event"] == "attempt_ended" for e in evs), timeout=30)
    mine = [e for e in events if e.get("recipient") == "+447700900001"]
    [final] = [e for e in mine if e.get("final")]
    assert final["event"] == "cancelled" and final["state"] == "failed"
    ended = next(e for e in mine if e["event"] == "attempt_ended")
    assert ended["detail"]["outcome"] == "cancelled"
    assert "prompt_played" not in [e["event"] for e in mine]
    assert uas.wait(20) == 0, uas.output()[-2000:]  # it got the BYE
