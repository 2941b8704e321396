"""The IVR machine with answering-machine detection (node/voice/ivr_amd.py): verdicts, beeps and
greeting ends in, prompts, hang-ups and reports out; and the stock goodbye."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.voice.ivr import (
    AmdBeep,
    AmdGreetingEnd,
    AmdVerdict,
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
    Phase,
    PlaceCall,
    PlayPrompts,
    PromptFinished,
    Report,
    Resumed,
    Ringing,
    Start,
    StartTimer,
    StopListening,
    StopPlayback,
    Timeouts,
    TimerFired,
    WorkerLost,
)
from alertnode.voice.ivr_amd import BEEP_GAP_S

T = Timeouts(ring=30, key_wait=5, total=120, retry_interval=60, amd_decision=6, voicemail_wait=60)
TIMINGS = {"after_answer_ms": 1100.0, "initial_silence_ms": 300.0, "greeting_ms": 500.0, "words": 1,
           "voice_ms": 480.0, "pause_ms": 300.0, "longest_pause_ms": 0.0}


def machine(mode: str | None = "hangup", **raw: Any) -> IvrMachine:
    if mode is not None:
        raw["ivrAnsweringMachine"] = mode
    return IvrMachine(IvrOptions.from_params(raw), T)


def answer(m: IvrMachine) -> list[Any]:
    out = m.handle(Start(), 0)
    out += m.handle(Ringing(), 1)
    return out + m.handle(Answered(), 2)


def human(final: bool = False, **detail: Any) -> AmdVerdict:
    return AmdVerdict("human", final, "short_greeting", {**TIMINGS, **detail})


def robot(after_ms: float = 2600.0, reason: str = "long_greeting") -> AmdVerdict:
    return AmdVerdict("machine", True, reason, {**TIMINGS, "after_answer_ms": after_ms, "words": 9})


def amd_report(v: AmdVerdict) -> Report:
    return Report("amd", {"verdict": v.verdict, "final": v.final, "reason": v.reason, **v.detail})


def finished(actions: list[Any]) -> Finished | None:
    found = [a for a in actions if isinstance(a, Finished)]
    return found[0] if found else None


# ------------------------------------------------------------------------------------- off


def test_off_and_no_option_play_at_the_answer_and_do_not_listen() -> None:
    for m in (machine("off"), machine(None)):
        out = answer(m)
        assert PlaceCall(1, False) in out
        assert out[-1] == PlayPrompts(("main",))
        assert m.handle(robot(), 3) == []  # nobody listens: a stray verdict changes nothing


# ------------------------------------------------------------------------------------- a person


def test_the_prompts_wait_for_the_first_person_verdict_then_start_at_once() -> None:
    m = machine("hangup", ivrType="replay")
    out = answer(m)
    assert PlaceCall(1, True) in out
    assert out[-2:] == [StartTimer("total", 120), StartTimer("amd", 6)]
    assert m.phase is Phase.SCREENING
    presumed = human()
    assert m.handle(presumed, 3) == [CancelTimer("amd"), amd_report(presumed), PlayPrompts(("pre", "main", "post"))]
    confirmed = human(final=True, after_answer_ms=2400.0)
    assert m.handle(confirmed, 4) == [amd_report(confirmed)]  # reported; the prompts play on
    assert m.handle(robot(), 5) == []  # detection is over


def test_unknown_is_treated_as_a_person_and_reported() -> None:
    m = machine("voicemail")
    answer(m)
    v = AmdVerdict("unknown", True, "no_speech", {**TIMINGS, "initial_silence_ms": None, "words": 0})
    assert m.handle(v, 6) == [CancelTimer("amd"), amd_report(v), PlayPrompts(("main",))]


def test_no_verdict_in_time_starts_the_prompts() -> None:
    m = machine("hangup")
    answer(m)
    out = m.handle(TimerFired("amd"), 8)
    assert out == [
        StopListening(),
        Report("amd", {"verdict": "unknown", "final": True, "reason": "timeout"}),
        PlayPrompts(("main",)),
    ]
    assert m.handle(robot(), 9) == []


def test_a_key_before_any_verdict_is_a_person_and_answers_nothing_yet() -> None:
    m = machine("hangup", ivrRequireResponse=True)
    answer(m)
    out = m.handle(Digit("5"), 2.5)
    assert out[0] == Report("key", {"digit": "5", "source": "rfc4733"})
    assert StopListening() in out and out[-1] == PlayPrompts(("main",))
    assert m.handle(robot(), 3) == []  # a key proved a person
    m.handle(PromptFinished("main"), 6)
    assert m.phase is Phase.WAITING_KEY  # the key before the prompt was no response


def test_a_key_during_the_prompt_of_a_presumed_person_stops_listening() -> None:
    m = machine("hangup", ivrRequireResponse=True)
    answer(m)
    m.handle(human(), 3)
    out = m.handle(Digit("2"), 4)
    assert out[:2] == [Report("key", {"digit": "2", "source": "rfc4733"}), StopListening()]
    assert HangUp() in out
    assert m.handle(robot(), 4.5) == []
    assert finished(m.handle(CallEnded(200, by_remote=False), 5)) == Finished(
        FinalResult.RESPONDED, "response", 1, "2", 200
    )


def test_held_while_listening_keeps_the_prompts_for_the_resume() -> None:
    m = machine("hangup")
    answer(m)
    assert m.handle(Held("sendonly"), 2.5) == [Report("held", {"how": "sendonly", "prompt": None})]
    out = m.handle(human(), 3)
    assert PlayPrompts(("main",)) not in out  # nothing is heard while held
    assert m.handle(Resumed(), 4) == [Report("resumed"), PlayPrompts(("main",))]


# ------------------------------------------------------------------------------------- hang up


def test_a_machine_is_hung_up_on_and_the_attempt_is_retried() -> None:
    m = machine("hangup", ivrAttempts=2)
    answer(m)
    v = robot()
    assert m.handle(v, 4) == [CancelTimer("amd"), amd_report(v), CancelTimer("keywait"), HangUp()]
    out = m.handle(CallEnded(200, by_remote=False), 4.1)
    assert AttemptEnded(1, False, "machine", 60) in out and finished(out) is None


def test_a_machine_on_the_last_attempt_fails_the_recipient() -> None:
    m = machine("hangup")
    answer(m)
    m.handle(robot(), 4)
    out = m.handle(CallEnded(200, by_remote=False), 4.1)
    assert finished(out) == Finished(FinalResult.FAILED, "machine", 1, None, 200)


def test_a_presumed_person_revised_to_machine_stops_the_prompt() -> None:
    m = machine("hangup", ivrType="replay", ivrAttempts=3)
    answer(m)
    m.handle(human(), 2)
    m.handle(PromptFinished("pre"), 3)
    out = m.handle(robot(3400, "long_speech"), 3.4)
    assert out[:3] == [CancelTimer("amd"), amd_report(robot(3400, "long_speech")), StopPlayback()]
    assert out[-1] == HangUp()
    assert m.handle(PromptFinished("main"), 3.5) == []  # the stopped prompt's end
    assert AttemptEnded(1, False, "machine", 60) in m.handle(CallEnded(200, by_remote=False), 4)


# ------------------------------------------------------------------------------------- voicemail


def test_voicemail_waits_for_the_beep_and_a_second_beep_then_leaves_the_message_once() -> None:
    m = machine("voicemail", ivrAttempts=3)
    answer(m)
    v = robot(after_ms=5000)
    out = m.handle(v, 7)
    # nothing plays; the mailbox gets until 60 s after the answer to beep or fall silent
    assert out == [CancelTimer("amd"), amd_report(v), StartTimer("voicemail", 55.0), CancelTimer("keywait")]
    assert m.phase is Phase.MACHINE
    beep = {"after_answer_ms": 8200.0, "freq_hz": 1000.0, "length_ms": 200.0, "level_dbm0": -18.0}
    assert m.handle(AmdBeep(beep), 8.2) == [Report("amd_beep", beep), StartTimer("beep_gap", BEEP_GAP_S)]
    # a second beep 150 ms later (double-beeping mailboxes) starts the gap again
    assert m.handle(AmdBeep(beep), 8.55) == [Report("amd_beep", beep), StartTimer("beep_gap", BEEP_GAP_S)]
    out = m.handle(TimerFired("beep_gap"), 8.95)
    assert out == [StopListening(), CancelTimer("beep_gap"), CancelTimer("voicemail"), PlayPrompts(("main",))]
    assert m.handle(Digit("1", "inband"), 9) == [Report("key", {"digit": "1", "source": "inband"})]  # no one there
    out = m.handle(PromptFinished("main"), 12)
    assert out == [
        Report("prompt_played", {"prompt": "main"}),
        Report("voicemail_left", {"attempt": 1}),
        CancelTimer("keywait"),
        HangUp(),
    ]
    out = m.handle(CallEnded(200, by_remote=False), 12.1)
    assert AttemptEnded(1, True, "voicemail_left", None) in out  # never retried: one message per mailbox
    assert finished(out) == Finished(FinalResult.ANSWERED, "voicemail_left", 1, None, 200)


def test_voicemail_of_the_replay_ivr_is_pre_and_main() -> None:
    m = machine("voicemail", ivrType="replay")
    answer(m)
    m.handle(robot(), 5)
    m.handle(AmdBeep({"after_answer_ms": 6000.0}), 6)
    assert m.handle(TimerFired("beep_gap"), 6.4)[-1] == PlayPrompts(("pre", "main"))
    assert m.handle(PromptFinished("pre"), 8) == [Report("prompt_played", {"prompt": "pre"})]
    assert Report("voicemail_left", {"attempt": 1}) in m.handle(PromptFinished("main"), 11)


def test_voicemail_without_a_beep_starts_at_the_greetings_end() -> None:
    m = machine("voicemail")
    answer(m)
    m.handle(robot(), 5)
    end = {"after_answer_ms": 9000.0, "silence_ms": 2000.0}
    out = m.handle(AmdGreetingEnd(end), 9)
    assert out[0] == Report("amd_greeting_end", end) and out[-1] == PlayPrompts(("main",))


def test_voicemail_after_a_beep_the_greetings_end_does_not_start_it_early() -> None:
    m = machine("voicemail")
    answer(m)
    m.handle(robot(), 5)
    m.handle(AmdBeep({"after_answer_ms": 6000.0}), 6)
    assert m.handle(AmdGreetingEnd({"after_answer_ms": 8000.0}), 8) == [
        Report("amd_greeting_end", {"after_answer_ms": 8000.0})
    ]


def test_voicemail_with_neither_beep_nor_silence_is_not_reached() -> None:
    m = machine("voicemail", ivrAttempts=2)
    answer(m)
    m.handle(robot(), 5)
    out = m.handle(TimerFired("voicemail"), 62)
    assert out[0] == StopListening() and out[-1] == HangUp()
    assert AttemptEnded(1, False, "machine", 60) in m.handle(CallEnded(200, by_remote=False), 62.1)


def test_a_mailbox_that_hangs_up_during_the_message_was_not_left_a_message() -> None:
    m = machine("voicemail", ivrAttempts=2)
    answer(m)
    m.handle(robot(), 5)
    m.handle(AmdBeep({}), 6)
    m.handle(TimerFired("beep_gap"), 6.4)
    out = m.handle(CallEnded(200), 7)
    assert Report("prompt_cut", {"prompt": "main", "attempt": 1}) in out
    assert AttemptEnded(1, False, "machine", 60) in out


def test_a_key_while_waiting_for_the_beep_is_a_person() -> None:
    m = machine("voicemail")
    answer(m)
    m.handle(robot(), 5)
    out = m.handle(Digit("2"), 6)
    assert StopListening() in out and CancelTimer("voicemail") in out and out[-1] == PlayPrompts(("main",))
    assert m.handle(AmdBeep({}), 7) == []
    m.handle(PromptFinished("main"), 9)
    assert finished(m.handle(CallEnded(200, by_remote=False), 9.1)) == Finished(
        FinalResult.ANSWERED, "answered", 1, None, 200
    )


def test_cancelled_during_the_message() -> None:
    m = machine("voicemail")
    answer(m)
    m.handle(robot(), 5)
    assert m.handle(AmdGreetingEnd({}), 8)[-1] == PlayPrompts(("main",))
    assert m.handle(Cancelled(), 9) == [StopPlayback(), CancelTimer("keywait"), HangUp()]
    out = m.handle(CallEnded(200, by_remote=False), 9.1)
    assert AttemptEnded(1, False, "cancelled", None) in out


def test_a_lost_worker_redials_and_listens_again() -> None:
    m = machine("voicemail")
    answer(m)
    m.handle(robot(), 5)
    out = m.handle(WorkerLost(), 6)
    assert PlaceCall(1, True) in out
    m.handle(Answered(), 8)
    assert m.phase is Phase.SCREENING  # the new call is listened to from its answer


# ------------------------------------------------------------------------------------- goodbye


def test_a_key_during_the_goodbye_still_answers() -> None:
    m = machine(None, ivrType="replay")
    answer(m)
    for p in ("pre", "main", "post"):
        m.handle(PromptFinished(p), 3)
    m.handle(TimerFired("keywait"), 8)  # the automatic repeat
    for p in ("main", "post"):
        m.handle(PromptFinished(p), 11)
    assert m.handle(TimerFired("keywait"), 16)[-1] == PlayPrompts(("goodbye",))
    assert m.phase is Phase.DONE_PROMPT
    out = m.handle(Digit("2"), 9)
    assert out == [
        Report("key", {"digit": "2", "source": "rfc4733"}),
        StopPlayback(),
        CancelTimer("keywait"),
        Report("recipientOk", {"digit": "2"}),
        PlayPrompts(("done",)),
    ]


# ------------------------------------------------------------------------------------- properties

events = st.one_of(
    st.just(Start()),
    st.just(Answered()),
    st.builds(CallEnded, st.sampled_from([200, 486, 487]), st.booleans()),
    st.just(WorkerLost()),
    st.builds(PromptFinished, st.sampled_from(["pre", "main", "post", "done", "goodbye", "tone"])),
    st.builds(Digit, st.sampled_from(list("12*#"))),
    st.builds(TimerFired, st.sampled_from(["ring", "total", "keywait", "amd", "beep_gap", "voicemail"])),
    st.builds(AmdVerdict, st.sampled_from(["human", "machine", "unknown"]), st.booleans(), st.just("r")),
    st.just(AmdBeep({})),
    st.just(AmdGreetingEnd({})),
    st.just(Held("sendonly")),
    st.just(Resumed()),
    st.just(Cancelled()),
)


@settings(deadline=None)  # timing is not what this checks; CI machines are busy
@given(st.sampled_from(["off", "hangup", "voicemail"]), st.sampled_from(["simple", "replay"]), st.integers(1, 3),
       st.lists(events, max_size=60))
def test_any_sequence_ends_the_attempt_once_and_plays_only_known_prompts(
    mode: str, kind: str, n: int, seq: list[Any]
) -> None:
    m = machine(mode, ivrType=kind, ivrAttempts=n)
    ends = 0
    for i, ev in enumerate(seq):
        out = m.handle(ev, float(i))
        ends += sum(isinstance(a, AttemptEnded) for a in out)
        for a in out:
            if isinstance(a, PlayPrompts):
                assert set(a.prompts) <= {"pre", "main", "post", "done", "goodbye", "tone"}
            if isinstance(a, Report) and a.kind == "voicemail_left":
                assert mode == "voicemail"
    assert ends == (1 if m.done else 0)


def test_a_message_started_while_held_plays_on_the_resume() -> None:
    m = machine("voicemail")
    answer(m)
    m.handle(human(), 2)
    m.handle(Held("sendonly"), 2.5)
    m.handle(robot(), 3)
    out = m.handle(AmdGreetingEnd({}), 8)
    assert StopListening() in out and not [a for a in out if isinstance(a, PlayPrompts)]  # kept for the resume
    assert m.phase is Phase.MESSAGE
    assert m.handle(Resumed(), 9) == [Report("resumed"), PlayPrompts(("main",))]
