"""SmsConfig: every key has a default; cross-key problems are reported with their key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alertnode.sms.config import SmsConfig


def test_defaults_and_configured() -> None:
    assert not SmsConfig().configured
    cfg = SmsConfig.model_validate({"links": [{"name": "a", "system_id": "x"}]})
    assert cfg.configured and cfg.problems("sms") == []
    link = cfg.links[0]
    assert link.bind_mode == "transceiver" and link.window == 50 and link.concatenation == "udh8"
    assert "ack" in cfg.ack_keywords


def test_problems_name_their_keys() -> None:
    cfg = SmsConfig.model_validate(
        {
            "links": [
                {"name": "a", "system_id": "x", "enquire_link_timeout_s": 40},
                {"name": "a", "system_id": "y", "reconnect_initial_s": 100, "reconnect_max_s": 10},
            ],
            "routes": [{"prefix": "+44x", "links": ["a", "nope"]}],
            "default_sender": "WAY TOO LONG SENDER",
            "ack_keywords": ["yes"],
            "nack_keywords": ["YES", "no"],
        }
    )
    paths = {p.path for p in cfg.problems("sms")}
    assert paths == {
        "sms.links.1.name",
        "sms.links.0.enquire_link_timeout_s",
        "sms.links.1.reconnect_initial_s",
        "sms.routes.0.prefix",
        "sms.routes.0.links.1",
        "sms.default_sender",
        "sms.nack_keywords",
    }


def test_unknown_keys_and_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        SmsConfig.model_validate({"links": [{"name": "a", "system_id": "x", "colour": "red"}]})
    with pytest.raises(ValidationError):
        SmsConfig.model_validate({"links": [{"name": "a", "system_id": "x", "concatenation": "udh7"}]})
    with pytest.raises(ValidationError):
        SmsConfig.model_validate({"links": [{"name": "a", "system_id": "x" * 16}]})
