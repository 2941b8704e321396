"""SMPP over TLS: the SMSC simulator behind a real TLS terminator (stunnel4), certificates made by the test.
A link that trusts the right CA (and shows a client certificate where the terminator requires one) binds,
sends and gets its receipt through TLS; a certificate that fails verification (another CA, or a name that
does not match) keeps the link down, says so in getinfo, /readyz and the log, and sends nothing: the
messages wait in the queue and go once the link is fixed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from alertnode.sms.channel import SmsChannel
from alertnode.store.db import Store
from tests.nodeproc import RunningNode, to_toml
from tests.peers.sms_support import MemorySink, bound, cipher, open_store, sms_config, work
from tests.peers.smsc import Smsc
from tests.peers.test_sms_node import of, sms_alert
from tests.peers.tls_terminator import Pki, Stunnel, make_pki

pytestmark = pytest.mark.peer

SERVER_NAME = "smsc.test"  # the only name in the terminator's certificate (not 127.0.0.1)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path, SERVER_NAME)


@pytest.fixture
def terminators(tmp_path: Path, pki: Pki) -> Iterator[Callable[..., Stunnel]]:
    started: list[Stunnel] = []

    def start(smsc: Smsc, **options: Any) -> Stunnel:
        tunnel = Stunnel(tmp_path, smsc.port, pki, **options)
        started.append(tunnel)
        return tunnel

    yield start
    for tunnel in started:
        tunnel.stop()


@pytest_asyncio.fixture
async def channels(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    store: Store = open_store(tmp_path / "node.db")
    running: list[SmsChannel] = []

    async def start(*links: dict[str, Any]) -> tuple[SmsChannel, MemorySink]:
        sink = MemorySink()
        ch = SmsChannel(config=sms_config(*links), store=store, cipher=cipher())
        await ch.start(sink)
        running.append(ch)
        return ch, sink

    yield start
    for ch in running:
        await ch.stop(2.0)
    store.close()


def tls_link(smsc: Smsc, tunnel: Stunnel, pki: Pki, name: str = "a", **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"tls": True, "tls_ca_file": str(pki.ca), "tls_server_name": SERVER_NAME,
                                "reconnect_initial_s": 0.2, "reconnect_max_s": 1.0, **overrides}
    return smsc.link(name, port=tunnel.port, **settings)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_link_over_tls_with_a_client_certificate_sends_and_gets_its_receipt(
    smsc: Smsc, terminators: Callable[..., Stunnel], pki: Pki, channels: Callable[..., Any]
) -> None:
    tunnel = terminators(smsc, require_client_cert=True)
    link = tls_link(smsc, tunnel, pki, tls_cert_file=str(pki.client_cert), tls_key_file=str(pki.client_key))
    ch, sink = await channels(link)
    await bound(ch)
    count = 300  # answers and receipts come back many to a TLS record read: none may be left unread
    for i in range(1, count + 1):
        await ch.submit(work(i, f"+4477009{i:05d}", f"Over TLS {i}"))
    await sink.wait(lambda: sum(e.kind == "delivered" for e in sink.events) == count, timeout=60)
    [event] = sink.of(1, "delivered")
    assert event.final and event.detail["stat"] == "DELIVRD"
    details = ch.info().details["a"]
    assert details["tls"] is True and "tlsError" not in details["transceiver"]
    assert len({r["dest"] for r in smsc.submits()}) == count
    assert "certificate accepted" in tunnel.log().lower() or "verify ok" in tunnel.log().lower()


async def test_a_certificate_that_fails_verification_keeps_the_link_down_and_sends_nothing(
    smsc: Smsc, terminators: Callable[..., Stunnel], pki: Pki, channels: Callable[..., Any]
) -> None:
    tunnel = terminators(smsc)
    wrong_ca = tls_link(smsc, tunnel, pki, "wrong_ca", tls_ca_file=str(pki.other_ca))
    wrong_name = tls_link(smsc, tunnel, pki, "wrong_name", tls_server_name="")  # 127.0.0.1 is not in it
    ch, sink = await channels(wrong_ca, wrong_name)

    def errors() -> dict[str, str]:
        details = ch.info().details
        return {n: details[n]["transceiver"].get("tlsError", "") for n in ("wrong_ca", "wrong_name")}

    await until(lambda: all(errors().values()), "both TLS handshakes to fail")
    problems = errors()
    assert "certificate was not accepted" in problems["wrong_ca"] and "unable to get local issuer" in problems[
        "wrong_ca"]
    assert "mismatch" in problems["wrong_name"].lower()  # the name check (RFC 6125), not the chain
    assert ch.info().state == "tls_error" and not ch.ready() and ch.free_capacity() == 0
    # between two tries it backs off (reason: the handshake's failure), then tries again
    assert ch.info().details["wrong_ca"]["transceiver"]["state"] in ("backing_off", "binding")
    assert smsc.submits() == [] and smsc.stats()["binds"] == 0
    assert sink.events == []


def test_the_node_reports_a_failing_certificate_and_the_messages_wait_until_it_is_fixed(
    run_node: Callable[..., RunningNode], smsc: Smsc, terminators: Callable[..., Stunnel], pki: Pki
) -> None:
    tunnel = terminators(smsc)
    node = run_node({"sms": {"links": [tls_link(smsc, tunnel, pki, tls_ca_file=str(pki.other_ca))]}})
    resp = node.post("/api/json/sendalert", sms_alert(["+447700900001"], "Waits for a good certificate"))
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    ref = resp.json()["alertRef"]
    deadline = time.monotonic() + 30
    while True:
        ready = httpx.get(f"{node.url}/readyz", timeout=10, trust_env=False)
        sms = ready.json()["channels"]["sms"]
        if sms["state"] == "tls_error":
            break
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.1)
    assert ready.status_code == 503 and sms["ready"] is False
    with node.client() as c:
        info = c.post("/api/json/getinfo", json={"version": "latest"}).json()
        alert = c.get(f"/api/json/alerts/{ref}").json()
    assert "certificate was not accepted" in str(info)
    assert alert["counts"]["queued"] == 1 and alert["counts"]["failed"] == 0  # waiting, not failed
    assert any("certificate was not accepted" in line for line in node.output)
    assert smsc.submits() == []

    # the operator installs the right CA file: the message that waited goes out
    node.stop()
    config = {"sms": {"links": [tls_link(smsc, tunnel, pki)]}}
    text = node.config_path.read_text(encoding="utf-8")
    node.config_path.write_text(text.split("[sms]")[0] + to_toml(config), encoding="utf-8")
    node.start()
    events = node.wait_events(lambda evs: bool(of(evs, "+447700900001", "delivered")))
    assert not of(events, "+447700900001", "failed")
    assert [r["dest"] for r in smsc.submits()] == ["447700900001"]
