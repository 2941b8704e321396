"""TTS: voice mapping, real espeak-ng synthesis, gTTS failure and time-out falling back to espeak-ng."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from alertnode.errors import MediaError
from alertnode.media.config import MediaConfig
from alertnode.media.tts import Speech, TtsService, Voice, espeak, language_known, voice_for


def test_voice_mapping() -> None:
    assert voice_for("espeak", "en-GB", "FEMALE") == Voice("espeak", "en-gb+f3")
    assert voice_for("espeak", "en_us", "male") == Voice("espeak", "en-us+m3")
    assert voice_for("espeak", "de-DE") == Voice("espeak", "de")
    assert voice_for("espeak", "fr-FR", "FEMALE") == Voice("espeak", "fr-fr+f3")
    assert voice_for("gtts", "en-GB", "FEMALE") == Voice("gtts", "en@co.uk")
    assert voice_for("gtts", "pt-BR") == Voice("gtts", "pt@com.br")
    assert language_known("EN-gb") and language_known("de") and not language_known("tlh")


def test_unknown_language_gender_engine_are_clear_errors() -> None:
    with pytest.raises(MediaError, match="unknown TTS language 'xx-XX'") as err:
        voice_for("espeak", "xx-XX")
    assert err.value.path == "tts.language"
    with pytest.raises(MediaError, match="gender") as err:
        voice_for("espeak", "en-GB", "NEUTRAL")
    assert err.value.path == "tts.gender"
    with pytest.raises(MediaError, match="engine"):
        voice_for("polly", "en-GB")


@pytest.mark.parametrize("language", ["en-GB", "en-US", "de-DE", "fr-FR", "es-ES", "pt-BR", "zh-CN"])
def test_espeak_speaks_every_mapped_language_we_advertise(language: str) -> None:
    voice = voice_for("espeak", language, "FEMALE")
    speech = espeak("one two three", voice.name, 160)
    assert speech.samplerate == 22050
    assert len(speech.samples) > 0.3 * speech.samplerate
    assert np.abs(speech.samples).max() > 0.05


def test_espeak_missing_program_is_a_media_error() -> None:
    with pytest.raises(MediaError, match="espeak-ng failed"):
        espeak("hello", "en-gb", 160, command="/nonexistent/espeak-ng")


@pytest.fixture
def refusing_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """gTTS (requests) goes through a proxy port on 127.0.0.1 where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")


@pytest.fixture
def stalling_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[socket.socket]]:
    """A proxy on 127.0.0.1 that accepts gTTS's connection and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{srv.getsockname()[1]}"
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.setenv("https_proxy", url)
    yield held
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_gtts_failure_falls_back_to_espeak(refusing_proxy: None) -> None:
    svc = TtsService(MediaConfig(tts_engine="gtts", gtts_timeout_seconds=5.0))
    try:
        speech = svc.synthesize("The pump has stopped", "en-GB", "MALE")
    finally:
        svc.close()
    assert speech.voice == Voice("espeak", "en-gb+m3")
    assert len(speech.samples) > 0
    assert not svc.gtts_usable()


def test_gtts_time_out_falls_back_within_the_time_out(stalling_proxy: list[socket.socket]) -> None:
    svc = TtsService(MediaConfig(tts_engine="gtts", gtts_timeout_seconds=1.0))
    started = time.monotonic()
    try:
        speech = svc.synthesize("The pump has stopped", "en-GB")
        elapsed = time.monotonic() - started
        # gTTS really did connect and was left hanging; the answer came from espeak-ng regardless.
        assert stalling_proxy, "gTTS never reached the proxy"
    finally:
        svc.close()
    assert speech.voice.engine == "espeak"
    # Functional bound, not a benchmark: without the time-out this call would hang for good.
    assert elapsed < 1.0 + 10.0


def test_gtts_back_off_then_retry() -> None:
    now = [100.0]
    calls: list[str] = []

    def failing_gtts(text: str, voice: str, timeout: float) -> Speech:
        calls.append(voice)
        raise OSError("network unreachable")

    cfg = MediaConfig(tts_engine="gtts", gtts_retry_after_seconds=60.0)
    svc = TtsService(cfg, gtts_func=failing_gtts, clock=lambda: now[0])
    try:
        assert svc.synthesize("a", "en-GB").voice.engine == "espeak"
        assert svc.synthesize("b", "en-GB").voice.engine == "espeak"
        assert calls == ["en@co.uk"]  # second call skipped gTTS during the back-off
        now[0] += 61.0
        svc.synthesize("c", "en-GB")
        assert calls == ["en@co.uk", "en@co.uk"]
    finally:
        svc.close()


def test_gtts_success_is_used() -> None:
    def fake_gtts(text: str, voice: str, timeout: float) -> Speech:
        return Speech(np.full(2400, 0.1, dtype=np.float32), 24000, Voice("gtts", voice))

    svc = TtsService(MediaConfig(tts_engine="gtts"), gtts_func=fake_gtts)
    try:
        assert svc.synthesize("hello", "en-US").voice == Voice("gtts", "en@com")
    finally:
        svc.close()


def test_empty_text_is_refused() -> None:
    svc = TtsService(MediaConfig())
    with pytest.raises(MediaError, match="empty"):
        svc.synthesize("   ")
    svc.close()
