"""Answering-machine detection while the prompt plays: what the prompt's echo, and the sent audio fed to
the detector, do to people and machines.

    .venv/bin/python tools/bench/amd_echo.py [--scale 0.15] [--seed 1]

In a call the prompt starts on the detector's first ``human`` verdict (a person is presumed by 1.5 s);
from then on the far end's audio carries the prompt's echo, and a machine presumed a person must still
be found from its greeting, which goes on under the prompt. Every speech clip of the answering-machine
corpus (tools/vectors/amd_corpus.py: people and greetings, espeak-ng) is run through the detector so:
the prompt (the stock pre and post prompts, audio/) starts on the clip's first human verdict, its echo
comes back 40 ms later at a given loss (none, or 10 to 30 dB down), and the detector is fed what was
sent or not, with an echo margin of 6 dB (the detector's default, ITU-T G.168's least hybrid loss) up
to 30 dB. Printed per setting: people taken for machines, machines found. The worker runs 20 dB
(node/voice/worker/amd.py): networks cancel echo (ITU-T G.131, G.168), and a greeting 6 dB or more
below the prompt is no echo.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path[0] = str(ROOT)  # run as a script, sys.path[0] is tools/bench, whose email.py shadows the stdlib

from alertnode.media.amd import AmdConfig, AmdDecision, AmdDetector, Verdict  # noqa: E402
from alertnode.media.stock import stock_bytes  # noqa: E402
from tools.vectors import amd_corpus  # noqa: E402
from tools.vectors.amd_corpus import Clip  # noqa: E402

FRAME = 160
ECHO_DELAY_FRAMES = 2  # 40 ms: a network round trip plus the far end's hybrid
SETTINGS: list[tuple[float, float | None, bool]] = [  # margin dB, echo loss dB (None: no echo), sent fed
    (6, None, False), (6, 26, False), (6, 20, False), (6, 10, False),
    (6, None, True), (6, 10, True),
    (12, None, True), (12, 10, True),
    (16, None, True), (16, 20, True),
    (20, None, True), (20, 26, True), (20, 20, True), (20, 16, True),
    (24, None, True), (24, 26, True),
]  # fmt: skip


def prompt() -> np.ndarray:
    parts = [sf.read(io.BytesIO(stock_bytes(name)), dtype="float64")[0] for name in ("pre", "post")]
    return np.concatenate(parts) * 32768


def run(clips: list[Clip], sent_audio: np.ndarray, margin: float, echo_db: float | None, feed: bool) -> dict[str, int]:
    n = len(clips)
    frames = max(len(c.samples) for c in clips) // FRAME
    det = AmdDetector(n, AmdConfig(echo_margin_db=margin))
    for i in range(n):
        det.start(i, 0.0)
    start = np.full(n, -1)
    final: list[str] = ["none"] * n
    rx = np.zeros((n, FRAME))
    tx = np.zeros((n, FRAME))
    gain = 0.0 if echo_db is None else 10 ** (-echo_db / 20)
    for t in range(frames):
        rx[:] = 0
        tx[:] = 0
        for i, clip in enumerate(clips):
            s = clip.samples[t * FRAME : (t + 1) * FRAME]
            rx[i, : len(s)] = s
            if start[i] < 0:
                continue
            k = t - start[i]
            p = sent_audio[k * FRAME : (k + 1) * FRAME]
            tx[i, : len(p)] = p
            ke = k - ECHO_DELAY_FRAMES
            if ke >= 0 and gain:
                e = sent_audio[ke * FRAME : (ke + 1) * FRAME]
                rx[i, : len(e)] += e * gain
        sent = tx.astype(np.int16) if feed else None
        for ev in det.process(np.clip(rx, -32768, 32767).astype(np.int16), t * 20.0, sent):
            if not isinstance(ev, AmdDecision):
                continue
            if ev.verdict is Verdict.HUMAN and start[ev.channel] < 0:
                start[ev.channel] = t + 1  # the prompt starts with the next tick
            if ev.final:
                final[ev.channel] = ev.verdict.value
    pairs = list(zip(clips, final, strict=True))
    return {
        "people": sum(1 for c, _ in pairs if c.truth == "human"),
        "people_as_machines": sum(1 for c, v in pairs if c.truth == "human" and v == "machine"),
        "machines": sum(1 for c, _ in pairs if c.truth == "machine"),
        "machines_found": sum(1 for c, v in pairs if c.truth == "machine" and v == "machine"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    clips = [c for c in amd_corpus.corpus(args.seed, args.scale, workers=2) if c.truth in ("human", "machine")]
    audio = prompt()
    print(f"{len(clips)} clips (people and machines); the prompt: {len(audio) / 8000:.1f} s of stock audio, "
          f"{10 * np.log10(np.mean((audio / 32768) ** 2)):.1f} dBFS")
    print("margin  echo    sent   people taken for machines   machines found")
    for margin, echo_db, feed in SETTINGS:
        r = run(clips, audio, margin, echo_db, feed)
        echo = "none" if echo_db is None else f"-{echo_db:g} dB"
        fed = "yes" if feed else "no"
        print(f"{margin:4g} dB  {echo:>7}  {fed:>4}   {r['people_as_machines']:4d} / {r['people']:<4d}"
              f"               {r['machines_found']:4d} / {r['machines']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
