"""Session timers (RFC 4028) against SIPp: the node refreshes when the far end makes it the refresher (as
UAC by UPDATE, as UAS by re-INVITE), answers a far end's refreshes, sends its INVITE again after 422, and
ends a call nobody refreshes (BYE with cause 408, a ``session_expired`` event and a final result).

RFC 4028 sets 90 s as the smallest session interval (§4), so a refresh comes after 45 s and an unrefreshed
session ends after 60 s: the five cases run at once, each on a channel of its own, about 65 s in all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work, wav_bytes

pytestmark = pytest.mark.peer

LONG = {"key_wait_s": 80, "max_call_s": 150}
RESPOND = {"ivrControl": {"ivrRequireResponse": True}}


async def outbound(sipp_uas: Any, voice_channel: Any, scenario: str, number: str) -> tuple[Any, Any, Any]:
    uas = sipp_uas(scenario)
    ch, sink = await voice_channel(trunk=uas.hostport, **LONG)
    work = make_work(number, params=RESPOND, content=wav_bytes(2))
    await ch.submit(work)
    final = await sink.final(work.delivery_id, 120)
    assert await asyncio.to_thread(uas.wait, 20) == 0, uas.output()[-3000:]
    return final, sink.of(work.delivery_id), uas


async def inbound(sipp_uac: Any, voice_channel: Any) -> tuple[Any, Any, Any]:
    ch, sink = await voice_channel(trunk="127.0.0.1:9", **LONG)
    work = make_work(
        "+441111111111", alert_type="inboundCall", params={"telephoneNumber": "+442000000071"}, content=wav_bytes(2)
    )
    await ch.submit(work)
    front = f"127.0.0.1:{ch.info().details['sipPort']}"
    uac = sipp_uac("uac_timer.xml", front, "+442000000071", 1, "-key", "caller", "+441111111111")
    final = await sink.final(work.delivery_id, 120)
    assert await asyncio.to_thread(uac.wait, 20) == 0, uac.output()[-3000:]
    return final, sink.of(work.delivery_id), uac


async def test_session_timers(sipp_uas: Any, sipp_uac: Any, voice_channel: Any) -> None:
    refreshing, far_end_refreshes, silent, too_small, called = await asyncio.gather(
        outbound(sipp_uas, voice_channel, "uas_timer_uac.xml", "+441234567101"),
        outbound(sipp_uas, voice_channel, "uas_timer_uas.xml", "+441234567102"),
        outbound(sipp_uas, voice_channel, "uas_timer_silent.xml", "+441234567103"),
        outbound(sipp_uas, voice_channel, "uas_timer_422.xml", "+441234567104"),
        inbound(sipp_uac, voice_channel),
    )
    # the node refreshed (UPDATE, refresher=uac: SIPp checked) and the call went on to the key
    for final, _events, _peer in (refreshing, far_end_refreshes, too_small, called):
        assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2", final
    # the far end refreshed at 40 s and pressed its key at 62 s: the session was kept past 60 s
    assert "session_expired" not in [e.kind for e in far_end_refreshes[1]]
    # nobody refreshed: the node ended the call itself (SIPp checked the BYE's Reason: cause=408)
    final, events, _ = silent
    assert final.state is DeliveryState.FAILED and final.detail["outcome"] == "no_response"
    kinds = [e.kind for e in events]
    assert "session_expired" in kinds and "hung_up" not in kinds
    expired = next(e for e in events if e.kind == "session_expired")
    assert expired.detail["reason"] == "No session refresh received."
