"""DTMF detector: every accept/reject category of DESIGN.md, plain and after G.711 round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.media import dtmf, g711
from alertnode.media.dtmf import DtmfDetector, DtmfEvent, DtmfEventKind, DtmfStream, detect_digits
from tools.vectors.dtmf_vectors import DIGITS, Tone, categories, music_chunk, speech_chunk, synth

CATEGORIES = categories(seed=7, per_category=8)
CODECS = {
    "linear": lambda x: x,
    "ulaw": lambda x: g711.ulaw_decode(g711.ulaw_encode(x)),
    "alaw": lambda x: g711.alaw_decode(g711.alaw_encode(x)),
}


def digits_of(x: np.ndarray) -> str:
    return "".join(s.digit for s in detect_digits(x))


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize("name", list(CATEGORIES))
def test_category(name: str, codec: str) -> None:
    for vec in CATEGORIES[name]:
        got = digits_of(CODECS[codec](vec.samples))
        assert got == vec.expected, f"{name}/{codec}: expected {vec.expected!r}, got {got!r}"


def test_categories_cover_design_requirements() -> None:
    names = set(CATEGORIES)
    for required in (
        "string_40on_40off",
        "duration_40ms",
        "duration_22ms_reject",
        "freq_dev_1.5pct",
        "freq_dev_3.5pct_reject",
        "twist_high_4dB",
        "twist_low_8dB",
        "level_-3dBm0",
        "level_-36dBm0",
        "level_-50dBm0_reject",
        "snr_12dB",
        "dropout_10ms",
    ):
        assert required in names
    assert any(not v[0].accept for v in CATEGORIES.values())
    assert all(v.expected == "" for name, vecs in CATEGORIES.items() for v in vecs if not v.accept)


@settings(max_examples=25, deadline=None)
@given(
    digits=st.text(alphabet=DIGITS, min_size=1, max_size=6),
    on_ms=st.integers(40, 120),
    off_ms=st.integers(40, 120),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_string_of_valid_tones_is_found_exactly(digits: str, on_ms: int, off_ms: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = synth([Tone(d, on_ms, off_ms, level_dbm0=float(rng.uniform(-30, -5))) for d in digits], rng)
    assert digits_of(x) == digits


def test_event_times_follow_the_tone() -> None:
    x = np.zeros(8000, dtype=np.int16)
    n = np.arange(800)  # 100 ms of '5' starting at 300 ms
    amp = dtmf.DBM0_PEAK * 10 ** (-10 / 20)
    tone = amp * (np.sin(2 * np.pi * 770 * n / 8000) + np.sin(2 * np.pi * 1336 * n / 8000))
    x[2400:3200] = np.round(tone).astype(np.int16)
    stream = DtmfStream()
    events = stream.feed(x) + stream.flush()
    assert [(e.digit, e.kind) for e in events] == [("5", DtmfEventKind.START), ("5", DtmfEventKind.END)]
    start, end = events
    assert abs(start.at_ms - 300) <= 10
    assert abs(end.at_ms - 400) <= 10
    assert abs(end.duration_ms - 100) <= 15


def test_batch_equals_single_channel_and_keeps_channels_apart() -> None:
    rng = np.random.default_rng(3)
    strings = ["123", "", "A#0", "9*D4", "7"]
    signals = [synth([Tone(d, 60, 60) for d in s], rng) for s in strings]
    length = max(len(s) for s in signals) + 1600
    length += (-length) % dtmf.FRAME
    batch = np.zeros((len(signals), length), dtype=np.int16)
    for i, s in enumerate(signals):
        batch[i, : len(s)] = s
    det = DtmfDetector(len(signals))
    events: list[DtmfEvent] = []
    for t in range(length // dtmf.FRAME):
        events += det.process(batch[:, t * dtmf.FRAME : (t + 1) * dtmf.FRAME], t * 20.0)
    for i, s in enumerate(strings):
        starts = [e for e in events if e.channel == i and e.kind is DtmfEventKind.START]
        ends = [e for e in events if e.channel == i and e.kind is DtmfEventKind.END]
        assert "".join(e.digit for e in starts) == s
        assert "".join(e.digit for e in ends) == s
        single = detect_digits(batch[i])
        assert [(sp.digit, sp.start_ms) for sp in single] == [(e.digit, e.at_ms) for e in starts]


def test_float_input_is_full_scale_one() -> None:
    rng = np.random.default_rng(4)
    x = synth([Tone("8", 60, 60), Tone("#", 60, 60)], rng)
    assert digits_of(x.astype(np.float64) / 32768.0) == "8#"


def test_reset_forgets_a_digit_in_progress() -> None:
    rng = np.random.default_rng(5)
    x = synth([Tone("3", 200, 0)], rng)[:1600]
    det = DtmfDetector(2)
    frames = np.zeros((2, dtmf.FRAME), dtype=np.int16)
    started = []
    for t in range(len(x) // dtmf.FRAME):
        frames[1] = x[t * dtmf.FRAME : (t + 1) * dtmf.FRAME]
        started += det.process(frames, t * 20.0)
    assert [(e.channel, e.digit, e.kind) for e in started] == [(1, "3", DtmfEventKind.START)]
    det.reset(1)
    silence = np.zeros((2, dtmf.FRAME), dtype=np.int16)
    after = [e for t in range(10) for e in det.process(silence, 1000.0 + 20 * t)]
    assert after == []


def test_add_channel_keeps_existing_state() -> None:
    rng = np.random.default_rng(6)
    x = synth([Tone("6", 100, 100)], rng)
    x = np.concatenate([x, np.zeros((-len(x)) % dtmf.FRAME + 1600, dtype=np.int16)])
    det = DtmfDetector(1)
    events: list[DtmfEvent] = []
    half = (len(x) // dtmf.FRAME) // 2
    for t in range(len(x) // dtmf.FRAME):
        if t == half:
            assert det.add_channel() == 1
        frame = x[t * dtmf.FRAME : (t + 1) * dtmf.FRAME]
        frames = frame[None, :] if det.channels == 1 else np.stack([frame, np.zeros_like(frame)])
        events += det.process(frames, t * 20.0)
    assert [(e.channel, e.digit) for e in events] == [(0, "6"), (0, "6")]


def test_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError):
        DtmfDetector(2).process(np.zeros((3, 160), dtype=np.int16), 0.0)


def test_no_false_digits_on_two_minutes_of_speech_and_music() -> None:
    # The 40-minute talk-off measurement is tools/bench/dtmf.py; this is a small regression slice.
    for chunk in (speech_chunk(0), speech_chunk(1), music_chunk(0), music_chunk(1)):
        for codec in CODECS.values():
            assert digits_of(codec(chunk)) == ""


@settings(max_examples=25, deadline=None)
@given(
    digits=st.text(alphabet=DIGITS, min_size=1, max_size=4),
    on_ms=st.floats(3.0, 22.9),
    level=st.floats(-36.0, -3.0),
    codec=st.sampled_from(list(CODECS)),
    seed=st.integers(0, 2**32 - 1),
)
def test_tones_shorter_than_23ms_are_never_digits(
    digits: str, on_ms: float, level: float, codec: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = synth([Tone(d, on_ms, 60, level_dbm0=level) for d in digits], rng)
    assert digits_of(CODECS[codec](x)) == ""


@settings(max_examples=25, deadline=None)
@given(
    digit=st.sampled_from(DIGITS),
    # Up to 6.5 %: further off, a tone nears the next DTMF frequency of its group (~10.5 % away).
    dev=st.floats(0.035, 0.065),
    sign=st.sampled_from([-1.0, 1.0]),
    which=st.sampled_from(["low", "high", "both"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_tones_off_by_3_5_percent_or_more_are_never_digits(
    digit: str, dev: float, sign: float, which: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    lo = sign * dev if which in ("low", "both") else 0.0
    hi = sign * dev if which in ("high", "both") else 0.0
    x = synth([Tone(digit, 100, 60, dev_low=lo, dev_high=hi)], rng)
    assert digits_of(x) == ""
