"""Prompt files for the call player, cached on disk.

    cache = PromptCache(data_dir / config.prompt_cache_dir, config)
    wav = cache.prepare("tts", b"Fire alarm in building 7", {"language": "en-GB", "gender": "FEMALE"}, 8000)
    wav = cache.prepare("mp3", mp3_bytes, None, 16000)
    tags = cache.prepare_additional(params["additionalContent"], 8000)  # {"pre": Path, "post": ...}
    wav = cache.prepare_stock("goodbye", 8000)                        # audio/goodbye.wav, prepared
    cache.prewarm()                                                   # every stock prompt, both rates
    cache.hits, cache.misses

Every prompt becomes a WAV file, PCM 16-bit mono at the call's clock rate (8000 or 16000 Hz), which
pjsua2's ``AudioMediaPlayer`` plays as it is. Files are named by a SHA-256 key:

* TTS: of (engine, voice, rate, text); the same text in the same voice is synthesized once.
  When gTTS was asked for but failed, the espeak-ng result is stored under the espeak-ng key, so
  gTTS is tried again once its back-off (``gtts_retry_after_seconds``) is over.
* audio files: of the content bytes.

Both clock rates are written on a miss, so a later call at the other rate is a hit too. Writes go
to a temporary file renamed into place: a reader never sees half a prompt. The node's stock prompts
(:mod:`alertnode.media.stock`, the ``audio/`` folder) are audio prompts like any other; ``prewarm``
prepares them all when the voice channel starts, so no call waits for one. ``prepare`` blocks
(synthesis, decoding, disk): run it in a thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from alertnode.errors import MediaError
from alertnode.media import decode as dec
from alertnode.media.config import MediaConfig
from alertnode.media.stock import STOCK, stock_bytes
from alertnode.media.tts import Speech, TtsService
from alertnode.media.voices import Voice

log = logging.getLogger(__name__)

REPLAY_TAGS = ("pre", "post", "done")  # the replay IVR's additionalContent contentTags


class PromptCache:
    def __init__(self, directory: Path, config: MediaConfig, *, tts: TtsService | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._config = config
        self._tts = tts or TtsService(config)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def close(self) -> None:
        self._tts.close()

    def prepare(
        self,
        voice_format: str,
        content: bytes,
        tts: Mapping[str, object] | None,
        clock_rate: int,
        *,
        path: str = "content",
    ) -> Path:
        """The WAV file for one prompt at ``clock_rate``; MediaError (naming ``path``) if impossible."""
        if clock_rate not in dec.RATES:
            raise ValueError(f"clock_rate must be one of {dec.RATES}")
        if voice_format.lower() == "tts":
            return self._prepare_tts(content, tts or {}, clock_rate, path)
        key = _sha256(["audio", voice_format.lower(), hashlib.sha256(content).hexdigest()])
        found = self._lookup(key, clock_rate)
        if found:
            return found
        pcm = {
            rate: dec.decode(
                content, voice_format, rate, path=path, max_seconds=self._config.max_prompt_seconds
            )
            for rate in dec.RATES
        }
        return self._store(key, pcm, clock_rate)

    def prepare_additional(
        self, items: Sequence[Mapping[str, object]], clock_rate: int, *, path: str = "additionalContent"
    ) -> dict[str, Path]:
        """Prompt files for additionalContent items, by ``contentTag``.

        Each item has ``contentTag``, ``content`` (str with ``contentEncoding`` utf8 or base64, or
        bytes), ``voiceFormat`` and optionally ``tts``; ``storedContent`` must have been resolved
        into ``content`` by the caller.
        """
        out: dict[str, Path] = {}
        for i, item in enumerate(items):
            where = f"{path}[{i}]"
            tag = item.get("contentTag")
            if not isinstance(tag, str) or not tag:
                raise MediaError("contentTag is required", f"{where}.contentTag")
            voice_format = item.get("voiceFormat")
            if not isinstance(voice_format, str):
                raise MediaError("voiceFormat is required", f"{where}.voiceFormat")
            content = content_bytes(item, f"{where}.content")
            tts = item.get("tts")
            tts_map = tts if isinstance(tts, Mapping) else None
            out[tag] = self.prepare(voice_format, content, tts_map, clock_rate, path=f"{where}.content")
        return out

    def prepare_stock(self, name: str, clock_rate: int) -> Path:
        """Stock prompt ``name`` (a key of :data:`alertnode.media.stock.STOCK`) at ``clock_rate``."""
        return self.prepare("wav", stock_bytes(name), None, clock_rate, path=f"stock.{name}")

    def prewarm(self) -> dict[str, Path]:
        """Every stock prompt into the cache (a miss writes both clock rates, 8 and 16 kHz); their 8 kHz
        files by name."""
        return {name: self.prepare_stock(name, dec.RATES[0]) for name in STOCK}

    # ------------------------------------------------------------------ internals

    def _prepare_tts(self, content: bytes, tts: Mapping[str, object], clock_rate: int, path: str) -> Path:
        try:
            text = content.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise MediaError("text for tts is not valid UTF-8", path) from exc
        if not text:
            raise MediaError("text for tts is empty", path)
        language = _opt_str(tts.get("language"))
        gender = _opt_str(tts.get("gender"))
        engine = _opt_str(tts.get("engine")) or self._config.tts_engine
        try:
            wanted = self._tts.voice(language, gender, engine)
            espeak_voice = self._tts.voice(language, gender, "espeak")
        except MediaError as exc:
            item = path.rsplit(".", 1)[0] + "." if "." in path else ""  # "x.content" -> "x."
            raise MediaError(str(exc), f"{item}{exc.path}") from exc
        keys = [self._tts_key(wanted, text)]
        if wanted.engine == "gtts" and not self._tts.gtts_usable():
            keys = [self._tts_key(espeak_voice, text)]
        for key in keys:
            found = self._lookup(key, clock_rate)
            if found:
                return found
        speech = self._tts.synthesize(text, language, gender, engine)
        if speech.voice != wanted:  # gTTS fell back: look for the espeak-ng prompt before storing
            key = self._tts_key(speech.voice, text)
            found = self._lookup(key, clock_rate)
            if found:
                return found
        else:
            key = keys[0]
        pcm = self._speech_pcm(speech, path)
        return self._store(key, pcm, clock_rate)

    def _tts_key(self, voice: Voice, text: str) -> str:
        rate = self._config.espeak_rate if voice.engine == "espeak" else 0
        return _sha256(["tts", voice.engine, voice.name, rate, text])

    def _speech_pcm(self, speech: Speech, path: str) -> dict[int, npt.NDArray[np.int16]]:
        seconds = len(speech.samples) / speech.samplerate
        if seconds > self._config.max_prompt_seconds:
            raise MediaError(
                f"spoken text lasts {seconds:.0f} s, longer than {self._config.max_prompt_seconds:g} s", path
            )
        if len(speech.samples) == 0:
            raise MediaError("TTS produced no audio", path)
        return {rate: dec.to_pcm16(speech.samples, speech.samplerate, rate) for rate in dec.RATES}

    def _file(self, key: str, rate: int) -> Path:
        return self.directory / f"{key}-{rate}.wav"

    def _lookup(self, key: str, rate: int) -> Path | None:
        f = self._file(key, rate)
        try:
            os.utime(f)  # its modification time is its last use: eviction goes by it
        except FileNotFoundError:
            return None
        with self._lock:
            self.hits += 1
        return f

    def _evict(self, keep: Path) -> int:
        """Delete the least recently used prompts (all clock rates of one together) until the cache is under
        90 % of its limit; a prompt used within ``prompt_cache_keep_s`` (and ``keep``, just stored) stays.
        Returns how many prompts went."""
        limit = self._config.prompt_cache_max_mb * 1024 * 1024
        if limit <= 0:
            return 0
        prompts: dict[str, list[Any]] = {}  # key -> [last use, bytes, files]
        total = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if not entry.name.endswith(".wav") or entry.name.startswith(".tmp-"):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                total += st.st_size
                found = prompts.setdefault(entry.name.rsplit("-", 1)[0], [0.0, 0, []])
                found[0] = max(found[0], st.st_mtime)
                found[1] += st.st_size
                found[2].append(Path(entry.path))
        if total <= limit:
            return 0
        prompts.pop(keep.name.rsplit("-", 1)[0], None)
        newest_allowed = time.time() - self._config.prompt_cache_keep_s
        removed = 0
        for last_use, size, files in sorted(prompts.values(), key=lambda p: p[0]):
            if total <= 0.9 * limit or last_use > newest_allowed:
                break
            for f in files:
                f.unlink(missing_ok=True)
            total -= size
            removed += 1
        if removed:
            log.info("prompt cache: %d prompt(s) evicted, %.1f MB left", removed, total / 1024 / 1024)
        return removed

    def _store(self, key: str, pcm: Mapping[int, npt.NDArray[np.int16]], rate: int) -> Path:
        for r, samples in pcm.items():
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".wav")
            os.close(fd)
            try:
                sf.write(tmp, samples, r, format="WAV", subtype="PCM_16")
                os.replace(tmp, self._file(key, r))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        with self._lock:
            self.misses += 1
        log.debug("prompt %s stored at %s Hz", key[:12], ",".join(str(r) for r in pcm))
        stored = self._file(key, rate)
        with self._lock:  # one eviction scan at a time
            self._evict(stored)
        return stored


def content_bytes(item: Mapping[str, object], path: str) -> bytes:
    """An item's ``content`` as bytes, decoding ``contentEncoding`` (utf8 or base64)."""
    content = item.get("content")
    if isinstance(content, bytes):
        return content
    if not isinstance(content, str):
        raise MediaError("content is required (resolve storedContent first)", path)
    encoding = str(item.get("contentEncoding") or "utf8").lower()
    if encoding in ("utf8", "utf-8"):
        return content.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MediaError("content is not valid base64", path) from exc
    raise MediaError(f"unknown contentEncoding {encoding!r}", path.rsplit(".", 1)[0] + ".contentEncoding")


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _sha256(parts: list[object]) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()
