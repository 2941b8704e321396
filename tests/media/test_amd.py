"""Answering-machine detector: audio in, decisions and beeps out (espeak-ng speech, synthetic tones)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from alertnode.media import amd
from alertnode.media.amd import (
    AmdBeep,
    AmdDecision,
    AmdDetector,
    AmdEvent,
    AmdGreetingEnd,
    Reason,
    Verdict,
    classify,
)
from tools.vectors import amd_corpus
from tools.vectors.amd_corpus import DBM0_RMS, g711_round_trip, noise, speech, tone

RATE = amd.SAMPLE_RATE
GREETING = (
    "Hello, you have reached the voicemail of John Smith. I can't take your call right now. "
    "Please leave your name and number after the tone, and I will call you back."
)


def scene(length_ms: float, *parts: tuple[float, npt.NDArray[np.float64]], level_dbm0: float = -20.0) -> np.ndarray:
    """Unit-RMS parts placed at their times (ms after the answer), speech at ``level_dbm0``; float."""
    x = np.zeros(round(length_ms * RATE / 1000))
    for at_ms, part in parts:
        i = round(at_ms * RATE / 1000)
        x[i : i + len(part)] += part[: len(x) - i]
    return x * DBM0_RMS * 10 ** (level_dbm0 / 20)


def pcm(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def end_ms(at_ms: float, part: np.ndarray) -> float:
    return at_ms + 1000 * len(part) / RATE


def decisions(events: list[AmdEvent]) -> list[tuple[Verdict, bool, Reason]]:
    return [(e.verdict, e.final, e.reason) for e in events if isinstance(e, AmdDecision)]


def final(events: list[AmdEvent]) -> AmdDecision:
    done = [e for e in events if isinstance(e, AmdDecision) and e.final]
    assert len(done) == 1, done
    return done[0]


def beeps(events: list[AmdEvent]) -> list[AmdBeep]:
    return [e for e in events if isinstance(e, AmdBeep)]


@pytest.mark.parametrize(
    ("text", "voice"),
    [("Hello?", "en-us"), ("Hallo?", "de"), ("Allô?", "fr-fr"), ("Pronto?", "it"), ("¿Diga?", "es"), ("Yes?", "en-gb")],
)
def test_a_short_word_then_silence_is_a_person(text: str, voice: str) -> None:
    events = classify(pcm(scene(5000, (500, speech(text, voice)))))
    assert decisions(events) == [
        (Verdict.HUMAN, False, Reason.SHORT_GREETING),  # the prompt may start
        (Verdict.HUMAN, True, Reason.SHORT_GREETING),
    ]
    presumed = events[0]
    assert isinstance(presumed, AmdDecision)
    assert presumed.words >= 1 and presumed.voice_ms > 0
    assert presumed.initial_silence_ms is not None
    assert beeps(events) == []


def test_a_person_who_speaks_again_after_a_pause_stays_a_person() -> None:
    hello = speech("Hello?", "en-us")
    again = speech("Hello? Who is this?", "en-us")
    events = classify(pcm(scene(6500, (400, hello), (end_ms(400, hello) + 1500, again))))
    assert final(events).verdict is Verdict.HUMAN
    assert all(d[0] is Verdict.HUMAN for d in decisions(events))


def test_a_name_then_speaking_is_a_person() -> None:
    events = classify(pcm(scene(5000, (300, speech("Mary Jones speaking.", "en-gb", rate=190)))))
    assert final(events).verdict is Verdict.HUMAN


def test_a_long_greeting_is_a_machine() -> None:
    events = classify(pcm(scene(10000, (600, speech(GREETING, "en-us")))))
    decided = final(events)
    assert decided.verdict is Verdict.MACHINE
    assert decided.reason in (Reason.LONG_GREETING, Reason.LONG_SPEECH, Reason.MANY_WORDS)
    assert decided.voice_ms > 0 and decided.words >= 1 and decided.initial_silence_ms is not None
    assert beeps(events) == []


def test_greeting_then_beep_is_a_machine_then_the_beep_then_the_greeting_end() -> None:
    greeting = speech(GREETING, "de+f3")
    beep_at = end_ms(300, greeting) + 500
    x = scene(beep_at + 3500, (300, greeting), (beep_at, tone(1000.0, 400)))
    events = classify(pcm(x))
    kinds = [type(e) for e in events if not (isinstance(e, AmdDecision) and not e.final)]
    assert kinds == [AmdDecision, AmdBeep, AmdGreetingEnd]
    assert final(events).verdict is Verdict.MACHINE
    (beep,) = beeps(events)
    assert beep.freq_hz == pytest.approx(1000.0, rel=0.01)
    assert beep.start_ms < beep.end_ms


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_greeting_and_beep_survive_g711(codec: str) -> None:
    greeting = speech(GREETING, "en-gb+m3")
    beep_at = end_ms(200, greeting) + 300
    x = g711_round_trip(pcm(scene(beep_at + 2000, (200, greeting), (beep_at, tone(1400.0, 300)))), codec)
    events = classify(x)
    assert final(events).verdict is Verdict.MACHINE
    (beep,) = beeps(events)
    assert beep.freq_hz == pytest.approx(1400.0, rel=0.01)


def test_a_mailbox_that_only_beeps_is_a_machine() -> None:
    events = classify(pcm(scene(4000, (700, tone(850.0, 500)))))
    assert decisions(events)[-1] == (Verdict.MACHINE, True, Reason.BEEP)
    assert len(beeps(events)) == 1


def test_silence_is_presumed_a_person_for_the_prompt_then_unknown() -> None:
    events = classify(np.zeros(5 * RATE, dtype=np.int16))
    assert decisions(events) == [
        (Verdict.HUMAN, False, Reason.QUIET),
        (Verdict.UNKNOWN, True, Reason.NO_SPEECH),
    ]
    assert final(events).initial_silence_ms is None


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "hum"])
def test_steady_noise_is_not_speech(kind: str) -> None:
    x = noise(kind, 5 * RATE, np.random.default_rng(1)) * DBM0_RMS * 10 ** (-35 / 20)
    events = classify(pcm(x))
    assert final(events).verdict is Verdict.UNKNOWN
    assert final(events).reason is Reason.NO_SPEECH
    assert beeps(events) == []


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_a_person_in_noise_is_a_person(kind: str) -> None:
    x = scene(5000, (600, speech("Hello?", "en-us")))
    x = x + noise(kind, len(x), np.random.default_rng(2)) * DBM0_RMS * 10 ** (-20 / 20 - 15 / 20)
    assert final(classify(pcm(x))).verdict is Verdict.HUMAN


def test_a_talker_in_the_background_is_not_the_person() -> None:
    x = scene(5000, (500, speech("Hello?", "en-us")))
    tv = noise("babble", len(x), np.random.default_rng(3)) * DBM0_RMS * 10 ** ((-20 - 25) / 20)
    assert final(classify(pcm(x + tv))).verdict is Verdict.HUMAN


def test_a_dtmf_digit_is_not_a_beep() -> None:
    n = np.arange(2400)
    digit = (np.sin(2 * np.pi * 770 * n / RATE) + np.sin(2 * np.pi * 1336 * n / RATE)) / 1.0
    events = classify(pcm(scene(4000, (800, digit))))
    assert beeps(events) == []


def test_a_gliding_tone_is_not_a_beep() -> None:
    t = np.arange(int(0.4 * RATE)) / RATE
    glide = np.sqrt(2) * np.sin(2 * np.pi * (600 * t + 150 * t**2))  # 600 -> 720 Hz, like a sung vowel
    assert beeps(classify(pcm(scene(4000, (800, glide))))) == []


def test_a_fax_answer_tone_is_no_beep_but_a_machine() -> None:
    ced = tone(2100.0, 3000)  # ITU-T T.30 CED: 2,100 Hz for 2.6-4 s
    events = classify(pcm(scene(5000, (200, ced))))
    assert beeps(events) == []
    assert final(events).verdict is Verdict.MACHINE


def test_batch_equals_one_call_at_a_time_and_keeps_calls_apart() -> None:
    greeting = speech(GREETING, "en-us")
    clips = [
        pcm(scene(9000, (500, speech("Hello?", "en-us")))),
        pcm(scene(9000, (300, greeting), (end_ms(300, greeting) + 400, tone(700.0, 300)))),
        np.zeros(9 * RATE, dtype=np.int16),
        pcm(scene(9000, (900, speech("Ja, bitte?", "de")))),
    ]
    det = AmdDetector(len(clips))
    for ch in range(len(clips)):
        det.start(ch, 1000.0)  # answered at 1,000 ms on the caller's clock
    batch = np.stack(clips)
    events: list[AmdEvent] = []
    for t in range(batch.shape[1] // amd.FRAME):
        events += det.process(batch[:, t * amd.FRAME : (t + 1) * amd.FRAME], 1000.0 + t * amd.FRAME_MS)
    for ch, clip in enumerate(clips):
        alone = classify(clip)
        mine = [e for e in events if e.channel == ch]
        assert [type(e) for e in mine] == [type(e) for e in alone]
        assert decisions(mine) == decisions(alone)
        assert [e.after_answer_ms for e in mine] == [e.after_answer_ms for e in alone]
        assert [e.at_ms for e in mine] == [e.at_ms + 1000.0 for e in alone]
    assert [final([e for e in events if e.channel == ch]).verdict for ch in range(4)] == [
        Verdict.HUMAN,
        Verdict.MACHINE,
        Verdict.UNKNOWN,
        Verdict.HUMAN,
    ]


def test_stop_silences_a_channel_and_start_begins_afresh() -> None:
    greeting = pcm(scene(6000, (200, speech(GREETING, "en-us"))))
    hello = pcm(scene(5000, (400, speech("Hello?", "en-us"))))
    det = AmdDetector(1)
    det.start(0, 0.0)
    events: list[AmdEvent] = []
    t = 0
    while not any(isinstance(e, AmdDecision) and e.verdict is Verdict.MACHINE for e in events):
        events += det.process(greeting[None, t * amd.FRAME : (t + 1) * amd.FRAME], t * amd.FRAME_MS)
        t += 1
    det.stop(0)
    assert not det.listening(0)
    rest = [det.process(greeting[None, k * amd.FRAME : (k + 1) * amd.FRAME], k * amd.FRAME_MS) for k in range(t, 200)]
    assert all(r == [] for r in rest)
    det.start(0, 10000.0)
    after: list[AmdEvent] = []
    for k in range(len(hello) // amd.FRAME):
        after += det.process(hello[None, k * amd.FRAME : (k + 1) * amd.FRAME], 10000.0 + k * amd.FRAME_MS)
    assert final(after).verdict is Verdict.HUMAN


def test_add_channel_keeps_the_calls_in_progress() -> None:
    hello = pcm(scene(5000, (400, speech("Hello?", "en-us"))))
    det = AmdDetector(1)
    det.start(0, 0.0)
    events: list[AmdEvent] = []
    for t in range(len(hello) // amd.FRAME):
        if t == 30:
            assert det.add_channel() == 1
            assert not det.listening(1)
        frames = np.zeros((det.channels, amd.FRAME), dtype=np.int16)
        frames[0] = hello[t * amd.FRAME : (t + 1) * amd.FRAME]
        events += det.process(frames, t * amd.FRAME_MS)
    assert {e.channel for e in events} == {0}
    assert final(events).verdict is Verdict.HUMAN


def test_float_input_is_full_scale_one() -> None:
    x = pcm(scene(5000, (500, speech("Hello?", "en-us"))))
    assert decisions(classify(x.astype(np.float64) / 32768.0)) == decisions(classify(x))


def test_frames_of_the_wrong_shape_are_refused() -> None:
    det = AmdDetector(2)
    with pytest.raises(ValueError, match=r"\(2, 160\)"):
        det.process(np.zeros((1, 160), dtype=np.int16), 0.0)
    with pytest.raises(ValueError):
        AmdDetector(-1)


def test_nothing_is_reported_on_channels_never_started() -> None:
    det = AmdDetector(3)
    x = pcm(scene(3000, (300, speech(GREETING, "en-us"))))
    for t in range(len(x) // amd.FRAME):
        assert det.process(np.stack([x[t * amd.FRAME : (t + 1) * amd.FRAME]] * 3), t * amd.FRAME_MS) == []


def test_every_call_of_the_corpus_gets_one_final_decision_in_order() -> None:
    """On a slice of the labelled corpus: a presumed human comes first if at all, then one final
    decision, then only beeps and the greeting's end after a machine; the verdicts are right."""
    clips = list(amd_corpus.corpus(seed=5, scale=0.04))
    assert {c.category for c in clips} == set(amd_corpus.CATEGORIES)
    wrong = []
    for clip in clips:
        events = classify(clip.samples)
        ds = [e for e in events if isinstance(e, AmdDecision)]
        finals = [i for i, d in enumerate(ds) if d.final]
        assert len(finals) == 1, (clip.name, ds)
        assert all(d.verdict is Verdict.HUMAN for d in ds[: finals[0]])
        assert finals[0] == len(ds) - 1
        done = events.index(ds[-1])
        if ds[-1].verdict is Verdict.MACHINE:
            assert all(isinstance(e, AmdBeep | AmdGreetingEnd) for e in events[done + 1 :])
        else:
            assert events[done + 1 :] == []
        if ds[-1].verdict.value != clip.truth:
            wrong.append((clip.name, clip.truth, ds[-1].verdict.value))
    assert not [w for w in wrong if w[1] == "human" and w[2] == "machine"], wrong
    assert len(wrong) <= len(clips) // 20, wrong


def run(det: AmdDetector, rx: np.ndarray, tx: np.ndarray | None) -> list[AmdEvent]:
    det.start(0, 0.0)
    events: list[AmdEvent] = []
    for t in range(len(rx) // amd.FRAME):
        frame = slice(t * amd.FRAME, (t + 1) * amd.FRAME)
        sent = None if tx is None else tx[None, frame]
        events += det.process(rx[None, frame], t * amd.FRAME_MS, sent=sent)
    return events


def test_the_echo_of_the_prompt_does_not_make_a_person_a_machine() -> None:
    """The prompt starts on the presumed human; its echo (G.168: at least 6 dB down, here 10 dB, 40 ms
    late) comes back with the person's silence. Fed what was sent, the detector does not take it for
    a greeting."""
    hello = speech("Hello?", "en-us")
    rx = scene(6000, (400, hello))
    prompt = scene(6000, (1200, speech(GREETING, "en-gb")), level_dbm0=-12.0)
    echo = np.concatenate([np.zeros(320), prompt[:-320]]) * 10 ** (-10 / 20)
    events = run(AmdDetector(1), pcm(rx + echo), pcm(prompt))
    assert final(events).verdict is Verdict.HUMAN
    assert decisions(run(AmdDetector(1), pcm(rx + echo), None))[-1][0] is Verdict.MACHINE  # why `sent` exists
