"""The prompts of a call: WAV files pjsua2 can play, for the main content and the replay IVR's pre,
post and done prompts, and the request-time check that they can be made.

Files come from the media prompt cache (decoding, resampling, TTS; node/media/prompts.py), or from a
:class:`PromptPreparer` a test gives. Each prompt is made at 8 kHz, and at 16 kHz too when G.722 is
offered (``wideband``): the worker plays the 16 kHz file into a G.722 call, whose bridge then runs
at 16 kHz (node/voice/worker/pjsua.py), so the far end hears up to 7 kHz (ITU-T G.722 §1.1).
``additionalContent`` given as ``storedContent`` is read from the store (encrypted at rest).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alertnode.domain import DeliveryWork
from alertnode.errors import MediaError, Problem
from alertnode.media.config import MediaConfig
from alertnode.media.decode import validate_prompt
from alertnode.media.prompts import PromptCache, content_bytes
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

NARROWBAND = 8000  # G.711 (ITU-T G.711 §1)
WIDEBAND = 16000  # G.722 (ITU-T G.722 §1.1)


class PromptPreparer(Protocol):
    def __call__(self, voice_format: str, content: bytes, tts: Mapping[str, Any] | None, clock_rate: int) -> Path:
        """A WAV file pjsua2 can play (16-bit PCM, ``clock_rate`` Hz) for this content; raises MediaError."""


@dataclass(frozen=True)
class PromptAudio:
    """One prompt's files: at 8 kHz, and at 16 kHz when prepared for wideband calls."""

    narrow: Path
    wide: Path | None = None

    def as_play(self, name: str) -> tuple[str, str, str]:
        """The prompt as the worker's ``Play`` command names it."""
        return name, str(self.narrow), str(self.wide) if self.wide is not None else ""


def audio_problems(
    item: Mapping[str, Any], content: bytes | None, path: str, media_config: MediaConfig
) -> list[Problem]:
    """Audio of a call item (main content, additionalContent) that would not decode, each at its JSON
    path. The IVR's options and content tags are the contract's and the expansion's to check."""
    out: list[Problem] = []
    if content is not None and item.get("voiceFormat"):
        out.extend(validate_prompt(item.get("voiceFormat"), content, item.get("tts"), path, media_config))
    for i, add in enumerate(item.get("additionalContent") or []):
        if isinstance(add, Mapping) and add.get("content") is not None and add.get("voiceFormat"):
            where = f"{path}.additionalContent[{i}]"
            try:
                data = content_bytes(add, f"{where}.content")
            except MediaError as exc:
                out.append(Problem(exc.path, str(exc)))
                continue
            out.extend(validate_prompt(add.get("voiceFormat"), data, add.get("tts"), where, media_config))
    return out


class PromptFiles:
    def __init__(
        self,
        *,
        data_dir: Path,
        media_config: MediaConfig,
        store: Store | None,
        cipher: Cipher | None,
        preparer: PromptPreparer | None,
        wideband: bool = False,
    ) -> None:
        """``preparer`` replaces the media prompt cache (tests give WAV content directly); ``wideband``:
        make 16 kHz files too (G.722 is offered)."""
        self._wideband = wideband
        self._data_dir = data_dir
        self._media_config = media_config
        self._store = store
        self._cipher = cipher
        self._preparer = preparer
        self._cache: PromptCache | None = None

    def cache_stats(self) -> dict[str, int] | None:
        if self._cache is None:
            return None
        return {"hits": self._cache.hits, "misses": self._cache.misses}

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    async def prepare(self, work: DeliveryWork) -> dict[str, PromptAudio]:
        """WAV files by prompt name: ``main`` and (replay) ``pre``, ``post``, ``done``. Raises
        MediaError naming what could not be made."""
        params = work.params
        voice_format = str(params.get("voiceFormat") or "tts")
        main_content = work.text.encode("utf-8") if voice_format == "tts" and work.text is not None else work.content
        jobs: dict[str, tuple[str, bytes, Mapping[str, Any] | None]] = {
            "main": (voice_format, main_content, params.get("tts"))
        }
        items = list(params.get("additionalContent") or [])
        stored = await self._stored([str(a["storedContent"]) for a in items if a.get("storedContent")])
        for i, add in enumerate(items):
            tag = str(add.get("contentTag"))
            where = f"additionalContent[{i}]"
            fmt: str | None
            if add.get("content") is not None:
                data = content_bytes(add, f"{where}.content")
                fmt = add.get("voiceFormat")
            else:
                found = stored.get(str(add.get("storedContent")))
                if found is None:
                    raise MediaError("storedContent is gone (expired or deleted)", f"{where}.storedContent")
                data, fmt = found
                fmt = add.get("voiceFormat") or fmt
            jobs[tag] = (str(fmt or "tts"), data, add.get("tts"))
        preparer = self._preparer or self._media_preparer()
        out: dict[str, PromptAudio] = {}
        for tag, (fmt, data, tts) in jobs.items():
            narrow = await asyncio.to_thread(preparer, fmt, data, tts, NARROWBAND)
            # the cache writes both rates on a miss: the second is a hit
            wide = await asyncio.to_thread(preparer, fmt, data, tts, WIDEBAND) if self._wideband else None
            out[tag] = PromptAudio(narrow, wide)
        return out

    async def _stored(self, uuids: list[str]) -> dict[str, tuple[bytes, str | None]]:
        """additionalContent given as storedContent: (bytes, voiceFormat) per uuid still stored."""
        if not uuids or self._store is None or self._cipher is None:
            return {}
        from alertnode.store import repo

        cipher = self._cipher
        now = time.time()
        rows = await self._store.read(lambda conn: repo.get_stored(conn, cipher, uuids, now))
        out: dict[str, tuple[bytes, str | None]] = {}
        for uuid, (kind, value) in rows.items():
            if kind == "content" and isinstance(value, Mapping) and "data" in value:
                out[uuid] = (base64.b64decode(value["data"]), value.get("voiceFormat"))
        return out

    def _media_preparer(self) -> PromptPreparer:
        cache = PromptCache(self._data_dir / self._media_config.prompt_cache_dir, self._media_config)
        self._cache = cache

        def prepare(voice_format: str, content: bytes, tts: Mapping[str, Any] | None, clock_rate: int) -> Path:
            return Path(cache.prepare(voice_format, content, tts, clock_rate))

        self._preparer = prepare
        return prepare
