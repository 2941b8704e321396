"""The voice channel over a fake worker link: IVR actions → worker commands, worker events → IVR
events → channel events, with no pjsua2 and no process (tests/voice/fake_link.py).

Timers are fired by hand (ring 10 s, key wait 3 s, call 30 s); the retry interval is 60 s."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alertnode.domain import ChannelEvent, DeliveryState, DeliveryWork
from alertnode.voice import pipe
from alertnode.voice.channel import VoiceChannel
from alertnode.voice.config import VoiceConfig
from alertnode.voice.link import OnEvent
from tests.peers.sip import MemorySink, make_work, wav_bytes, wav_preparer
from tests.voice.fake_link import FakeTimers, FakeWorkerLink

RING, KEY_WAIT, TOTAL, RETRY = 10.0, 3.0, 30.0, 60.0


@dataclass
class Rig:
    ch: VoiceChannel
    link: FakeWorkerLink
    timers: FakeTimers
    sink: MemorySink

    async def drain(self) -> None:
        """Until every report the channel queued reached the sink."""
        while not self.ch._reports.empty():
            await asyncio.sleep(0)

    async def events(self, work: DeliveryWork) -> list[ChannelEvent]:
        await self.drain()
        return self.sink.of(work.delivery_id)

    async def kinds(self, work: DeliveryWork) -> list[str]:
        return [e.kind for e in await self.events(work)]

    async def final(self, work: DeliveryWork) -> ChannelEvent:
        [final] = [e for e in await self.events(work) if e.final]
        return final

    async def event(self, work: DeliveryWork, kind: str) -> ChannelEvent:
        [found] = [e for e in await self.events(work) if e.kind == kind]
        return found


def extra(tag: str, freq: float) -> dict[str, Any]:
    return {"contentTag": tag, "content": base64.b64encode(wav_bytes(0.2, freq)).decode(),
            "contentEncoding": "base64", "voiceFormat": "wav"}


REPLAY = {
    "ivrControl": {"ivrType": "replay"},
    "additionalContent": [extra(t, f) for t, f in (("pre", 500), ("post", 600), ("done", 700))],
}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    links: list[FakeWorkerLink] = []

    def make_link(config: VoiceConfig, on_event: OnEvent) -> FakeWorkerLink:
        links.append(FakeWorkerLink(config, on_event))
        return links[-1]

    timers = FakeTimers()
    config = VoiceConfig(
        enabled=True, trunk="pbx.example:5060", dial_plan=[{"match": r"\+44", "replace": "0"}],
        ring_timeout_s=RING, key_wait_s=KEY_WAIT, max_call_s=TOTAL, retry_interval_s=RETRY, max_concurrent_calls=4,
    )
    ch = VoiceChannel(config=config, data_dir=tmp_path, prompts=wav_preparer(tmp_path), link=make_link, later=timers)
    sink = MemorySink()
    await ch.start(sink)
    yield Rig(ch, links[0], timers, sink)
    await ch.stop(1)


def call_work(params: Mapping[str, Any] | None = None, **kw: Any) -> DeliveryWork:
    return make_work("+441234567890", params=params, content=wav_bytes(0.2), **kw)


async def placed(rig: Rig, params: Mapping[str, Any] | None = None, **kw: Any) -> tuple[DeliveryWork, str]:
    work = call_work(params, **kw)
    await rig.ch.submit(work)
    return work, rig.link.last_call()


async def answered(rig: Rig, params: Mapping[str, Any] | None = None, **kw: Any) -> tuple[DeliveryWork, str]:
    work, key = await placed(rig, params, **kw)
    rig.link.emit(pipe.Ringing(key))
    rig.link.emit(pipe.Answered(key))
    return work, key


# ------------------------------------------------------------------------------------- outbound


async def test_placing_ringing_answer_prompt_key_and_hang_up(rig: Rig) -> None:
    work, key = await placed(rig, {"ivrControl": {"ivrRequireResponse": True}, "sender": "+441000000001"})
    [place] = rig.link.take()
    assert place == pipe.Place(key, "sip:01234567890@pbx.example:5060", "+441000000001")  # the dial plan ran
    assert key.startswith(f"d{work.delivery_id}a1")
    assert rig.timers.pending() == [RING]
    assert await rig.kinds(work) == ["calling"]
    rig.link.emit(pipe.Ringing(key))
    rig.link.emit(pipe.Answered(key))
    rig.link.emit(pipe.MediaUp(key, "PCMA", 8000, 120))
    [play] = rig.link.take()
    assert isinstance(play, pipe.Play) and [name for name, _, _ in play.prompts] == ["main"]
    assert Path(play.prompts[0][1]).read_bytes() == work.content
    assert rig.timers.pending() == [TOTAL]  # the ring timer was cancelled
    ev = await rig.events(work)
    assert [e.kind for e in ev] == ["calling", "ringing", "answered", "media"]
    assert ev[2].state is DeliveryState.ANSWERED and ev[2].detail == {"attempt": 1}
    assert ev[3].detail == {"codec": "PCMA", "clock_rate": 8000, "event_pt": 120}
    rig.link.emit(pipe.KeyPressed(key, "2", "rfc4733"))
    assert rig.link.take() == [pipe.StopPlay(key), pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 200, "", by_remote=False, connected=True))
    final = await rig.final(work)
    assert final.kind == "completed" and final.state is DeliveryState.RESPONDED
    assert final.detail == {"outcome": "response", "attempts": 1, "response": "2", "sip_code": 200}
    kinds = await rig.kinds(work)
    assert kinds[-3:] == ["key", "attempt_ended", "completed"]
    assert (await rig.event(work, "key")).detail == {"digit": "2", "source": "rfc4733"}
    assert rig.timers.pending() == []
    assert rig.ch.free_capacity() == 4


async def test_replay_prompts_in_band_key_and_done_prompt(rig: Rig) -> None:
    work, key = await answered(rig, REPLAY)
    [place, play] = rig.link.take()
    assert isinstance(place, pipe.Place)
    assert isinstance(play, pipe.Play) and [n for n, _, _ in play.prompts] == ["pre", "main", "post"]
    assert len({p for _, p, _ in play.prompts}) == 3
    for name in ("pre", "main", "post"):
        rig.link.emit(pipe.PromptDone(key, name))
    assert rig.timers.pending() == [TOTAL, KEY_WAIT]
    rig.link.emit(pipe.KeyPressed(key, "1", "inband"))  # say again
    [again] = rig.link.take()
    assert isinstance(again, pipe.Play) and [n for n, _, _ in again.prompts] == ["main", "post"]
    rig.link.emit(pipe.PromptDone(key, "main"))
    rig.link.emit(pipe.PromptDone(key, "post"))
    rig.link.emit(pipe.KeyPressed(key, "2", "inband"))
    [done] = rig.link.take()
    assert isinstance(done, pipe.Play) and [n for n, _, _ in done.prompts] == ["done"]
    ok = await rig.event(work, "recipientOk")
    assert ok.state is DeliveryState.RESPONDED and ok.detail == {"digit": "2"}
    rig.link.emit(pipe.PromptDone(key, "done"))
    assert rig.link.take() == [pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 200, by_remote=False, connected=True))
    final = await rig.final(work)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "recipientOk"
    played = [e.detail["prompt"] for e in await rig.events(work) if e.kind == "prompt_played"]
    assert played == ["pre", "main", "post", "main", "post", "done"]
    keys = [e.detail for e in await rig.events(work) if e.kind == "key"]
    assert keys == [{"digit": "1", "source": "inband"}, {"digit": "2", "source": "inband"}]


async def test_keys_of_both_sources_are_passed_on_with_their_source(rig: Rig) -> None:
    """The worker merges one press heard both ways (tests/voice/test_worker_pure.py); each press
    that reaches the channel is reported with the way it came."""
    work, key = await answered(rig)
    rig.link.emit(pipe.KeyPressed(key, "4", "inband"))
    rig.link.emit(pipe.KeyPressed(key, "#", "rfc4733"))
    keys = [e.detail for e in await rig.events(work) if e.kind == "key"]
    assert keys == [{"digit": "4", "source": "inband"}, {"digit": "#", "source": "rfc4733"}]


async def test_far_end_hangs_up_during_the_prompt(rig: Rig) -> None:
    work, key = await answered(rig)
    rig.link.emit(pipe.Ended(key, 200, by_remote=True, connected=True))
    kinds = await rig.kinds(work)
    assert kinds[-4:] == ["prompt_cut", "hung_up", "attempt_ended", "completed"]
    final = await rig.final(work)
    assert final.state is DeliveryState.ANSWERED and final.detail["outcome"] == "answered"
    assert not [c for c in rig.link.take() if isinstance(c, pipe.Hangup)]  # it is gone already


@pytest.mark.parametrize(
    ("code", "kind", "outcome"), [(486, "busy", "busy"), (480, "no_answer", "no_answer"), (404, "failed", "failed")]
)
async def test_busy_no_answer_failed_are_final_on_the_last_attempt(
    rig: Rig, code: int, kind: str, outcome: str
) -> None:
    work, key = await placed(rig)
    rig.link.emit(pipe.Ended(key, code, "x"))
    assert (await rig.event(work, kind)).detail["sip_code"] == code
    final = await rig.final(work)
    assert final.state is DeliveryState.FAILED
    assert final.detail == {"outcome": outcome, "attempts": 1, "response": None, "sip_code": code}
    assert rig.timers.pending() == []


async def test_an_attempt_that_failed_with_attempts_left_goes_back_to_the_dispatcher(rig: Rig) -> None:
    params = {"ivrControl": {"ivrAttempts": 3}}
    work, key = await placed(rig, params)
    rig.link.emit(pipe.Ended(key, 486, "Busy Here"))
    ended = await rig.event(work, "attempt_ended")
    assert ended.retry_after == RETRY and not ended.final
    assert ended.detail == {"attempt": 1, "outcome": "busy", "success": False}
    assert not [e for e in await rig.events(work) if e.final]
    assert rig.timers.pending() == []  # no retry timer here: the dispatcher holds it
    # the dispatcher hands the delivery back with the next attempt number
    work3, key3 = await placed(rig, params, attempt=3, delivery_id=work.delivery_id)
    assert key3.startswith(f"d{work.delivery_id}a3")
    rig.link.emit(pipe.Ended(key3, 486, "Busy Here"))
    final = await rig.final(work3)
    assert final.detail == {"outcome": "busy", "attempts": 3, "response": None, "sip_code": 486}


async def test_ring_timeout_cancels_the_call(rig: Rig) -> None:
    work, key = await placed(rig)
    rig.link.emit(pipe.Ringing(key))
    rig.link.take()
    rig.timers.fire(RING)
    assert rig.link.take() == [pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 487, "Request Terminated"))
    final = await rig.final(work)
    assert final.detail["outcome"] == "no_answer" and final.detail["sip_code"] == 487


async def test_call_and_key_wait_timeouts_hang_up(rig: Rig) -> None:
    work, key = await answered(rig, {"ivrControl": {"ivrRequireResponse": True}})
    rig.link.emit(pipe.PromptDone(key, "main"))
    rig.link.take()
    rig.timers.fire(KEY_WAIT)
    [goodbye] = rig.link.take()  # the stock goodbye, then the hang-up
    assert isinstance(goodbye, pipe.Play) and [p[0] for p in goodbye.prompts] == ["goodbye"]
    assert (await rig.event(work, "key_timeout")).detail == {"repeat": False}
    rig.link.emit(pipe.PromptDone(key, "goodbye"))
    assert rig.link.take() == [pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 200, by_remote=False, connected=True))
    assert rig.timers.pending() == []
    work2, key2 = await answered(rig)
    rig.link.take()
    rig.timers.fire(TOTAL)
    assert rig.link.take() == [pipe.StopPlay(key2), pipe.Hangup(key2)]
    assert (await rig.event(work2, "call_timeout")).detail == {"seconds": TOTAL}


async def test_a_prompt_that_cannot_be_played_ends_the_call(rig: Rig) -> None:
    work, key = await answered(rig, {"ivrControl": {"ivrRequireFullPlay": True}})
    rig.link.take()
    rig.link.emit(pipe.PromptFailed(key, "main", "not a WAV file"))
    assert rig.link.take() == [pipe.Hangup(key)]
    assert (await rig.event(work, "prompt_error")).detail == {"prompt": "main", "reason": "not a WAV file"}
    rig.link.emit(pipe.Ended(key, 200, by_remote=False, connected=True))
    assert (await rig.final(work)).detail["outcome"] == "not_full_play"


async def test_a_call_its_worker_does_not_know_is_taken_as_ended(rig: Rig) -> None:
    work, key = await placed(rig)
    rig.link.emit(pipe.NoSuchCall(key))
    final = await rig.final(work)
    assert final.state is DeliveryState.FAILED and final.detail["sip_code"] == 500


async def test_worker_lost_places_the_call_again_then_gives_up(rig: Rig) -> None:
    work, key = await answered(rig)
    rig.link.take()
    rig.link.die()
    [again] = rig.link.take()
    assert isinstance(again, pipe.Place) and again.call != key and again.call.startswith(f"d{work.delivery_id}a1")
    assert (await rig.event(work, "lost")).detail == {"attempt": 1}
    rig.link.die()
    assert len(rig.link.placed()) == 1  # the second loss: placed once more
    rig.link.take()
    rig.link.die()  # the third loss of this attempt: no more redials
    assert not [c for c in rig.link.take() if isinstance(c, pipe.Place)]
    final = await rig.final(work)
    assert final.state is DeliveryState.FAILED and final.detail["outcome"] == "lost"
    assert rig.ch.free_capacity() == 4


async def test_worker_lost_after_the_key_keeps_the_response(rig: Rig) -> None:
    work, key = await answered(rig, {"ivrControl": {"ivrRequireResponse": True}})
    rig.link.emit(pipe.KeyPressed(key, "7", "rfc4733"))
    rig.link.die()
    final = await rig.final(work)
    assert final.state is DeliveryState.RESPONDED and final.detail["response"] == "7"
    assert not [c for c in rig.link.take() if isinstance(c, pipe.Place) and c.call != key]


async def test_more_calls_than_slots_wait_for_a_free_one(rig: Rig) -> None:
    rig.link.slots = 1
    _first, key1 = await placed(rig)
    second = call_work()
    await rig.ch.submit(second)
    assert len(rig.link.placed()) == 1
    assert await rig.kinds(second) == ["calling"]
    assert rig.ch.free_capacity() == 0
    rig.link.emit(pipe.Ended(key1, 486, "Busy Here"))
    key2 = rig.link.last_call()
    assert key2 != key1 and key2.startswith(f"d{second.delivery_id}a1")


async def test_stored_ivr_control_that_is_not_valid_fails_the_delivery(rig: Rig) -> None:
    work = call_work({"ivrControl": {"ivrType": "simple", "ivrAttempts": 99}})
    await rig.ch.submit(work)
    final = await rig.final(work)
    assert final.state is DeliveryState.FAILED and final.detail["outcome"] == "ivr_control"
    assert rig.link.placed() == []


# ------------------------------------------------------------------------------- cancel and stop


async def test_cancel_hangs_up_a_ringing_call_and_drops_a_waiting_one(rig: Rig) -> None:
    rig.link.slots = 1
    ringing, key = await placed(rig, {"ivrControl": {"ivrAttempts": 3}})
    rig.link.emit(pipe.Ringing(key))
    waiting = call_work()
    await rig.ch.submit(waiting)
    rig.link.take()
    await rig.ch.cancel([ringing.delivery_id, waiting.delivery_id])
    assert rig.link.take() == [pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 487, "Request Terminated"))
    ended = await rig.event(ringing, "attempt_ended")
    assert ended.detail["cancelled"] is True and ended.retry_after is None
    assert not [e for e in await rig.events(ringing) if e.final]
    assert rig.link.placed() == []  # the waiting call was never placed
    await rig.ch.submit(ringing)  # a late hand-over of a cancelled delivery is dropped
    assert rig.link.take() == []
    assert rig.ch.free_capacity() == 1


async def test_hold_stops_the_prompt_and_resume_plays_it_again(rig: Rig) -> None:
    work, key = await answered(rig, {"ivrControl": {"ivrRequireResponse": True}})
    play = rig.link.take()[-1]
    assert isinstance(play, pipe.Play)
    rig.link.emit(pipe.Held(key, "inactive"))
    assert rig.link.take() == [pipe.StopPlay(key)]
    rig.link.emit(pipe.PromptDone(key, "main"))  # an end that raced the stop: not heard, not counted
    rig.link.emit(pipe.Resumed(key))
    assert rig.link.take() == [play]
    rig.link.emit(pipe.KeyPressed(key, "7", "info"))
    assert rig.link.take() == [pipe.StopPlay(key), pipe.Hangup(key)]
    assert await rig.kinds(work) == ["calling", "ringing", "answered", "held", "resumed", "key"]
    held = await rig.event(work, "held")
    assert held.detail == {"how": "inactive", "prompt": "main"}
    assert (await rig.event(work, "key")).detail == {"digit": "7", "source": "info"}


async def test_a_call_the_far_end_stopped_refreshing_is_session_expired(rig: Rig) -> None:
    work, key = await answered(rig)
    rig.link.take()
    rig.link.emit(pipe.Ended(key, 200, "No session refresh received.", connected=True, expired=True))
    kinds = await rig.kinds(work)
    assert "session_expired" in kinds and "hung_up" not in kinds
    assert (await rig.event(work, "session_expired")).detail["reason"] == "No session refresh received."


async def test_cancel_hangs_up_an_answered_call(rig: Rig) -> None:
    """Issue 15 reverses "an answered call plays on": the call is hung up (BYE) at once; the alert's
    cancellation gave the delivery its final event, the channel ends the attempt without another."""
    work, key = await answered(rig)
    rig.link.take()
    await rig.ch.cancel([work.delivery_id])
    assert rig.link.take() == [pipe.StopPlay(key), pipe.Hangup(key)]
    rig.link.emit(pipe.Ended(key, 200, "OK", connected=True))
    ended = await rig.event(work, "attempt_ended")
    assert ended.detail == {"attempt": 1, "outcome": "cancelled", "success": False, "cancelled": True}
    assert ended.retry_after is None
    assert not [e for e in await rig.events(work) if e.final]
    assert "hung_up" not in await rig.kinds(work)


async def test_stop_hands_back_calls_not_dialled_and_interrupted_ones(rig: Rig) -> None:
    rig.link.slots = 1
    ringing, key = await placed(rig, {"ivrControl": {"ivrAttempts": 1}})
    rig.link.emit(pipe.Ringing(key))
    waiting = call_work()
    await rig.ch.submit(waiting)
    await rig.ch.stop(1)
    back = await rig.event(waiting, "handed_back")
    assert back.retry_after == 0.0 and back.detail == {"attempt": 1}
    ended = await rig.event(ringing, "attempt_ended")
    assert ended.retry_after == 0.0 and ended.detail["interrupted"] is True
    assert not [e for e in rig.sink.events if e.final]
    assert rig.ch.free_capacity() == 0


# -------------------------------------------------------------------------------------- inbound


def inbound_work(address: str = "+441111111111", number: str = "+442000000001") -> DeliveryWork:
    return make_work(address, alert_type="inboundCall", params={"telephoneNumber": number}, content=wav_bytes(0.2))


async def wait_for_commands(rig: Rig) -> list[pipe.Command]:
    """The Answer and Play of an inbound call whose prompt is being prepared (in a thread)."""
    while len(rig.link.commands) < 2:
        await asyncio.sleep(0.01)
    return rig.link.take()


async def test_inbound_call_from_the_recipient(rig: Rig) -> None:
    work = inbound_work()
    await rig.ch.submit(work)
    assert await rig.kinds(work) == ["waiting_for_call"]
    rig.link.emit(pipe.Incoming("in1-1", "<sip:+441111111111@pbx>;tag=a", "<sip:x@node>", "sip:+442000000001@node"))
    cmds = await wait_for_commands(rig)  # the first call's prompt is prepared off the event loop
    assert cmds[0] == pipe.Answer("in1-1")
    assert isinstance(cmds[1], pipe.Play) and [n for n, _, _ in cmds[1].prompts] == ["main"]
    answered_ev = await rig.event(work, "answered")
    assert answered_ev.state is None and answered_ev.detail["caller"] == "+441111111111"
    rig.link.emit(pipe.Answered("in1-1"))  # the worker's 200 OK confirmed: nothing new for the IVR
    rig.link.emit(pipe.KeyPressed("in1-1", "9", "rfc4733"))
    assert rig.link.take() == [pipe.StopPlay("in1-1"), pipe.Hangup("in1-1")]
    rig.link.emit(pipe.Ended("in1-1", 200, by_remote=False, connected=True))
    final = await rig.final(work)
    assert final.state is DeliveryState.RESPONDED
    assert final.detail["response"] == "9" and final.detail["caller"] == "+441111111111"
    assert rig.ch.info().details["waitingInbound"] == 0


async def test_inbound_call_from_someone_else_is_reported_not_final(rig: Rig) -> None:
    work = inbound_work(number="+442000000002")
    await rig.ch.submit(work)
    rig.link.emit(pipe.Incoming("in1-2", "<sip:+449999@pbx>", "<sip:442000000002@node>", ""))  # To carries it
    await wait_for_commands(rig)
    rig.link.emit(pipe.Ended("in1-2", 200, by_remote=True, connected=True))
    done = await rig.event(work, "completed")
    assert not done.final and done.state is None and done.detail["caller"] == "+449999"
    assert rig.ch.info().details["waitingInbound"] == 1


async def test_unmatched_inbound_call_is_rejected_and_kept(rig: Rig) -> None:
    rig.link.emit(pipe.Incoming("in1-3", "<sip:+447@pbx>", "<sip:+443000000000@node>", "sip:+443000000000@node"))
    assert rig.link.take() == [pipe.Hangup("in1-3", 404)]
    await rig.drain()
    [msg] = rig.sink.inbound
    assert (msg.sender, msg.recipient, msg.detail["sip_code"]) == ("+447", "443000000000", 404)


async def test_inbound_call_lost_with_its_worker_waits_for_the_next_call(rig: Rig) -> None:
    work = inbound_work(number="+442000000004")
    await rig.ch.submit(work)
    rig.link.emit(pipe.Incoming("in1-4", "<sip:+441111111111@pbx>", "", "sip:+442000000004@node"))
    await wait_for_commands(rig)
    rig.link.die()
    assert rig.link.take() == []  # a caller cannot be called back
    ended = await rig.event(work, "attempt_ended")
    assert ended.detail["outcome"] == "lost" and not ended.final
    assert not [e for e in await rig.events(work) if e.final]
    assert rig.ch.info().details["waitingInbound"] == 1
    rig.link.emit(pipe.Incoming("in1-5", "<sip:+441111111111@pbx>", "", "sip:+442000000004@node"))
    cmds = rig.link.take()  # the prompts were prepared for the first call: answered at once
    assert cmds[0] == pipe.Answer("in1-5")
    rig.link.emit(pipe.KeyPressed("in1-5", "1", "inband"))
    rig.link.emit(pipe.Ended("in1-5", 200, by_remote=False, connected=True))
    assert (await rig.final(work)).state is DeliveryState.RESPONDED
