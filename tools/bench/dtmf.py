"""DTMF benchmark: the node's detector next to Debian's multimon-ng, on the same vectors.

    .venv/bin/python tools/bench/dtmf.py [--per-category 20] [--talkoff-chunks 40] [--quick]

Prints, for the node's detector (node.media.dtmf) and multimon-ng (``-a DTMF -t raw``):

* hits per accept/reject category (tools/vectors/dtmf_vectors.py), plain and after µ-law and
  A-law round trips: a hit is exactly the expected digit string (nothing on reject rows);
* false digits per hour on each talk-off set (espeak-ng speech, music-like chords; 30 s chunks,
  40 of each = 20 minutes), plain and after µ-law;
* throughput as channels in real time per CPU core (process CPU time, BLAS on one thread):
  frame by frame (1 channel) and batched at 100 and 1,000 channels, the channels carrying the
  talk-off audio at different offsets; best and median of ``--repeats`` runs (the machine is
  shared with other work); multimon-ng's own rate on one stream as the baseline.

multimon-ng's raw input is 16-bit native-endian at its demodulator rate of 22,050 Hz (its -h says
so), so the 8 kHz vectors are resampled with soxr for it; fed 8 kHz it would mis-time every tone.

Floors (exit status 1 if one is missed): every category passed by the node's detector, at most
2 false digits per hour on each talk-off set, at least 3,000 channels in real time per core
batched (at 100 and at 1,000 channels).
"""

from __future__ import annotations

import os

# One BLAS thread: the figure asked for is per CPU core.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soxr  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alertnode.media import dtmf, g711  # noqa: E402
from tools.vectors.dtmf_vectors import categories, music_chunk, speech_chunk  # noqa: E402

MULTIMON_RATE = 22050
FLOOR_FALSE_PER_HOUR = 2.0
FLOOR_CHANNELS = 3000

CODECS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "ulaw": lambda x: g711.ulaw_decode(g711.ulaw_encode(x)),
    "alaw": lambda x: g711.alaw_decode(g711.alaw_encode(x)),
}


def node_digits(x: np.ndarray) -> str:
    return "".join(s.digit for s in dtmf.detect_digits(x))


def multimon_digits(x: np.ndarray) -> str:
    y = soxr.resample(x.astype(np.float32) / 32768.0, dtmf.SAMPLE_RATE, MULTIMON_RATE)
    pad = np.zeros(MULTIMON_RATE // 2, dtype=np.float32)  # let it finish the last tone
    raw = np.clip(np.round(np.concatenate([y, pad]) * 32768.0), -32768, 32767).astype(np.int16).tobytes()
    proc = subprocess.run(
        ["multimon-ng", "-q", "-a", "DTMF", "-t", "raw", "-"], input=raw, capture_output=True, check=True
    )
    return "".join(
        line.split(":", 1)[1].strip()
        for line in proc.stdout.decode().splitlines()
        if line.startswith("DTMF:")
    )


def bench_categories(per_category: int) -> bool:
    cats = categories(seed=2024, per_category=per_category)
    print(f"\n== categories ({per_category} vectors each; hits = exact digit string, '' on reject rows)")
    print(f"{'category':28s} {'codec':7s} {'node':>9s} {'multimon-ng':>12s}")
    all_pass = True
    totals = {"node": 0, "mm": 0, "n": 0}
    for name, vecs in cats.items():
        for codec, f in CODECS.items():
            node_hits = mm_hits = 0
            for v in vecs:
                x = f(v.samples)
                node_hits += node_digits(x) == v.expected
                mm_hits += multimon_digits(x) == v.expected
            n = len(vecs)
            totals["node"] += node_hits
            totals["mm"] += mm_hits
            totals["n"] += n
            mark = "" if node_hits == n else "   <-- node below floor"
            all_pass &= node_hits == n
            print(f"{name:28s} {codec:7s} {node_hits:>4d}/{n:<4d} {mm_hits:>7d}/{n:<4d}{mark}")
    print(
        f"{'total':28s} {'':7s} {totals['node']:>4d}/{totals['n']:<4d} {totals['mm']:>7d}/{totals['n']:<4d}"
    )
    return all_pass


def bench_talkoff(chunks: int) -> tuple[bool, dict[str, np.ndarray]]:
    sets = {
        "speech": np.concatenate([speech_chunk(i) for i in range(chunks)]),
        "music": np.concatenate([music_chunk(i) for i in range(chunks)]),
    }
    print(f"\n== talk-off (false digits; {chunks} x 30 s per set)")
    print(f"{'set':8s} {'codec':7s} {'minutes':>8s} {'node':>16s} {'multimon-ng':>20s}")
    ok = True
    for name, x in sets.items():
        for codec in ("linear", "ulaw"):
            y = CODECS[codec](x)
            minutes = len(y) / dtmf.SAMPLE_RATE / 60
            n_node = len(node_digits(y))
            n_mm = len(multimon_digits(y))
            per_h_node = n_node / minutes * 60
            per_h_mm = n_mm / minutes * 60
            mark = "" if per_h_node <= FLOOR_FALSE_PER_HOUR else "   <-- node above floor"
            ok &= per_h_node <= FLOOR_FALSE_PER_HOUR
            print(
                f"{name:8s} {codec:7s} {minutes:8.1f} {n_node:5d} ({per_h_node:5.1f}/h) "
                f"{n_mm:7d} ({per_h_mm:7.1f}/h){mark}"
            )
    return ok, sets


def _cpu() -> float:
    return time.process_time()


def bench_throughput(audio: np.ndarray, seconds: float, repeats: int) -> bool:
    print("\n== throughput (channels in real time per CPU core; process CPU time, one BLAS thread)")
    ok = True
    frames_total = len(audio) // dtmf.FRAME
    rng = np.random.default_rng(1)
    for channels in (1, 100, 1000):
        ticks = max(50, int(seconds * 50))  # 50 ticks per second of audio per channel
        offsets = rng.integers(0, frames_total - ticks - 1, channels)
        # Gathering the frames is the caller's work: done before the clock starts.
        frames = [
            audio[((offsets + t) * dtmf.FRAME)[:, None] + np.arange(dtmf.FRAME)[None, :]]
            for t in range(ticks)
        ]
        runs = []
        for _ in range(repeats):  # the machine is shared: the best run is the detector's own cost
            det = dtmf.DtmfDetector(channels)
            t0 = _cpu()
            for t in range(ticks):
                det.process(frames[t], t * 20.0)
            runs.append(_cpu() - t0)
        cpu = min(runs)
        audio_s = ticks * dtmf.FRAME / dtmf.SAMPLE_RATE
        rt = channels * audio_s / cpu
        median_rt = channels * audio_s / float(np.median(runs))
        label = "frame by frame" if channels == 1 else f"batched {channels}"
        floor = (
            "" if channels == 1 else (" (floor 3000)" if rt >= FLOOR_CHANNELS else "   <-- below floor 3000")
        )
        if channels > 1:
            ok &= rt >= FLOOR_CHANNELS
        print(
            f"node {label:16s} {channels:5d} ch: {cpu * 1e3 / ticks:7.3f} ms CPU per 20 ms tick -> "
            f"{rt:7.0f} best, {median_rt:7.0f} median of {repeats}{floor}"
        )
    # Baseline: multimon-ng's CPU time on one stream of the same audio.
    n = min(len(audio), int(120 * dtmf.SAMPLE_RATE))
    y = soxr.resample(audio[:n].astype(np.float32) / 32768.0, dtmf.SAMPLE_RATE, MULTIMON_RATE)
    raw = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16).tobytes()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["multimon-ng", "-q", "-a", "DTMF", "-t", "raw", "-"], input=raw, capture_output=True, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rate = n / dtmf.SAMPLE_RATE / max(cpu, 1e-6)
    print(f"multimon-ng one stream (22,050 Hz input): {rate:8.0f} channels in real time per core")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-category", type=int, default=20)
    ap.add_argument(
        "--talkoff-chunks", type=int, default=40, help="30 s chunks per talk-off set (40 = 20 min)"
    )
    ap.add_argument(
        "--seconds", type=float, default=10.0, help="audio seconds per channel in throughput runs"
    )
    ap.add_argument("--repeats", type=int, default=5, help="throughput runs per size; the best counts")
    ap.add_argument("--quick", action="store_true", help="5 vectors per category, 4 chunks, 3 s")
    args = ap.parse_args()
    if args.quick:
        args.per_category, args.talkoff_chunks, args.seconds = 5, 4, 3.0
    cats_ok = bench_categories(args.per_category)
    talk_ok, sets = bench_talkoff(args.talkoff_chunks)
    thr_ok = bench_throughput(np.concatenate([sets["speech"], sets["music"]]), args.seconds, args.repeats)
    print("\n== floors")
    print(f"every category passed (node):           {'PASS' if cats_ok else 'FAIL'}")
    print(f"<= {FLOOR_FALSE_PER_HOUR:g} false digits/hour per talk-off set:  {'PASS' if talk_ok else 'FAIL'}")
    print(f">= {FLOOR_CHANNELS} channels real time per core batched: {'PASS' if thr_ok else 'FAIL'}")
    return 0 if cats_ok and talk_ok and thr_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
