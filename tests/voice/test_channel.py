"""Request-time checks and helpers of the voice channel (no worker started)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import soundfile as sf

from alertnode.voice.channel import VoiceChannel
from alertnode.voice.config import VoiceConfig
from alertnode.voice.inbound import mask, uri_user


def channel(tmp_path: Path) -> VoiceChannel:
    return VoiceChannel(config=VoiceConfig(enabled=True, trunk="127.0.0.1"), data_dir=tmp_path)


def wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(800, dtype=np.int16), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def paths(problems: list) -> set[str]:  # type: ignore[type-arg]
    return {p.path for p in problems}


def test_simple_item_with_good_audio_passes(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    item = {"voiceFormat": "wav", "ivrControl": {"ivrType": "simple", "ivrAttempts": 2}}
    assert ch.validate_item(item, wav(), "alert[0]") == []


def test_audio_of_every_prompt_is_checked(tmp_path: Path) -> None:
    """The channel checks only what needs it: audio that must decode. The IVR's options and content
    tags (a digit in two sets, pre/post/done missing) are the contract's and the expansion's
    (tests/contract/test_ivr_control.py; end to end in tests/peers/test_voice_node.py)."""
    ch = channel(tmp_path)
    item = {
        "voiceFormat": "tts",
        "ivrControl": {"ivrType": "replay", "ivrAmOkDigits": "1"},
        "additionalContent": [
            {"contentTag": "pre", "content": "Hello", "contentEncoding": "utf8", "voiceFormat": "tts"},
            {
                "contentTag": "post",
                "content": base64.b64encode(b"not audio").decode(),
                "contentEncoding": "base64",
                "voiceFormat": "wav",
            },
        ],
    }
    assert paths(ch.validate_item(item, b"Main message", "alert[1]")) == {"alert[1].additionalContent[1].content"}


def test_bad_main_audio_is_reported(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    item = {"voiceFormat": "mp3", "additionalContent": [{"contentTag": "pre", "storedContent": "x"}]}
    assert paths(ch.validate_item(item, b"garbage", "alert[0]")) == {"alert[0].content"}


def test_uri_user_and_mask() -> None:
    assert uri_user('"Alice" <sip:+441234@pbx.example;user=phone>;tag=1') == "+441234"
    assert uri_user("sip:2000@127.0.0.1:5060") == "2000"
    assert uri_user("<tel:+4420;phone-context=x>") == "+4420"
    assert uri_user("garbage") == ""
    assert mask("+441234567890") == "**********890"


def test_capacity_is_zero_before_start(tmp_path: Path) -> None:
    ch = channel(tmp_path)
    assert ch.free_capacity() == 0
    assert not ch.ready()
    assert ch.info().state == "starting"
    assert ch.alert_types == ("call", "inboundCall")
