"""Audio prompt decoding: content bytes in a ``voiceFormat`` to mono int16 PCM at 8 or 16 kHz.

soundfile (libsndfile) decodes wav, aiff/aifc, flac, ogg and mp3; soxr resamples with its default
quality (HQ: the low-quality settings alias audibly at telephone rates). Channels are averaged to
mono. Everything that goes wrong becomes ``MediaError(message, path)``: content that does not
decode, is empty, or is longer than the configured limit.

    info = probe(content, "mp3", path="content", max_seconds=300)   # AudioInfo; raises MediaError
    pcm = decode(content, "wav", rate=8000, path="content", max_seconds=300)   # int16 array
    problems = validate_prompt("tts", b"Hello", {"language": "en-GB"}, "alerts[0]", config)
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from alertnode.errors import MediaError, Problem
from alertnode.media.config import MediaConfig

log = logging.getLogger(__name__)

# voiceFormat (the sendalert contract: mp3, wav, aiff; libsndfile adds the others) -> libsndfile format
FORMATS: dict[str, str] = {
    "wav": "WAV",
    "aiff": "AIFF",
    "aifc": "AIFF",
    "aif": "AIFF",
    "flac": "FLAC",
    "ogg": "OGG",
    "mp3": "MP3",
}
RATES = (8000, 16000)  # the clock rates the call player runs at (G.711 and G.722)


@dataclass(frozen=True)
class AudioInfo:
    samplerate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def _check_format(voice_format: str, path: str) -> None:
    # libsndfile recognises the container from its bytes (it refuses a format hint for reading),
    # so the declared voiceFormat is only checked to be one it can read.
    if voice_format.lower() not in FORMATS:
        raise MediaError(f"unsupported voiceFormat {voice_format!r}", path)


def probe(content: bytes, voice_format: str, *, path: str = "", max_seconds: float) -> AudioInfo:
    """Check that ``content`` decodes, is not empty and not too long; returns its shape."""
    _check_format(voice_format, path)
    if not content:
        raise MediaError("audio content is empty", path)
    try:
        with sf.SoundFile(io.BytesIO(content)) as f:
            info = AudioInfo(f.samplerate, f.channels, f.frames)
            # The header's frame count can lie (a truncated file): read a little to be sure it decodes.
            head = f.read(min(info.frames, 4096) or 4096, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise MediaError(f"audio does not decode as {voice_format}: {exc}", path) from exc
    if info.frames <= 0 or len(head) == 0:
        raise MediaError("audio content has no samples", path)
    if info.seconds > max_seconds:
        raise MediaError(f"audio is {info.seconds:.1f} s long, longer than {max_seconds:g} s", path)
    return info


def decode(
    content: bytes, voice_format: str, rate: int, *, path: str = "", max_seconds: float
) -> npt.NDArray[np.int16]:
    """Decode ``content`` to mono int16 PCM at ``rate`` Hz (8000 or 16000)."""
    if rate not in RATES:
        raise ValueError(f"rate must be one of {RATES}")
    probe(content, voice_format, path=path, max_seconds=max_seconds)
    try:
        data, sr = sf.read(io.BytesIO(content), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise MediaError(f"audio does not decode as {voice_format}: {exc}", path) from exc
    if len(data) == 0:
        raise MediaError("audio content has no samples", path)
    mono = data.mean(axis=1)
    return to_pcm16(mono, int(sr), rate)


def to_pcm16(samples: npt.NDArray[np.floating], samplerate: int, rate: int) -> npt.NDArray[np.int16]:
    """Float samples (1.0 = full scale) at ``samplerate`` to int16 at ``rate``, resampled by soxr."""
    x = np.asarray(samples, dtype=np.float32)
    if samplerate != rate:
        x = np.asarray(soxr.resample(x, samplerate, rate), dtype=np.float32)
    return np.asarray(np.clip(np.round(x * 32768.0), -32768, 32767), dtype=np.int16)


def validate_prompt(
    voice_format: str | None,
    content: bytes,
    tts: Mapping[str, object] | None,
    path: str,
    config: MediaConfig,
) -> list[Problem]:
    """Request-time check of one prompt (an alert item or an additionalContent item at ``path``).

    Reports, without synthesizing or resampling anything: an unknown ``voiceFormat``; for tts,
    text that is not UTF-8, empty or too long, a ``tts`` block that is not an object, an unknown
    ``language``, ``gender`` or ``engine``; for audio, content that does not decode, is empty or is
    longer than ``config.max_prompt_seconds``.
    """
    from alertnode.media import voices as tts_mod  # the pure table of voices (no TTS engine is loaded)

    problems: list[Problem] = []
    fmt = (voice_format or "").lower()
    if not fmt:
        return [Problem(f"{path}.voiceFormat", "is required when content is set")]
    if fmt == "tts":
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(f"{path}.content", "text for tts is not valid UTF-8"))
            text = "x"
        if not text.strip():
            problems.append(Problem(f"{path}.content", "text for tts is empty"))
        elif len(text) > config.max_tts_chars:
            problems.append(
                Problem(f"{path}.content", f"text for tts is longer than {config.max_tts_chars} characters")
            )
        if tts is None:
            return problems
        if not isinstance(tts, Mapping):
            return [*problems, Problem(f"{path}.tts", "must be an object")]
        language = tts.get("language")
        if language is not None and (not isinstance(language, str) or not tts_mod.language_known(language)):
            problems.append(
                Problem(
                    f"{path}.tts.language",
                    f"unknown language {language!r}; known: {', '.join(sorted(tts_mod.known_languages()))}",
                )
            )
        gender = tts.get("gender")
        if gender is not None and (not isinstance(gender, str) or not tts_mod.gender_known(gender)):
            problems.append(Problem(f"{path}.tts.gender", f"unknown gender {gender!r}: MALE or FEMALE"))
        engine = tts.get("engine")
        if engine is not None and engine not in tts_mod.ENGINES:
            problems.append(Problem(f"{path}.tts.engine", f"unknown engine {engine!r}: espeak or gtts"))
        return problems
    if fmt not in FORMATS:
        known = ", ".join(["tts", *FORMATS])
        return [Problem(f"{path}.voiceFormat", f"unsupported voiceFormat {voice_format!r}; known: {known}")]
    try:
        probe(content, fmt, path=f"{path}.content", max_seconds=config.max_prompt_seconds)
    except MediaError as exc:
        problems.append(Problem(exc.path, str(exc)))
    return problems
