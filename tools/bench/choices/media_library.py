#!/usr/bin/env python3
"""Why soundfile + soxr and not pydub for prompts: the same inputs through both, compared.

    .venv/bin/python tools/bench/choices/media_library.py [--prompts 20]

Needs the ``bench`` extra (pydub 0.25.1) and ffmpeg (Debian), which pydub runs. Printed:

1. decoding: WAV files as editors and TTS services write them (WAVE_FORMAT_EXTENSIBLE with 32-bit
   and 64-bit float, plain IEEE float, 24-bit PCM); the samples each library returns against the
   samples written (SNR; "exact" when equal to float precision);
2. resampling 48 kHz -> 8 kHz (every prompt is resampled to the call's clock): a sweep from 4.5 to
   20 kHz, all of it above the 4 kHz Nyquist frequency of the output, so everything that comes out
   is aliasing; next to it the input's own energy below 4 kHz (the floor no resampler can go under),
   the level of a 3.4 kHz tone (top of the telephone band, ITU-T G.712) and of a 1 kHz tone;
3. time per prompt: a 10 s stereo 44.1 kHz MP3 and the same as 16-bit WAV, decoded and converted to
   8 kHz mono 16-bit, ``--prompts`` times each: wall time, CPU time (this process and its children)
   and processes started per prompt; the node's path is ``alertnode.media.decode.decode``;
4. ``audioop``: whether each library imports where audioop is gone (Python 3.13, PEP 594), and with
   warnings as errors (the test suite's setting) on this interpreter.

Exits non-zero only when the script itself fails (pydub or ffmpeg missing).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402
from report import imports_without_audioop, print_table  # noqa: E402

from alertnode.media.decode import decode  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pydub imports audioop: measured in part 4
    try:
        from pydub import AudioSegment
    except ImportError:
        AudioSegment = None

RATE_IN = 48000
RATE_OUT = 8000
Floats = npt.NDArray[np.float64]


def snr_db(ref: Floats, got: Floats) -> float:
    err = float(np.sum((got - ref) ** 2))
    return float("inf") if err == 0 else 10 * np.log10(float(np.sum(ref**2)) / err)


def level_db(x: npt.ArrayLike) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def pydub_samples(seg: Any) -> Floats:
    """pydub's samples as floats where 1.0 is full scale (its integer samples over 2^(bits-1))."""
    raw = np.array(seg.get_array_of_samples(), dtype=np.float64)
    return raw / float(1 << (8 * seg.sample_width - 1))


# ------------------------------------------------------------------------------ 1. decoding


def decoding() -> list[list[str]]:
    t = np.arange(RATE_IN) / RATE_IN
    ref = 0.5 * np.sin(2 * np.pi * 440 * t)  # 1 s, 440 Hz, -6 dBFS
    cases = [
        ("WAVE_FORMAT_EXTENSIBLE, 32-bit float", "WAVEX", "FLOAT"),
        ("WAVE_FORMAT_EXTENSIBLE, 64-bit float", "WAVEX", "DOUBLE"),
        ("WAVE_FORMAT_IEEE_FLOAT, 32-bit float", "WAV", "FLOAT"),
        ("WAVE_FORMAT_EXTENSIBLE, 24-bit PCM", "WAVEX", "PCM_24"),
    ]
    rows = []
    for name, major, subtype in cases:
        buf = io.BytesIO()
        sf.write(buf, ref, RATE_IN, format=major, subtype=subtype)
        data = buf.getvalue()
        written, _ = sf.read(io.BytesIO(data), dtype="float64")  # what the file holds (24-bit rounds)
        rows.append([name, _pydub_decode(data, written), _verdict(snr_db(written, _sf_decode(data)))])
    return rows


def _pydub_decode(data: bytes, written: Floats) -> str:
    try:
        seg = AudioSegment.from_file(io.BytesIO(data), format="wav")
    except Exception as exc:  # a refusal is a fair result; only silence about it is not
        return f"refused: {type(exc).__name__}"
    try:
        got = pydub_samples(seg)
    except Exception as exc:
        return f"decoded without error, then {type(exc).__name__}: {exc} on use"
    if len(got) != len(written):
        return f"{len(got)} samples instead of {len(written)}, no error"
    return _verdict(snr_db(written, got)) + ("" if snr_db(written, got) > 60 else ", no error raised")


def _sf_decode(data: bytes) -> Floats:
    got, _ = sf.read(io.BytesIO(data), dtype="float64")
    return np.asarray(got, dtype=np.float64)


def _verdict(snr: float) -> str:
    if snr > 140:
        return "exact"
    return f"SNR {snr:.1f} dB" + (" (wrong samples)" if snr < 30 else "")


# ------------------------------------------------------------------------------ 2. resampling


def _tone(freq: float, seconds: float) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * RATE_IN)) / RATE_IN
    return np.round(0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _sweep() -> npt.NDArray[np.int16]:
    """2 s linear sweep 4.5 -> 20 kHz at -6 dBFS, faded in and out over 100 ms so that its ends put
    no click (broadband energy) below 4 kHz."""
    seconds, f0, f1 = 2.0, 4500.0, 20000.0
    t = np.arange(int(seconds * RATE_IN)) / RATE_IN
    x = 0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2))
    n = int(0.1 * RATE_IN)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return np.round(x * 32767).astype(np.int16)


def _in_band_db(x: npt.NDArray[np.int16]) -> float:
    """Energy of x below RATE_OUT/2, relative to all of x: what an ideal resampler would keep."""
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE_IN)
    return float(10 * np.log10(spec[freqs < RATE_OUT / 2].sum() / spec.sum()))


def _by_pydub(x: npt.NDArray[np.int16]) -> Floats:
    seg = AudioSegment(x.tobytes(), frame_rate=RATE_IN, sample_width=2, channels=1)
    return pydub_samples(seg.set_frame_rate(RATE_OUT))


def _by_soxr(quality: str | None) -> Callable[[npt.NDArray[np.int16]], Floats]:
    def run(x: npt.NDArray[np.int16]) -> Floats:
        y = x.astype(np.float64) / 32768
        out = soxr.resample(y, RATE_IN, RATE_OUT) if quality is None else soxr.resample(y, RATE_IN, RATE_OUT, quality)
        return np.asarray(out, dtype=np.float64)

    return run


def resampling() -> tuple[float, list[list[str]]]:
    sweep = _sweep()
    floor = _in_band_db(sweep)
    t34, t1k = _tone(3400, 1.0), _tone(1000, 1.0)
    methods: list[tuple[str, Callable[[npt.NDArray[np.int16]], Floats]]] = [
        ("pydub set_frame_rate (audioop.ratecv)", _by_pydub),
        ("soxr default (HQ): the node's decode.to_pcm16", _by_soxr(None)),
        ("soxr VHQ", _by_soxr("VHQ")),
        ("soxr MQ", _by_soxr("MQ")),
        ("soxr LQ", _by_soxr("LQ")),
        ("soxr QQ", _by_soxr("QQ")),
    ]
    rows = []
    for name, fn in methods:
        alias = level_db(fn(sweep)) - level_db(sweep.astype(np.float64) / 32768)
        g34 = _gain(fn, t34)
        g1k = _gain(fn, t1k)
        rows.append([name, f"{alias:+.1f} dB", f"{g34:+.2f} dB", f"{g1k:+.2f} dB"])
    return floor, rows


def _gain(fn: Callable[[npt.NDArray[np.int16]], Floats], x: npt.NDArray[np.int16]) -> float:
    y = fn(x)
    edge = len(y) // 10  # leave out the filters' start and end
    return level_db(y[edge:-edge]) - level_db(x.astype(np.float64) / 32768)


# ------------------------------------------------------------------------------ 3. time per prompt


class _CountingPopen(subprocess.Popen):  # type: ignore[type-arg]
    started = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _CountingPopen.started += 1
        super().__init__(*args, **kwargs)


def _prompt_files() -> dict[str, bytes]:
    rate = 44100
    t = np.arange(10 * rate) / rate
    voice = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    voice += 0.05 * np.sin(2 * np.pi * 1800 * t)
    stereo = np.stack([voice, 0.8 * voice], axis=1).astype(np.float32)
    files = {}
    for name, major, subtype in (("mp3", "MP3", "MPEG_LAYER_III"), ("wav", "WAV", "PCM_16")):
        buf = io.BytesIO()
        sf.write(buf, stereo, rate, format=major, subtype=subtype)
        files[name] = buf.getvalue()
    return files


def _time_it(fn: Callable[[], object], n: int) -> tuple[float, float, int]:
    """(wall s, CPU s of this process and its children, processes started) per call."""
    _CountingPopen.started = 0
    real = subprocess.Popen
    subprocess.Popen = _CountingPopen  # type: ignore[misc]
    try:
        c0, t0 = os.times(), time.perf_counter()
        for _ in range(n):
            fn()
        t1, c1 = time.perf_counter(), os.times()
    finally:
        subprocess.Popen = real  # type: ignore[misc]
    cpu = (c1.user + c1.system + c1.children_user + c1.children_system) - (
        c0.user + c0.system + c0.children_user + c0.children_system
    )
    return (t1 - t0) / n, cpu / n, _CountingPopen.started // n


def per_prompt(n: int) -> list[list[str]]:
    rows = []
    for fmt, content in _prompt_files().items():

        def by_pydub(content: bytes = content, fmt: str = fmt) -> bytes:
            seg = AudioSegment.from_file(io.BytesIO(content), format=fmt)
            return bytes(seg.set_channels(1).set_frame_rate(RATE_OUT).set_sample_width(2).raw_data)

        def by_node(content: bytes = content, fmt: str = fmt) -> bytes:
            return decode(content, fmt, RATE_OUT, max_seconds=300).tobytes()

        by_node()  # first call loads libsndfile's codecs: not a per-prompt cost
        by_pydub()
        for name, fn in (("pydub", by_pydub), ("soundfile + soxr (node)", by_node)):
            wall, cpu, procs = _time_it(fn, n)
            rows.append(
                [f"10 s stereo 44.1 kHz {fmt}", name, f"{wall * 1000:.1f} ms", f"{cpu * 1000:.1f} ms", str(procs)]
            )
    return rows


# ------------------------------------------------------------------------------ 4. audioop


def strict_import(module: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode == 0:
        return "imports"
    last = (proc.stderr.strip().splitlines() or ["?"])[-1]
    return "DeprecationWarning: 'audioop' is deprecated" if "audioop" in last else last[:60]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=20, help="decodes per library and format")
    args = ap.parse_args()
    if AudioSegment is None:
        print("pydub is not installed: .venv/bin/pip install -e '.[voice,test,bench]'", file=sys.stderr)
        return 1
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not installed (Debian: apt-get install ffmpeg); pydub runs it", file=sys.stderr)
        return 1
    print(f"pydub 0.25.1, soundfile {sf.__version__} (libsndfile {sf.__libsndfile_version__}), soxr {soxr.__version__}")
    print_table(
        "1. Decoding WAV (48 kHz mono, 440 Hz at -6 dBFS), samples against those written",
        ["file", "pydub AudioSegment.from_file", "soundfile (node)"],
        decoding(),
    )
    floor, rows = resampling()
    print_table(
        f"2. Resampling 48 kHz -> 8 kHz. Sweep 4.5-20 kHz: what comes out is aliasing "
        f"(the input's own energy below 4 kHz: {floor:+.1f} dB)",
        ["resampler", "sweep out/in", "3.4 kHz tone", "1 kHz tone"],
        rows,
    )
    print_table(
        f"3. One prompt to 8 kHz mono 16-bit, mean of {args.prompts}",
        ["prompt", "library", "wall time", "CPU (with children)", "processes started"],
        per_prompt(args.prompts),
    )
    print_table(
        f"4. audioop (Python {sys.version_info.major}.{sys.version_info.minor} here)",
        ["library", "import without audioop (Python 3.13)", "import with -W error::DeprecationWarning"],
        [
            ["pydub", imports_without_audioop("pydub"), strict_import("pydub")],
            ["soundfile + soxr", imports_without_audioop("soundfile, soxr"), strict_import("soundfile, soxr")],
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
