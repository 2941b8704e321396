"""DTMF test vectors: every accept/reject category of DESIGN.md, and talk-off material.

Categories (``categories(seed)``): each is a list of ``Vector``s, 8 kHz int16, with random tone
phases, random start offsets relative to the 20 ms frame grid and random digits. ``expected`` is
the exact digit string a detector must report ("" on reject rows).

Level convention (ITU-T G.711, same as ``node.media.dtmf.DBM0_PEAK``): 0 dBm0 is a sine of peak
32,124 × 10^(−3.17/20) ≈ 22,304; levels are per tone. Twist is the level of the high-group tone
minus the low-group tone; the stronger tone sits at the stated level. SNR is the power of both
tones against white noise over the whole 0–4 kHz band.

Talk-off material (no DTMF): ``speech_chunk(i)`` is 30 s of espeak-ng speech (voices, variants,
rates, pitches and texts drawn from seed i), ``music_chunk(i)`` 30 s of chords of harmonic tones
with envelopes and vibrato. Chunks are cached as WAV under ``tools/vectors/cache/`` (gitignored),
so tests and benchmarks synthesize each once. 40 chunks of each = 20 minutes.

Run ``python tools/vectors/dtmf_vectors.py --talkoff 40`` to fill the cache, ``--write DIR`` to
write every category as WAV files for listening or for other decoders.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

RATE = 8000
DBM0_PEAK = 32124.0 * 10 ** (-3.17 / 20)
LOW = {"1": 697, "2": 697, "3": 697, "A": 697, "4": 770, "5": 770, "6": 770, "B": 770}
LOW |= {"7": 852, "8": 852, "9": 852, "C": 852, "*": 941, "0": 941, "#": 941, "D": 941}
HIGH = {"1": 1209, "4": 1209, "7": 1209, "*": 1209, "2": 1336, "5": 1336, "8": 1336, "0": 1336}
HIGH |= {"3": 1477, "6": 1477, "9": 1477, "#": 1477, "A": 1633, "B": 1633, "C": 1633, "D": 1633}
DIGITS = "123A456B789C*0#D"
CACHE = Path(__file__).resolve().parent / "cache"
CHUNK_SECONDS = 30.0

Int16 = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Vector:
    category: str
    accept: bool
    expected: str
    samples: Int16
    note: str = ""


@dataclass(frozen=True)
class Tone:
    digit: str
    on_ms: float
    off_ms: float = 60.0
    level_dbm0: float = -10.0
    twist_db: float = 0.0
    dev_low: float = 0.0
    dev_high: float = 0.0
    dropout_ms: float = 0.0  # silence in the middle of the tone


def _amp(level_dbm0: float) -> float:
    return DBM0_PEAK * 10 ** (level_dbm0 / 20)


def synth(tones: list[Tone], rng: np.random.Generator, snr_db: float | None = None) -> Int16:
    """A signal holding ``tones`` in order, after a random lead-in (random frame offset)."""
    lead = int(rng.integers(160, 480))
    parts: list[npt.NDArray[np.float64]] = [np.zeros(lead)]
    powers: list[float] = []
    for t in tones:
        n = round(t.on_ms * RATE / 1000)
        k = np.arange(n)
        if t.twist_db >= 0:  # high group stronger: it sits at the stated level
            a_hi, a_lo = _amp(t.level_dbm0), _amp(t.level_dbm0 - t.twist_db)
        else:
            a_lo, a_hi = _amp(t.level_dbm0), _amp(t.level_dbm0 + t.twist_db)
        f_lo = LOW[t.digit] * (1 + t.dev_low)
        f_hi = HIGH[t.digit] * (1 + t.dev_high)
        sig = a_lo * np.sin(2 * np.pi * f_lo * k / RATE + rng.uniform(0, 2 * np.pi))
        sig += a_hi * np.sin(2 * np.pi * f_hi * k / RATE + rng.uniform(0, 2 * np.pi))
        if t.dropout_ms:
            d = round(t.dropout_ms * RATE / 1000)
            mid = n // 2 - d // 2
            sig[mid : mid + d] = 0.0
        powers.append((a_lo**2 + a_hi**2) / 2)
        parts.append(sig)
        parts.append(np.zeros(round(t.off_ms * RATE / 1000)))
    parts.append(np.zeros(int(rng.integers(400, 800))))
    x = np.concatenate(parts)
    if snr_db is not None:
        noise_power = float(np.mean(powers)) / 10 ** (snr_db / 10)
        x = x + rng.normal(0.0, np.sqrt(noise_power), len(x))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list(DIGITS), n))


def categories(seed: int = 1, per_category: int = 12) -> dict[str, list[Vector]]:
    """Every accept and reject category, ``per_category`` vectors each (some use all 16 digits)."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Vector]] = {}

    def add(name: str, accept: bool, make: Callable[[], tuple[list[Tone], float | None]]) -> None:
        vecs = []
        for _ in range(per_category):
            tones, snr = make()
            expected = "".join(t.digit for t in tones) if accept else ""
            vecs.append(Vector(name, accept, expected, synth(tones, rng, snr)))
        out[name] = vecs

    def sign() -> float:
        return float(rng.choice([-1.0, 1.0]))

    add("all_digits", True, lambda: ([Tone(d, 60, 60) for d in rng.permutation(list(DIGITS))], None))
    add("string_40on_40off", True, lambda: ([Tone(d, 40, 40) for d in _digits(rng, 16)], None))
    add("duration_40ms", True, lambda: ([Tone(d, 40, 100) for d in _digits(rng, 4)], None))
    add("duration_22ms_reject", False, lambda: ([Tone(d, 22.5, 100) for d in _digits(rng, 4)], None))
    add(
        "duration_short_reject",
        False,
        lambda: ([Tone(d, rng.uniform(5, 20), 100) for d in _digits(rng, 4)], None),
    )
    add(
        "freq_dev_1.5pct",
        True,
        lambda: (
            [Tone(d, 60, 60, dev_low=0.015 * sign(), dev_high=0.015 * sign()) for d in _digits(rng, 4)],
            None,
        ),
    )

    def dev_reject() -> tuple[list[Tone], float | None]:
        tones = []
        for d in _digits(rng, 4):
            which = int(rng.integers(0, 3))
            lo = 0.035 * sign() if which in (0, 2) else 0.0
            hi = 0.035 * sign() if which in (1, 2) else 0.0
            tones.append(Tone(d, 60, 60, dev_low=lo, dev_high=hi))
        return tones, None

    add("freq_dev_3.5pct_reject", False, dev_reject)
    add("twist_high_4dB", True, lambda: ([Tone(d, 60, 60, twist_db=4.0) for d in _digits(rng, 4)], None))
    add("twist_low_8dB", True, lambda: ([Tone(d, 60, 60, twist_db=-8.0) for d in _digits(rng, 4)], None))
    add(
        "twist_high_10dB_reject",
        False,
        lambda: ([Tone(d, 60, 60, twist_db=10.0) for d in _digits(rng, 4)], None),
    )
    add(
        "twist_low_14dB_reject",
        False,
        lambda: ([Tone(d, 60, 60, twist_db=-14.0) for d in _digits(rng, 4)], None),
    )
    add("level_-3dBm0", True, lambda: ([Tone(d, 60, 60, level_dbm0=-3) for d in _digits(rng, 4)], None))
    add("level_-36dBm0", True, lambda: ([Tone(d, 60, 60, level_dbm0=-36) for d in _digits(rng, 4)], None))
    add(
        "level_-50dBm0_reject",
        False,
        lambda: ([Tone(d, 60, 60, level_dbm0=-50) for d in _digits(rng, 4)], None),
    )
    add("snr_12dB", True, lambda: ([Tone(d, 60, 60, level_dbm0=-15) for d in _digits(rng, 4)], 12.0))
    add("dropout_10ms", True, lambda: ([Tone(d, 110, 80, dropout_ms=10) for d in _digits(rng, 4)], None))
    return out


# --------------------------------------------------------------------------- talk-off material

_TEXT = (
    "the alarm system reports a fault in building seven please acknowledge this message by pressing one "
    "water pressure temperature sensor north wing pump station failed restarted engineer on call "
    "tomorrow morning evening meeting schedule cancelled weather report rain sunshine clouds wind from "
    "the west traffic on the motorway is heavy between junction four and five school closed because "
    "of snow parents collect children before noon hospital ward three needs additional staff tonight "
    "server disk full database backup completed successfully network switch rebooted firewall update "
    "hello good morning how are you thank you very much goodbye see you later yes no maybe "
    "one two three four five six seven eight nine zero hundred thousand first second third "
    "emergency exit fire drill evacuation assembly point car park visitors reception delivery "
    "music concert orchestra violin piano trumpet singing choir beautiful wonderful amazing quiet loud"
)
_WORDS = tuple(_TEXT.split(" "))

_VOICES = ("en-gb", "en-us", "en-gb-scotland", "en-029", "de", "fr", "es", "it", "nl", "pt", "pl", "sv")
_VARIANTS = ("", "+m1", "+m3", "+m5", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5", "+klatt", "+klatt2")


def _cached(kind: str, index: int, make: Callable[[], Int16]) -> Int16:
    path = CACHE / f"{kind}_{index:03d}.wav"
    if path.exists():
        data, _ = sf.read(path, dtype="int16")
        return np.asarray(data, dtype=np.int16)
    CACHE.mkdir(parents=True, exist_ok=True)
    x = make()
    tmp = path.with_suffix(".tmp.wav")
    sf.write(tmp, x, RATE, subtype="PCM_16")
    tmp.replace(path)
    return x


def _espeak(text: str, voice: str, rate: int, pitch: int) -> npt.NDArray[np.float64]:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "s.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        data, sr = sf.read(out, dtype="float64")
    return np.asarray(soxr.resample(data, sr, RATE), dtype=np.float64)


def speech_chunk(index: int) -> Int16:
    """30 s of varied espeak-ng speech, no DTMF; deterministic in ``index``; cached."""

    def make() -> Int16:
        rng = np.random.default_rng(10_000 + index)
        parts: list[npt.NDArray[np.float64]] = []
        total = 0
        while total < CHUNK_SECONDS * RATE:
            text = " ".join(rng.choice(_WORDS, int(rng.integers(6, 30))))
            voice = str(rng.choice(_VOICES)) + str(rng.choice(_VARIANTS))
            s = _espeak(text, voice, int(rng.integers(110, 260)), int(rng.integers(15, 90)))
            rms = np.sqrt(np.mean(s**2)) + 1e-12
            level = DBM0_PEAK / np.sqrt(2) * 10 ** (rng.uniform(-28, -8) / 20)
            parts.append(s / rms * level)
            parts.append(np.zeros(int(rng.integers(0, 4000))))
            total += len(parts[-1]) + len(parts[-2])
        x = np.concatenate(parts)[: int(CHUNK_SECONDS * RATE)]
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)

    return _cached("speech", index, make)


def music_chunk(index: int) -> Int16:
    """30 s of chords of harmonic tones (envelopes, vibrato, bass, melody); no DTMF; cached."""

    def make() -> Int16:
        rng = np.random.default_rng(20_000 + index)
        n_total = int(CHUNK_SECONDS * RATE)
        x = np.zeros(n_total + RATE * 3)
        pos = 0
        key = int(rng.integers(0, 12))
        scale = np.array([0, 2, 4, 5, 7, 9, 11])
        while pos < n_total:
            dur = rng.uniform(0.25, 2.0)
            n = int(dur * RATE)
            degree = int(rng.integers(0, 7))
            stack = [degree, degree + 2, degree + 4] + ([degree + 6] if rng.random() < 0.4 else [])
            octave = int(rng.integers(4, 6))
            notes = [12 * (octave + s // 7) + key + int(scale[s % 7]) for s in stack]
            notes.append(notes[0] - 12 * int(rng.integers(1, 3)))  # bass
            if rng.random() < 0.6:  # melody note above
                notes.append(12 * (octave + 1) + key + int(rng.choice(scale)) + 12 * int(rng.integers(0, 2)))
            t = np.arange(n) / RATE
            attack = rng.uniform(0.005, 0.08)
            env = np.minimum(1.0, t / attack) * np.exp(-t * rng.uniform(0.2, 3.0))
            alpha = rng.uniform(0.4, 1.6)
            n_harm = int(rng.integers(4, 12))
            vib = 1 + rng.uniform(0, 0.004) * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
            chord = np.zeros(n)
            for note in notes:
                f0 = 440.0 * 2 ** ((note - 69) / 12) * (1 + rng.normal(0, 0.002))
                gain = rng.uniform(0.5, 1.0)
                for h in range(1, n_harm + 1):
                    f = f0 * h
                    if f >= RATE / 2 - 200:
                        break
                    phase = 2 * np.pi * np.cumsum(f * vib) / RATE + rng.uniform(0, 2 * np.pi)
                    chord += gain * h**-alpha * np.sin(phase)
            chord *= env
            x[pos : pos + n] += chord
            pos += int(n * rng.uniform(0.6, 1.0))  # chords overlap a little, like a sustain pedal
        x = x[:n_total]
        rms = np.sqrt(np.mean(x**2)) + 1e-12
        x = x / rms * DBM0_PEAK / np.sqrt(2) * 10 ** (rng.uniform(-22, -10) / 20)
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)

    return _cached("music", index, make)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--talkoff", type=int, default=0, help="synthesize this many 30 s chunks of each set")
    ap.add_argument("--write", type=Path, help="write every category vector as WAV into this directory")
    args = ap.parse_args()
    for i in range(args.talkoff):
        speech_chunk(i)
        music_chunk(i)
        print(f"talk-off chunk {i} ready", flush=True)
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, vecs in categories().items():
            for j, v in enumerate(vecs):
                label = v.expected.replace("*", "s").replace("#", "h") or "none"
                sf.write(args.write / f"{name}_{j:02d}_{label}.wav", v.samples, RATE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
