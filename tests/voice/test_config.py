"""VoiceConfig cross-key checks and dial-plan rewriting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alertnode.voice.config import DialRule, VoiceConfig, rewrite_number


def keys(cfg: VoiceConfig) -> set[str]:
    return {p.path for p in cfg.problems("voice")}


def test_disabled_needs_nothing() -> None:
    assert VoiceConfig().problems("voice") == []
    assert not VoiceConfig().configured


def test_enabled_needs_registrar_or_trunk_and_user() -> None:
    assert keys(VoiceConfig(enabled=True)) == {"voice.registrar"}
    assert keys(VoiceConfig(enabled=True, registrar="pbx:5060")) == {"voice.user"}
    assert keys(VoiceConfig(enabled=True, trunk="10.0.0.1")) == set()
    assert VoiceConfig(enabled=True, registrar="pbx", user="ivr1").registers


def test_bad_rules_codecs_and_ports_are_named() -> None:
    cfg = VoiceConfig(
        enabled=True,
        trunk="t",
        codecs=["PCMA", "PCMA"],
        dial_plan=[DialRule(match="(", replace="x"), DialRule(match="a", replace="\\3")],
        max_concurrent_calls=400,
        rtp_port_base=63000,
    )
    assert keys(cfg) == {"voice.codecs", "voice.dial_plan.0", "voice.dial_plan.1", "voice.rtp_port_base"}
    with pytest.raises(ValidationError):
        VoiceConfig(codecs=["OPUS"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        VoiceConfig(nonsense=1)  # type: ignore[call-arg]


def test_workers_from_concurrency() -> None:
    assert VoiceConfig(max_concurrent_calls=1).workers == 1
    assert VoiceConfig(max_concurrent_calls=4).workers == 1
    assert VoiceConfig(max_concurrent_calls=5).workers == 2
    assert VoiceConfig(max_concurrent_calls=32).workers == 8


def test_dial_plan_first_match_wins() -> None:
    rules = [
        DialRule(match=r"\+44", replace="90"),
        DialRule(match=r"\+", replace="900"),
        DialRule(match="", replace="9"),
    ]
    assert rewrite_number("+441234567890", rules) == "901234567890"
    assert rewrite_number("+33123", rules) == "90033123"
    assert rewrite_number("2001", rules) == "92001"
    assert rewrite_number("2001", []) == "2001"
    assert rewrite_number("+4420", [DialRule(match=r"\+(44)(\d+)", replace=r"0\2")]) == "020"
