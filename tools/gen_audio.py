#!/usr/bin/env python3
"""Writes the node's stock prompts into audio/ from their texts (alertnode.media.stock.STOCK).

    .venv/bin/python tools/gen_audio.py            # (re)write audio/*.wav
    .venv/bin/python tools/gen_audio.py --check    # make them in a temporary folder, compare byte for byte

Speech: espeak-ng (voice en-gb+f3, the node's own TTS voice for en-GB FEMALE, at 150 words a minute)
writes 22.05 kHz PCM; sox band-limits it to the telephone channel (ITU-T G.712: 300-3,400 Hz),
normalises its peak to -3 dBFS and writes 8 kHz µ-law (ITU-T G.711), the telephone's own format, so a
prompt costs 8 KB a second. The tone: sox's sine, 880 Hz for 250 ms with 10 ms fades, its peak at
-18 dBFS (the speech prompts average about -22 dBFS).
sox runs with -R (its fixed random seed) and -D (no dither): the same tools write the same bytes
(espeak-ng 1.51 and SoX 14.4.2 on Debian 12; another version of either may change the samples).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alertnode.media.stock import STOCK, StockPrompt  # noqa: E402

AUDIO = ROOT / "audio"
RATE_WPM = 150  # the node's espeak_rate default (alertnode.media.config)
_OUT = ["-r", "8000", "-c", "1", "-e", "u-law", "-b", "8"]


def make(prompt: StockPrompt, folder: Path) -> Path:
    out = folder / prompt.file
    if not prompt.voice:  # the tone
        subprocess.run(
            ["sox", "-R", "-D", "-n", *_OUT, str(out), "synth", "0.25", "sine", "880",
             "fade", "h", "0.01", "0.25", "0.01", "gain", "-18"],
            check=True,
        )
        return out
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", prompt.voice, "-s", str(RATE_WPM), "-w", str(raw), prompt.text], check=True
        )
        subprocess.run(
            ["sox", "-R", "-D", str(raw), *_OUT, str(out), "highpass", "300", "lowpass", "3400", "norm", "-3"],
            check=True,
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with audio/ instead of writing it")
    args = ap.parse_args()
    if not args.check:
        AUDIO.mkdir(exist_ok=True)
        for prompt in STOCK.values():
            path = make(prompt, AUDIO)
            print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")
        return 0
    differ = []
    with tempfile.TemporaryDirectory() as tmp:
        for prompt in STOCK.values():
            made = make(prompt, Path(tmp))
            if made.read_bytes() != (AUDIO / prompt.file).read_bytes():
                differ.append(prompt.file)
    for name in differ:
        print(f"audio/{name} differs from what tools/gen_audio.py makes")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
