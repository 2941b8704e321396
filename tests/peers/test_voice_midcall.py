"""A PBX changing the call after the answer (issue 15): holds and resumes, re-INVITEs changing the codec
or the RTP address or carrying no SDP, UPDATE, SIP INFO keys; and an alert cancelled while its call
is up. SIPp UAS scenarios from tools/peers/sipp/make_midcall.py, one per case; each fails the call
when the node answers a request with anything but 200 or a hold with the wrong direction.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from alertnode.voice import pipe
from tests.peers.sip import make_work, wav_bytes

pytestmark = pytest.mark.peer


def spy_plays(ch: Any) -> list[tuple[str, ...]]:
    """The prompts of every Play command the channel sends (to see a prompt started again)."""
    plays: list[tuple[str, ...]] = []
    send = ch._link.send

    def spy(command: pipe.CallCommand) -> bool:
        if isinstance(command, pipe.Play):
            plays.append(tuple(name for name, _, _ in command.prompts))
        return bool(send(command))

    ch._link.send = spy
    return plays


def keys(sink: Any, delivery_id: int) -> list[tuple[str, str]]:
    return [(e.detail["digit"], e.detail["source"]) for e in sink.of(delivery_id) if e.kind == "key"]


async def run(sipp_uas: Any, voice_channel: Any, scenario: str, seconds: float, **params: Any) -> tuple[Any, ...]:
    uas = sipp_uas(scenario)
    ch, sink = await voice_channel(trunk=uas.hostport)
    plays = spy_plays(ch)
    work = make_work("+441234567001", params=params, content=wav_bytes(seconds))
    await ch.submit(work)
    final = await sink.final(work.delivery_id, 40)
    assert await asyncio.to_thread(uas.wait) == 0, uas.output()[-3000:]
    return final, sink, work, plays


async def test_hold_restarts_the_prompt_and_every_key_source_counts_after_it(sipp_uas: Any, voice_channel: Any) -> None:
    final, sink, work, plays = await run(sipp_uas, voice_channel, "uas_hold.xml", 4)
    assert final.state is DeliveryState.ANSWERED and final.detail["outcome"] == "answered"
    kinds = sink.kinds(work.delivery_id)
    held = next(e for e in sink.of(work.delivery_id) if e.kind == "held")
    assert held.detail == {"how": "sendonly", "prompt": "main"}
    assert kinds.index("answered") < kinds.index("held") < kinds.index("resumed") < kinds.index("prompt_played")
    assert kinds.count("prompt_played") == 1 and kinds.count("held") == 1
    assert plays == [("main",), ("main",)]  # played again from its start after the resume
    assert keys(sink, work.delivery_id) == [
        ("1", "rfc4733"), ("3", "info"), ("4", "info"), ("5", "inband"), ("9", "inband"), ("#", "inband"),
    ]


async def test_hold_longer_than_the_prompt_then_the_prompt_and_the_key(sipp_uas: Any, voice_channel: Any) -> None:
    ivr = {"ivrControl": {"ivrRequireFullPlay": True, "ivrRequireResponse": True}}
    final, sink, work, plays = await run(sipp_uas, voice_channel, "uas_hold_long.xml", 1.5, **ivr)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2"
    assert final.detail["outcome"] == "response"  # the whole prompt was played, after the hold
    held = next(e for e in sink.of(work.delivery_id) if e.kind == "held")
    assert held.detail["how"] == "inactive"
    kinds = sink.kinds(work.delivery_id)
    assert kinds.index("resumed") < kinds.index("prompt_played") and kinds.count("prompt_played") == 1
    assert plays == [("main",), ("main",)]
    assert keys(sink, work.delivery_id) == [("2", "rfc4733")]


async def test_hold_twice(sipp_uas: Any, voice_channel: Any) -> None:
    final, sink, work, plays = await run(sipp_uas, voice_channel, "uas_hold_twice.xml", 4)
    assert final.state is DeliveryState.ANSWERED
    holds = [e.detail["how"] for e in sink.of(work.delivery_id) if e.kind == "held"]
    assert holds == ["sendonly", "inactive"] and sink.kinds(work.delivery_id).count("resumed") == 2
    assert plays == [("main",), ("main",), ("main",)]
    assert keys(sink, work.delivery_id) == [("1", "rfc4733"), ("5", "inband"), ("9", "inband"), ("#", "inband")]


async def test_reinvite_changing_the_codec(sipp_uas: Any, voice_channel: Any) -> None:
    final, sink, work, plays = await run(sipp_uas, voice_channel, "uas_reinvite_codec.xml", 3)
    assert final.state is DeliveryState.ANSWERED
    codecs = [e.detail["codec"] for e in sink.of(work.delivery_id) if e.kind == "media"]
    assert codecs == ["PCMA", "PCMU"]
    assert keys(sink, work.delivery_id) == [("3", "rfc4733"), ("7", "inband")]
    assert plays == [("main",)] and "held" not in sink.kinds(work.delivery_id)


async def test_reinvite_moving_the_rtp_address(sipp_uas: Any, voice_channel: Any) -> None:
    final, sink, work, plays = await run(sipp_uas, voice_channel, "uas_reinvite_address.xml", 3.5)
    assert final.state is DeliveryState.ANSWERED and plays == [("main",)]
    assert keys(sink, work.delivery_id) == [("4", "rfc4733"), ("5", "inband"), ("9", "inband"), ("#", "inband")]


async def test_reinvite_without_sdp(sipp_uas: Any, voice_channel: Any) -> None:
    final, sink, work, plays = await run(sipp_uas, voice_channel, "uas_reinvite_nosdp.xml", 4)
    assert final.state is DeliveryState.ANSWERED and plays == [("main",)]
    assert keys(sink, work.delivery_id) == [
        ("6", "rfc4733"), ("8", "info"), ("5", "inband"), ("9", "inband"), ("#", "inband"),
    ]


async def test_update_holds_and_resumes(sipp_uas: Any, voice_channel: Any) -> None:
    final, sink, work, plays = await run(sipp_uas, voice_channel, "uas_update_hold.xml", 3)
    assert final.state is DeliveryState.ANSWERED
    kinds = sink.kinds(work.delivery_id)
    assert kinds.count("held") == 1 and kinds.count("resumed") == 1 and kinds.count("prompt_played") == 1
    assert plays == [("main",), ("main",)]
    assert keys(sink, work.delivery_id) == [("9", "rfc4733"), ("*", "info")]


async def test_cancel_hangs_up_an_answered_call(sipp_uas: Any, voice_channel: Any) -> None:
    """The alert's cancellation (the API) gives the delivery its final event; the channel sends BYE."""
    uas = sipp_uas("uas_answer.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567002", params={"ivrControl": {"ivrAttempts": 3}}, content=wav_bytes(20))
    await ch.submit(work)
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "answered")
    await ch.cancel([work.delivery_id])
    ended = await sink.attempt_end(work.delivery_id)
    assert ended.detail["outcome"] == "cancelled" and ended.detail["cancelled"] is True
    assert ended.retry_after is None
    assert await asyncio.to_thread(uas.wait, 10) == 0, uas.output()[-2000:]  # it got the BYE
    assert not [e for e in sink.of(work.delivery_id) if e.final]
    assert "prompt_played" not in sink.kinds(work.delivery_id)
