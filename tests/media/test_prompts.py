"""Prompt cache: WAV files ready for the player, cache hits, additionalContent, errors."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from alertnode.errors import MediaError
from alertnode.media.config import MediaConfig
from alertnode.media.prompts import PromptCache
from alertnode.media.tts import Speech, TtsService, Voice

FEMALE_GB = {"language": "en-GB", "gender": "FEMALE"}


def wav_bytes(seconds: float = 0.5, rate: int = 44100) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * 500 * t), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture
def cache(tmp_path: Path) -> PromptCache:
    c = PromptCache(tmp_path / "prompts", MediaConfig())
    yield c
    c.close()


@pytest.mark.parametrize("rate", [8000, 16000])
def test_tts_prompt_is_pcm16_mono_wav_at_the_clock_rate(cache: PromptCache, rate: int) -> None:
    path = cache.prepare("tts", b"Fire alarm in building seven.", FEMALE_GB, rate)
    info = sf.info(path)
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, rate)
    assert info.duration > 0.5


def test_same_text_is_synthesized_once(cache: PromptCache) -> None:
    first = cache.prepare("tts", b"Pump failure", FEMALE_GB, 8000)
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.prepare("tts", b"Pump failure", FEMALE_GB, 8000) == first
    assert cache.prepare("tts", b"Pump failure", FEMALE_GB, 16000) != first  # other rate, written on the miss
    assert (cache.hits, cache.misses) == (2, 1)
    cache.prepare("tts", b"Pump failure", {"language": "en-GB", "gender": "MALE"}, 8000)  # other voice
    cache.prepare("tts", b"Pump failure!", FEMALE_GB, 8000)  # other text
    assert (cache.hits, cache.misses) == (2, 3)


def test_cache_survives_a_restart(tmp_path: Path) -> None:
    a = PromptCache(tmp_path, MediaConfig())
    path = a.prepare("tts", b"Hello again", None, 8000)
    a.close()
    b = PromptCache(tmp_path, MediaConfig())
    assert b.prepare("tts", b"Hello again", None, 8000) == path
    assert (b.hits, b.misses) == (1, 0)
    b.close()


def test_rate_change_misses(tmp_path: Path) -> None:
    a = PromptCache(tmp_path, MediaConfig(espeak_rate=150))
    b = PromptCache(tmp_path, MediaConfig(espeak_rate=200))
    assert a.prepare("tts", b"Same text", None, 8000) != b.prepare("tts", b"Same text", None, 8000)
    assert b.misses == 1
    a.close()
    b.close()


def test_audio_prompt_is_keyed_by_its_bytes(cache: PromptCache) -> None:
    content = wav_bytes()
    path = cache.prepare("wav", content, None, 8000)
    data, sr = sf.read(path, dtype="int16")
    assert sr == 8000 and abs(len(data) - 4000) <= 2
    assert cache.prepare("wav", content, None, 8000) == path
    assert cache.prepare("wav", wav_bytes(0.6), None, 8000) != path
    assert (cache.hits, cache.misses) == (1, 2)


def test_replay_additional_content(cache: PromptCache) -> None:
    items = [
        {
            "contentTag": "pre",
            "content": "Hello, this is the alerting service.",
            "contentEncoding": "utf8",
            "voiceFormat": "tts",
            "tts": FEMALE_GB,
        },
        {
            "contentTag": "post",
            "content": base64.b64encode(wav_bytes()).decode(),
            "contentEncoding": "base64",
            "voiceFormat": "wav",
        },
        {"contentTag": "done", "content": "Thank you. Goodbye.", "voiceFormat": "tts"},
    ]
    tags = cache.prepare_additional(items, 16000)
    assert set(tags) == {"pre", "post", "done"}
    for path in tags.values():
        assert sf.info(path).samplerate == 16000


def test_errors_name_the_field(cache: PromptCache) -> None:
    with pytest.raises(MediaError) as err:
        cache.prepare_additional(
            [{"contentTag": "pre", "content": "%%%", "contentEncoding": "base64", "voiceFormat": "wav"}], 8000
        )
    assert err.value.path == "additionalContent[0].content"
    with pytest.raises(MediaError) as err:
        cache.prepare_additional(
            [{"contentTag": "pre", "content": "Hi", "voiceFormat": "tts", "tts": {"language": "qq-QQ"}}], 8000
        )
    assert err.value.path == "additionalContent[0].tts.language"
    with pytest.raises(MediaError) as err:
        cache.prepare("tts", b"Hi", {"gender": "OTHER"}, 8000)
    assert err.value.path == "tts.gender"
    with pytest.raises(MediaError) as err:
        cache.prepare("mp3", b"not an mp3 at all" * 10, None, 8000, path="content")
    assert err.value.path == "content"
    with pytest.raises(MediaError, match="longer than"):
        PromptCache(cache.directory, MediaConfig(max_prompt_seconds=0.2)).prepare("wav", wav_bytes(), None, 8000)
    with pytest.raises(MediaError) as err:
        cache.prepare_additional([{"content": "Hi", "voiceFormat": "tts"}], 8000)
    assert err.value.path == "additionalContent[0].contentTag"


def test_gtts_fallback_is_cached_under_espeak_and_gtts_is_retried_later(tmp_path: Path) -> None:
    now = [0.0]
    calls: list[str] = []

    def gtts(text: str, voice: str, timeout: float) -> Speech:
        calls.append(text)
        if now[0] < 1000:
            raise OSError("offline")
        return Speech(np.full(8000, 0.1, dtype=np.float32), 24000, Voice("gtts", voice))

    cfg = MediaConfig(tts_engine="gtts", gtts_retry_after_seconds=300)
    svc = TtsService(cfg, gtts_func=gtts, clock=lambda: now[0])
    cache = PromptCache(tmp_path, cfg, tts=svc)
    fallback = cache.prepare("tts", b"Gas alarm", None, 8000)
    assert calls == ["Gas alarm"] and cache.misses == 1
    assert cache.prepare("tts", b"Gas alarm", None, 8000) == fallback  # back-off: espeak prompt reused
    assert calls == ["Gas alarm"] and cache.hits == 1
    now[0] = 2000.0  # back-off over and gTTS reachable again
    online = cache.prepare("tts", b"Gas alarm", None, 8000)
    assert online != fallback and calls == ["Gas alarm", "Gas alarm"]
    assert cache.prepare("tts", b"Gas alarm", None, 8000) == online
    cache.close()


def test_config_problems_name_the_key() -> None:
    assert MediaConfig().problems("media") == []
    problems = MediaConfig(default_language="xx-XX", prompt_cache_dir=" ").problems("media")
    assert [p.path for p in problems] == ["media.default_language", "media.prompt_cache_dir"]


def test_cache_evicts_least_recently_used_prompts_beyond_its_size(tmp_path: Path) -> None:
    import os

    cache = PromptCache(tmp_path, MediaConfig(prompt_cache_max_mb=0.06, prompt_cache_keep_s=60))
    try:
        one = cache.prepare("wav", wav_bytes(0.5), None, 8000)
        two = cache.prepare("wav", wav_bytes(0.51), None, 8000)
        for i, path in enumerate((one, two)):  # both last used long ago, `one` first
            for f in tmp_path.glob(path.name.rsplit("-", 1)[0] + "-*.wav"):
                os.utime(f, (1_000_000 + i, 1_000_000 + i))
        assert cache.prepare("wav", wav_bytes(0.5), None, 8000) == one  # a hit makes `one` recent again
        three = cache.prepare("wav", wav_bytes(0.52), None, 8000)  # over 0.06 MB: the least recently used goes
        assert one.exists() and three.exists() and not two.exists()
        assert not list(tmp_path.glob(two.name.rsplit("-", 1)[0] + "-*"))  # its 16 kHz file went with it
        assert sum(f.stat().st_size for f in tmp_path.glob("*.wav")) <= 0.06 * 1024 * 1024
        misses = cache.misses
        assert cache.prepare("wav", wav_bytes(0.51), None, 8000) == two and cache.misses == misses + 1
    finally:
        cache.close()


def test_recently_used_prompts_are_kept_even_over_the_limit(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, MediaConfig(prompt_cache_max_mb=0.01, prompt_cache_keep_s=3600))
    try:
        paths = [cache.prepare("wav", wav_bytes(0.5 + i / 100), None, 8000) for i in range(3)]
        assert all(p.exists() for p in paths)  # a call may be about to play any of them
    finally:
        cache.close()
