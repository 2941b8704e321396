"""When the node runs in sandbox mode and what its channels are then pointed at (pure)."""

from __future__ import annotations

import pytest

from alertnode import config as config_mod
from alertnode.sandbox.wiring import PHONE_CALLS, decide, sandbox_config

CONFIGURED = {
    "sms": {"links": [{"name": "carrier", "host": "smsc.example.net", "port": 2775, "system_id": "acme",
                       "password": "pw"}],
            "routes": [{"prefix": "+44", "links": ["carrier"]}], "ack_keywords": ["JA"]},
    "mail": {"smarthost_host": "mail.example.com", "smarthost_port": 587, "smarthost_tls": "starttls",
             "smarthost_username": "u", "smarthost_password": "p", "listen_enabled": False, "listen_port": 2600,
             "domain": "alerts.example.com"},
    "voice": {"enabled": True, "registrar": "pbx.example.com", "user": "ivr1", "password": "secret",
              "dial_plan": [{"match": "\\+44", "replace": "0"}], "max_concurrent_calls": 40, "key_wait_s": 7,
              "rtp_port_base": 30000},
}


@pytest.mark.parametrize(("tree", "requested", "on", "replaced"), [
    ({}, None, True, ()),
    ({}, True, True, ()),
    ({}, False, False, ()),
    (CONFIGURED, None, False, ()),
    (CONFIGURED, True, True, ("sms", "email", "voice")),
    ({"mail": CONFIGURED["mail"]}, None, False, ()),  # one configured channel is enough
    ({"mail": CONFIGURED["mail"]}, True, True, ("email",)),
])
def test_decide(tree: dict, requested: bool | None, on: bool, replaced: tuple[str, ...]) -> None:  # type: ignore[type-arg]
    decision = decide(config_mod.build(tree), requested)
    assert (decision.on, decision.replaced) == (on, replaced)
    assert decision.why


def test_only_how_to_reach_the_peers_is_replaced() -> None:
    cfg = sandbox_config(config_mod.build(CONFIGURED), smsc_port=4000, smarthost_port=4001, phone="127.0.0.1:4002")
    (link,) = cfg.sms.links
    assert (link.host, link.port, link.password, link.dcs0_charset) == ("127.0.0.1", 4000, "", "latin1")
    assert cfg.sms.routes == [] and cfg.sms.ack_keywords == ["JA"]
    mail = cfg.mail
    assert (mail.smarthost_host, mail.smarthost_port, mail.smarthost_tls, mail.smarthost_username) == (
        "127.0.0.1", 4001, "off", "")
    assert mail.smarthost_password.get_secret_value() == ""
    assert mail.listen_enabled and mail.listen_port == 2600 and mail.domain == "alerts.example.com"
    voice = cfg.voice
    assert (voice.enabled, voice.trunk, voice.registrar, voice.password, voice.dial_plan) == (
        True, "127.0.0.1:4002", "", "", [])
    assert voice.max_concurrent_calls == PHONE_CALLS and voice.key_wait_s == 7 and voice.rtp_port_base == 30000
    assert voice.sip_port_base == 0 and voice.problems("voice") == []
    assert cfg.sms.problems("sms") == [] and cfg.mail.problems("mail") == []


def test_without_a_phone_there_are_no_calls() -> None:
    cfg = sandbox_config(config_mod.build({}), smsc_port=4000, smarthost_port=4001, phone=None)
    assert not cfg.voice.configured and cfg.sms.configured and cfg.mail.configured
    assert cfg.mail.listen_port == 0  # not set: any free port
