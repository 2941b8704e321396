"""Event-in, action-out tests of the IVR machines across a far-end hold and an alert cancelled mid-call."""

from __future__ import annotations

from typing import Any

from alertnode.voice.ivr import (
    Answered,
    AttemptEnded,
    CallEnded,
    Cancelled,
    CancelTimer,
    Digit,
    FinalResult,
    Finished,
    HangUp,
    Held,
    IvrMachine,
    IvrOptions,
    PlaceCall,
    PlayPrompts,
    PromptFinished,
    Report,
    Resumed,
    Ringing,
    Start,
    StartTimer,
    StopPlayback,
    Timeouts,
    TimerFired,
    WorkerLost,
)

T = Timeouts(ring=30, key_wait=5, total=120, retry_interval=60)


def machine(**raw: Any) -> IvrMachine:
    return IvrMachine(IvrOptions.from_params(raw), T)


def answer(m: IvrMachine) -> list[Any]:
    return m.handle(Start(), 0) + m.handle(Ringing(), 1) + m.handle(Answered(), 2)


def finished(actions: list[Any]) -> Finished | None:
    found = [a for a in actions if isinstance(a, Finished)]
    return found[0] if found else None


def replay() -> IvrMachine:
    return machine(ivrType="replay", ivrAttempts=2)


# ------------------------------------------------------------------------------------------ hold


def test_hold_cuts_the_prompt_and_resume_plays_it_again_from_its_start() -> None:
    m = replay()
    answer(m)
    m.handle(PromptFinished("pre"), 3)
    assert m.handle(Held("sendonly"), 4) == [
        Report("held", {"how": "sendonly", "prompt": "main"}),
        StopPlayback(),
    ]
    assert m.handle(Resumed(), 9) == [Report("resumed"), PlayPrompts(("main", "post"))]
    out = m.handle(PromptFinished("main"), 12) + m.handle(PromptFinished("post"), 13)
    assert out == [
        Report("prompt_played", {"prompt": "main"}),
        Report("prompt_played", {"prompt": "post"}),
        StartTimer("keywait", 5),
    ]


def test_a_prompt_end_while_held_is_ignored_so_hold_longer_than_the_prompt_plays_it_after() -> None:
    m = machine(ivrRequireFullPlay=True)
    answer(m)
    m.handle(Held("inactive"), 3)
    # the player's end raced the stop: it was not heard, it does not count
    assert m.handle(PromptFinished("main"), 20) == []
    assert m.handle(Resumed(), 30) == [Report("resumed"), PlayPrompts(("main",))]
    out = m.handle(PromptFinished("main"), 33)
    assert Report("prompt_played", {"prompt": "main"}) in out and HangUp() in out
    out = m.handle(CallEnded(200, by_remote=False), 34)
    assert finished(out) == Finished(FinalResult.ANSWERED, "full_play", 1, None, 200)


def test_hold_twice() -> None:
    m = machine()
    answer(m)
    m.handle(Held("sendonly"), 3)
    assert m.handle(Held("inactive"), 4) == []  # still the same hold
    assert m.handle(Resumed(), 5) == [Report("resumed"), PlayPrompts(("main",))]
    assert m.handle(Resumed(), 5.5) == []
    assert m.handle(Held("sendonly"), 6)[0] == Report("held", {"how": "sendonly", "prompt": "main"})
    assert m.handle(Resumed(), 7) == [Report("resumed"), PlayPrompts(("main",))]


def test_hold_while_waiting_for_a_key_stops_the_wait_and_resume_asks_again() -> None:
    m = machine(ivrRequireResponse=True)
    answer(m)
    assert m.handle(PromptFinished("main"), 4)[-1] == StartTimer("keywait", 5)
    held = m.handle(Held("sendonly"), 5)
    assert held == [Report("held", {"how": "sendonly", "prompt": None}), CancelTimer("keywait")]
    assert m.handle(Resumed(), 30) == [Report("resumed"), PlayPrompts(("main",))]
    assert m.handle(PromptFinished("main"), 33)[-1] == StartTimer("keywait", 5)


def test_replay_waiting_for_a_key_asks_again_with_the_post_prompt() -> None:
    m = replay()
    answer(m)
    for p in ("pre", "main", "post"):
        m.handle(PromptFinished(p), 3)
    m.handle(Held("sendonly"), 4)
    assert m.handle(Resumed(), 9) == [Report("resumed"), PlayPrompts(("post",))]


def test_a_key_while_held_is_taken_and_its_prompts_wait_for_the_resume() -> None:
    m = machine(ivrType="replay", ivrDigitsStopPlay=True)
    answer(m)
    m.handle(Held("sendonly"), 3)
    out = m.handle(Digit("2", "rfc4733"), 4)
    assert out == [
        Report("key", {"digit": "2", "source": "rfc4733"}),
        CancelTimer("keywait"),
        Report("recipientOk", {"digit": "2"}),
    ]
    assert m.handle(Resumed(), 6) == [Report("resumed"), PlayPrompts(("done",))]
    assert m.handle(PromptFinished("done"), 7)[-1] == HangUp()


def test_a_response_while_held_ends_a_simple_call() -> None:
    m = machine(ivrRequireResponse=True)
    answer(m)
    m.handle(Held("sendonly"), 3)
    out = m.handle(Digit("5", "info"), 4)
    assert out == [Report("key", {"digit": "5", "source": "info"}), CancelTimer("keywait"), HangUp()]
    assert m.handle(Resumed(), 5) == [Report("resumed")]
    assert finished(m.handle(CallEnded(200, by_remote=False), 6)) == Finished(
        FinalResult.RESPONDED, "response", 1, "5", 200
    )


def test_the_call_time_out_still_ends_a_held_call() -> None:
    m = machine()
    answer(m)
    m.handle(Held("inactive"), 3)
    out = m.handle(TimerFired("total"), 122)
    assert out == [Report("call_timeout", {"seconds": 120}), CancelTimer("keywait"), HangUp()]


def test_hold_before_the_answer_or_while_hanging_up_means_nothing() -> None:
    m = machine(ivrRequireResponse=True)
    m.handle(Start(), 0)
    assert m.handle(Held("sendonly"), 1) == []
    m.handle(Answered(), 2)
    m.handle(Digit("1"), 3)  # the response: the machine hangs up
    assert m.handle(Held("sendonly"), 4) == []


# ---------------------------------------------------------------------------------------- cancel


def test_cancel_of_an_answered_call_hangs_up_and_is_not_retried() -> None:
    m = machine(ivrAttempts=3)
    answer(m)
    assert m.handle(Cancelled(), 3) == [StopPlayback(), CancelTimer("keywait"), HangUp()]
    assert m.handle(Cancelled(), 3.1) == []
    out = m.handle(CallEnded(200, by_remote=False), 3.2)
    assert AttemptEnded(1, False, "cancelled", None) in out
    assert finished(out) == Finished(FinalResult.FAILED, "cancelled", 1, None, 200)


def test_cancel_while_ringing_cancels_the_invite_without_a_no_answer() -> None:
    m = machine(ivrAttempts=3)
    m.handle(Start(), 0)
    m.handle(Ringing(), 1)
    assert m.handle(Cancelled(), 2) == [HangUp()]
    out = m.handle(CallEnded(487, by_remote=False), 2.1)
    assert not [a for a in out if isinstance(a, Report)]
    assert AttemptEnded(1, False, "cancelled", None) in out


def test_cancel_after_the_response_keeps_the_response() -> None:
    m = machine(ivrType="replay")
    answer(m)
    for p in ("pre", "main", "post"):
        m.handle(PromptFinished(p), 3)
    m.handle(Digit("2"), 4)  # recipientOk, the done prompt plays
    assert m.handle(Cancelled(), 5) == [StopPlayback(), CancelTimer("keywait"), HangUp()]
    out = m.handle(CallEnded(200, by_remote=False), 6)
    assert finished(out) == Finished(FinalResult.RESPONDED, "recipientOk", 1, "recipientOk", 200)


def test_a_cancelled_call_lost_with_its_worker_is_not_placed_again() -> None:
    m = machine()
    answer(m)
    m.handle(Cancelled(), 3)
    out = m.handle(WorkerLost(), 4)
    assert not [a for a in out if isinstance(a, PlaceCall)]
    assert AttemptEnded(1, False, "cancelled", None) in out and m.done


def test_cancel_before_the_start_does_nothing() -> None:
    m = machine()
    assert m.handle(Cancelled(), 0) == []
    assert m.handle(Start(), 1)[0] == PlaceCall(1)
