"""Event-in, action-out tests of the simple and replay IVR machines (one attempt each)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.voice.ivr import (
    Answered,
    AttemptEnded,
    CallEnded,
    CancelTimer,
    Digit,
    FinalResult,
    Finished,
    HangUp,
    IvrMachine,
    IvrOptions,
    IvrType,
    Phase,
    PlaceCall,
    PlayPrompts,
    PromptFinished,
    Report,
    Ringing,
    Start,
    StartTimer,
    StopPlayback,
    Timeouts,
    TimerFired,
    WorkerLost,
)

T = Timeouts(ring=30, key_wait=5, total=120, retry_interval=60)


def machine(attempt: int = 1, redial_lost: bool = True, **raw: Any) -> IvrMachine:
    return IvrMachine(IvrOptions.from_params(raw), T, attempt=attempt, redial_lost=redial_lost)


def kinds(actions: list[Any]) -> list[str]:
    return [a.kind for a in actions if isinstance(a, Report)]


def finished(actions: list[Any]) -> Finished | None:
    found = [a for a in actions if isinstance(a, Finished)]
    return found[0] if found else None


def answer(m: IvrMachine) -> list[Any]:
    out = m.handle(Start(), 0)
    out += m.handle(Ringing(), 1)
    out += m.handle(Answered(), 2)
    return out


# ------------------------------------------------------------------------------------ defaults


def test_defaults_are_the_references() -> None:
    c = IvrOptions.from_params(None)
    assert c == IvrOptions(IvrType.SIMPLE, 1, False, False, "1", "2", "*", False, False)
    assert IvrOptions.from_params({}) == c
    assert IvrOptions.from_model(None) == c


def test_options_come_from_the_contract_model_with_keys_in_upper_case() -> None:
    raw = {"ivrType": "replay", "ivrAttempts": 3, "ivrAmOkDigits": "a#", "ivrAmNotOkDigits": "d"}
    opts = IvrOptions.from_params(raw)
    assert (opts.ivr_type, opts.attempts, opts.am_ok_digits, opts.am_not_ok_digits) == (IvrType.REPLAY, 3, "A#", "D")
    m = IvrMachine(opts, T)
    answer(m)
    for p in ("pre", "main", "post"):
        m.handle(PromptFinished(p), 5)
    assert Report("recipientOk", {"digit": "A"}) in m.handle(Digit("A", "inband"), 6)


def test_stored_options_that_are_not_valid_are_refused() -> None:
    with pytest.raises(ValueError):
        IvrOptions.from_params({"ivrAttempts": "3"})
    with pytest.raises(ValueError):
        IvrOptions.from_params({"ivrType": "fancy"})


# ------------------------------------------------------------------------------------ simple IVR


def test_simple_default_answer_is_success_and_hangs_up_after_prompt() -> None:
    m = machine()
    out = m.handle(Start(), 0)
    assert out == [PlaceCall(1), StartTimer("ring", 30)]
    assert m.handle(Ringing(), 1) == [Report("ringing")]
    out = m.handle(Answered(), 2)
    assert out == [
        CancelTimer("ring"),
        Report("answered", {"attempt": 1}),
        StartTimer("total", 120),
        PlayPrompts(("main",)),
    ]
    out = m.handle(PromptFinished("main"), 5)
    assert out == [Report("prompt_played", {"prompt": "main"}), CancelTimer("keywait"), HangUp()]
    out = m.handle(CallEnded(200, by_remote=False), 5.1)
    assert AttemptEnded(1, True, "answered", None) in out
    assert finished(out) == Finished(FinalResult.ANSWERED, "answered", 1, None, 200)
    assert m.done
    assert m.handle(Digit("1"), 6) == []


def test_simple_hangup_half_way_is_success_without_full_play() -> None:
    m = machine()
    answer(m)
    out = m.handle(CallEnded(200), 3)
    assert kinds(out) == ["prompt_cut", "hung_up"]
    assert finished(out) == Finished(FinalResult.ANSWERED, "answered", 1, None, 200)


def test_simple_require_full_play_fails_when_cut_and_says_when_to_retry() -> None:
    m = machine(ivrRequireFullPlay=True, ivrAttempts=2)
    answer(m)
    out = m.handle(CallEnded(200), 3)
    assert out[-1] == AttemptEnded(1, False, "not_full_play", 60)
    assert finished(out) is None
    assert not [a for a in out if isinstance(a, StartTimer)]
    assert m.done
    assert m.handle(TimerFired("ring"), 63) == []
    # the dispatcher hands the delivery back: the second attempt is a machine of its own
    m = machine(attempt=2, ivrRequireFullPlay=True, ivrAttempts=2)
    assert m.handle(Start(), 64) == [PlaceCall(2), StartTimer("ring", 30)]
    m.handle(Answered(), 64)
    m.handle(PromptFinished("main"), 70)
    out = m.handle(CallEnded(200, by_remote=False), 70)
    assert finished(out) == Finished(FinalResult.ANSWERED, "full_play", 2, None, 200)


def test_simple_require_full_play_last_attempt_fails() -> None:
    m = machine(ivrRequireFullPlay=True)
    answer(m)
    out = m.handle(CallEnded(200), 3)
    assert finished(out) == Finished(FinalResult.FAILED, "not_full_play", 1, None, 200)


def test_simple_require_response_key_during_prompt_stops_and_responds() -> None:
    m = machine(ivrRequireResponse=True)
    answer(m)
    out = m.handle(Digit("2", "inband"), 3)
    assert out == [
        Report("key", {"digit": "2", "source": "inband"}),
        StopPlayback(),
        CancelTimer("keywait"),
        HangUp(),
    ]
    out = m.handle(CallEnded(200, by_remote=False), 3.2)
    assert finished(out) == Finished(FinalResult.RESPONDED, "response", 1, "2", 200)


def test_simple_require_response_and_full_play_keeps_playing() -> None:
    m = machine(ivrRequireResponse=True, ivrRequireFullPlay=True)
    answer(m)
    assert m.handle(Digit("5"), 3) == [Report("key", {"digit": "5", "source": "rfc4733"})]
    out = m.handle(PromptFinished("main"), 6)
    assert HangUp() in out
    out = m.handle(CallEnded(200, by_remote=False), 6)
    assert finished(out) == Finished(FinalResult.RESPONDED, "response", 1, "5", 200)


def test_simple_require_response_waits_for_key_then_times_out() -> None:
    m = machine(ivrRequireResponse=True, ivrAttempts=3)
    answer(m)
    out = m.handle(PromptFinished("main"), 5)
    assert out == [Report("prompt_played", {"prompt": "main"}), StartTimer("keywait", 5)]
    out = m.handle(TimerFired("keywait"), 10)
    # the stock goodbye before hanging up
    assert out == [Report("key_timeout", {"repeat": False}), CancelTimer("keywait"), PlayPrompts(("goodbye",))]
    out = m.handle(PromptFinished("goodbye"), 11)
    assert out == [Report("prompt_played", {"prompt": "goodbye"}), CancelTimer("keywait"), HangUp()]
    out = m.handle(CallEnded(200, by_remote=False), 11)
    assert AttemptEnded(1, False, "no_response", 60) in out


def test_simple_key_after_prompt_is_response() -> None:
    m = machine(ivrRequireResponse=True)
    answer(m)
    m.handle(PromptFinished("main"), 5)
    out = m.handle(Digit("#"), 6)
    assert out == [Report("key", {"digit": "#", "source": "rfc4733"}), CancelTimer("keywait"), HangUp()]


def test_simple_key_without_require_response_is_reported_only() -> None:
    m = machine()
    answer(m)
    assert m.handle(Digit("9"), 3) == [Report("key", {"digit": "9", "source": "rfc4733"})]
    out = m.handle(PromptFinished("main"), 5)
    assert HangUp() in out
    out = m.handle(CallEnded(200, by_remote=False), 5)
    assert finished(out) == Finished(FinalResult.ANSWERED, "answered", 1, None, 200)


@pytest.mark.parametrize(
    ("code", "kind", "outcome"),
    [
        (486, "busy", "busy"),
        (600, "busy", "busy"),
        (480, "no_answer", "no_answer"),
        (408, "no_answer", "no_answer"),
        (404, "failed", "failed"),
        (503, "failed", "failed"),
    ],
)
def test_unanswered_outcomes(code: int, kind: str, outcome: str) -> None:
    m = machine()
    m.handle(Start(), 0)
    out = m.handle(CallEnded(code, reason="x"), 1)
    assert kinds(out)[0] == kind
    assert out[3].detail["sip_code"] == code
    assert finished(out) == Finished(FinalResult.FAILED, outcome, 1, None, code)


def test_three_attempts_then_give_up() -> None:
    for attempt in (1, 2, 3):
        m = machine(attempt=attempt, ivrAttempts=3)
        assert m.handle(Start(), 0)[0] == PlaceCall(attempt)
        out = m.handle(CallEnded(486), 10)
        if attempt < 3:
            assert out[-1] == AttemptEnded(attempt, False, "busy", 60)
        else:
            assert AttemptEnded(3, False, "busy", None) in out
            assert finished(out) == Finished(FinalResult.FAILED, "busy", 3, None, 486)


def test_a_success_is_final_whatever_attempts_are_left() -> None:
    m = machine(attempt=1, ivrAttempts=3)
    answer(m)
    m.handle(PromptFinished("main"), 5)
    out = m.handle(CallEnded(200, by_remote=False), 5)
    assert AttemptEnded(1, True, "answered", None) in out and finished(out) is not None


def test_ring_timeout_cancels_and_counts_as_no_answer() -> None:
    m = machine()
    m.handle(Start(), 0)
    assert m.handle(TimerFired("ring"), 30) == [HangUp()]
    out = m.handle(CallEnded(487, by_remote=False), 30.1)
    assert finished(out) == Finished(FinalResult.FAILED, "no_answer", 1, None, 487)


def test_total_timeout_hangs_up() -> None:
    m = machine()
    answer(m)
    out = m.handle(TimerFired("total"), 122)
    assert out == [Report("call_timeout", {"seconds": 120}), StopPlayback(), CancelTimer("keywait"), HangUp()]
    assert m.handle(TimerFired("total"), 123) == []


def test_stale_events_are_ignored() -> None:
    m = machine()
    assert m.handle(Answered(), 0) == []
    m.handle(Start(), 0)
    assert m.handle(Start(), 0) == []
    assert m.handle(PromptFinished("main"), 1) == []
    assert m.handle(Digit("1"), 1) == []
    assert m.handle(TimerFired("keywait"), 1) == []


def test_worker_lost_redials_without_using_an_attempt() -> None:
    m = machine()
    answer(m)
    out = m.handle(WorkerLost(), 3)
    assert PlaceCall(1) in out
    assert "lost" in kinds(out)
    m.handle(WorkerLost(), 4)
    out = m.handle(WorkerLost(), 5)  # third loss: gives up
    assert finished(out) == Finished(FinalResult.FAILED, "lost", 1, None, None)


def test_worker_lost_after_the_response_keeps_it() -> None:
    """Failed on the old machine: a key pressed before the worker died ended as FAILED 'lost'."""
    m = machine(ivrRequireResponse=True)
    answer(m)
    m.handle(Digit("5"), 3)  # stops the prompt and hangs up
    out = m.handle(WorkerLost(), 4)
    assert "lost" in kinds(out) and not [a for a in out if isinstance(a, PlaceCall)]
    assert finished(out) == Finished(FinalResult.RESPONDED, "response", 1, "5", None)


def test_replay_worker_lost_during_the_done_prompt_keeps_the_answer() -> None:
    m = replay()
    answer(m)
    play_all(m, ("pre", "main", "post"), 5)
    m.handle(Digit("2"), 6)
    out = m.handle(WorkerLost(), 7)
    assert finished(out) == Finished(FinalResult.RESPONDED, "recipientOk", 1, "recipientOk", None)


def test_inbound_worker_lost_is_not_redialled() -> None:
    m = machine(redial_lost=False, ivrRequireResponse=True)
    answer(m)
    out = m.handle(WorkerLost(), 3)
    assert not [a for a in out if isinstance(a, PlaceCall)]
    assert AttemptEnded(1, False, "lost", None) in out
    assert finished(out) == Finished(FinalResult.FAILED, "lost", 1, None, None)


# ------------------------------------------------------------------------------------ replay IVR


def replay(**raw: Any) -> IvrMachine:
    return machine(ivrType="replay", **raw)


def play_all(m: IvrMachine, prompts: tuple[str, ...], t: float) -> list[Any]:
    out: list[Any] = []
    for p in prompts:
        out += m.handle(PromptFinished(p), t)
    return out


def test_replay_plays_pre_main_post_then_waits() -> None:
    m = replay()
    out = answer(m)
    assert PlayPrompts(("pre", "main", "post")) in out
    out = play_all(m, ("pre", "main", "post"), 5)
    assert kinds(out) == ["prompt_played"] * 3
    assert out[-1] == StartTimer("keywait", 5)


def test_replay_say_again_then_ok_plays_done() -> None:
    m = replay(ivrAttempts=2)
    answer(m)
    play_all(m, ("pre", "main", "post"), 5)
    out = m.handle(Digit("1"), 6)
    assert out == [
        Report("key", {"digit": "1", "source": "rfc4733"}),
        CancelTimer("keywait"),
        Report("say_again", {"digit": "1"}),
        PlayPrompts(("main", "post")),
    ]
    play_all(m, ("main", "post"), 9)
    out = m.handle(Digit("2"), 10)
    assert out == [
        Report("key", {"digit": "2", "source": "rfc4733"}),
        CancelTimer("keywait"),
        Report("recipientOk", {"digit": "2"}),
        PlayPrompts(("done",)),
    ]
    assert m.handle(Digit("3"), 10.5) == [Report("key", {"digit": "3", "source": "rfc4733"})]
    out = m.handle(PromptFinished("done"), 11)
    assert out == [Report("prompt_played", {"prompt": "done"}), CancelTimer("keywait"), HangUp()]
    out = m.handle(CallEnded(200, by_remote=False), 11)
    assert finished(out) == Finished(FinalResult.RESPONDED, "recipientOk", 1, "recipientOk", 200)


def test_replay_repeat_pre_prompt() -> None:
    m = replay(ivrRepeatPrePrompt=True)
    answer(m)
    play_all(m, ("pre", "main", "post"), 5)
    assert PlayPrompts(("pre", "main", "post")) in m.handle(Digit("1"), 6)


def test_replay_any_other_key_is_not_ok() -> None:
    m = replay()
    answer(m)
    play_all(m, ("pre", "main", "post"), 5)
    out = m.handle(Digit("7"), 6)
    assert Report("recipientNotOk", {"digit": "7"}) in out
    out = m.handle(CallEnded(200), 6.5)  # hung up during the done prompt: the answer stands
    assert finished(out) == Finished(FinalResult.RESPONDED, "recipientNotOk", 1, "recipientNotOk", 200)


def test_replay_explicit_not_ok_digits_answer_other_keys_with_a_tone() -> None:
    m = replay(ivrAmNotOkDigits="9", ivrAmOkDigits="23")
    answer(m)
    play_all(m, ("pre", "main", "post"), 5)
    # a key of no digit set is no answer: a tone says so and the key wait starts over
    assert m.handle(Digit("7"), 6) == [
        Report("key", {"digit": "7", "source": "rfc4733"}),
        Report("invalid_key", {"digit": "7"}),
        PlayPrompts(("tone",)),
        StartTimer("keywait", 5),
    ]
    assert m.handle(PromptFinished("tone"), 6.3) == []
    assert Report("recipientOk", {"digit": "3"}) in m.handle(Digit("3"), 7)


def test_replay_a_key_of_no_set_acted_on_after_the_prompts_does_not_stall_the_call() -> None:
    # before: a pending (or a play-stopping) key in no digit set left the call with nothing playing and
    # no key wait, until max_call_s
    for stop in (False, True):
        m = replay(ivrAmNotOkDigits="9", ivrDigitsStopPlay=stop)
        answer(m)
        m.handle(PromptFinished("pre"), 3)
        out = m.handle(Digit("7"), 4)
        if not stop:
            assert out == [Report("key", {"digit": "7", "source": "rfc4733"})]
            out = play_all(m, ("main", "post"), 8)
        assert out[-2:] == [PlayPrompts(("tone",)), StartTimer("keywait", 5)]
        assert m.phase is Phase.WAITING_KEY
        out = m.handle(TimerFired("keywait"), 14)
        assert out == [Report("key_timeout", {"repeat": True}), PlayPrompts(("main", "post"))]


def test_replay_key_during_play_without_stop_is_acted_on_after_prompts() -> None:
    m = replay()
    answer(m)
    m.handle(PromptFinished("pre"), 3)
    assert m.handle(Digit("2"), 4) == [Report("key", {"digit": "2", "source": "rfc4733"})]
    out = play_all(m, ("main", "post"), 8)
    assert Report("recipientOk", {"digit": "2"}) in out
    assert out[-1] == PlayPrompts(("done",))


def test_replay_digits_stop_play() -> None:
    m = replay(ivrDigitsStopPlay=True)
    answer(m)
    out = m.handle(Digit("2"), 3)
    assert out[1] == StopPlayback()
    assert out[-1] == PlayPrompts(("done",))
    assert m.handle(PromptFinished("main"), 4) == []  # a stale finish from the stopped sequence


def test_replay_no_key_repeats_once_then_fails() -> None:
    m = replay()
    answer(m)
    play_all(m, ("pre", "main", "post"), 5)
    out = m.handle(TimerFired("keywait"), 10)
    assert out == [Report("key_timeout", {"repeat": True}), PlayPrompts(("main", "post"))]
    play_all(m, ("main", "post"), 14)
    out = m.handle(TimerFired("keywait"), 19)
    assert out[-1] == PlayPrompts(("goodbye",))
    assert HangUp() in m.handle(PromptFinished("goodbye"), 20)
    out = m.handle(CallEnded(200, by_remote=False), 20)
    assert finished(out) == Finished(FinalResult.FAILED, "no_response", 1, None, 200)


def test_replay_answered_without_key_is_not_success_and_retries() -> None:
    m = replay(ivrAttempts=2)
    answer(m)
    out = m.handle(CallEnded(200), 3)
    assert AttemptEnded(1, False, "no_response", 60) in out


# ------------------------------------------------------------------------------------ properties


events = st.one_of(
    st.just(Start()),
    st.just(Ringing()),
    st.just(Answered()),
    st.builds(CallEnded, st.sampled_from([200, 486, 480, 487, 503]), st.booleans()),
    st.just(WorkerLost()),
    st.builds(PromptFinished, st.sampled_from(["pre", "main", "post", "done"])),
    st.builds(Digit, st.sampled_from(list("0123456789*#"))),
    st.builds(TimerFired, st.sampled_from(["ring", "total", "keywait", "retry"])),
)


@settings(deadline=None)  # timing is not what this checks; CI machines are busy
@given(
    st.sampled_from(["simple", "replay"]), st.integers(1, 3), st.integers(1, 4), st.booleans(),
    st.lists(events, max_size=60),
)
def test_any_sequence_ends_the_attempt_at_most_once(
    kind: str, n: int, attempt: int, redial: bool, seq: list[Any]
) -> None:
    m = machine(attempt=attempt, redial_lost=redial, ivrType=kind, ivrAttempts=n)
    ends: list[AttemptEnded] = []
    finishes = 0
    for i, ev in enumerate(seq):
        out = m.handle(ev, float(i))
        if ends:
            assert out == []  # the attempt is over: nothing more happens
        ends += [a for a in out if isinstance(a, AttemptEnded)]
        finishes += sum(isinstance(a, Finished) for a in out)
        assert all(a.attempt == attempt for a in out if isinstance(a, PlaceCall))
    assert len(ends) <= 1 and len(ends) == (1 if m.done else 0)
    if ends:
        final = ends[0].success or attempt >= n
        assert (ends[0].retry_after is None) == final
        assert finishes == (1 if final else 0)
    else:
        assert finishes == 0
