"""MailConfig: defaults, cross-key problems, the password override through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alertnode.config import load
from alertnode.errors import ConfigError
from alertnode.mail.config import MailConfig, valid_domain, valid_local_part


def test_defaults() -> None:
    cfg = MailConfig()
    assert not cfg.configured
    assert (cfg.listen_host, cfg.listen_port) == ("127.0.0.1", 2525)
    assert cfg.accepted_domains() == ("alertnode.localdomain",)
    assert cfg.problems("mail") == []


def test_reply_domains_replace_the_domain_for_the_listener() -> None:
    cfg = MailConfig(smarthost_host="mx", domain="alerts.example", reply_domains=["Replies.Example", "b.example"])
    assert cfg.configured
    assert cfg.accepted_domains() == ("replies.example", "b.example")


def test_problems_name_their_keys() -> None:
    cfg = MailConfig(
        domain="bad_domain",
        reply_domains=["ok.example", "-bad.example"],
        default_sender="two words",
        bounce_local_part="a@b",
        smarthost_username="user",
        smarthost_tls="off",
        smarthost_ca_file="/etc/ca.pem",
        retry_backoff_s=[1.0, -1.0],
    )
    assert sorted(p.path for p in cfg.problems("mail")) == [
        "mail.bounce_local_part",
        "mail.default_sender",
        "mail.domain",
        "mail.reply_domains.1",
        "mail.retry_backoff_s.1",
        "mail.smarthost_ca_file",
        "mail.smarthost_password",
    ]


def test_unknown_keys_and_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        MailConfig(smarthost_hots="typo")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        MailConfig(smarthost_tls="sometimes")  # type: ignore[arg-type]


def test_password_comes_from_the_environment_and_is_never_printed(tmp_path: Path) -> None:
    path = tmp_path / "alertnode.toml"
    path.write_text('[mail]\nsmarthost_host = "mx.example"\nsmarthost_username = "node"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path, environ={})
    assert "mail.smarthost_password" in str(err.value)
    cfg = load(path, environ={"ALERTNODE__mail__smarthost_password": "s3cret!"})
    assert cfg.mail.smarthost_password.get_secret_value() == "s3cret!"
    assert "s3cret" not in repr(cfg.mail)


def test_a_trailing_newline_is_not_a_valid_name() -> None:
    assert not valid_local_part("alerts\n")
    assert not valid_domain("example.org\n")
    assert valid_local_part("alerts") and valid_domain("example.org")
