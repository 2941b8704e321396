"""Talk-off corpus for the DTMF detector: speech and music without DTMF, generated at run time.

Nothing here is committed audio: every chunk is synthesised from its set name and index (espeak-ng,
sox and numpy, all deterministic), so the corpus is as large as a run asks for. A chunk is 30 s of
8 kHz int16 with the list of what sounds where (``Segment``), so a false digit can be traced to the
voice, variant, rate and pitch that caused it.

Sets (``SETS``):

* ``speech-tuning`` / ``speech-heldout``: utterances of every espeak-ng language (``--voices``) and
  variant (``--voices=variant``, whispered, creaky and Klatt ones included), at slow to very fast
  rates (80–600 wpm), the whole pitch range (0–99) and, for a quarter of utterances, shifted by sox
  a further −7 to +9 semitones; texts in the language's own script where
  ``talkoff_text.NATIVE`` has one, else digits and English words. Levels −35 to −3 dBm0, a few
  clipped hot ones; half of the chunks mixed with noise (white, pink, brown, babble, mains hum) at
  3–25 dB SNR; half band-limited to 300–3400 Hz; G.711 µ-law, A-law or no round trip by index.
* ``music-tuning`` / ``music-heldout``: see ``talkoff_music``.

The held-out sets use only the languages in ``HELD_OUT_LANGUAGES`` and variants in
``HELD_OUT_VARIANTS`` (plus the default voice), the tuning sets only the others; the music sets
differ by seed and the held-out set alone has sox-synthesised instruments. These lists were fixed
before the detector was tuned on the tuning sets and must not be changed to suit a result.

``python tools/vectors/talkoff.py --write DIR --set speech-heldout --index 3`` writes one chunk as
WAV with its segment list, for listening or for other decoders.
"""

from __future__ import annotations

import argparse
import functools
import re
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

try:  # imported as tools.vectors.talkoff (tests, bench) or run as a script
    from . import talkoff_music, talkoff_text
except ImportError:  # pragma: no cover - script use
    import talkoff_music  # type: ignore[no-redef]
    import talkoff_text  # type: ignore[no-redef]

RATE = 8000
CHUNK_SECONDS = 30.0
DBM0_PEAK = 32124.0 * 10 ** (-3.17 / 20)  # ITU-T G.711: a 0 dBm0 sine (as node.media.dtmf)
DBM0_RMS = DBM0_PEAK / np.sqrt(2)
CODECS = ("linear", "ulaw", "alaw")

# Fixed before tuning (see the module docstring). Chosen for spread: scripts, tonal languages,
# English accents, and among variants a whispered, a creaky-ish, a Klatt and several robotic ones.
HELD_OUT_LANGUAGES = frozenset(
    {
        "af", "ar", "bn", "cmn-latn-pinyin", "cs", "cy", "de", "el", "en-gb-x-rp", "en-us-nyc", "es-419", "fa",
        "fi", "fr-be", "ga", "he", "hi", "hu", "id", "is", "ja", "ka", "ko", "lt", "nb", "pt-br", "ru", "sw",
        "ta", "th", "tr", "vi", "yue",
    }
)
HELD_OUT_VARIANTS = frozenset(
    {
        "whisperf", "grandma", "m8", "f1", "f4", "klatt3", "klatt6", "Storm", "Demonic", "robosoft5", "iven3",
        "steph2", "Andrea", "Hugo", "anika", "announcer", "norbert", "shelby", "aunty", "benjamin", "Jacky",
        "Michael", "RicishayMax2", "zac", "Mr serious",
    }
)

Int16 = npt.NDArray[np.int16]
Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Segment:
    start: int  # sample index in the chunk
    end: int
    label: str


@dataclass(frozen=True)
class Chunk:
    set_name: str
    index: int
    codec: str
    samples: Int16  # after the codec round trip
    segments: tuple[Segment, ...]
    note: str = ""

    def label_at(self, sample: int) -> str:
        for seg in self.segments:
            if seg.start <= sample < seg.end:
                return seg.label
        return "(pause)"


@dataclass(frozen=True)
class Voice:
    language: str  # espeak-ng language name (``--voices`` column Language)
    file: str  # its voice file, which ``-v`` always accepts


@functools.cache
def espeak_voices() -> tuple[Voice, ...]:
    """Every voice of the installed espeak-ng (one per voice file)."""
    out = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=True).stdout
    voices = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            voices.append(Voice(cols[1], cols[4]))
    return tuple(voices)


@functools.cache
def espeak_variants() -> tuple[str, ...]:
    """Every variant file name (``!v/NAME``), used as ``-v VOICE+NAME``; some names hold a space."""
    out = subprocess.run(
        ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
    ).stdout
    names = []
    for line in out.splitlines()[1:]:
        # The file column follows the name after one space or more; a file name may hold a space
        # ("Mr serious") and a column of other languages may follow it ("Storm  (en-us 5)").
        found = re.search(r"!v/(.+?)(?:\s{2,}|$)", line.strip())
        if found:
            names.append(found.group(1))
    return tuple(sorted(names))


def split_voices(held_out: bool) -> tuple[tuple[Voice, ...], tuple[str, ...]]:
    """The voices and variants of one split ("" is the voice's default and belongs to both)."""
    voices = tuple(v for v in espeak_voices() if (v.language in HELD_OUT_LANGUAGES) == held_out)
    variants = tuple(v for v in espeak_variants() if (v in HELD_OUT_VARIANTS) == held_out)
    return voices, ("", *variants)


def _seed(set_name: str, index: int) -> int:
    return zlib.crc32(f"{set_name}/{index}".encode())


# --------------------------------------------------------------------------- speech


def text_for(voice: Voice, rng: np.random.Generator) -> str:
    """A random stretch of the language's own text, or of digits and English words."""
    base = voice.language.split("-")[0]
    native = talkoff_text.NATIVE.get(voice.language) or talkoff_text.NATIVE.get(base)
    if base == "en":
        native = talkoff_text.ENGLISH
    if native and rng.random() < 0.85:
        words = native.split()
    else:
        words = list(rng.choice(talkoff_text.NUMBERS, 2)) + list(
            rng.choice(talkoff_text.ENGLISH.split(), 10)
        )
        rng.shuffle(words)
    n = int(rng.integers(4, 28))
    start = int(rng.integers(0, max(1, len(words) - n)))
    return " ".join(words[start : start + n])


def espeak(text: str, voice: str, rate: int, pitch: int, gap: int, semitones: float) -> Float:
    """espeak-ng's waveform at 8 kHz (float, int16 scale), optionally pitch-shifted by sox."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-g", str(gap), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    sr = int.from_bytes(wav[24:28], "little")
    data = np.frombuffer(wav[44 : 44 + (len(wav) - 44) // 2 * 2], dtype="<i2").astype(np.float64)
    if semitones:
        raw = subprocess.run(
            ["sox", "-t", "raw", "-r", str(sr), "-e", "signed", "-b", "16", "-c", "1", "-",
             "-t", "raw", "-e", "float", "-b", "32", "-r", str(RATE), "-", "pitch", str(round(semitones * 100))],
            input=data.astype("<i2").tobytes(),
            capture_output=True,
            check=True,
        ).stdout
        return np.frombuffer(raw, dtype="<f4").astype(np.float64) * 32768.0
    return np.asarray(soxr.resample(data, sr, RATE), dtype=np.float64)


def _draw_rate(rng: np.random.Generator) -> int:
    r = rng.random()
    if r < 0.3:
        return int(rng.integers(80, 140))  # slow
    if r < 0.6:
        return int(rng.integers(260, 601))  # fast
    return int(rng.integers(140, 260))


def _draw_pitch(rng: np.random.Generator) -> int:
    r = rng.random()
    if r < 0.3:
        return int(rng.integers(0, 15))  # low
    if r < 0.6:
        return int(rng.integers(85, 100))  # high
    return int(rng.integers(15, 85))


def speech_chunk(set_name: str, index: int) -> Chunk:
    """30 s of utterances from the split of ``set_name``, with noise, band and codec drawn by index."""
    held_out = set_name.endswith("heldout")
    voices, variants = split_voices(held_out)
    rng = np.random.default_rng(_seed(set_name, index))
    n_total = int(CHUNK_SECONDS * RATE)
    x = np.zeros(n_total)
    segments: list[Segment] = []
    pos = int(rng.integers(0, RATE))
    while pos < n_total:
        voice = voices[int(rng.integers(len(voices)))]
        variant = str(variants[int(rng.integers(len(variants)))]) if rng.random() < 0.85 else ""
        rate, pitch = _draw_rate(rng), _draw_pitch(rng)
        gap = int(rng.choice([0, 0, 0, 2, 5, 10]))
        semis = float(rng.uniform(-7, 9)) if rng.random() < 0.25 else 0.0
        text = text_for(voice, rng)
        name = voice.file + (f"+{variant}" if variant else "")
        try:
            s = espeak(text, name, rate, pitch, gap, semis)
        except subprocess.CalledProcessError:  # a voice this espeak-ng build cannot load
            continue
        hot = rng.random() < 0.05
        level = rng.uniform(0, 6) if hot else rng.uniform(-35, -3)
        s = s / (np.sqrt(np.mean(s**2)) + 1e-9) * DBM0_RMS * 10 ** (level / 20)
        n = min(len(s), n_total - pos)
        x[pos : pos + n] += s[:n]
        label = f"{name} -s {rate} -p {pitch} -g {gap}" + (f" pitch {semis:+.1f} st" if semis else "")
        segments.append(Segment(pos, pos + n, f"{label} {level:+.0f} dBm0: {text[:40]}"))
        pos += n + int(rng.integers(0, int(1.5 * RATE)))
    note = finish(x, rng, speech=True)
    codec = CODECS[index % 3]
    return Chunk(set_name, index, codec, apply_codec(x, codec), tuple(segments), note)


# --------------------------------------------------------------------------- channel effects


def _shaped_noise(n: int, rng: np.random.Generator, slope_db_per_oct: float) -> Float:
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spec *= np.where(f > 20, (np.maximum(f, 20) / 1000) ** (slope_db_per_oct / 6.02), 0.0)
    return np.fft.irfft(spec, n)


def _hum(n: int, rng: np.random.Generator) -> Float:
    mains = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / RATE
    return sum(
        (h**-1.0) * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) for h in range(1, 40, 2)
    ) + 0.3 * rng.normal(size=n)


def _babble(x: Float, rng: np.random.Generator) -> Float:
    """Other talkers: the chunk's own speech, shifted and some of it reversed."""
    out = np.zeros_like(x)
    for _ in range(4):
        y = np.roll(x, int(rng.integers(RATE, len(x) - RATE)))
        out += y[::-1] if rng.random() < 0.5 else y
    return out


def telephone_band(x: Float) -> Float:
    """300–3400 Hz (ITU-T G.712 channel), cosine edges 100 Hz wide, by FFT."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    lo = np.clip((f - 200) / 100, 0, 1)
    hi = np.clip((3500 - f) / 100, 0, 1)
    spec *= (0.5 - 0.5 * np.cos(np.pi * lo)) * (0.5 - 0.5 * np.cos(np.pi * hi))
    return np.fft.irfft(spec, len(x))


def finish(x: Float, rng: np.random.Generator, speech: bool) -> str:
    """Noise and band limit in place; returns a note of what was done."""
    notes = []
    active = x[np.abs(x) > 1.0]
    sig_power = float(np.mean(active**2)) if active.size else 1.0
    if rng.random() < 0.5:
        makers: dict[str, Callable[[], Float]] = {
            "white": lambda: rng.normal(size=len(x)),
            "pink": lambda: _shaped_noise(len(x), rng, -3.0),
            "brown": lambda: _shaped_noise(len(x), rng, -6.0),
            "hum": lambda: _hum(len(x), rng),
        }
        if speech:
            makers["babble"] = lambda: _babble(x, rng)
        kind = str(rng.choice(sorted(makers)))
        noise = makers[kind]()
        snr = float(rng.uniform(3, 25))
        noise *= np.sqrt(sig_power / 10 ** (snr / 10) / (np.mean(noise**2) + 1e-12))
        x += noise
        notes.append(f"{kind} noise {snr:.0f} dB SNR")
    if rng.random() < 0.5:
        x[:] = telephone_band(x)
        notes.append("300-3400 Hz")
    return ", ".join(notes)


def apply_codec(x: Float, codec: str) -> Int16:
    from alertnode.media import g711  # the node's own codec: the round trip a call makes

    y = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    if codec == "ulaw":
        return np.asarray(g711.ulaw_decode(g711.ulaw_encode(y)), dtype=np.int16)
    if codec == "alaw":
        return np.asarray(g711.alaw_decode(g711.alaw_encode(y)), dtype=np.int16)
    return y


# --------------------------------------------------------------------------- sets


def music_chunk(set_name: str, index: int) -> Chunk:
    rng = np.random.default_rng(_seed(set_name, index))
    x, segments = talkoff_music.render(rng, int(CHUNK_SECONDS * RATE), held_out=set_name.endswith("heldout"))
    level = rng.uniform(-28, -4)
    x *= DBM0_RMS * 10 ** (level / 20) / (np.sqrt(np.mean(x**2)) + 1e-9)
    note = finish(x, rng, speech=False) if rng.random() < 0.5 else ""
    codec = CODECS[index % 3]
    segs = tuple(Segment(a, b, lab) for a, b, lab in segments)
    return Chunk(set_name, index, codec, apply_codec(x, codec), segs, f"{level:+.0f} dBm0 {note}".strip())


SETS: dict[str, Callable[[str, int], Chunk]] = {
    "speech-tuning": speech_chunk,
    "speech-heldout": speech_chunk,
    "music-tuning": music_chunk,
    "music-heldout": music_chunk,
}


def chunk(set_name: str, index: int) -> Chunk:
    return SETS[set_name](set_name, index)


def main() -> int:
    import soundfile as sf

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=sorted(SETS), required=True)
    ap.add_argument("--index", type=int, nargs="+", required=True)
    ap.add_argument("--write", type=Path, required=True, help="directory for the WAV files")
    args = ap.parse_args()
    args.write.mkdir(parents=True, exist_ok=True)
    for i in args.index:
        c = chunk(args.set, i)
        path = args.write / f"{args.set}_{i:04d}_{c.codec}.wav"
        sf.write(path, c.samples, RATE, subtype="PCM_16")
        print(f"{path}  {c.note}")
        for seg in c.segments:
            print(f"  {seg.start / RATE:7.2f}-{seg.end / RATE:7.2f} s  {seg.label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
