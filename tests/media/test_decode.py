"""Decoding of every voiceFormat (files made here by soundfile, sox and ffmpeg) and request validation."""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.errors import MediaError
from alertnode.media.config import MediaConfig
from alertnode.media.decode import decode, probe, validate_prompt

SR = 44100
SECONDS = 1.5


def tone(freq: float = 440.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(SR * SECONDS)) / SR
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([x] * channels, axis=1).astype(np.float32)


def write(fmt: str, subtype: str | None, channels: int = 2) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(channels=channels), SR, format=fmt, subtype=subtype)
    return buf.getvalue()


def via_tool(tmp_path: Path, suffix: str, cmd: list[str]) -> bytes:
    src = tmp_path / "src.wav"
    sf.write(src, tone(), SR, subtype="PCM_16")
    out = tmp_path / f"out.{suffix}"
    subprocess.run(
        [*(a.replace("{in}", str(src)).replace("{out}", str(out)) for a in cmd)],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


FORMATS = {
    "wav-pcm16": ("wav", lambda p: write("WAV", "PCM_16")),
    "wav-float-extensible": ("wav", lambda p: write("WAVEX", "FLOAT")),
    "wav-mono-24bit": ("wav", lambda p: write("WAV", "PCM_24", channels=1)),
    "aiff": ("aiff", lambda p: write("AIFF", "PCM_16")),
    "aifc-sox": ("aifc", lambda p: via_tool(p, "aifc", ["sox", "{in}", "{out}"])),
    "flac": ("flac", lambda p: write("FLAC", "PCM_16")),
    "ogg-vorbis": ("ogg", lambda p: write("OGG", "VORBIS")),
    "mp3-soundfile": ("mp3", lambda p: write("MP3", "MPEG_LAYER_III")),
    "mp3-ffmpeg": (
        "mp3",
        lambda p: via_tool(p, "mp3", ["ffmpeg", "-loglevel", "error", "-i", "{in}", "{out}"]),
    ),
}


def peak_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("rate", [8000, 16000])
def test_decodes_each_format_to_mono_pcm16(name: str, rate: int, tmp_path: Path) -> None:
    voice_format, make = FORMATS[name]
    content = make(tmp_path)
    pcm = decode(content, voice_format, rate, max_seconds=10)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    # mp3 encoders add padding: allow 100 ms
    assert abs(len(pcm) - SECONDS * rate) <= 0.1 * rate
    assert abs(peak_freq(pcm, rate) - 440.0) < 3.0
    peak = np.abs(pcm[len(pcm) // 4 : 3 * len(pcm) // 4]).max()
    assert 0.4 * 32768 < peak < 0.6 * 32768
    assert probe(content, voice_format, max_seconds=10).seconds == pytest.approx(SECONDS, abs=0.1)


def test_downmix_averages_channels() -> None:
    x = tone()
    x[:, 1] = 0.0
    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="FLOAT")
    pcm = decode(buf.getvalue(), "wav", 8000, max_seconds=10)
    assert 0.2 * 32768 < np.abs(pcm[2000:6000]).max() < 0.3 * 32768


def test_garbage_is_a_media_error_naming_the_path() -> None:
    with pytest.raises(MediaError) as err:
        decode(b"this is not audio at all" * 20, "mp3", 8000, path="alerts[0].content", max_seconds=10)
    assert err.value.path == "alerts[0].content"


def test_truncated_wav_is_refused() -> None:
    content = write("WAV", "PCM_16")[:30]
    with pytest.raises(MediaError):
        decode(content, "wav", 8000, max_seconds=10)


def test_empty_content_and_empty_audio_are_refused() -> None:
    with pytest.raises(MediaError, match="empty"):
        probe(b"", "wav", max_seconds=10)
    buf = io.BytesIO()
    sf.write(buf, np.zeros((0, 1), dtype=np.float32), SR, format="WAV", subtype="PCM_16")
    with pytest.raises(MediaError, match="no samples"):
        probe(buf.getvalue(), "wav", max_seconds=10)


def test_too_long_is_refused() -> None:
    with pytest.raises(MediaError, match="longer than 1 s"):
        decode(write("WAV", "PCM_16"), "wav", 8000, max_seconds=1.0)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(MediaError, match="unsupported"):
        probe(write("WAV", "PCM_16"), "midi", max_seconds=10)


def test_rate_must_be_a_call_clock_rate() -> None:
    with pytest.raises(ValueError):
        decode(write("WAV", "PCM_16"), "wav", 44100, max_seconds=10)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(["wav", "mp3", "aiff", "flac", "ogg"]))
def test_arbitrary_bytes_never_raise_anything_but_media_error(content: bytes, fmt: str) -> None:
    with contextlib.suppress(MediaError):
        decode(content, fmt, 8000, max_seconds=10)


# ---------------------------------------------------------------- validate_prompt

CFG = MediaConfig(max_prompt_seconds=5.0, max_tts_chars=50)


def test_valid_prompts_have_no_problems() -> None:
    assert validate_prompt("tts", b"Fire in building 7", {"language": "en-GB", "gender": "FEMALE"}, "a", CFG) == []
    assert validate_prompt("TTS", b"Hallo", None, "a", CFG) == []
    assert validate_prompt("mp3", write("MP3", "MPEG_LAYER_III"), None, "a", CFG) == []


def test_tts_problems_name_their_field() -> None:
    problems = validate_prompt("tts", b"Hello", {"language": "xx-YY", "gender": "ROBOT"}, "alerts[1]", CFG)
    assert {p.path for p in problems} == {"alerts[1].tts.language", "alerts[1].tts.gender"}
    assert "xx-YY" in problems[0].message
    assert [p.path for p in validate_prompt("tts", b"  ", None, "x", CFG)] == ["x.content"]
    assert [p.path for p in validate_prompt("tts", b"\xff\xfe", None, "x", CFG)] == ["x.content"]
    assert [p.path for p in validate_prompt("tts", b"a" * 51, None, "x", CFG)] == ["x.content"]
    assert [p.path for p in validate_prompt("tts", b"a", {"engine": "festival"}, "x", CFG)] == ["x.tts.engine"]


def test_audio_problems_name_the_content() -> None:
    assert [p.path for p in validate_prompt("wav", b"RIFF....", None, "it", CFG)] == ["it.content"]
    long_audio = write("WAV", "PCM_16")
    assert validate_prompt("wav", long_audio, None, "it", MediaConfig(max_prompt_seconds=1.0))[0].path == ("it.content")
    assert [p.path for p in validate_prompt("wma", b"x", None, "it", CFG)] == ["it.voiceFormat"]
    assert [p.path for p in validate_prompt(None, b"x", None, "it", CFG)] == ["it.voiceFormat"]
