"""baresip as the phone: it auto-answers the node's call and presses 2 (RFC 4733) through ctrl_tcp."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work, wav_bytes

pytestmark = pytest.mark.peer


async def test_baresip_answers_and_presses_2(tmp_path: Path, baresip_phone: Any, voice_channel: Any) -> None:
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(8000 * 20, dtype=np.int16), 8000, subtype="PCM_16")
    phone = baresip_phone(silence)
    # the node offers PCMU only: baresip (PCMA, PCMU) must answer with it
    ch, sink = await voice_channel(trunk=phone.hostport, key_wait_s=8, codecs=["PCMU"])
    work = make_work("bob", params={"ivrControl": {"ivrRequireResponse": True}}, content=wav_bytes(1.0))
    await ch.submit(work)
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "answered")
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "prompt_played")
    reply = await asyncio.to_thread(phone.command, "sndcode", "2")
    assert reply.get("ok") is not False, reply
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED, sink.kinds(work.delivery_id)
    assert final.detail["response"] == "2"
    media = next(e for e in sink.of(work.delivery_id) if e.kind == "media")
    assert media.detail["codec"] == "PCMU" and media.detail["clock_rate"] == 8000
    key = next(e for e in sink.of(work.delivery_id) if e.kind == "key")
    assert key.detail["source"] == "rfc4733"
