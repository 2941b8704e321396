"""inboundCall: a SIPp UAC calls the node's SIP port; the node answers, plays, collects the key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from tests.peers.sip import make_work, wav_bytes

pytestmark = pytest.mark.peer


def node_hostport(ch: Any) -> str:
    return f"127.0.0.1:{ch.info().details['sipPort']}"  # the SIP front


async def test_inbound_call_from_a_recipient_answers_plays_and_takes_the_key(sipp_uac: Any, voice_channel: Any) -> None:
    ch, sink = await voice_channel(trunk="127.0.0.1:9")
    work = make_work(
        "+441111111111",
        alert_type="inboundCall",
        params={"telephoneNumber": "+442000000001"},
        content=wav_bytes(0.5),
    )
    await ch.submit(work)
    await sink.wait_for(lambda e: e.kind == "waiting_for_call")
    uac = sipp_uac("uac_inbound.xml", node_hostport(ch), "+442000000001", 1, "-key", "caller", "+441111111111")
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED
    assert final.detail["response"] == "2"
    assert final.detail["caller"] == "+441111111111"
    kinds = sink.kinds(work.delivery_id)
    assert "prompt_played" in kinds and "key" in kinds
    assert uac.wait() == 0, uac.output()[-2000:]


async def test_inbound_call_from_someone_else_is_reported_but_not_final(sipp_uac: Any, voice_channel: Any) -> None:
    ch, sink = await voice_channel(trunk="127.0.0.1:9")
    work = make_work(
        "+441111111111",
        alert_type="inboundCall",
        params={"telephoneNumber": "+442000000002"},
        content=wav_bytes(0.5),
    )
    await ch.submit(work)
    uac = sipp_uac("uac_inbound.xml", node_hostport(ch), "442000000002", 1, "-key", "caller", "+449999")
    done = await sink.wait_for(lambda e: e.kind == "completed")
    assert done.delivery_id == work.delivery_id
    assert not done.final and done.state is None
    assert done.detail["caller"] == "+449999" and done.detail["response"] == "2"
    assert uac.wait() == 0
    assert ch.info().details["waitingInbound"] == 1


async def test_unmatched_inbound_call_is_rejected_and_kept(sipp_uac: Any, voice_channel: Any) -> None:
    ch, sink = await voice_channel(trunk="127.0.0.1:9")
    uac = sipp_uac("uac_unmatched.xml", node_hostport(ch), "+443000000000", 1, "-key", "caller", "+447")
    assert await asyncio.to_thread(uac.wait) == 0, uac.output()[-2000:]
    assert len(sink.inbound) == 1
    msg = sink.inbound[0]
    assert (msg.channel, msg.sender, msg.recipient) == ("voice", "+447", "443000000000")
    assert msg.detail["sip_code"] == 404



def inbound_work(number: str, seconds: float) -> Any:
    return make_work(
        "+441111111111", alert_type="inboundCall", params={"telephoneNumber": number}, content=wav_bytes(seconds)
    )


async def test_inbound_call_lost_with_its_worker_keeps_the_delivery_waiting(
    sipp_uac: Any, voice_channel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker carrying an inbound call dies before the caller pressed a key: the caller cannot be
    called back, so the attempt ends as ``lost`` and the delivery waits for the next call."""
    ch, sink = await voice_channel(trunk="127.0.0.1:9")
    work = inbound_work("+442000000003", 20)
    await ch.submit(work)
    first = sipp_uac("uac_inbound.xml", node_hostport(ch), "+442000000003", 1, "-key", "caller", "+441111111111")
    # SIPp presses its key 1.5 s after the answer: the worker dies before that
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "answered")
    ch._link.kill_worker(0)
    ended = await sink.attempt_end(work.delivery_id)
    assert ended.detail["outcome"] == "lost" and ended.retry_after is None
    assert "key" not in sink.kinds(work.delivery_id)
    assert not any(e.final for e in sink.of(work.delivery_id))
    assert ch.info().details["waitingInbound"] == 1
    first.proc.terminate()  # its call never got a BYE: the worker died
    assert await ch.wait_ready(20)
    again = sipp_uac("uac_inbound.xml", node_hostport(ch), "+442000000003", 1, "-key", "caller", "+441111111111")
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2"
    assert await asyncio.to_thread(again.wait) == 0, again.output()[-2000:]
    assert not [r for r in caplog.records if r.levelname == "ERROR"], [r.getMessage() for r in caplog.records]


async def test_inbound_key_stands_when_the_worker_dies_after_it(sipp_uac: Any, voice_channel: Any) -> None:
    """A caller who pressed a key has answered: the worker dying afterwards does not undo that."""
    ch, sink = await voice_channel(trunk="127.0.0.1:9")
    work = inbound_work("+442000000004", 20)
    await ch.submit(work)
    uac = sipp_uac("uac_inbound.xml", node_hostport(ch), "+442000000004", 1, "-key", "caller", "+441111111111")
    await sink.wait_for(lambda e: e.delivery_id == work.delivery_id and e.kind == "key")
    ch._link.kill_worker(0)
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2"
    assert ch.info().details["waitingInbound"] == 0
    uac.proc.terminate()  # its call never got a BYE: the worker died


async def test_32_callers_at_once_are_spread_over_the_workers(
    tmp_path: Any, sipp_uac: Any, voice_channel: Any
) -> None:
    """Issue 15: an inboundCall number takes 32 callers at once (8 workers of 4 calls behind the SIP
    front); every caller's key is heard: 16 press 2 by RFC 4733, 16 in-band."""
    ch, sink = await voice_channel(trunk="127.0.0.1:9", max_concurrent_calls=32, key_wait_s=10)
    callers = [f"+44111100{i:04d}" for i in range(32)]
    works = [
        make_work(c, alert_type="inboundCall", params={"telephoneNumber": "+442000000032"}, content=wav_bytes(2.0))
        for c in callers
    ]
    for w in works:
        await ch.submit(w)
    uacs = []
    for name, group in (("uac_inbound_many.xml", callers[:16]), ("uac_inbound_many_inband.xml", callers[16:])):
        csv = tmp_path / f"{name}.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(f"{c};\n" for c in group))
        # all 16 within half a second: each holds its call 3 s before its key, so all 32 overlap
        uacs.append(sipp_uac(name, node_hostport(ch), "+442000000032", 16, "-inf", str(csv), "-r", "32", "-l", "16"))
    finals = [await sink.final(w.delivery_id, 60) for w in works]
    for w, final in zip(works, finals, strict=True):
        assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2", (w.address, final)
    sources = [next(e.detail["source"] for e in sink.of(w.delivery_id) if e.kind == "key") for w in works]
    assert sources == ["rfc4733"] * 16 + ["inband"] * 16
    # all 32 were up at once: every call was answered before the first one ended
    order = [(e.at, e.kind) for e in sink.events if e.kind in ("answered", "attempt_ended")]
    first_end = min(at for at, kind in order if kind == "attempt_ended")
    assert sum(1 for at, kind in order if kind == "answered" and at <= first_end) == 32
    workers = ch.info().details["workers"]
    assert len(workers) == 8 and all(w["starts"] == 1 for w in workers)
    for uac in uacs:
        assert await asyncio.to_thread(uac.wait, 30) == 0, uac.output()[-2000:]


async def test_an_inbound_call_over_tcp_through_the_front(sipp_uac: Any, voice_channel: Any) -> None:
    """transport = tcp: the front takes the caller's TCP connection, opens its own to the worker, and
    sends the worker's answers back over the caller's connection."""
    ch, sink = await voice_channel(trunk="127.0.0.1:9", transport="tcp")
    work = inbound_work("+442000000005", 0.5)
    await ch.submit(work)
    uac = sipp_uac("uac_inbound.xml", node_hostport(ch), "+442000000005", 1, "-t", "t1", "-key", "caller",
                   "+441111111111")
    final = await sink.final(work.delivery_id)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "2"
    assert await asyncio.to_thread(uac.wait, 20) == 0, uac.output()[-2000:]
