"""The smarthost client over STARTTLS, implicit TLS and SMTP AUTH, against aiosmtpd smarthosts with a
self-signed certificate (the client trusts it through smarthost_ca_file)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from alertnode.mail.channel import MailChannel
from alertnode.mail.config import MailConfig
from alertnode.store.crypto import Cipher
from tests.peers.smtp import Smarthost, make_certificate
from tests.peers.test_mail_channel import MemorySink, make_work

pytestmark = pytest.mark.peer
Factory = Callable[..., Awaitable[Smarthost]]


async def run_channel(host: Smarthost, **settings: Any) -> tuple[MailChannel, MemorySink]:
    config = MailConfig(
        smarthost_host=host.host,
        smarthost_port=host.port,
        domain="alertnode.test",
        listen_enabled=False,
        retry_backoff_s=[0.01],
        connect_timeout_s=5.0,
        **settings,
    )
    channel = MailChannel(config=config, cipher=Cipher(os.urandom(32)))
    sink = MemorySink()
    await channel.start(sink)
    return channel, sink


async def send_one(host: Smarthost, kind: str = "sent", **settings: Any) -> Any:
    channel, sink = await run_channel(host, **settings)
    try:
        await channel.submit(make_work(1, "ann@example.org"))
        return await sink.event_for(1, kind)
    finally:
        await channel.stop(1.0)


async def test_starttls_with_auth(smarthost_factory: Factory, tmp_path: Path) -> None:
    cert = make_certificate(tmp_path)
    host = await smarthost_factory(tls="starttls", certificate=cert, credentials=("node", "s3cret"))
    event = await send_one(
        host,
        smarthost_tls="starttls",
        smarthost_ca_file=str(cert[0]),
        smarthost_username="node",
        smarthost_password="s3cret",
    )
    assert event.state is DeliveryState.SENT
    (captured,) = host.messages
    assert captured.tls
    assert captured.user == "node"


async def test_auto_upgrades_when_starttls_is_offered(smarthost_factory: Factory, tmp_path: Path) -> None:
    cert = make_certificate(tmp_path)
    host = await smarthost_factory(tls="starttls", certificate=cert)
    await send_one(host, smarthost_tls="auto", smarthost_ca_file=str(cert[0]))
    assert host.messages[0].tls


async def test_implicit_tls(smarthost_factory: Factory, tmp_path: Path) -> None:
    cert = make_certificate(tmp_path)
    host = await smarthost_factory(tls="implicit", certificate=cert)
    await send_one(host, smarthost_tls="implicit", smarthost_ca_file=str(cert[0]))
    assert host.messages[0].tls


async def test_wrong_password_is_temporary_with_the_reply(smarthost_factory: Factory, tmp_path: Path) -> None:
    cert = make_certificate(tmp_path)
    host = await smarthost_factory(tls="starttls", certificate=cert, credentials=("node", "s3cret"))
    event = await send_one(
        host,
        "retry",
        smarthost_tls="starttls",
        smarthost_ca_file=str(cert[0]),
        smarthost_username="node",
        smarthost_password="wrong",
    )
    assert event.detail["smtp_reply"].startswith("535")
    assert not host.messages


async def test_untrusted_certificate_is_refused(smarthost_factory: Factory, tmp_path: Path) -> None:
    cert = make_certificate(tmp_path)
    host = await smarthost_factory(tls="implicit", certificate=cert)
    event = await send_one(host, "retry", smarthost_tls="implicit")
    assert "CERTIFICATE_VERIFY_FAILED" in event.detail["error"]
    assert not host.messages
    # verification can be switched off explicitly (a smarthost on the same machine)
    await send_one(host, smarthost_tls="implicit", smarthost_tls_verify=False)
    assert len(host.messages) == 1


async def test_starttls_required_but_not_offered_fails(smarthost_factory: Factory) -> None:
    host = await smarthost_factory()
    event = await send_one(host, "retry", smarthost_tls="starttls")
    assert "STARTTLS" in event.detail["error"] or "TLS" in event.detail["error"]
    assert not host.messages
