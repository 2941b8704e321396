"""Media sub-commands of ``alertnode``: ``tts``, ``prompt`` and ``dtmf``.

    alertnode tts "Fire alarm in building 7" -o prompt.wav [--language en-GB --gender FEMALE --engine espeak]
    alertnode prompt message.mp3 -o prompt.wav [--rate 16000]
    alertnode dtmf recorded-call.wav [--json]

``node/cli.py`` calls ``add_subcommands(subparsers)``; each sub-command sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from alertnode.errors import ConfigError, MediaError
from alertnode.media import decode as dec
from alertnode.media import dtmf
from alertnode.media.config import MediaConfig
from alertnode.media.tts import TtsService
from alertnode.media.voices import ENGINES


def add_subcommands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("tts", help="speak a text into a prompt WAV file (as a call would play it)")
    p.add_argument("text")
    p.add_argument("-o", "--output", required=True, help="WAV file to write")
    p.add_argument("--language", help="BCP 47 language, e.g. en-GB (default from config)")
    p.add_argument("--gender", choices=["MALE", "FEMALE"], type=str.upper)
    p.add_argument("--engine", choices=ENGINES, help="TTS engine (default from config)")
    p.add_argument("--rate", type=int, choices=dec.RATES, default=8000, help="clock rate of the call")
    p.add_argument("--config", help="configuration file (for the media section)")
    p.set_defaults(func=cmd_tts)

    p = subparsers.add_parser("prompt", help="turn an audio file (mp3, wav, aiff, ...) into a prompt WAV")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help="WAV file to write")
    p.add_argument("--format", help="voiceFormat (default: the file's suffix)")
    p.add_argument("--rate", type=int, choices=dec.RATES, default=8000, help="clock rate of the call")
    p.add_argument("--config", help="configuration file (for the media section)")
    p.set_defaults(func=cmd_prompt)

    p = subparsers.add_parser("dtmf", help="print the DTMF digits in a recording, with their times")
    p.add_argument("file", help="audio file (any rate; resampled to 8 kHz)")
    p.add_argument("--json", action="store_true", help="one JSON object per digit")
    p.set_defaults(func=cmd_dtmf)


def _media_config(args: argparse.Namespace) -> MediaConfig:
    if not getattr(args, "config", None):
        return MediaConfig()
    from alertnode import config as config_mod  # the whole node's config, only when a file is named

    return config_mod.load(args.config).media


def _write(path: str, pcm: np.ndarray, rate: int) -> None:
    sf.write(path, pcm, rate, format="WAV", subtype="PCM_16")


def cmd_tts(args: argparse.Namespace) -> int:
    try:
        cfg = _media_config(args)
        svc = TtsService(cfg)
        try:
            speech = svc.synthesize(args.text, args.language, args.gender, args.engine)
        finally:
            svc.close()
        if len(speech.samples) / speech.samplerate > cfg.max_prompt_seconds:
            raise MediaError(f"spoken text is longer than {cfg.max_prompt_seconds:g} s", "text")
        pcm = dec.to_pcm16(speech.samples, speech.samplerate, args.rate)
        _write(args.output, pcm, args.rate)
    except (MediaError, ConfigError) as exc:
        print(f"alertnode tts: {exc}", file=sys.stderr)
        return 1
    voice = f"{speech.voice.engine} {speech.voice.name}"
    print(f"{args.output}: {len(pcm) / args.rate:.2f} s at {args.rate} Hz, {voice}")
    return 0


def cmd_prompt(args: argparse.Namespace) -> int:
    fmt = args.format or Path(args.file).suffix.lstrip(".").lower()
    try:
        cfg = _media_config(args)
        content = Path(args.file).read_bytes()
        pcm = dec.decode(content, fmt, args.rate, path=args.file, max_seconds=cfg.max_prompt_seconds)
        _write(args.output, pcm, args.rate)
    except (MediaError, ConfigError, OSError) as exc:
        print(f"alertnode prompt: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output}: {len(pcm) / args.rate:.2f} s at {args.rate} Hz")
    return 0


def cmd_dtmf(args: argparse.Namespace) -> int:
    try:
        data, sr = sf.read(args.file, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        print(f"alertnode dtmf: {args.file}: {exc}", file=sys.stderr)
        return 1
    pcm = dec.to_pcm16(data.mean(axis=1), int(sr), dtmf.SAMPLE_RATE)
    spans = dtmf.detect_digits(pcm)
    for s in spans:
        if args.json:
            print(json.dumps({"digit": s.digit, "start_ms": round(s.start_ms), "end_ms": round(s.end_ms)}))
        else:
            print(f"{s.start_ms / 1000:9.3f} s  {s.end_ms / 1000:9.3f} s  {s.digit}")
    if not args.json:
        print(f"digits: {''.join(s.digit for s in spans)}")
    return 0
