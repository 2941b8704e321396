"""Configuration: defaults, the example file, environment overrides, every problem at once."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from alertnode import config
from alertnode.app import load_secrets
from alertnode.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_example_file_is_generated_from_the_code() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_config.py")], capture_output=True, text=True,
                         check=True).stdout
    assert out == (ROOT / "config" / "alertnode.example.toml").read_text(encoding="utf-8"), \
        "run: .venv/bin/python tools/gen_config.py > config/alertnode.example.toml"


def test_example_file_equals_the_defaults() -> None:
    assert config.load(ROOT / "config" / "alertnode.example.toml", environ={}) == config.load(None, environ={})


def test_defaults_are_loopback_only() -> None:
    cfg = config.load(None, environ={})
    assert cfg.api.host == "127.0.0.1" and cfg.public.host == "127.0.0.1"
    assert not cfg.sms.configured and not cfg.mail.configured and not cfg.voice.configured


def test_every_problem_reported_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[api]\nport = 99999\nhost = 5\n[limits]\ndefault_lifetime = "forever"\n'
                    '[public]\nbase_url = "ftp://x/"\n[nosuch]\nx = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config.load(path, environ={})
    keys = {p.path for p in err.value.problems}
    assert {"api.port", "api.host", "nosuch"} <= keys


def test_cross_key_rules_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[limits]\ndefault_lifetime = "forever"\n[public]\nbase_url = "ftp://x/"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config.load(path, environ={})
    assert {p.path for p in err.value.problems} == {"limits.default_lifetime", "public.base_url"}


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[api\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad, environ={})
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "none.toml", environ={})


def test_environment_overrides_secrets(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[sms]\nlinks = [{name = "a", system_id = "x"}]\n', encoding="utf-8")
    env = {"ALERTNODE__sms__links__0__password": "s3cret", "ALERTNODE__api__port": "9090",
           "ALERTNODE_API_KEYS": "k1, k2"}
    cfg = config.load(path, environ=env)
    assert cfg.sms.links[0].password == "s3cret"
    assert cfg.api.port == 9090
    assert cfg.api.api_keys == ["k1", "k2"]


def test_environment_override_of_missing_list_item_is_a_problem() -> None:
    with pytest.raises(ConfigError) as err:
        config.load(None, environ={"ALERTNODE__sms__links__3__password": "x"})
    assert err.value.problems[0].path == "sms.links.3.password"


def test_generated_secrets_are_private_and_stable(tmp_path: Path) -> None:
    cfg = config.load(None, environ={})
    first = load_secrets(cfg, tmp_path / "d")
    assert first.new_api_key is not None and first.keys.check(first.new_api_key)
    assert not first.keys.check("nope")
    for name in ("secret.key", "api_key.sha256", "callback.secret"):
        mode = stat.S_IMODE(os.stat(tmp_path / "d" / name).st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert first.new_api_key not in (tmp_path / "d" / "api_key.sha256").read_text()
    again = load_secrets(cfg, tmp_path / "d")
    assert again.new_api_key is None  # printed once only
    assert again.keys.check(first.new_api_key)
    assert again.master_key == first.master_key


def test_check_config_command(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[api]\nport = -1\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "alertnode.cli", "check-config", "--config", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "api.port" in proc.stderr
