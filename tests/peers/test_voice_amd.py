"""Answering-machine detection end to end: SIPp far ends playing a person's "Hello?" or a voicemail greeting
and its beep (pcaps made now from espeak-ng speech by tools/peers/sipp/make_audio_pcap.py), and baresip saying
"Hello?" and recording what it hears, so the time from the answer to the prompt is measured at the far end."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work, wav_bytes
from tests.peers.test_voice_wideband import heard
from tools.peers.sipp.make_audio_pcap import hello, mailbox, write_pcap

pytestmark = pytest.mark.peer

PROMPT_S = 2.0


def far_end(tmp_path: Path, kind: str) -> tuple[Path, float]:
    """A folder holding ``far.pcap`` for uas_amd.xml, and when its beep ends (ms; 0 for a person)."""
    folder = tmp_path / kind
    folder.mkdir()
    if kind == "hello":
        write_pcap(hello(), folder / "far.pcap")
        return folder, 0.0
    samples, beep_end = mailbox()
    write_pcap(samples, folder / "far.pcap")
    return folder, beep_end


def details(sink: Any, work: Any, kind: str) -> list[dict[str, Any]]:
    return [e.detail for e in sink.of(work.delivery_id) if e.kind == kind]


async def test_a_person_saying_hello_hears_the_prompt_and_is_reported_human(
    tmp_path: Path, sipp_uas: Any, voice_channel: Any
) -> None:
    folder, _ = far_end(tmp_path, "hello")
    uas = sipp_uas("uas_amd.xml", cwd=folder)
    ch, sink = await voice_channel(trunk=uas.hostport, answering_machine="hangup")
    work = make_work("+441234567800", content=wav_bytes(PROMPT_S))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.ANSWERED and final.detail["outcome"] == "answered"
    amd = details(sink, work, "amd")
    assert amd[0]["verdict"] == "human" and not amd[0]["final"] and amd[0]["reason"] == "short_greeting"
    # decided on the call's own audio within 1.5 s of the answer (measured at the far end: the baresip test)
    assert amd[0]["after_answer_ms"] <= 1500 and 300 <= amd[0]["initial_silence_ms"] <= 600
    assert amd[0]["words"] == 1
    kinds = sink.kinds(work.delivery_id)
    assert kinds.index("answered") < kinds.index("amd") < kinds.index("prompt_played")
    assert "machine" not in [d["verdict"] for d in amd]
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_a_machine_is_hung_up_on_and_not_reached(tmp_path: Path, sipp_uas: Any, voice_channel: Any) -> None:
    folder, _ = far_end(tmp_path, "mailbox")
    uas = sipp_uas("uas_amd.xml", cwd=folder)
    ch, sink = await voice_channel(trunk=uas.hostport, answering_machine="hangup")
    work = make_work("+441234567801", content=wav_bytes(PROMPT_S))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.FAILED and final.detail["outcome"] == "machine"
    machine = details(sink, work, "amd")[-1]
    assert machine["verdict"] == "machine" and machine["final"]
    assert machine["after_answer_ms"] <= 4000  # decided within 4 s of the answer
    assert "prompt_played" not in sink.kinds(work.delivery_id)
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_voicemail_the_message_is_left_after_the_beep(tmp_path: Path, sipp_uas: Any, voice_channel: Any) -> None:
    folder, beep_end_ms = far_end(tmp_path, "mailbox")
    uas = sipp_uas("uas_amd.xml", cwd=folder)
    ch, sink = await voice_channel(trunk=uas.hostport, answering_machine="hangup")
    # the alert's option wins over the node's default
    work = make_work("+441234567802", params={"ivrControl": {"ivrAnsweringMachine": "voicemail", "ivrAttempts": 3}},
                     content=wav_bytes(PROMPT_S))
    await ch.submit(work)
    final = await sink.final(work.delivery_id, timeout=60)
    assert final.state is DeliveryState.ANSWERED
    assert final.detail == {"outcome": "voicemail_left", "attempts": 1, "response": None, "sip_code": 200}
    [beep] = details(sink, work, "amd_beep")
    assert abs(beep["after_answer_ms"] - beep_end_ms) <= 200 and abs(beep["freq_hz"] - 1000) < 10
    events = {e.kind: e for e in sink.of(work.delivery_id)}
    # the message started after the beep: it ended a whole prompt's length after it, and before the mailbox's
    # 8 s of recording ran out
    played_after = events["prompt_played"].at - events["amd_beep"].at
    assert PROMPT_S - 0.1 <= played_after <= 8, played_after
    kinds = sink.kinds(work.delivery_id)
    assert kinds.index("amd") < kinds.index("amd_beep") < kinds.index("prompt_played") < kinds.index("voicemail_left")
    assert "attempt_ended" in kinds and kinds.count("calling") == 1  # never retried
    assert uas.wait() == 0, uas.output()[-2000:]


async def test_a_replay_ivr_without_additional_content_plays_the_stock_prompts(
    tmp_path: Path, sipp_uas: Any, voice_channel: Any
) -> None:
    uas = sipp_uas("uas_press2.xml")  # presses 2 after 1 s: taken once the prompts have played
    ch, sink = await voice_channel(real_prompts=True, trunk=uas.hostport, max_call_s=60)
    from alertnode.media.config import MediaConfig
    from alertnode.media.prompts import PromptCache
    from alertnode.media.stock import STOCK

    cache = PromptCache(tmp_path / MediaConfig().prompt_cache_dir, MediaConfig())
    try:  # the channel's start put every stock prompt in the cache, at both clock rates
        for name in STOCK:
            cache.prepare_stock(name, 8000)
            cache.prepare_stock(name, 16000)
        assert (cache.hits, cache.misses) == (2 * len(STOCK), 0)
    finally:
        cache.close()
    work = make_work("+441234567803", params={"ivrControl": {"ivrType": "replay"}, "voiceFormat": "tts"})
    work = dataclasses.replace(work, content=None, text="Pump failure in hall two.")
    await ch.submit(work)
    final = await sink.final(work.delivery_id, timeout=60)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "recipientOk"
    played = [d["prompt"] for d in details(sink, work, "prompt_played")]
    assert played == ["pre", "main", "post", "done"]
    # the stock pre (5.7 s) and post (6.1 s) were heard whole before the key was acted on
    events = sink.of(work.delivery_id)
    answered = next(e.at for e in events if e.kind == "answered")
    ok = next(e.at for e in events if e.kind == "recipientOk")
    assert ok - answered >= 5.7 + 6.1
    assert uas.wait(60) == 0, uas.output()[-2000:]


async def test_the_far_end_hears_the_prompt_within_1_5_s_of_saying_hello(
    tmp_path: Path, baresip_phone: Any, voice_channel: Any
) -> None:
    """baresip answers at once, says "Hello?" 400 ms later and records what it receives; the prompt is a
    steady 440 Hz tone, so where it begins in the recording is where the far end first heard it."""
    said = tmp_path / "hello.wav"
    sf.write(said, hello(), 8000, subtype="PCM_16")
    record = tmp_path / "heard"
    record.mkdir()
    phone = baresip_phone(said, record=record)
    ch, sink = await voice_channel(trunk=phone.hostport, answering_machine="voicemail")
    work = make_work("bob", content=wav_bytes(PROMPT_S, 440.0))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.ANSWERED and final.detail["outcome"] == "answered"
    assert details(sink, work, "amd")[0]["verdict"] == "human"
    samples, rate = await heard(record)
    first_ms = prompt_start_ms(samples, rate)
    assert first_ms <= 1500, f"the prompt reached the far end {first_ms:.0f} ms after the answer"


def prompt_start_ms(samples: np.ndarray, rate: int) -> float:
    """Where a 440 Hz tone first fills a 20 ms frame of the recording (ms from its start: the answer)."""
    n = rate // 50
    t = np.arange(n) / rate
    ref = np.exp(-2j * np.pi * 440 * t)
    for i in range(0, len(samples) - n, n // 4):
        frame = samples[i : i + n]
        energy = float(np.sum(frame**2))
        # the share of the frame's energy at 440 Hz: 1 for the tone alone
        if energy / n > 1e-5 and 2 * abs(np.dot(frame, ref)) ** 2 / (n * energy) > 0.8:
            return 1000 * i / rate
    raise AssertionError("the prompt's tone was never heard")

