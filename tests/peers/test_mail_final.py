"""Each e-mail's final event, against real peers (aiosmtpd smarthosts with and without DSN, the node's own
listener taking Postfix-shaped DSNs): ``sent`` is final when no success DSN was asked for; otherwise the
DSN (delivered or failed) is, or, when none comes within ``dsn_timeout_s``, ``unconfirmed``. The wait is
kept in the store, so a channel started after the time-out ends the delivery at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from tests.peers.smtp import Smarthost, postfix_dsn
from tests.peers.test_mail_channel import DOMAIN, ChannelFactory, dsn_channel, make_work, smtp_send
from tests.peers.test_mail_channel import mail_channel as mail_channel  # the fixture

pytestmark = pytest.mark.peer


async def wait_rows(channel_store: Any) -> list[tuple[int, float]]:
    return await channel_store.read(lambda c: c.execute("SELECT delivery_id, due_at FROM mail_dsn_wait").fetchall())


async def test_sent_is_final_without_a_success_dsn_and_not_final_with_one(
    mail_channel: ChannelFactory, smarthost: Smarthost, smarthost_factory: Any
) -> None:
    plain, plain_sink = await mail_channel()  # this smarthost offers no DSN
    await plain.submit(make_work(80, "a@example.org"))
    sent = await plain_sink.event_for(80, "sent")
    assert sent.final and "dsnRequested" not in sent.detail

    failures_only, sink = (await dsn_channel(mail_channel, smarthost_factory, dsn_notify=["FAILURE", "DELAY"]))[:2]
    await failures_only.submit(make_work(81, "b@example.org"))
    assert (await sink.event_for(81, "sent")).final  # no DSN will say it was delivered

    channel, sink, host = await dsn_channel(mail_channel, smarthost_factory)
    work = make_work(82, "c@example.org")
    sink.tokens[work.token] = 82
    await channel.submit(work)
    sent = await sink.event_for(82, "sent")
    assert not sent.final and sent.detail["dsnRequested"] is True
    assert [d for d, _ in await wait_rows(channel._store)] == [82]
    (captured,) = await host.wait_for(1)
    report = postfix_dsn(action="delivered", rcpt="c@example.org", envelope_to=f"bounces@{DOMAIN}",
                         original_headers=None, envid=captured.dsn_mail["ENVID"])
    code, _ = await smtp_send(channel.listener_port, report, mail_from="", rcpt_to=f"bounces@{DOMAIN}")
    assert code == 250
    delivered = await sink.event_for(82, "delivered")
    assert delivered.final and delivered.state is DeliveryState.DELIVERED
    assert await wait_rows(channel._store) == []  # no time-out follows


async def test_no_dsn_within_the_time_out_ends_the_delivery_unconfirmed(
    mail_channel: ChannelFactory, smarthost_factory: Any
) -> None:
    channel, sink, _ = await dsn_channel(mail_channel, smarthost_factory, dsn_timeout_s=1.0)
    await channel.submit(make_work(83, "d@example.org"))
    sent = await sink.event_for(83, "sent")
    unconfirmed = await sink.event_for(83, "unconfirmed")
    assert unconfirmed.final and unconfirmed.state is DeliveryState.UNCONFIRMED
    assert unconfirmed.at >= sent.at + 1.0 and unconfirmed.detail["dsn_timeout_s"] == 1.0
    assert await wait_rows(channel._store) == []


async def test_the_dsn_time_out_survives_a_restart(mail_channel: ChannelFactory, smarthost_factory: Any) -> None:
    channel, sink, host = await dsn_channel(mail_channel, smarthost_factory, dsn_timeout_s=2.0)
    await channel.submit(make_work(84, "e@example.org"))
    await sink.event_for(84, "sent")
    while not await wait_rows(channel._store):  # written beside the report, in the same group commit
        await asyncio.sleep(0.01)
    await channel.stop(1.0)
    [(_, due)] = await wait_rows(channel._store)
    while time.time() < due:  # the node is down when the time-out passes
        await asyncio.sleep(0.05)
    _, sink2 = await mail_channel(smarthost_port=host.port, dsn_timeout_s=2.0)
    unconfirmed = await sink2.event_for(84, "unconfirmed")
    assert unconfirmed.final
    assert not sink.of(84, "unconfirmed")
