"""Wideband prompts: a G.722 call carries the prompt's audio up to 7 kHz (ITU-T G.722 §1.1), measured in
what the far end heard. baresip answers with G.722 only and records what it receives (sndfile); the
prompt is a chirp from 300 Hz to 7 kHz, prepared by the real prompt cache (8 and 16 kHz files)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work

pytestmark = pytest.mark.peer

RATE = 16000


def chirp(seconds: float = 3.0, low: float = 300.0, high: float = 7000.0) -> bytes:
    """A linear sweep at 16 kHz: 45 % of its time (and energy) above 4 kHz."""
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * (low * t + (high - low) * t * t / (2 * seconds))
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(phase) * 32767).astype(np.int16), RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def share_above(samples: np.ndarray, rate: int, hz: float = 4000.0) -> float:
    """The share of the signal's energy above ``hz``."""
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return float(power[freqs > hz].sum() / power.sum())


async def heard(record: Path, timeout: float = 10) -> tuple[np.ndarray, int]:
    """What baresip received (its ``-dec`` recording), once the call's file is complete."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        for f in record.glob("*dec*.wav"):
            try:
                data, rate = sf.read(f, dtype="float64")
            except RuntimeError:
                continue  # still being written
            if len(data) > rate:
                return (data if data.ndim == 1 else data[:, 0]), int(rate)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no recording in {record}: {sorted(p.name for p in record.iterdir())}")


async def test_g722_call_carries_the_prompt_above_4_khz(tmp_path: Path, baresip_phone: Any, voice_channel: Any) -> None:
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(RATE * 20, dtype=np.int16), RATE, subtype="PCM_16")
    record = tmp_path / "heard"
    record.mkdir()
    phone = baresip_phone(silence, codecs="G722", record=record)
    ch, sink = await voice_channel(real_prompts=True, trunk=phone.hostport, codecs=["G722", "PCMA"])
    work = make_work("bob", content=chirp())
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.ANSWERED and "prompt_played" in sink.kinds(work.delivery_id)
    media = next(e for e in sink.of(work.delivery_id) if e.kind == "media")
    assert media.detail["codec"] == "G722" and media.detail["clock_rate"] == 16000
    samples, rate = await heard(record)
    assert rate == RATE
    loud = samples[np.abs(samples) > 0.01]
    assert len(loud) > RATE, "the prompt was not heard"
    share = share_above(loud, rate)
    # the chirp has 45 % of its energy above 4 kHz; narrowband audio (the 8 kHz bridge) has none there
    assert share > 0.25, f"{share:.1%} of the energy above 4 kHz"
