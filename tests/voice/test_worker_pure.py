"""The worker's pure parts: one report per key press, and the in-band detector batched over calls."""

from __future__ import annotations

import numpy as np

from alertnode.voice.worker.inband import FRAME_SAMPLES, InbandDtmf, InbandKey
from alertnode.voice.worker.keys import DigitDeduper


def test_deduper_drops_the_same_key_from_the_other_source() -> None:
    d = DigitDeduper(window=0.6)
    assert d.accept("2", "rfc4733", 1.0)
    assert not d.accept("2", "inband", 1.1)
    assert d.accept("2", "rfc4733", 1.2)  # a second press sent the same way
    assert d.accept("3", "inband", 1.3)
    assert d.accept("2", "inband", 2.0)


def frames(signal: np.ndarray) -> list[bytes]:
    pcm = signal.astype("<i2").tobytes()
    step = 2 * FRAME_SAMPLES
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def tone(low: float, high: float, seconds: float) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return 6000 * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))


def keyed(low: float, high: float) -> list[bytes]:
    """100 ms of silence, 100 ms of the key's two tones (ITU-T Q.23), 200 ms of silence."""
    silence = np.zeros(800)
    return frames(np.concatenate([silence, tone(low, high, 0.1), silence, silence]))


def test_each_call_of_a_batch_gets_its_own_keys() -> None:
    det = InbandDtmf(4)
    assert det.attach("a") and det.attach("b")
    five, nine = keyed(770, 1336), keyed(852, 1477)
    for fa, fb in zip(five, nine, strict=True):
        det.push("a", fa)
        det.push("b", fb)
    found = det.run()
    assert sorted(found, key=lambda k: k.call) == [InbandKey("a", "5"), InbandKey("b", "9")]
    assert det.run() == []


def test_a_call_whose_audio_stops_does_not_hold_the_others_back() -> None:
    det = InbandDtmf(2)
    det.attach("held")
    det.attach("talking")
    det.push("held", keyed(697, 1209)[0])  # one frame, then nothing (on hold)
    out: list[InbandKey] = []
    for frame in keyed(941, 1477):  # '#'
        det.push("talking", frame)
        out += det.run()
    assert out == [InbandKey("talking", "#")]


def test_slots_are_bounded_and_reused_after_a_drop() -> None:
    det = InbandDtmf(1)
    assert det.attach("a")
    assert det.attach("a")  # attaching twice is harmless
    assert not det.attach("b")
    det.drop("a")
    assert det.attach("b")
    det.push("a", keyed(770, 1336)[0])  # a dropped call's late frame is ignored
    det.push("b", b"short")  # so is a frame of the wrong size
    assert det.run() == []


class FakePort:
    """Stands for a pjsua2 tap port / audio media: transmissions are recorded, nothing is played."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.sinks: list[object] = []

    def startTransmit(self, sink: object) -> None:
        if sink not in self.sinks:
            self.sinks.append(sink)

    def stopTransmit(self, sink: object) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)


def test_taps_merge_one_press_heard_both_ways_and_forget_a_call_that_ended() -> None:
    from alertnode.voice.pipe import Event, KeyPressed
    from alertnode.voice.worker.taps import Taps

    events: list[Event] = []
    now = [10.0]
    taps = Taps(2, events.append, clock=lambda: now[0], new_port=lambda host, i: FakePort())
    taps.make()
    media = FakePort()
    taps.connect("k", media)
    taps.connect("k", media)  # a re-INVITE re-checks the connection: still one
    assert len(media.sinks) == 1
    taps.key("k", "5", "rfc4733")  # the RFC 4733 event comes first...
    for frame in keyed(770, 1336):  # ...the same press in-band is dropped
        taps.on_frame("k", frame)
    taps.drain()
    assert events == [KeyPressed("k", "5", "rfc4733")]
    now[0] += 1.0
    for frame in keyed(770, 1336):  # a second press, in-band only
        taps.on_frame("k", frame)
    taps.drain()
    assert events[1:] == [KeyPressed("k", "5", "inband")]
    taps.disconnect("k", media)
    taps.release("k")
    assert media.sinks == []
    for frame in keyed(852, 1477):
        taps.on_frame("k", frame)
    taps.drain()
    assert len(events) == 2
    taps.connect("other", FakePort())  # the released port serves the next call
    taps.connect("third", FakePort())
    taps.connect("fourth", FakePort())  # no port left: no tap, no crash


def test_info_dtmf_bodies_and_header_reading() -> None:
    from alertnode.voice.worker.sip_text import header, info_dtmf_digit, request_uri

    assert info_dtmf_digit("application/dtmf", "5\r\n") == "5"
    assert info_dtmf_digit("Application/DTMF; charset=x", "Signal= #") == "#"
    assert info_dtmf_digit("application/dtmf", "d") == "D"
    assert info_dtmf_digit("application/dtmf", "hello") == ""
    assert info_dtmf_digit("application/dtmf-relay", "Signal=5") == ""  # pjsua's own
    msg = "INFO sip:a@b:5 SIP/2.0\r\ni: abc\r\nc: application/dtmf\r\nl: 1\r\n\r\nX: not a header\r\n"
    assert (header(msg, "Call-ID"), header(msg, "Content-Type"), header(msg, "X")) == ("abc", "application/dtmf", "")
    assert request_uri(msg) == "sip:a@b:5"
