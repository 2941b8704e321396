"""A labelled answering-machine corpus, generated at run time from espeak-ng (no audio is committed).

Every clip is what the node receives from the moment a call is answered: 8 kHz int16, labelled
with the truth (``human``, ``machine`` or ``unknown``), the times of its speech and of its
voicemail beeps. Categories (``CATEGORIES``, counts at ``scale=1``):

* ``human_word``: a person picks up after 0.15-0.9 s and says one short word ("Hello?", "Ja?",
  "Allô?", "¿Diga?", ...), then waits in silence;
* ``human_again``: the same, then after a pause of 0.8-3 s a second short word or question;
* ``human_named``: "<name> speaking", "Met <name>", "<name> à l'appareil", sometimes followed by
  a second word after a pause;
* ``human_late``: a person who speaks only after 1-2.5 s;
* ``machine_greeting``: a voicemail greeting of two to five sentences (opener, middles, closer)
  with pauses of 0.1-0.9 s between sentences, after 0-1.2 s of silence, no beep;
* ``machine_beep``: a greeting of one to five sentences, then a beep 0.1-1.2 s later: one steady
  tone of 400-2,000 Hz lasting 0.2-1 s, sometimes two beeps, sometimes with a second harmonic;
* ``machine_beep_only``: a mailbox that only beeps;
* ``silence``: digital silence or comfort noise; ``noise``: white, pink, brown noise or mains hum
  with no speech (truth ``unknown``).

Voices: the languages of ``amd_texts.LANGUAGES`` with all their espeak-ng voices, crossed with
every espeak-ng variant (``espeak-ng --voices=variant``, read at run time; the variant is chosen in
rotation so that each appears), at rates of 120-230 words per minute (people answering: 150-230, a
conversational rate), pitches 15-85 and word gaps of 0-30 ms. Speech is set to -32..-12 dBm0.
Background noise on 60 % of speech clips: white, pink, brown noise or mains hum at SNR 30, 20, 15
or 10 dB, or babble of four other espeak-ng talkers at SNR 30 or 20 dB (a background talker only
15 dB below the person is speech of its own: the truth would be ambiguous). Half the clips are
band-limited to 300-3,400 Hz as by the PSTN; then a G.711 µ-law or A-law round trip on 70 %.

Held out from tuning (chosen before any tuning, never changed after): every clip spoken in a
language of ``HELDOUT_LANGUAGES`` or by a voice of ``HELDOUT_VOICES``, or with a variant whose
CRC-32 is divisible by 4 (about a quarter of them); non-speech clips with an index divisible by 3.

Use ``corpus(seed, scale)`` for the list of clips, ``python tools/vectors/amd_corpus.py --write DIR``
to write them as WAV files for listening.
"""

from __future__ import annotations

import argparse
import functools
import io
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

if __package__ in (None, ""):  # run as a script: make tools.vectors importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.vectors.amd_texts import LANGUAGES, Language

RATE = 8000
DBM0_PEAK = 32124.0 * 10 ** (-3.17 / 20)  # ITU-T G.711: a sine at 0 dBm0 (as node.media.dtmf)
DBM0_RMS = DBM0_PEAK / np.sqrt(2)

HELDOUT_LANGUAGES = frozenset({"nl", "pl", "cs"})
HELDOUT_VOICES = frozenset({"en-gb-scotland", "en-029", "es-419"})

Float = npt.NDArray[np.float64]
Int16 = npt.NDArray[np.int16]

# category -> (truth, clips at scale 1)
CATEGORIES: dict[str, tuple[str, int]] = {
    "human_word": ("human", 160),
    "human_again": ("human", 80),
    "human_named": ("human", 100),
    "human_late": ("human", 40),
    "machine_greeting": ("machine", 160),
    "machine_beep": ("machine", 200),
    "machine_beep_only": ("machine", 20),
    "silence": ("unknown", 30),
    "noise": ("unknown", 50),
}


@dataclass(frozen=True)
class Beep:
    start_ms: float
    end_ms: float
    freq_hz: float


@dataclass(frozen=True)
class Clip:
    name: str
    category: str
    truth: str  # "human" | "machine" | "unknown"
    split: str  # "tune" | "heldout"
    voice: str  # espeak-ng voice+variant, "" for clips without speech
    codec: str  # "linear" | "ulaw" | "alaw"
    noise: str  # "none" | "white" | "pink" | "brown" | "hum" | "babble"
    snr_db: float | None
    samples: Int16
    speech_start_ms: float | None  # first speech after the answer
    first_end_ms: float | None  # end of the first utterance (a person's word, a greeting's first sentence)
    speech_end_ms: float | None  # end of the last speech
    beeps: tuple[Beep, ...] = ()
    speech_frames: npt.NDArray[np.bool_] | None = None  # per 20 ms frame: speech (within 25 dB of its RMS)


@functools.cache
def variants() -> tuple[str, ...]:
    """Every espeak-ng variant name ("" = the voice's own), sorted: the rotation is stable."""
    out = subprocess.run(["espeak-ng", "--voices=variant"], check=True, capture_output=True, text=True).stdout
    names = {line.split()[4].removeprefix("!v/") for line in out.splitlines()[1:] if len(line.split()) >= 5}
    return ("", *sorted(names))


def is_heldout(language: str, voice: str, variant: str) -> bool:
    return (
        language in HELDOUT_LANGUAGES
        or voice in HELDOUT_VOICES
        or (variant != "" and zlib.crc32(variant.encode()) % 4 == 0)
    )


@functools.lru_cache(maxsize=4096)
def speech(text: str, voice: str, rate: int = 175, pitch: int = 50, gap: int = 0) -> Float:
    """espeak-ng speech at 8 kHz, trimmed to its active part, RMS 1 over the active part (read-only:
    the result is cached)."""
    proc = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-g", str(gap), "--stdout", text],
        check=True,
        capture_output=True,
    )
    data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float64")
    x = np.asarray(soxr.resample(data, sr, RATE), dtype=np.float64)
    env = np.convolve(x**2, np.ones(80) / 80, mode="same")
    on = np.flatnonzero(env > env.max() * 10 ** (-45 / 10))
    if on.size == 0:
        raise ValueError(f"espeak-ng produced no speech for {text!r} ({voice})")
    x = x[on[0] : on[-1] + 1]
    active = env[on[0] : on[-1] + 1] > env.max() * 10 ** (-30 / 10)
    x = x / (np.sqrt(np.mean(x[active] ** 2)) + 1e-12)
    x.flags.writeable = False
    return x


@dataclass
class _Voice:
    language: Language
    voice: str
    variant: str
    rate: int
    pitch: int
    gap: int

    @property
    def spec(self) -> str:
        return self.voice + (f"+{self.variant}" if self.variant else "")

    def say(self, text: str) -> Float:
        return speech(text, self.spec, self.rate, self.pitch, self.gap)


def _pick_voice(rng: np.random.Generator, rotation: int) -> _Voice:
    langs = LANGUAGES
    weights = np.array([4.0 if lang.code == "en" else 1.0 for lang in langs])
    language = langs[int(rng.choice(len(langs), p=weights / weights.sum()))]
    voice = str(rng.choice(language.voices))
    var = variants()
    return _Voice(
        language,
        voice,
        var[rotation % len(var)],
        int(rng.integers(120, 231)),
        int(rng.integers(15, 86)),
        int(rng.choice([0, 0, 0, 1, 2, 3])),
    )


def _fill(rng: np.random.Generator, template: str, lang: Language) -> str:
    return template.format(name=str(rng.choice(lang.names)), company=str(rng.choice(lang.companies)))


def tone(freq: float, ms: float, rng: np.random.Generator | None = None, harmonic_db: float | None = None) -> Float:
    """A unit-RMS sine of ``ms`` with 5 ms raised-cosine edges (random phase with ``rng``)."""
    n = round(ms * RATE / 1000)
    t = np.arange(n) / RATE
    x = np.sin(2 * np.pi * freq * t + (rng.uniform(0, 2 * np.pi) if rng is not None else 0.0))
    if harmonic_db is not None and 2 * freq < RATE / 2 - 100:
        x += 10 ** (harmonic_db / 20) * np.sin(4 * np.pi * freq * t)
    ramp = min(n // 2, 40)  # 5 ms raised-cosine edges, as tone generators have
    if ramp:
        edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        x[:ramp] *= edge
        x[-ramp:] *= edge[::-1]
    return x / np.sqrt(np.mean(x**2))


def noise(kind: str, n: int, rng: np.random.Generator) -> Float:
    """``n`` samples of unit-RMS noise: white, pink, brown, hum (50/60 Hz and harmonics) or babble."""
    if kind == "white":
        x = rng.normal(0, 1, n)
    elif kind in ("pink", "brown"):
        spec = np.fft.rfft(rng.normal(0, 1, n))
        f = np.fft.rfftfreq(n, 1 / RATE)
        shape = 1 / np.maximum(f, 20.0) ** (0.5 if kind == "pink" else 1.0)
        x = np.fft.irfft(spec * shape, n)
    elif kind == "hum":
        t = np.arange(n) / RATE
        mains = float(rng.choice([50.0, 60.0]))
        x = sum(
            (0.6**h) * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3)) for h in (1, 2, 3, 4, 5, 6, 7)
        ) + 0.05 * rng.normal(0, 1, n)
    elif kind == "babble":
        x = np.zeros(n)
        for k in range(4):
            v = _pick_voice(rng, int(rng.integers(0, 1000)))
            lang = v.language
            pos = int(rng.integers(0, RATE))
            while pos < n:
                s = v.say(_fill(rng, str(rng.choice(lang.openers + lang.middles + lang.closers)), lang))
                m = min(len(s), n - pos)
                x[pos : pos + m] += s[:m]
                pos += m + int(rng.integers(0, RATE // 2))
            del k
    else:
        raise ValueError(kind)
    return np.asarray(x / (np.sqrt(np.mean(x**2)) + 1e-12), dtype=np.float64)


def _telephone_band(x: Float) -> Float:
    """300-3,400 Hz (ITU-T G.712 channel), smooth edges, zero phase."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    gain = np.clip((f - 200) / 100, 0, 1) * np.clip((3600 - f) / 200, 0, 1)
    return np.fft.irfft(spec * gain, len(x))


def g711_round_trip(x: Int16, codec: str) -> Int16:
    """``x`` through a G.711 ``ulaw`` or ``alaw`` encoder and decoder (``linear``: unchanged)."""
    from alertnode.media import g711

    if codec == "ulaw":
        return g711.ulaw_decode(g711.ulaw_encode(x))
    if codec == "alaw":
        return g711.alaw_decode(g711.alaw_encode(x))
    return x


@dataclass
class _Scene:
    """Speech and tones placed on the answer's time line (ms), before level, noise and codec."""

    pieces: list[tuple[float, Float]]
    beeps: list[tuple[float, float, float, float, float | None]]  # start, end, freq, level rel. speech, harmonic
    length_ms: float
    first_end_ms: float | None = None


def _speech_scene(rng: np.random.Generator, category: str, v: _Voice) -> _Scene:
    lang = v.language
    pieces: list[tuple[float, Float]] = []
    t = 0.0

    def put(at_ms: float, s: Float) -> float:
        pieces.append((at_ms, s))
        return at_ms + 1000 * len(s) / RATE

    if category.startswith("human"):
        t = float(rng.uniform(1000, 2500) if category == "human_late" else rng.uniform(150, 900))
        first = _fill(rng, str(rng.choice(lang.named if category == "human_named" else lang.words)), lang)
        t = put(t, v.say(first))
        first_end = t
        second = category == "human_again" or (category in ("human_named", "human_late") and rng.random() < 0.4)
        if second:
            t = put(t + float(rng.uniform(800, 3000)), v.say(_fill(rng, str(rng.choice(lang.again)), lang)))
        return _Scene(pieces, [], max(6000.0, t + 1500.0), first_end)

    t = float(rng.uniform(0, 1200))
    n_mid = int(rng.integers(0, 3))
    sentences = [str(rng.choice(lang.openers))] + [str(s) for s in rng.choice(lang.middles, n_mid, replace=False)]
    if rng.random() < 0.8:
        sentences.append(str(rng.choice(lang.closers)))
    if category == "machine_beep" and rng.random() < 0.15:
        sentences = sentences[:1]
    elif len(sentences) < 2:
        sentences.append(str(rng.choice(lang.closers)))
    ends = []
    for i, text in enumerate(sentences):
        if i:
            t += float(rng.uniform(100, 900))
        t = put(t, v.say(_fill(rng, text, lang)))
        ends.append(t)
    beeps: list[tuple[float, float, float, float, float | None]] = []
    if category == "machine_beep":
        t += float(rng.uniform(100, 1200))
        t = _add_beeps(rng, t, beeps)
    return _Scene(pieces, beeps, max(5000.0, t + 1500.0), ends[0])


def _add_beeps(
    rng: np.random.Generator, t: float, beeps: list[tuple[float, float, float, float, float | None]]
) -> float:
    freq = float(rng.choice([425.0, 850.0, 1000.0, 1400.0])) if rng.random() < 0.25 else float(rng.uniform(400, 2000))
    level = float(rng.uniform(-6, 6))
    harmonic = float(rng.uniform(-25, -15)) if rng.random() < 0.2 else None
    if rng.random() < 0.15:  # two short beeps
        for _ in range(2):
            d = float(rng.uniform(150, 300))
            beeps.append((t, t + d, freq, level, harmonic))
            t += d + float(rng.uniform(100, 250))
        return t
    d = float(rng.uniform(200, 1000))
    beeps.append((t, t + d, freq, level, harmonic))
    return t + d


def render(seed: int, category: str, index: int) -> Clip:
    """Clip ``index`` of ``category``; deterministic in its three arguments."""
    cat_no = list(CATEGORIES).index(category)
    rng = np.random.default_rng([seed, cat_no, index])
    truth = CATEGORIES[category][0]
    name = f"{category}_{index:03d}"
    codec = str(rng.choice(["linear", "ulaw", "alaw"], p=[0.3, 0.4, 0.3]))
    band = bool(rng.random() < 0.5)
    if category in ("silence", "noise"):
        n = 6 * RATE
        if category == "silence":
            kind = "none" if rng.random() < 0.4 else "white"
            x = (
                np.zeros(n)
                if kind == "none"
                else noise("white", n, rng) * DBM0_RMS * 10 ** (rng.uniform(-75, -60) / 20)
            )
        else:
            kind = str(rng.choice(["white", "pink", "brown", "hum"]))
            x = noise(kind, n, rng) * DBM0_RMS * 10 ** (rng.uniform(-50, -25) / 20)
        x = _telephone_band(x) if band else x
        pcm = g711_round_trip(np.clip(np.round(x), -32768, 32767).astype(np.int16), codec)
        split = "heldout" if index % 3 == 0 else "tune"
        return Clip(name, category, truth, split, "", codec, kind, None, pcm, None, None, None)

    v = _pick_voice(rng, index * 7 + cat_no * 13)
    if category.startswith("human"):  # people answering talk at a conversational rate; recordings vary more
        v.rate = int(rng.integers(150, 231))
    if category == "machine_beep_only":
        beeps: list[tuple[float, float, float, float, float | None]] = []
        end = _add_beeps(rng, float(rng.uniform(200, 1500)), beeps)
        scene = _Scene([], beeps, max(5000.0, end + 3000.0))
    else:
        scene = _speech_scene(rng, category, v)
    n = round(scene.length_ms * RATE / 1000)
    speech = np.zeros(n)
    for at, s in scene.pieces:
        i = round(at * RATE / 1000)
        speech[i : i + len(s)] += s[: n - i]
    level = DBM0_RMS * 10 ** (rng.uniform(-32, -12) / 20)  # speech level over its active part
    x = speech * level
    for start, end, freq, rel_db, harm in scene.beeps:
        i = round(start * RATE / 1000)
        beep = tone(freq, end - start, rng, harm) * level * 10 ** (rel_db / 20)
        x[i : i + len(beep)] += beep[: n - i]
    noise_kind, snr = "none", None
    if rng.random() < 0.6:
        noise_kind = str(rng.choice(["white", "pink", "brown", "hum", "babble"], p=[0.25, 0.25, 0.15, 0.15, 0.2]))
        snr = float(rng.choice([30.0, 20.0, 15.0, 10.0]))
        if noise_kind == "babble":  # a talker in the background 15 dB below the person is speech of its own
            snr = max(snr, 20.0)
        x = x + noise(noise_kind, n, rng) * level * 10 ** (-snr / 20)
    x = _telephone_band(x) if band else x
    pcm = g711_round_trip(np.clip(np.round(x), -32768, 32767).astype(np.int16), codec)
    starts = [at for at, _ in scene.pieces]
    ends = [at + 1000 * len(s) / RATE for at, s in scene.pieces]
    return Clip(
        name=name,
        category=category,
        truth=truth,
        split="heldout" if is_heldout(v.language.code, v.voice, v.variant) else "tune",
        voice=v.spec if scene.pieces else "",
        codec=codec,
        noise=noise_kind,
        snr_db=snr,
        samples=pcm,
        speech_start_ms=min(starts) if starts else None,
        first_end_ms=scene.first_end_ms,
        speech_end_ms=max(ends) if ends else None,
        beeps=tuple(Beep(s, e, f) for s, e, f, _, _ in scene.beeps),
        speech_frames=np.mean(speech[: n - n % 160].reshape(-1, 160) ** 2, axis=1) > 10 ** (-25 / 10),
    )


def _render_job(job: tuple[int, str, int]) -> Clip:
    return render(*job)


def jobs(seed: int = 1, scale: float = 1.0) -> list[tuple[int, str, int]]:
    return [
        (seed, category, i) for category, (_, count) in CATEGORIES.items() for i in range(max(1, round(count * scale)))
    ]


def corpus(seed: int = 1, scale: float = 1.0, workers: int = 1) -> Iterator[Clip]:
    """Every clip at ``scale`` (1.0 = the counts of CATEGORIES), rendered by ``workers`` processes."""
    todo = jobs(seed, scale)
    if workers <= 1:
        yield from map(_render_job, todo)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(_render_job, todo, chunksize=8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", type=Path, required=True, help="directory for the WAV files")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=0.1)
    args = ap.parse_args()
    args.write.mkdir(parents=True, exist_ok=True)
    label: Callable[[Clip], str] = lambda c: f"{c.name}_{c.truth}_{c.split}_{c.codec}_{c.noise}"  # noqa: E731
    for clip in corpus(args.seed, args.scale, workers=2):
        sf.write(args.write / f"{label(clip)}.wav", clip.samples, RATE, subtype="PCM_16")
        print(clip.name, clip.voice, clip.codec, clip.noise, clip.snr_db, clip.beeps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
