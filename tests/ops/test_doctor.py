"""``alertnode doctor`` run as the operator runs it (a subprocess) against real peers: the SMSC
simulator, kamailio with digest auth (ivr1/s3cret), an SMTP smarthost; and the SIP digest maths."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alertnode.ops import sipprobe
from tests.nodeproc import API_KEY, RunningNode, free_port, merge, to_toml
from tests.peers.sip import Kamailio
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost

pytestmark = pytest.mark.peer

ROOT = Path(__file__).resolve().parents[2]


def doctor(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str]:
    tree = merge({"node": {"data_dir": str(tmp_path / "data")}, "ops": {"doctor_timeout_s": 2.0},
                  "api": {"port": 0}, "public": {"port": 0}}, config)
    path = tmp_path / "alertnode.toml"
    path.write_text(to_toml(tree), encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "alertnode.cli", "doctor", "--config", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    return res.returncode, res.stdout + res.stderr


def sms_link(port: int, **extra: Any) -> dict[str, Any]:
    return {"name": "main", "host": "127.0.0.1", "port": port, "system_id": "alertnode", "password": "secret",
            **extra}


def test_unreachable_smsc_is_reported_in_plain_words(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    code, out = doctor(tmp_path, {"sms": {"links": [sms_link(port)]}})
    assert code == 1, out
    assert f'PROBLEM  sms link "main" (127.0.0.1:{port}): cannot reach the SMSC' in out
    assert "how to fix: check sms.links[0].host and sms.links[0].port, that the SMSC is running" in out
    assert "1 problem(s) found." in out
    assert "Traceback" not in out


def test_reachable_smsc_binds_and_unbinds(tmp_path: Path, smsc: Smsc) -> None:
    code, out = doctor(tmp_path, {"sms": {"links": [sms_link(smsc.port)]}})
    assert code == 0, out
    assert f'ok       sms link "main" (127.0.0.1:{smsc.port}): bound as alertnode (transceiver) and unbound' in out
    assert "ok       data directory" in out and "everything checked is fine." in out


def voice(pbx: Kamailio, password: str) -> dict[str, Any]:
    return {"voice": {"enabled": True, "registrar": pbx.hostport, "user": "ivr1", "password": password}}


def test_wrong_sip_password_is_reported_in_plain_words(tmp_path: Path, kamailio: Callable[..., Kamailio]) -> None:
    pbx = kamailio()
    code, out = doctor(tmp_path, voice(pbx, "Wr0ngPass9"))
    assert code == 1, out
    assert f"PROBLEM  sip registrar {pbx.hostport}: the registrar refused the password of SIP user ivr1" in out
    assert "ALERTNODE__voice__password" in out
    assert "Wr0ngPass9" not in out  # the password itself is never printed


def test_right_sip_password_is_accepted(tmp_path: Path, kamailio: Callable[..., Kamailio]) -> None:
    pbx = kamailio()
    code, out = doctor(tmp_path, voice(pbx, "s3cret"))
    assert code == 0, out
    assert f"ok       sip registrar {pbx.hostport}: accepted the credentials of ivr1" in out


def test_silent_sip_peer_and_smarthost(tmp_path: Path, threaded_smarthost: ThreadedSmarthost) -> None:
    dead = free_port()
    config = {"voice": {"enabled": True, "trunk": f"127.0.0.1:{dead}"},
              "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": threaded_smarthost.port,
                       "smarthost_tls": "off", "listen_port": 0}}
    code, out = doctor(tmp_path, config)
    assert code == 1, out
    assert f"PROBLEM  sip trunk 127.0.0.1:{dead}: nothing listens for SIP on UDP 127.0.0.1:{dead}" in out
    assert f"ok       smarthost 127.0.0.1:{threaded_smarthost.port}: EHLO accepted" in out


def test_unreachable_smarthost(tmp_path: Path) -> None:
    port = free_port()
    code, out = doctor(tmp_path, {"mail": {"smarthost_host": "127.0.0.1", "smarthost_port": port, "listen_port": 0}})
    assert code == 1, out
    assert f"PROBLEM  smarthost 127.0.0.1:{port}: cannot reach the smarthost" in out


def test_invalid_configuration_names_the_key(tmp_path: Path) -> None:
    code, out = doctor(tmp_path, {"sms": {"links": [{"name": "x", "host": "127.0.0.1", "port": 70000}]}})
    assert code == 2, out
    assert "PROBLEM  configuration: sms.links[0].port" in out or "PROBLEM  configuration: sms.links.0.port" in out
    assert "fix them first" in out


def test_store_without_its_key_is_reported(tmp_path: Path, smsc: Smsc) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    with sqlite3.connect(data / "alertnode.db") as conn:
        conn.execute("CREATE TABLE alerts (alert_ref TEXT)")
    code, out = doctor(tmp_path, {"sms": {"links": [sms_link(smsc.port)]}})
    assert code == 1, out
    assert "secret.key is missing" in out and "restore secret.key from your backup" in out


def test_digest_response_matches_rfc2617_example() -> None:
    # RFC 2617 §3.5
    challenge = sipprobe.parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = sipprobe.digest_authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life",
                                          "0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in value
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in value and "nc=00000001" in value


def test_parse_response_reads_compact_headers() -> None:
    resp = sipprobe.parse_response(b"SIP/2.0 401 Unauthorized\r\nCSeq: 1 REGISTER\r\ni: abc\r\n"
                                   b'WWW-Authenticate: Digest realm="r", nonce="n"\r\n\r\n')
    assert resp is not None and resp.code == 401 and resp.header("call-id") == "abc"
    assert sipprobe.parse_challenge(resp.header("www-authenticate") or "")["nonce"] == "n"
    assert sipprobe.parse_response(b"REGISTER sip:x SIP/2.0\r\n\r\n") is None


def test_listener_ports_in_use(tmp_path: Path, run_node: Callable[..., RunningNode]) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        taken = other.getsockname()[1]
        code, out = doctor(tmp_path, {"public": {"port": taken}})
    assert code == 1, out
    assert f"PROBLEM  public listener 127.0.0.1:{taken}: port {taken} is in use by another program" in out
    assert "or change public.port" in out

    node = run_node({})
    port = int(node.url.rsplit(":", 1)[1])
    code, out = doctor(tmp_path, {"api": {"port": port, "api_keys": [API_KEY]}})
    assert f"ok       control API listener 127.0.0.1:{port}: in use by the running alertnode" in out, out
