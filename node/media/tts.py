"""Text to speech: espeak-ng (offline default) and gTTS (online, with time-out and fallback).

The sendalert ``tts`` block has ``language`` (BCP 47, e.g. ``en-GB``) and ``gender``
(``MALE``/``FEMALE``). ``voice_for(engine, language, gender)`` maps them to an engine voice through
the table in :mod:`alertnode.media.voices` (re-exported here).

An unknown language is a ``MediaError`` (``language_known`` lets validation say so up front).

``TtsService.synthesize(text, language, gender)`` returns ``Speech`` (float samples and their
rate, and the engine and voice that made them). With engine ``gtts`` it runs gTTS in a worker
thread for at most ``gtts_timeout_seconds``; on a failure or time-out it logs, speaks with
espeak-ng instead, and skips gTTS for ``gtts_retry_after_seconds``. Calls block (a subprocess or
an HTTPS request): call them from a thread, not the event loop.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soundfile as sf

from alertnode.errors import MediaError
from alertnode.media.config import MediaConfig
from alertnode.media.voices import ENGINES, Voice, voice_for
from alertnode.media.voices import GENDERS as GENDERS
from alertnode.media.voices import LANGUAGES as LANGUAGES
from alertnode.media.voices import gender_known as gender_known
from alertnode.media.voices import known_languages as known_languages
from alertnode.media.voices import language_known as language_known

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Speech:
    samples: npt.NDArray[np.float32]  # mono, 1.0 = full scale
    samplerate: int
    voice: Voice


def espeak(text: str, voice: str, rate: int, *, command: str = "espeak-ng", timeout: float = 30.0) -> Speech:
    """Speak ``text`` with espeak-ng (text on stdin, WAV on stdout)."""
    try:
        proc = subprocess.run(
            [command, "-v", voice, "-s", str(rate), "--stdin", "--stdout"],
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MediaError(f"espeak-ng failed: {exc}", "tts") from exc
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise MediaError(f"espeak-ng exited with {proc.returncode}: {err}", "tts")
    return _read(proc.stdout, Voice("espeak", voice))


def gtts(text: str, voice: str, timeout: float) -> Speech:
    """Speak ``text`` with gTTS (an HTTPS request to Google Translate); raises on any failure."""
    from gtts import gTTS  # imported lazily: only the online engine needs it

    lang, _, tld = voice.partition("@")
    buf = io.BytesIO()
    gTTS(text, lang=lang, tld=tld, lang_check=False, timeout=timeout).write_to_fp(buf)
    return _read(buf.getvalue(), Voice("gtts", voice))


def _read(data: bytes, voice: Voice) -> Speech:
    try:
        samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise MediaError(f"{voice.engine} produced audio that does not decode: {exc}", "tts") from exc
    return Speech(samples.mean(axis=1).astype(np.float32), int(sr), voice)


GttsFunc = Callable[[str, str, float], Speech]


class TtsService:
    """Chooses the engine, enforces the gTTS time-out and falls back to espeak-ng."""

    def __init__(
        self,
        config: MediaConfig,
        *,
        gtts_func: GttsFunc = gtts,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._gtts = gtts_func
        self._clock = clock
        self._gtts_down_until = float("-inf")
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="gtts")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def voice(self, language: str | None, gender: str | None, engine: str | None = None) -> Voice:
        return voice_for(engine or self._config.tts_engine, language or self._config.default_language, gender)

    def synthesize(
        self, text: str, language: str | None = None, gender: str | None = None, engine: str | None = None
    ) -> Speech:
        engine = engine or self._config.tts_engine
        if engine not in ENGINES:
            raise MediaError(f"unknown TTS engine {engine!r}", "tts.engine")
        if not text.strip():
            raise MediaError("TTS text is empty", "content")
        if engine == "gtts" and self.gtts_usable():
            voice = self.voice(language, gender, "gtts")
            limit = self._config.gtts_timeout_seconds
            # The request carries the time-out too, so an abandoned worker thread ends by itself.
            future = self._pool.submit(self._gtts, text, voice.name, limit)
            try:
                return future.result(timeout=limit)
            except concurrent.futures.TimeoutError:
                future.cancel()
                log.warning("gTTS timed out after %.1f s; using espeak-ng", self._config.gtts_timeout_seconds)
            except Exception as exc:  # noqa: BLE001 - any gTTS failure means: fall back
                log.warning("gTTS failed (%s); using espeak-ng", type(exc).__name__)
            with self._lock:
                self._gtts_down_until = self._clock() + self._config.gtts_retry_after_seconds
        voice = self.voice(language, gender, "espeak")
        return espeak(
            text,
            voice.name,
            self._config.espeak_rate,
            command=self._config.espeak_command,
            timeout=self._config.espeak_timeout_seconds,
        )

    def gtts_usable(self) -> bool:
        with self._lock:
            return self._clock() >= self._gtts_down_until
