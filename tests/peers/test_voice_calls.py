"""Outbound calls through the voice channel against SIPp UAS scenarios on loopback (trunk mode)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work, wav_bytes

pytestmark = pytest.mark.peer


async def test_answer_and_press_2_by_rfc4733(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_press2.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567890", params={"ivrControl": {"ivrRequireResponse": True}}, content=wav_bytes(3))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED
    assert final.detail["response"] == "2"
    kinds = sink.kinds(work.delivery_id)
    assert [k for k in kinds if k != "media"][:3] == ["calling", "ringing", "answered"]
    key = next(e for e in sink.of(work.delivery_id) if e.kind == "key")
    assert key.detail == {"digit": "2", "source": "rfc4733"}
    assert [e.state for e in sink.of(work.delivery_id) if e.kind == "answered"] == [DeliveryState.ANSWERED]
    assert kinds.count("key") == 1
    media = next(e for e in sink.of(work.delivery_id) if e.kind == "media")
    assert media.detail == {"codec": "PCMA", "clock_rate": 8000, "event_pt": 120}
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_inband_digits_only(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_inband.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    # a prompt long enough to hear all three tones while it plays, then hang up after it
    work = make_work("+441234567891", content=wav_bytes(3.5))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    keys = [e.detail for e in sink.of(work.delivery_id) if e.kind == "key"]
    assert keys == [{"digit": d, "source": "inband"} for d in ("5", "9", "#")]
    assert final.state is DeliveryState.ANSWERED
    assert final.detail["outcome"] == "answered"
    assert "prompt_played" in sink.kinds(work.delivery_id)
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_rfc4733_and_inband_each_reported_once(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_both.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567892", content=wav_bytes(4))
    await ch.submit(work)
    await sink.final(work.delivery_id)
    keys = [(e.detail["digit"], e.detail["source"]) for e in sink.of(work.delivery_id) if e.kind == "key"]
    assert keys == [("2", "rfc4733"), ("5", "inband"), ("9", "inband"), ("#", "inband")]
    assert uas.wait() == 0


async def test_busy(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_busy.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567893")
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.FAILED
    assert final.detail["outcome"] == "busy"
    assert final.detail["sip_code"] == 486
    busy = next(e for e in sink.of(work.delivery_id) if e.kind == "busy")
    assert busy.detail["sip_code"] == 486
    assert uas.wait() == 0


async def test_no_answer_is_cancelled_after_ring_timeout(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_noanswer.xml")
    ch, sink = await voice_channel(trunk=uas.hostport, ring_timeout_s=1.5)
    work = make_work("+441234567894")
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.FAILED
    assert final.detail["outcome"] == "no_answer"
    assert "ringing" in sink.kinds(work.delivery_id)
    assert "answered" not in sink.kinds(work.delivery_id)
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_hangup_half_way_fails_require_full_play(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_hangup.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567895", params={"ivrControl": {"ivrRequireFullPlay": True}}, content=wav_bytes(3))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.FAILED
    assert final.detail["outcome"] == "not_full_play"
    kinds = sink.kinds(work.delivery_id)
    assert "prompt_cut" in kinds and "hung_up" in kinds and "prompt_played" not in kinds
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_hangup_half_way_is_success_without_require_full_play(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_hangup.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567896", content=wav_bytes(3))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.ANSWERED
    assert uas.wait() == 0


async def test_three_attempts_then_give_up(sipp_uas: Any, voice_channel: Any) -> None:
    """Each busy attempt is handed back with retry_after; this test plays the dispatcher."""
    uas = sipp_uas("uas_busy.xml", 3)
    ch, sink = await voice_channel(trunk=uas.hostport)
    params = {"ivrControl": {"ivrAttempts": 3}}
    work = make_work("+441234567897", params=params)
    for attempt in (1, 2, 3):
        await ch.submit(make_work(work.address, params=params, attempt=attempt, delivery_id=work.delivery_id))
        ended = await sink.wait_for(
            lambda e, a=attempt: (
                e.delivery_id == work.delivery_id and e.kind == "attempt_ended" and e.detail["attempt"] == a
            )
        )
        if attempt < 3:
            assert ended.retry_after == 0.5 and not ended.final
            await asyncio.sleep(ended.retry_after)
        else:
            assert ended.retry_after is None
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.FAILED
    assert final.detail == {"outcome": "busy", "attempts": 3, "response": None, "sip_code": 486}
    assert sink.kinds(work.delivery_id).count("busy") == 3
    assert uas.wait() == 0


async def test_replay_say_again_then_ok_hears_done(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_replay.xml")
    ch, sink = await voice_channel(trunk=uas.hostport, key_wait_s=5)
    extra = [
        {
            "contentTag": tag,
            "content": __import__("base64").b64encode(wav_bytes(0.5, f)).decode(),
            "contentEncoding": "base64",
            "voiceFormat": "wav",
        }
        for tag, f in (("pre", 500), ("post", 600), ("done", 700))
    ]
    work = make_work(
        "+441234567898",
        params={"ivrControl": {"ivrType": "replay"}, "additionalContent": extra},
        content=wav_bytes(0.5, 400),
    )
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED
    assert final.detail["response"] == "recipientOk"
    evs = sink.of(work.delivery_id)
    played = [e.detail["prompt"] for e in evs if e.kind == "prompt_played"]
    assert played == ["pre", "main", "post", "main", "post", "done"]
    kinds = [e.kind for e in evs]
    assert kinds.index("say_again") < kinds.index("recipientOk")
    ok = next(e for e in evs if e.kind == "recipientOk")
    assert ok.state is DeliveryState.RESPONDED and ok.detail == {"digit": "2"}
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_concurrent_calls_over_two_workers(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_press2.xml", 6)
    ch, sink = await voice_channel(trunk=uas.hostport, max_concurrent_calls=8)
    works = [
        make_work(f"+4412345000{i:02d}", params={"ivrControl": {"ivrRequireResponse": True}}, content=wav_bytes(3))
        for i in range(6)
    ]
    assert ch.free_capacity() == 8
    for w in works:
        await ch.submit(w)
    finals = [await sink.final(w.delivery_id) for w in works]
    assert all(f.state is DeliveryState.RESPONDED and f.detail["response"] == "2" for f in finals)
    workers = ch.info().details["workers"]
    assert len(workers) == 2 and all(w["ready"] for w in workers)
    assert uas.wait() == 0


async def test_tts_prompts_through_the_media_cache(sipp_uas: Any, voice_channel: Any) -> None:
    """The real prompt path: espeak-ng text for main and a replay's pre/post/done, mp3-free."""
    uas = sipp_uas("uas_press2.xml")
    ch, sink = await voice_channel(real_prompts=True, trunk=uas.hostport)
    work = make_work(
        "+441234567899",
        params={
            "voiceFormat": "tts",
            "ivrControl": {"ivrRequireResponse": True},
            "tts": {"language": "en-GB"},
        },
        content=b"",
    )
    work = type(work)(**{**work.__dict__, "text": "Fire alarm in building seven. Press two."})
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2"
    assert any((ch.data_dir / "prompts").rglob("*.wav"))
    assert await asyncio.to_thread(uas.wait) == 0


async def test_caller_id_from_the_alerts_sender(tmp_path: Path, sipp_uas: Any, voice_channel: Any) -> None:
    """Trunk mode: the sender is the From user and the P-Asserted-Identity (SIPp fails the call if not)."""
    log = tmp_path / "callerid.log"
    uas = sipp_uas("uas_callerid.xml", 1, "-trace_logs", "-log_file", str(log))
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567811", params={"sender": "+441000000001"}, content=wav_bytes(2))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.ANSWERED
    assert await asyncio.to_thread(uas.wait) == 0, uas.output()[-2000:]
    assert "caller id from=sip:+441000000001@ pai=sip:+441000000001@" in log.read_text()


async def test_one_press_sent_both_ways_is_reported_once(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_both_ways.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567812", content=wav_bytes(2.5))
    await ch.submit(work)
    await sink.final(work.delivery_id)
    keys = [e.detail for e in sink.of(work.delivery_id) if e.kind == "key"]
    assert [k["digit"] for k in keys] == ["2"], keys
    assert await asyncio.to_thread(uas.wait) == 0


async def test_unplayable_prompt_ends_the_call(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_hangup.xml")  # would hang up after 1 s; the node must hang up first
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567813", params={"ivrControl": {"ivrRequireFullPlay": True}}, content=b"RIFF garbage")
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.FAILED and final.detail["outcome"] == "not_full_play"
    err = next(e for e in sink.of(work.delivery_id) if e.kind == "prompt_error")
    assert err.detail["prompt"] == "main"
    assert "hung_up" not in sink.kinds(work.delivery_id)  # the node hung up, not the callee
    uas.proc.terminate()  # its BYE never got to go out: SIPp counts the call failed
