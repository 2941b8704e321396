"""The voice channel over a fake worker link with answering-machine detection and stock prompts:
the IVR's AMD actions become worker commands (Place with ``amd``, AmdStop), the worker's AMD events
become channel events with their timings (tests/voice/fake_link.py; no pjsua2)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from alertnode.media.stock import STOCK, stock_bytes
from alertnode.voice import pipe
from alertnode.voice.channel import VoiceChannel
from alertnode.voice.config import VoiceConfig
from alertnode.voice.ivr_amd import BEEP_GAP_S
from alertnode.voice.link import OnEvent
from tests.peers.sip import MemorySink, wav_preparer
from tests.voice.fake_link import FakeTimers, FakeWorkerLink
from tests.voice.test_channel_link import KEY_WAIT, RETRY, RING, TOTAL, Rig, answered, placed

AMD_DECISION = 6.0
HELLO = pipe.AmdVerdict("k", "human", False, "short_greeting", 1120.04, 300.0, 520.0, 1, 480.0, 320.0, 0.0)


def verdict(key: str, v: pipe.AmdVerdict = HELLO, **changes: Any) -> pipe.AmdVerdict:
    return pipe.AmdVerdict(**{**v.__dict__, "call": key, **changes})


def robot(key: str) -> pipe.AmdVerdict:
    return verdict(key, verdict="machine", final=True, reason="long_greeting", after_answer_ms=2600.0, words=9)


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    channels: list[VoiceChannel] = []

    async def make(**overrides: Any) -> Rig:
        links: list[FakeWorkerLink] = []

        def make_link(config: VoiceConfig, on_event: OnEvent) -> FakeWorkerLink:
            links.append(FakeWorkerLink(config, on_event))
            return links[-1]

        timers = FakeTimers()
        config = VoiceConfig(
            enabled=True, trunk="pbx.example:5060", ring_timeout_s=RING, key_wait_s=KEY_WAIT, max_call_s=TOTAL,
            retry_interval_s=RETRY, max_concurrent_calls=4, **overrides,
        )
        prompts = tmp_path / f"prompts{len(channels)}"
        prompts.mkdir()
        ch = VoiceChannel(config=config, data_dir=tmp_path, prompts=wav_preparer(prompts), link=make_link, later=timers)
        channels.append(ch)
        sink = MemorySink()
        await ch.start(sink)
        return Rig(ch, links[0], timers, sink)

    yield make
    for ch in channels:
        await ch.stop(1)


async def test_the_node_default_and_the_alerts_option_decide_whether_a_call_is_listened_to(make_rig: Any) -> None:
    rig = await make_rig(answering_machine="hangup")
    _, key = await placed(rig)
    assert rig.link.take()[0] == pipe.Place(key, "sip:+441234567890@pbx.example:5060", "+441000000001", amd=True)
    _, key = await placed(rig, {"ivrControl": {"ivrAnsweringMachine": "off"}})
    assert rig.link.take()[0] == pipe.Place(key, "sip:+441234567890@pbx.example:5060", "+441000000001", amd=False)
    off = await make_rig()  # voice.answering_machine defaults to off
    _, key = await placed(off, {"ivrControl": {"ivrAnsweringMachine": "voicemail"}})
    place = off.link.take()[0]
    assert isinstance(place, pipe.Place) and place.amd


async def test_a_person_hears_the_prompt_on_the_first_verdict(make_rig: Any) -> None:
    rig = await make_rig(answering_machine="hangup")
    work, key = await answered(rig)
    assert [type(c) for c in rig.link.take()] == [pipe.Place]  # nothing plays while the detector listens
    assert rig.timers.pending() == [TOTAL, AMD_DECISION]
    rig.link.emit(verdict(key))
    [play] = rig.link.take()
    assert isinstance(play, pipe.Play) and [p[0] for p in play.prompts] == ["main"]
    amd = await rig.event(work, "amd")
    assert amd.detail == {
        "verdict": "human", "final": False, "reason": "short_greeting", "after_answer_ms": 1120.0,
        "initial_silence_ms": 300.0, "greeting_ms": 520.0, "words": 1, "voice_ms": 480.0, "pause_ms": 320.0,
        "longest_pause_ms": 0.0,
    }
    assert rig.timers.pending() == [TOTAL]
    rig.link.emit(pipe.KeyPressed(key, "5", "inband"))  # a key proves a person: the detector stops
    assert rig.link.take() == [pipe.AmdStop(key)]


async def test_a_machine_is_hung_up_on_and_handed_back_for_the_next_attempt(make_rig: Any) -> None:
    rig = await make_rig(answering_machine="hangup")
    work, key = await answered(rig, {"ivrControl": {"ivrAttempts": 2}})
    rig.link.take()
    rig.link.emit(robot(key))
    assert rig.link.take() == [pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 200, by_remote=False, connected=True))
    ended = await rig.event(work, "attempt_ended")
    assert ended.retry_after == RETRY
    assert ended.detail == {"attempt": 1, "outcome": "machine", "success": False}
    assert (await rig.event(work, "amd")).detail["verdict"] == "machine"


async def test_voicemail_after_the_beep_then_final(make_rig: Any) -> None:
    rig = await make_rig(answering_machine="voicemail")
    work, key = await answered(rig, {"ivrControl": {"ivrAttempts": 3}})
    rig.link.take()
    rig.link.emit(robot(key))
    assert rig.link.take() == []
    rig.link.emit(pipe.AmdBeep(key, 7260.0, 240.0, 1000.5, -17.9))
    beep = await rig.event(work, "amd_beep")
    assert beep.detail == {"after_answer_ms": 7260.0, "length_ms": 240.0, "freq_hz": 1000.5, "level_dbm0": -17.9}
    assert BEEP_GAP_S in rig.timers.pending()
    rig.timers.fire(BEEP_GAP_S)
    stop, play = rig.link.take()
    assert stop == pipe.AmdStop(key)
    assert isinstance(play, pipe.Play) and [p[0] for p in play.prompts] == ["main"]
    rig.link.emit(pipe.PromptDone(key, "main"))
    assert rig.link.take() == [pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 200, by_remote=False, connected=True))
    final = await rig.final(work)
    assert final.state is DeliveryState.ANSWERED
    assert final.detail == {"outcome": "voicemail_left", "attempts": 1, "response": None, "sip_code": 200}
    kinds = await rig.kinds(work)
    assert kinds.index("amd_beep") < kinds.index("prompt_played") < kinds.index("voicemail_left")


async def test_replay_without_additional_content_plays_the_stock_prompts(make_rig: Any) -> None:
    rig = await make_rig()
    work, key = await answered(rig, {"ivrControl": {"ivrType": "replay"}})
    [_, play] = rig.link.take()
    assert isinstance(play, pipe.Play) and [p[0] for p in play.prompts] == ["pre", "main", "post"]
    files = {name: Path(narrow).read_bytes() for name, narrow, _ in play.prompts}
    assert files["pre"] == stock_bytes("pre") and files["post"] == stock_bytes("post")
    for name in ("pre", "main", "post"):
        rig.link.emit(pipe.PromptDone(key, name))
    rig.link.emit(pipe.KeyPressed(key, "2", "rfc4733"))
    [done] = rig.link.take()
    assert isinstance(done, pipe.Play) and Path(done.prompts[0][1]).read_bytes() == stock_bytes("done")
    assert (await rig.event(work, "recipientOk")).state is DeliveryState.RESPONDED


async def test_stock_prompts_are_prepared_when_the_channel_starts(make_rig: Any, tmp_path: Path) -> None:
    await make_rig()
    made = {p.read_bytes() for p in (tmp_path / "prompts0").iterdir()}
    assert {stock_bytes(name) for name in STOCK} <= made
