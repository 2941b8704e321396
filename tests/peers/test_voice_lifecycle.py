"""Worker processes: a killed worker's call is placed again on the restarted worker; stop hangs up
cleanly (workers exit 0, no abort); TCP transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work, wav_bytes

pytestmark = pytest.mark.peer


async def test_killed_worker_is_restarted_and_its_call_placed_again(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_press2.xml", 2)
    ch, sink = await voice_channel(trunk=uas.hostport, max_concurrent_calls=4)
    work = make_work("+441234567800", params={"ivrControl": {"ivrRequireResponse": True}}, content=wav_bytes(3))
    await ch.submit(work)
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "answered")
    ch._link.kill_worker(0)
    lost = await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "lost")
    assert lost.detail == {"attempt": 1}
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["attempts"] == 1
    assert ch.info().details["workers"][0]["starts"] == 2
    # the first call's SIPp leg never saw a BYE (the worker died): SIPp counts it failed after its timeout;
    # the call placed again passed
    uas.proc.terminate()


async def test_stop_hangs_up_calls_and_workers_exit_cleanly(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_press2.xml")
    ch, sink = await voice_channel(trunk=uas.hostport)
    work = make_work("+441234567801", content=wav_bytes(10))
    await ch.submit(work)
    # after the key SIPp waits for the BYE (a BYE during its pause would count as a failed call)
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "key")
    procs = [w.proc for w in ch._link._workers]
    await ch.stop(5)
    assert [p.returncode for p in procs] == [0]
    assert await asyncio.to_thread(uas.wait) == 0  # it got its BYE
    assert ch.free_capacity() == 0


async def test_tcp_transport(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_press2.xml", 1, "-t", "t1")
    ch, sink = await voice_channel(trunk=uas.hostport, transport="tcp")
    work = make_work("+441234567802", params={"ivrControl": {"ivrRequireResponse": True}}, content=wav_bytes(3))
    await ch.submit(work)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED
    assert await asyncio.to_thread(uas.wait) == 0, uas.output()[-2000:]


async def test_stop_while_ringing_hands_the_delivery_back(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_noanswer.xml")
    ch, sink = await voice_channel(trunk=uas.hostport, ring_timeout_s=30)
    work = make_work("+441234567803", params={"ivrControl": {"ivrAttempts": 1}})
    await ch.submit(work)
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "ringing")
    await asyncio.sleep(0.5)  # SIPp takes a CANCEL only once its scenario waits for one (after 180 + 200 ms)
    await ch.stop(5)
    ended = next(e for e in sink.of(work.delivery_id) if e.kind == "attempt_ended")
    assert ended.retry_after == 0.0 and ended.detail["interrupted"] is True
    assert not any(e.final for e in sink.of(work.delivery_id))
    assert await asyncio.to_thread(uas.wait) == 0  # it got the CANCEL


async def test_cancel_hangs_up_a_ringing_call_without_result(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_noanswer.xml")
    ch, sink = await voice_channel(trunk=uas.hostport, ring_timeout_s=30)
    work = make_work("+441234567804", params={"ivrControl": {"ivrAttempts": 3}})
    await ch.submit(work)
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "ringing")
    await asyncio.sleep(0.5)  # SIPp takes a CANCEL only once its scenario waits for one (after 180 + 200 ms)
    await ch.cancel([work.delivery_id])
    ended = await sink.attempt_end(work.delivery_id)
    assert ended.detail["cancelled"] is True and ended.retry_after is None
    assert not any(e.final for e in sink.of(work.delivery_id))
    await ch.submit(work)  # a late hand-over of a cancelled delivery is dropped
    assert ch.free_capacity() == 4
    assert await asyncio.to_thread(uas.wait) == 0


def _two_free_ports() -> tuple[Any, int]:
    """A bound UDP socket on port P, where P - 1 is free now (the front's port; P is worker 0's)."""
    import socket

    for _ in range(50):
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        taken.bind(("127.0.0.1", 0))
        port = int(taken.getsockname()[1])
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", port - 1))
            return taken, port
        except OSError:
            taken.close()
    raise RuntimeError("no two free ports")


async def test_worker_that_cannot_bind_its_sip_port_says_why(caplog: pytest.LogCaptureFixture, tmp_path: Any) -> None:
    from alertnode.voice.channel import VoiceChannel
    from alertnode.voice.config import VoiceConfig
    from tests.peers.sip import MemorySink, free_rtp_base

    taken, port = _two_free_ports()
    with taken:
        cfg = VoiceConfig(
            enabled=True,
            trunk="127.0.0.1:9",
            sip_port_base=port - 1,  # the front's; worker 0 wants base + 1, which is taken
            rtp_port_base=free_rtp_base(40),
            max_concurrent_calls=4,
        )
        ch = VoiceChannel(config=cfg, data_dir=tmp_path)
        caplog.set_level("ERROR", logger="alertnode.voice.supervisor")
        await ch.start(MemorySink())
        try:
            assert not await ch.wait_ready(3)
            assert any("cannot start" in r.getMessage() for r in caplog.records)
            assert ch.free_capacity() == 0 and not ch.ready()
        finally:
            await ch.stop(5)


async def test_a_taken_sip_port_stops_the_channel_from_starting(tmp_path: Any) -> None:
    """The node's SIP address (the front's) is its public face: taken, the channel does not start and
    says which port (as a taken SMTP or HTTP listener port stops the node)."""
    import socket

    from alertnode.errors import SipError
    from alertnode.voice.channel import VoiceChannel
    from alertnode.voice.config import VoiceConfig
    from tests.peers.sip import MemorySink, free_rtp_base

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        cfg = VoiceConfig(enabled=True, trunk="127.0.0.1:9", sip_port_base=port, rtp_port_base=free_rtp_base(40))
        ch = VoiceChannel(config=cfg, data_dir=tmp_path)
        try:
            with pytest.raises(SipError, match=f"127.0.0.1:{port}"):
                await ch.start(MemorySink())
        finally:
            await ch.stop(5)


async def test_more_calls_than_slots_wait_for_a_free_one(sipp_uas: Any, voice_channel: Any) -> None:
    uas = sipp_uas("uas_busy_late.xml", 6)  # 486 only after 3 s: no call ends while we look
    ch, sink = await voice_channel(trunk=uas.hostport, max_concurrent_calls=4)
    works = [make_work(f"+4412345678{i:02d}") for i in range(6)]
    for w in works:
        await ch.submit(w)  # the dispatcher would stop at free_capacity(); the channel copes anyway
    assert not [e for e in sink.events if e.final], sink.events
    assert ch.free_capacity() == 0
    finals = [await sink.final(w.delivery_id) for w in works]
    assert all(f.detail["outcome"] == "busy" for f in finals)
    assert await asyncio.to_thread(uas.wait) == 0
