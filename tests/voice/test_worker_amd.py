"""Answering-machine detection in the worker without pjsua2: the listener batched over calls, the
sent audio matched tick for tick, and the taps that feed it (espeak-ng speech, synthetic beeps)."""

from __future__ import annotations

import itertools

import numpy as np

from alertnode.voice import pipe
from alertnode.voice.worker.amd import AmdListener
from alertnode.voice.worker.taps import Taps
from tests.media.test_amd import GREETING, pcm, scene
from tests.voice.test_worker_pure import FakePort, frames
from tools.vectors.amd_corpus import speech, tone


def hello() -> np.ndarray:
    return pcm(scene(5000, (400, speech("Hello?", "en-us"))))


def mailbox() -> np.ndarray:
    greeting = speech(GREETING, "en-gb")
    end = 300 + 1000 * len(greeting) / 8000
    return pcm(scene(end + 3500, (300, greeting), (end + 300, tone(1000, 400))))


def verdicts(events: list[pipe.Event], call: str) -> list[tuple[str, bool]]:
    return [(e.verdict, e.final) for e in events if isinstance(e, pipe.AmdVerdict) and e.call == call]


def test_each_call_of_a_batch_gets_its_own_verdicts_and_beeps() -> None:
    amd = AmdListener(4)
    assert amd.start("person") and amd.start("machine")
    amd.push("ignored", frames(hello())[0])  # not listened to: nothing
    out: list[pipe.Event] = []
    silence = frames(np.zeros(160))[0]
    for a, b in itertools.zip_longest(frames(hello()), frames(mailbox()), fillvalue=silence):
        amd.push("person", a)
        amd.push("machine", b)
        out += amd.run()
    first = next(e for e in out if isinstance(e, pipe.AmdVerdict) and e.call == "person")
    assert (first.verdict, first.final) == ("human", False) and first.after_answer_ms <= 1500
    assert verdicts(out, "person")[-1] == ("human", True)
    assert not amd.listening("person")  # a final person: the detector is done with the call
    # the greeting's first word and pause look like a person's, until it talks on
    assert verdicts(out, "machine") == [("human", False), ("machine", True)]
    [beep] = [e for e in out if isinstance(e, pipe.AmdBeep)]
    assert beep.call == "machine" and abs(beep.freq_hz - 1000) < 10 and 350 <= beep.length_ms <= 450
    assert [type(e) for e in out if getattr(e, "call", "") == "machine"][-1] is pipe.AmdGreetingEnd
    assert amd.listening("machine")  # a machine is listened to until stopped (or for listen_ms)


def test_a_stopped_call_reports_nothing_more_and_frees_its_slot() -> None:
    amd = AmdListener(1)
    assert amd.start("a") and not amd.start("b")
    amd.stop("a")
    for f in frames(mailbox())[:200]:
        amd.push("a", f)
    assert amd.run() == []
    assert amd.start("b")


def run(rx: np.ndarray, sent: np.ndarray | None) -> list[pipe.Event]:
    amd = AmdListener(2)
    amd.start("k")
    out: list[pipe.Event] = []
    for i, r in enumerate(frames(pcm(rx))):
        if sent is not None:
            amd.push_sent("k", frames(pcm(sent))[i])
        amd.push("k", r)
        out += amd.run()
    return out


def test_the_sent_prompt_keeps_its_echo_from_making_a_person_a_machine() -> None:
    """The prompt plays from the presumed person on; its echo returns 20 dB down, 40 ms later (networks
    cancel echo: ITU-T G.131, G.168). Fed through the sent path tick for tick, it is no greeting."""
    rx = scene(6000, (400, speech("Hello?", "en-us")))
    prompt = scene(6000, (1200, speech(GREETING, "en-gb")), level_dbm0=-12.0)
    echo = np.concatenate([np.zeros(320), prompt[:-320]]) * 10 ** (-20 / 20)
    assert verdicts(run(rx + echo, prompt), "k")[-1] == ("human", True)
    assert verdicts(run(rx + echo, None), "k")[-1] == ("machine", True)  # why the sent audio is fed


def test_a_greeting_quieter_than_the_prompt_is_still_heard_over_it() -> None:
    """A mailbox presumed a person (its "Hello," and a pause) gets the prompt; its greeting goes on 10 dB
    below the prompt and must still make it a machine (the detector's own 6 dB echo margin took it for
    the prompt's echo: tests/peers/test_voice_amd.py found it)."""
    greeting = speech(GREETING, "en-gb")
    rx = scene(8000, (300, greeting), level_dbm0=-22.0)
    prompt = scene(8000, (1600, speech(GREETING, "en-us")), level_dbm0=-12.0)
    out = verdicts(run(rx, prompt), "k")
    assert out[0] == ("human", False) and out[-1] == ("machine", True)


def test_taps_listen_from_the_answer_lend_a_sent_port_and_send_the_events_on() -> None:
    events: list[pipe.Event] = []
    made: list[FakePort] = []

    def port(host: object, index: int) -> FakePort:
        made.append(FakePort())
        return made[-1]

    taps = Taps(2, events.append, new_port=port)
    taps.make()
    assert len(made) == 4  # a received and a sent tap per call slot
    media = FakePort()
    taps.connect("plain", FakePort())
    taps.amd_start("plain")  # not placed with detection: nothing happens
    assert taps.sent_port("plain") is None and not taps.amd.listening("plain")
    taps.want_amd("k")
    taps.connect("k", media)
    assert taps.sent_port("k") is None  # not answered yet
    taps.amd_start("k")
    sent = taps.sent_port("k")
    assert sent is not None and sent.key == "k"
    for f in frames(mailbox()):
        taps.on_sent("k", frames(np.zeros(160))[0])
        taps.on_frame("k", f)
        taps.drain()
    assert [type(e) for e in events] == [pipe.AmdVerdict, pipe.AmdVerdict, pipe.AmdBeep, pipe.AmdGreetingEnd]
    assert all(getattr(e, "call", "") == "k" for e in events)
    taps.amd_stop("k")
    assert taps.sent_port("k") is None
    taps.disconnect("k", media)
    taps.release("k")
    assert sent.key is None
    taps.want_amd("k2")
    taps.connect("k2", FakePort())
    taps.amd_start("k2")
    assert taps.sent_port("k2") is sent  # the released port serves the next call
