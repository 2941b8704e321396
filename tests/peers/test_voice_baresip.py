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


async def test_baresip_puts_the_node_on_hold_and_takes_it_back(
    tmp_path: Path, baresip_phone: Any, voice_channel: Any
) -> None:
    """A phone's hold key (baresip's ctrl_tcp ``hold``/``resume``: re-INVITEs with sendonly, then
    sendrecv): the prompt stops and starts again from its beginning; the key after the resume counts."""
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(8000 * 30, dtype=np.int16), 8000, subtype="PCM_16")
    phone = baresip_phone(silence)
    ch, sink = await voice_channel(trunk=phone.hostport, key_wait_s=10)
    plays: list[str] = []
    send = ch._link.send

    def spy(command: Any) -> bool:
        if type(command).__name__ == "Play":
            plays.extend(name for name, _, _ in command.prompts)
        return bool(send(command))

    ch._link.send = spy
    work = make_work("bob", params={"ivrControl": {"ivrRequireResponse": True}}, content=wav_bytes(3.0))
    await ch.submit(work)
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "answered")
    assert (await asyncio.to_thread(phone.command, "hold")).get("ok") is not False
    held = await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "held")
    assert held.detail == {"how": "sendonly", "prompt": "main"}
    assert (await asyncio.to_thread(phone.command, "resume")).get("ok") is not False
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "resumed")
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "prompt_played")
    reply = await asyncio.to_thread(phone.command, "sndcode", "2")
    assert reply.get("ok") is not False, reply
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2"
    assert plays == ["main", "main"]
    assert [e.detail["source"] for e in sink.of(work.delivery_id) if e.kind == "key"] == ["rfc4733"]
