"""alertnode tts / prompt / dtmf, through an argparse parser built with add_subcommands."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from alertnode.media.cli import add_subcommands
from tools.vectors.dtmf_vectors import Tone, synth

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="alertnode")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_tts_writes_a_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.wav"
    assert run("tts", "Press one to acknowledge", "-o", str(out), "--language", "en-US", "--gender", "male") == 0
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert "espeak en-us+m3" in capsys.readouterr().out


def test_tts_unknown_language_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tts", "Hi", "-o", str(tmp_path / "x.wav"), "--language", "xx-XX") == 1
    assert "unknown TTS language" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_prompt_converts_audio(tmp_path: Path) -> None:
    src = tmp_path / "in.flac"
    sf.write(src, np.zeros((44100, 2), dtype=np.float32), 44100)
    out = tmp_path / "out.wav"
    assert run("prompt", str(src), "-o", str(out), "--rate", "16000") == 0
    assert sf.info(out).samplerate == 16000 and sf.info(out).frames == 16000


def test_prompt_rejects_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.mp3"
    src.write_bytes(b"garbage" * 100)
    assert run("prompt", str(src), "-o", str(tmp_path / "o.wav")) == 1
    assert "does not decode" in capsys.readouterr().err


def test_dtmf_prints_digits_with_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(9)
    x = synth([Tone(d, 80, 80) for d in "1#9"], rng)
    src = tmp_path / "call.wav"
    # at 16 kHz, as a wideband call recording would be: the command resamples to 8 kHz
    sf.write(src, np.repeat(x, 2), 16000, subtype="PCM_16")
    assert run("dtmf", str(src)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "digits: 1#9"
    assert len(out) == 4
    assert run("dtmf", str(src), "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["digit"] for r in rows] == ["1", "#", "9"]
    assert all(r["end_ms"] - r["start_ms"] >= 60 for r in rows)


def test_subcommands_run_in_a_fresh_interpreter(tmp_path: Path) -> None:
    out = tmp_path / "p.wav"
    code = (
        "import argparse, sys; from alertnode.media.cli import add_subcommands; p = argparse.ArgumentParser(); "
        "add_subcommands(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "tts", "Hello", "-o", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert sf.info(out).samplerate == 8000
