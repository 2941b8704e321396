"""Music for the talk-off corpus (tools/vectors/talkoff.py), synthesised with numpy and sox.

``render(rng, n, held_out)`` fills ``n`` samples at 8 kHz with pieces of several kinds, one after
another (each a few seconds, overlapping a little):

* ``chords``: pads of 3–5 notes plus bass, harmonic timbres (string, brass, clarinet, organ, piano
  with inharmonic partials, flute with breath noise), envelopes and vibrato;
* ``melody``: a melody line over a bass, legato or staccato, with portamento;
* ``sweeps``: sine and sawtooth sweeps, dual sweeps (two clarinet-like tones a fixed interval
  apart), sirens, glissandi; one at a time, since two pure sines crossing a DTMF pair together are
  a DTMF signal;
* ``bells``: struck inharmonic partials (church bell, glockenspiel, marimba-like);
* ``drums``: kick, snare, hats and toms with a bass line;
* ``sox`` (held-out set only): sox's own synthesiser (pluck, square, triangle, trapezium, saw) with
  its chorus, reverb and overdrive effects.

Every note is from twelve-tone equal temperament (A = 440 Hz) with a little detune. Pure sine
dyads are avoided on purpose: F5 + E6 (698 + 1319 Hz) is, within Q.24's ±1.5 %, the DTMF digit 2
and a detector must report it; instruments carry harmonics, which is what the corpus tests.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

RATE = 8000
NYQUIST_GUARD = RATE / 2 - 200
Float = npt.NDArray[np.float64]
Piece = tuple[Float, str]

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "blues": (0, 3, 5, 6, 7, 10),
}


def midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _timbre(name: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(partial ratio, amplitude) pairs of an instrument-like tone."""
    h = np.arange(1, 17, dtype=np.float64)
    if name == "string":
        amps = h ** -rng.uniform(0.8, 1.4)
    elif name == "brass":
        amps = np.exp(-((h - rng.uniform(2, 4)) ** 2) / rng.uniform(4, 12))
    elif name == "clarinet":
        amps = np.where(h % 2 == 1, h ** -rng.uniform(0.7, 1.2), 0.05 * h**-1.0)
    elif name == "organ":
        amps = np.where(np.isin(h, [1, 2, 3, 4, 6, 8]), rng.uniform(0.2, 1.0, h.size), 0.0)
    elif name == "flute":
        amps = np.where(h <= 4, [1.0, rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.3), 0.05] + [0.0] * 12, 0.0)
    else:  # piano: stiff strings, partials drift sharp (B ~ 1e-4)
        b = rng.uniform(5e-5, 4e-4)
        return [(float(k * np.sqrt(1 + b * k * k)), float(k ** -1.2)) for k in range(1, 17)]
    return [(float(k), float(a)) for k, a in zip(h, amps, strict=True) if a > 1e-3]


TIMBRES = ("string", "brass", "clarinet", "organ", "flute", "piano")


def tone(
    f0: Float | float, n: int, timbre: list[tuple[float, float]], rng: np.random.Generator, vibrato: float = 0.0
) -> Float:
    """Partials of ``timbre`` on a fundamental ``f0`` (Hz, constant or per sample)."""
    t = np.arange(n) / RATE
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))
    if vibrato:
        f = f * (1 + vibrato * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t + rng.uniform(0, 6.3)))
    phase = 2 * np.pi * np.cumsum(f) / RATE
    out = np.zeros(n)
    for ratio, amp in timbre:
        if ratio * float(f.max()) >= NYQUIST_GUARD:
            break
        out += amp * np.sin(ratio * phase + rng.uniform(0, 2 * np.pi))
    return out


def envelope(n: int, rng: np.random.Generator, percussive: bool) -> Float:
    t = np.arange(n) / RATE
    attack = rng.uniform(0.002, 0.01) if percussive else rng.uniform(0.01, 0.15)
    decay = rng.uniform(2.0, 8.0) if percussive else rng.uniform(0.1, 1.5)
    env = np.minimum(1.0, t / attack) * np.exp(-t * decay)
    release = min(n, int(0.03 * RATE))
    env[n - release :] *= np.linspace(1, 0, release)
    return env


def _chords(rng: np.random.Generator, n: int) -> Piece:
    x = np.zeros(n)
    key = int(rng.integers(48, 60))
    scale = SCALES[str(rng.choice(list(SCALES)))]
    name = str(rng.choice(TIMBRES))
    timbre = _timbre(name, rng)
    pos = 0
    while pos < n - RATE // 10:
        m = min(n - pos, int(rng.uniform(0.3, 2.0) * RATE))
        deg = int(rng.integers(0, len(scale)))
        stack = [deg, deg + 2, deg + 4] + [deg + 6] * int(rng.random() < 0.4)
        octave = 12 * int(rng.integers(0, 3))
        notes = [key + octave + 12 * (s // len(scale)) + scale[s % len(scale)] for s in stack]
        notes.append(notes[0] - 12)
        chord = sum(
            rng.uniform(0.5, 1.0) * tone(midi_hz(k) * (1 + rng.normal(0, 0.002)), m, timbre, rng, 0.004)
            for k in notes
        )
        x[pos : pos + m] += chord * envelope(m, rng, name == "piano")
        pos += max(1, int(m * rng.uniform(0.6, 1.0)))
    return x, f"chords/{name}"


def _melody(rng: np.random.Generator, n: int) -> Piece:
    x = np.zeros(n)
    key = int(rng.integers(55, 72))
    scale = SCALES[str(rng.choice(list(SCALES)))]
    lead, bass = str(rng.choice(TIMBRES)), str(rng.choice(TIMBRES))
    t_lead, t_bass = _timbre(lead, rng), _timbre(bass, rng)
    step = rng.uniform(0.08, 0.5)  # seconds per note: fast runs to slow tunes
    legato = rng.random() < 0.5
    pos, deg, prev_f = 0, 0, midi_hz(key)
    while pos < n - RATE // 10:
        m = min(n - pos, int(step * RATE * rng.choice([1, 1, 2, 0.5])))
        deg = int(np.clip(deg + rng.integers(-3, 4), -7, 14))
        note = key + 12 * (deg // len(scale)) + scale[deg % len(scale)]
        f = midi_hz(note)
        glide = np.full(m, f)
        if legato and rng.random() < 0.3:  # portamento from the previous note
            g = min(m, int(0.06 * RATE))
            glide[:g] = np.geomspace(prev_f, f, g)
        length = m if legato else int(m * rng.uniform(0.3, 0.8))
        length = max(length, 8)
        x[pos : pos + length] += tone(glide[:length], length, t_lead, rng, 0.006) * envelope(
            length, rng, not legato
        )
        prev_f = f
        pos += m
    pos = 0
    while pos < n:  # bass: root notes, an octave or two below
        m = min(n - pos, int(step * 4 * RATE))
        f = midi_hz(key - 24 + scale[int(rng.integers(0, len(scale)))])
        x[pos : pos + m] += 0.7 * tone(f, m, t_bass, rng) * envelope(m, rng, True)
        pos += m
    return x, f"melody/{lead}+{bass}"


def _sweeps(rng: np.random.Generator, n: int) -> Piece:
    x = np.zeros(n)
    pos = 0
    kinds = []
    while pos < n - RATE // 10:
        m = min(n - pos, int(rng.uniform(0.5, 4.0) * RATE))
        t = np.arange(m) / RATE
        kind = str(rng.choice(["sine", "saw", "dual", "siren", "gliss"]))
        kinds.append(kind)
        f_a, f_b = rng.uniform(200, 3000, 2)
        if kind == "siren":
            f = rng.uniform(500, 1200) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.3, 3) * t))
            y = tone(f, m, _timbre("string", rng)[:3], rng)
        elif kind == "gliss":  # a run over the semitones, each held ~30-80 ms
            per = int(rng.uniform(0.03, 0.08) * RATE)
            start = rng.uniform(55, 80)
            f = midi_hz(start + np.floor(np.arange(m) / per) * rng.choice([-1, 1]))
            f = np.clip(f, 60, 3600)
            y = tone(f, m, _timbre(str(rng.choice(TIMBRES)), rng), rng)
        else:
            f = np.geomspace(f_a, f_b, m)
            if kind == "sine":
                y = tone(f, m, [(1.0, 1.0)], rng)
            elif kind == "saw":
                y = tone(f / 4, m, _timbre("string", rng), rng)
            else:  # two swept tones a fixed interval apart, with harmonics
                ratio = 2 ** (rng.integers(3, 13) / 12)
                tb = _timbre("clarinet", rng)
                y = tone(f / 2, m, tb, rng) + tone(f / 2 * ratio, m, tb, rng)
        x[pos : pos + m] += y * envelope(m, rng, False)
        pos += m  # one sweep at a time: two pure sines crossing a DTMF pair together would be DTMF
    return x, "sweeps/" + "+".join(sorted(set(kinds)))


BELLS = {
    "church": (0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 2.66, 3.01, 4.0),
    "glocken": (1.0, 2.76, 5.40, 8.93),
    "marimba": (1.0, 3.93, 9.54),
}


def _bells(rng: np.random.Generator, n: int) -> Piece:
    x = np.zeros(n)
    name = str(rng.choice(list(BELLS)))
    partials = BELLS[name]
    pos = 0
    while pos < n - RATE // 10:
        m = min(n - pos, int(rng.uniform(0.8, 3.0) * RATE))
        f0 = midi_hz(int(rng.integers(55, 84)))
        timbre = [(r, float(rng.uniform(0.2, 1.0))) for r in partials]
        t = np.arange(m) / RATE
        # Higher partials die away faster, as in struck metal and wood.
        y = np.zeros(m)
        for r, a in timbre:
            if r * f0 < NYQUIST_GUARD:
                y += a * np.sin(2 * np.pi * r * f0 * t + rng.uniform(0, 6.3)) * np.exp(-t * r * rng.uniform(0.5, 3))
        x[pos : pos + m] += y * envelope(m, rng, True)
        pos += int(rng.uniform(0.15, 1.0) * RATE)
    return x, f"bells/{name}"


def _drums(rng: np.random.Generator, n: int) -> Piece:
    x = np.zeros(n)
    beat = int(60 / rng.uniform(70, 180) / 2 * RATE)  # eighth notes
    key = int(rng.integers(28, 40))
    bass_t = _timbre(str(rng.choice(["string", "brass", "organ"])), rng)
    for i, pos in enumerate(range(0, n - beat, beat)):
        m = min(n - pos, 3 * beat)
        t = np.arange(m) / RATE
        if i % 4 == 0:  # kick: a falling sine
            f = 50 + 100 * np.exp(-t * 30)
            x[pos : pos + m] += 2.0 * np.sin(2 * np.pi * np.cumsum(f) / RATE) * np.exp(-t * 12)
        if i % 4 == 2:  # snare: noise and a 200 Hz body
            x[pos : pos + m] += (rng.normal(size=m) + np.sin(2 * np.pi * 200 * t)) * np.exp(-t * 25)
        hat = np.diff(rng.normal(size=m + 1)) * np.exp(-t * 80)  # differenced noise: high-passed
        x[pos : pos + m] += 0.4 * hat
        if rng.random() < 0.1:  # a tom with falling pitch
            f = rng.uniform(90, 250) * (1 + 0.5 * np.exp(-t * 20))
            x[pos : pos + m] += np.sin(2 * np.pi * np.cumsum(f) / RATE) * np.exp(-t * 10)
        if i % 2 == 0:
            b = min(n - pos, 2 * beat)
            f_b = midi_hz(key + int(rng.choice([0, 0, 5, 7, 12])))
            x[pos : pos + b] += 0.8 * tone(f_b, b, bass_t, rng) * envelope(b, rng, True)
    return x, "drums"


def _sox(rng: np.random.Generator, n: int) -> Piece:
    """A phrase of notes from sox's synth with one of its effects."""
    kind = str(rng.choice(["pluck", "square", "triangle", "trapezium", "sawtooth"]))
    effect = [
        [],
        ["chorus", "0.7", "0.9", "55", "0.4", "0.25", "2", "-t"],
        ["reverb", "50"],
        ["overdrive", "10"],
        ["tremolo", "6", "60"],
    ][int(rng.integers(0, 5))]
    notes = rng.integers(45, 84, int(rng.integers(6, 20)))
    dur = n / RATE / len(notes)
    parts = []
    for k in notes:
        cmd = ["sox", "-n", "-r", str(RATE), "-t", "raw", "-e", "float", "-b", "32", "-c", "1", "-",
               "synth", f"{dur:.3f}", kind, f"{midi_hz(int(k)):.2f}", "fade", "0.005", f"{dur:.3f}", "0.05"]
        raw = subprocess.run(cmd + effect, capture_output=True, check=True).stdout
        parts.append(np.frombuffer(raw, dtype="<f4").astype(np.float64))
    y = np.concatenate(parts)[:n]
    return np.pad(y, (0, n - len(y))), f"sox/{kind}/{effect[0] if effect else 'dry'}"


KINDS: dict[str, Callable[[np.random.Generator, int], Piece]] = {
    "chords": _chords,
    "melody": _melody,
    "sweeps": _sweeps,
    "bells": _bells,
    "drums": _drums,
}


def render(rng: np.random.Generator, n: int, held_out: bool) -> tuple[Float, list[tuple[int, int, str]]]:
    kinds = dict(KINDS)
    if held_out:
        kinds["sox"] = _sox
    x = np.zeros(n)
    segments = []
    pos = 0
    while pos < n - RATE // 10:
        m = min(n - pos, int(rng.uniform(4, 12) * RATE))
        name = str(rng.choice(sorted(kinds)))
        y, label = kinds[name](rng, m)
        y /= np.sqrt(np.mean(y**2)) + 1e-9
        x[pos : pos + m] += y * rng.uniform(0.5, 1.0)
        segments.append((pos, pos + m, label))
        pos += m
    return x, segments
