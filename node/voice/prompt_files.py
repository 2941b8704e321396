"""The prompts of a call: WAV files pjsua2 can play, for the main content and the replay IVR's pre,
post and done prompts, and the request-time check that they can be made.

A replay IVR's ``pre``, ``post`` or ``done`` the alert does not give is the node's stock prompt
(:mod:`alertnode.media.stock`, the ``audio/`` folder); a ``post`` for keys other than the stock
prompt names (1 and 2) is spoken by TTS with the alert's keys. Every call also gets the stock
``goodbye`` and ``tone`` (the IVR's own, see node/voice/ivr.py). :meth:`PromptFiles.prewarm` prepares
the stock prompts when the channel starts.

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
from alertnode.domain_info import PromptCacheInfo
from alertnode.errors import MediaError, Problem
from alertnode.media.config import MediaConfig
from alertnode.media.decode import validate_prompt
from alertnode.media.prompts import PromptCache, content_bytes
from alertnode.media.stock import STOCK, post_text, stock_bytes
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store
from alertnode.voice.ivr_types import IvrOptions

NARROWBAND = 8000  # G.711 (ITU-T G.711 §1)
WIDEBAND = 16000  # G.722 (ITU-T G.722 §1.1)
REPLAY_TAGS = ("pre", "post", "done")
NODE_PROMPTS = ("goodbye", "tone")
# the stock prompts' language, for a post prompt spoken with the alert's keys
_STOCK_TTS: Mapping[str, Any] = {"language": "en-GB", "gender": "FEMALE"}


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

    def cache_stats(self) -> PromptCacheInfo | None:
        """Look-ups of the prompt cache; None before it is open."""
        if self._cache is None:
            return None
        return PromptCacheInfo(self._cache.hits, self._cache.misses)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    async def prewarm(self) -> int:
        """Prepare every stock prompt (8 kHz, and 16 kHz with wideband; the prompt cache writes both
        anyway) so that no call waits for one; how many were prepared. Raises MediaError."""
        preparer = self._preparer or self._media_preparer()
        rates = (NARROWBAND, WIDEBAND) if self._wideband else (NARROWBAND,)
        for name in STOCK:
            for rate in rates:
                await asyncio.to_thread(preparer, "wav", stock_bytes(name), None, rate)
        return len(STOCK)

    async def prepare(self, work: DeliveryWork) -> dict[str, PromptAudio]:
        """WAV files by prompt name: ``main``, (replay) ``pre``, ``post``, ``done``, and the node's
        ``goodbye`` and ``tone``. Raises MediaError naming what could not be made."""
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
        ivr = params.get("ivrControl") or {}
        if ivr.get("ivrType") == "replay":
            for tag in REPLAY_TAGS:
                if tag not in jobs:
                    jobs[tag] = self._stock(tag, ivr)
        for name in NODE_PROMPTS:
            jobs[name] = ("wav", stock_bytes(name), None)
        preparer = self._preparer or self._media_preparer()
        out: dict[str, PromptAudio] = {}
        for tag, (fmt, data, tts) in jobs.items():
            narrow = await asyncio.to_thread(preparer, fmt, data, tts, NARROWBAND)
            # the cache writes both rates on a miss: the second is a hit
            wide = await asyncio.to_thread(preparer, fmt, data, tts, WIDEBAND) if self._wideband else None
            out[tag] = PromptAudio(narrow, wide)
        return out

    @staticmethod
    def _stock(tag: str, ivr: Mapping[str, Any]) -> tuple[str, bytes, Mapping[str, Any] | None]:
        """The stock prompt standing in for a replay IVR prompt the alert did not give."""
        if tag == "post":
            options = IvrOptions.from_params(ivr)
            text = post_text(options.say_again_digits, options.am_ok_digits)
            if text is not None:
                return "tts", text.encode("utf-8"), _STOCK_TTS
        return "wav", stock_bytes(tag), None

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
