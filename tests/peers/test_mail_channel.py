"""MailChannel against real peers on loopback: an aiosmtpd smarthost capturing what the node sends,
and smtplib / swaks delivering replies and bounces to the node's own listener.

The channel runs in the test's event loop with an in-memory sink; the store is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from alertnode.domain import DeliveryState, DeliveryWork
from alertnode.errors import ChannelError
from alertnode.mail import records
from alertnode.mail.channel import MailChannel
from alertnode.mail.config import MailConfig
from alertnode.store.crypto import Cipher
from alertnode.store.db import SqliteStore as Store
from tests.fakes import MemorySink
from tests.peers.smtp import (
    Smarthost,
    free_port,
    postfix_dsn,
    reply_message,
    send_with_smtplib,
    send_with_swaks,
)

DOMAIN = "alertnode.test"
pytestmark = pytest.mark.peer


def make_work(delivery_id: int, address: str, *, token: str | None = None, **params: Any) -> DeliveryWork:
    text = params.pop("text", "Fire alarm in building 3. Reply OK when safe.")
    return DeliveryWork(
        delivery_id=delivery_id,
        alert_ref="A-1",
        client_ref="client-1",
        item_index=0,
        tag="t1",
        alert_type="email",
        address=address,
        contact_id=None,
        token=token or f"tok{delivery_id:04d}_Xy-z",
        content=text.encode("utf-8"),
        text=text,
        params=params,
        email_subject_ref="ANREF2345",
    )


ChannelFactory = Callable[..., Awaitable[tuple[MailChannel, MemorySink]]]


@pytest_asyncio.fixture
async def mail_channel(tmp_path: Path, smarthost: Smarthost) -> AsyncIterator[ChannelFactory]:
    """Builds started channels (config overrides as keyword arguments) and stops them afterwards."""
    store = Store(tmp_path / "node.sqlite", synchronous="OFF")
    store.open()
    started: list[MailChannel] = []

    async def build(**overrides: Any) -> tuple[MailChannel, MemorySink]:
        settings: dict[str, Any] = {
            "smarthost_host": smarthost.host,
            "smarthost_port": smarthost.port,
            "smarthost_tls": "off",
            "domain": DOMAIN,
            "listen_port": 0,
            "retry_backoff_s": [0.05, 0.05],
            "requeue_after_s": 120.0,
            "connect_timeout_s": 5.0,
            "command_timeout_s": 10.0,
        }
        settings.update(overrides)
        channel = MailChannel(config=MailConfig(**settings), store=store, cipher=Cipher(os.urandom(32)))
        sink = MemorySink()
        await channel.start(sink)
        started.append(channel)
        return channel, sink

    try:
        yield build
    finally:
        for channel in started:
            await channel.stop(2.0)
        store.close()


async def smtp_send(port: int, data: bytes, **kwargs: Any) -> tuple[int, str]:
    reply = await asyncio.to_thread(send_with_smtplib, port, data, **kwargs)
    return reply.code, reply.text


# -- sending ---------------------------------------------------------------------------------------


async def test_message_reaches_smarthost_with_reference_and_headers(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    work = make_work(
        1,
        "Bob.Smith@example.org",
        sender="alerts",
        to="undisclosed",
        replyTo="alertResponses",
        subject="Fire drill – Übung",
    )
    await channel.submit(work)
    sent = await sink.event_for(1, "sent")
    assert sent.state is DeliveryState.SENT
    assert sent.detail["smtp_reply"].startswith("250")
    (captured,) = await smarthost.wait_for(1)
    assert captured.rcpt_tos == ["Bob.Smith@example.org"]
    assert captured.mail_from == f"bounces+{work.token}@{DOMAIN}"
    msg = captured.message
    assert str(msg["From"]) == f"alerts@{DOMAIN}"
    assert str(msg["To"]) == f"undisclosed@{DOMAIN}"
    assert str(msg["Reply-To"]) == f"alertResponses@{DOMAIN}"
    assert str(msg["Subject"]) == f"Fire drill – Übung [ANREF2345-{work.token}]"
    # the raw header is RFC 2047 encoded: the wire carries ASCII only
    raw_subject = captured.data.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0]
    assert raw_subject.isascii() and b"=?utf-8?" in raw_subject
    assert captured.data.isascii()
    assert str(msg["Message-ID"]) == sent.detail["messageId"] == f"<{work.token}.a1@{DOMAIN}>"
    assert msg["Date"] is not None
    assert msg.get_content_type() == "text/plain"
    assert msg.get_param("charset") == "us-ascii"
    assert msg.get_content().strip() == "Fire alarm in building 3. Reply OK when safe."


async def test_non_ascii_body_keeps_declared_charset_when_it_fits(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    await channel.submit(
        make_work(2, "a@example.org", emailBodyContentType="text/html; charset=iso-8859-1", text="<p>Grüße</p>")
    )
    await channel.submit(make_work(3, "b@example.org", text="Zürich: évacuation ✓"))
    await sink.event_for(2, "sent")
    await sink.event_for(3, "sent")
    messages = {m.rcpt_tos[0]: m.message for m in await smarthost.wait_for(2)}
    html = messages["a@example.org"]
    assert html.get_content_type() == "text/html"
    assert html.get_param("charset") == "iso-8859-1"
    assert html.get_content().replace("\r\n", "\n") == "<p>Grüße</p>\n"
    plain = messages["b@example.org"]
    # the default us-ascii cannot carry these characters: the node declares UTF-8 instead of lying
    assert plain.get_param("charset") == "utf-8"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content().replace("\r\n", "\n") == "Zürich: évacuation ✓\n"


async def test_multipart_body_is_sent_with_its_boundary(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    body = (
        "--XyZ\nContent-Type: text/plain; charset=utf-8\n\nPlain: Grüße\n"
        "--XyZ\nContent-Type: text/html; charset=utf-8\n\n<b>Grüße</b>\n--XyZ--\n"
    )
    await channel.submit(
        make_work(
            4,
            "c@example.org",
            text=body,
            emailBodyIsMultipart=True,
            multipartBoundary="XyZ",
            emailBodyContentType="multipart/alternative",
        )
    )
    await sink.event_for(4, "sent")
    (captured,) = await smarthost.wait_for(1)
    assert "BODY=8BITMIME" in captured.mail_options
    msg = captured.message
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_boundary() == "XyZ"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().strip() == "Plain: Grüße"
    assert parts[1].get_content().strip() == "<b>Grüße</b>"


async def test_permanent_refusal_fails_the_delivery_with_the_reply(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    smarthost.refuse_rcpt["nobody@example.org"] = "550 5.1.1 <nobody@example.org>: user unknown"
    await channel.submit(make_work(5, "nobody@example.org"))
    failed = await sink.event_for(5, "failed")
    assert failed.state is DeliveryState.FAILED
    assert failed.final
    assert failed.detail["smtp_reply"] == "550 5.1.1 <nobody@example.org>: user unknown"
    # the connection stays usable for the next message
    await channel.submit(make_work(6, "ok@example.org"))
    await sink.event_for(6, "sent")


async def test_temporary_refusal_is_retried_then_accepted(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel(retry_backoff_s=[0.05, 0.05, 0.05])
    smarthost.fail_next("451 4.3.0 Try again later", times=2)
    await channel.submit(make_work(7, "d@example.org"))
    sent = await sink.event_for(7, "sent")
    assert sent.detail["tries"] == 3
    assert smarthost.data_commands == 3
    assert len(smarthost.messages) == 1
    assert [e.kind for e in sink.events if e.delivery_id == 7] == ["sent"]


async def test_temporary_refusals_past_the_waits_go_back_to_the_dispatcher(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel(retry_backoff_s=[0.01], requeue_after_s=90.0)
    smarthost.fail_next("452 4.3.1 Insufficient system storage", times=5)
    await channel.submit(make_work(8, "e@example.org"))
    retry = await sink.event_for(8, "retry")
    assert retry.state is None
    assert retry.retry_after == 90.0
    assert retry.detail["smtp_reply"] == "452 4.3.1 Insufficient system storage"
    assert smarthost.data_commands == 2


async def test_unreachable_smarthost_is_a_temporary_failure(mail_channel: ChannelFactory) -> None:
    channel, sink = await mail_channel(smarthost_port=free_port(), retry_backoff_s=[0.01])
    await channel.submit(make_work(9, "f@example.org"))
    retry = await sink.event_for(9, "retry")
    assert retry.retry_after == 120.0
    assert "smarthost" in retry.detail["error"]
    assert channel.info().details["lastError"]


async def test_many_recipients_share_pooled_connections(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel(concurrency=3)
    for i in range(60):
        await channel.submit(make_work(100 + i, f"user{i}@example.org"))
    await sink.wait(lambda: sum(e.kind == "sent" for e in sink.events) == 60)
    assert len({m.rcpt_tos[0] for m in smarthost.messages}) == 60
    assert channel.info().details["connections"] <= 3


async def test_internal_domains_are_sent_and_refused_domains_fail_naming_the_key(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel(domain="plant.local", refuse_domains=["*.invalid", "localhost"])
    await channel.submit(make_work(40, "ops@plant.local"))
    await channel.submit(make_work(41, "x@site.invalid"))
    await channel.submit(make_work(42, "root@LocalHost"))
    sent = await sink.event_for(40, "sent")
    assert sent.state is DeliveryState.SENT
    for delivery_id, pattern in ((41, "*.invalid"), (42, "localhost")):
        failed = await sink.event_for(delivery_id, "failed")
        assert failed.state is DeliveryState.FAILED and failed.final
        assert failed.detail["configKey"] == "mail.refuse_domains"
        assert pattern in failed.detail["error"]
    (captured,) = smarthost.messages
    assert captured.rcpt_tos == ["ops@plant.local"]
    assert captured.mail_from.endswith("@plant.local")


# -- receiving ---------------------------------------------------------------------------------------


async def settled(channel: MailChannel, timeout: float = 10.0) -> None:
    """Until the channel has finished every delivery it was given."""

    async def until() -> None:
        while channel.info().in_flight:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(until(), timeout)


async def sent_work(
    channel: MailChannel,
    sink: MemorySink,
    smarthost: Smarthost,
    delivery_id: int,
    address: str = "person@example.org",
    **params: Any,
) -> tuple[DeliveryWork, EmailMessage]:
    work = make_work(delivery_id, address, **{"replyTo": "responses", "subject": "Evacuate", **params})
    sink.tokens[work.token] = delivery_id
    await channel.submit(work)
    await sink.event_for(delivery_id, "sent")
    await settled(channel)  # the in-memory sink has the event before the store has the recipient
    captured = next(m for m in smarthost.messages if m.rcpt_tos == [address])
    return work, captured.message


async def test_reply_via_smtplib_is_a_response_with_quotes_stripped(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 20)
    body = (
        "I am safe, at the assembly point.\n\n"
        f"On Mon, 23 Nov 2026 at 19:00, Alerts <alerts@{DOMAIN}>\nwrote:\n"
        "> Fire alarm in building 3. Reply OK when safe.\n"
    )
    data = reply_message(subject=f"Re: {original['Subject']}", body=body, to=f"responses@{DOMAIN}")
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    replied = await sink.event_for(20, "replied")
    assert replied.state is DeliveryState.RESPONDED
    assert replied.detail["text"] == "I am safe, at the assembly point."
    assert replied.detail["from"] == "person@example.org"
    assert replied.detail["subject"].startswith("Re: Evacuate [ANREF2345-")
    assert replied.final


async def test_replies_are_classified_as_sms_replies_are(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    answers = {
        50: ("OK, on my way.\n\nOn Mon, 23 Nov 2026, Alerts wrote:\n> no\n", True, False),
        51: ("No, sorry, I am abroad.\n\n> Reply OK when safe.\n", False, True),
        52: ("\n\nDecline\n-- \nAnn, Site security\n", False, True),
        53: ("I am at the assembly point. Ok?\n", False, False),
        54: ("> OK\n\nno\n", False, True),  # only the new text counts, not the quoted original
    }
    for delivery_id, (body, _, _) in answers.items():
        _, original = await sent_work(channel, sink, smarthost, delivery_id, address=f"p{delivery_id}@example.org")
        data = reply_message(subject=f"Re: {original['Subject']}", body=body, sender=f"p{delivery_id}@example.org")
        assert (await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}"))[0] == 250
    for delivery_id, (_, ack, declined) in answers.items():
        replied = await sink.event_for(delivery_id, "replied")
        # as node/sms/replies.py reports an SMS answer: state RESPONDED, ack / declined in the detail
        assert replied.state is DeliveryState.RESPONDED
        assert (replied.detail["ack"], replied.detail["declined"]) == (ack, declined), delivery_id


async def test_reply_keywords_are_configurable(mail_channel: ChannelFactory, smarthost: Smarthost) -> None:
    channel, sink = await mail_channel(ack_keywords=["ja", "bin unterwegs"], nack_keywords=["nein"])
    for delivery_id, body in ((55, "Bin unterwegs!"), (56, "Nein."), (57, "yes")):
        _, original = await sent_work(channel, sink, smarthost, delivery_id, address=f"p{delivery_id}@example.org")
        data = reply_message(subject=f"Re: {original['Subject']}", body=body, sender=f"p{delivery_id}@example.org")
        assert (await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}"))[0] == 250
    details = [(await sink.event_for(d, "replied")).detail for d in (55, 56, 57)]
    assert [(d["ack"], d["declined"]) for d in details] == [(True, False), (False, True), (False, False)]
    # an unmatched reply is classified too, as an unmatched SMS is
    data = reply_message(subject="Re: [ANREF2345-unknownTok]", body="nein")
    assert (await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}"))[0] == 250
    await sink.wait(lambda: bool(sink.inbound))
    assert sink.inbound[0].detail["declined"] is True


async def test_a_forwarded_alert_answered_by_someone_else_is_flagged_and_changes_nothing(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 60, address="Person@Example.org")
    # the recipient forwarded the alert; the colleague answers it
    forwarded = reply_message(subject=f"Re: Fwd: {original['Subject']}", body="OK", sender="Boss <boss@example.org>")
    rcpt = f"responses@{DOMAIN}"
    assert (await smtp_send(channel.listener_port, forwarded, mail_from="boss@example.org", rcpt_to=rcpt))[0] == 250
    other = await sink.event_for(60, "replied")
    assert other.detail["fromRecipient"] is False
    assert other.detail["from"] == "boss@example.org" and other.detail["ack"] is True
    assert other.state is None and not other.final  # not the recipient's answer: escalation goes on
    # the recipient's own answer, however the address is spelled, is the answer
    own = reply_message(subject=f"Re: {original['Subject']}", body="no", sender="PERSON@example.ORG")
    assert (await smtp_send(channel.listener_port, own, mail_from="srs0=x@relay.example", rcpt_to=rcpt))[0] == 250
    await sink.wait(lambda: sum(e.kind == "replied" for e in sink.events) == 2)
    answer = [e for e in sink.events if e.kind == "replied"][-1]
    assert answer.state is DeliveryState.RESPONDED and answer.final
    assert answer.detail["fromRecipient"] is True and answer.detail["declined"] is True


async def test_forwarded_replies_can_be_made_to_count(mail_channel: ChannelFactory, smarthost: Smarthost) -> None:
    channel, sink = await mail_channel(count_forwarded_replies=True)
    _, original = await sent_work(channel, sink, smarthost, 61, address="person@example.org")
    forwarded = reply_message(subject=f"Re: Fwd: {original['Subject']}", body="yes", sender="boss@example.org")
    rcpt = f"responses@{DOMAIN}"
    assert (await smtp_send(channel.listener_port, forwarded, mail_from="boss@example.org", rcpt_to=rcpt))[0] == 250
    replied = await sink.event_for(61, "replied")
    assert replied.state is DeliveryState.RESPONDED and replied.final
    assert replied.detail["fromRecipient"] is False


async def test_reply_matched_by_in_reply_to_when_the_subject_lost_its_reference(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 21)
    data = reply_message(subject="Re: Evacuate", body="OK", in_reply_to=str(original["Message-ID"]))
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    replied = await sink.event_for(21, "replied")
    assert replied.detail["text"] == "OK"


async def test_reply_via_swaks(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 22)
    reply = await asyncio.to_thread(
        send_with_swaks,
        channel.listener_port,
        mail_from="person@example.org",
        rcpt_to=f"responses@{DOMAIN}",
        headers={"Subject": f"Re: {original['Subject']}"},
        body="Safe, thanks",
    )
    assert reply.code == 250
    replied = await sink.event_for(22, "replied")
    assert replied.state is DeliveryState.RESPONDED
    assert replied.detail["text"] == "Safe, thanks"


async def test_reply_without_reference_falls_back_to_the_sender(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel(match_sender_fallback=True)
    await sent_work(channel, sink, smarthost, 23, address="carol@example.org")
    sink.recent["carol@example.org"] = 23
    data = reply_message(subject="I'm fine", body="Fine", sender="Carol <carol@example.org>")
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    assert (await sink.event_for(23, "replied")).detail["text"] == "Fine"


async def test_reply_without_reference_is_unsolicited_by_default(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    await sent_work(channel, sink, smarthost, 36, address="dave@example.org")
    sink.recent["dave@example.org"] = 36
    data = reply_message(subject="I'm fine", body="Fine", sender="Dave <dave@example.org>")
    assert (await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}"))[0] == 250
    await sink.wait(lambda: bool(sink.inbound))
    assert [e.kind for e in sink.events if e.delivery_id == 36] == ["sent"]


async def test_unmatched_reply_is_kept_as_unsolicited(mail_channel: ChannelFactory) -> None:
    channel, sink = await mail_channel()
    data = reply_message(subject="Re: [ANREF2345-unknownTok]", body="Who is this?")
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    await sink.wait(lambda: bool(sink.inbound))
    (message,) = sink.inbound
    assert message.channel == "email"
    assert message.sender == "person@example.org"
    assert message.recipient == f"responses@{DOMAIN}"
    assert message.text == "Who is this?"
    assert not sink.events


async def test_auto_reply_changes_no_state(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 24)
    data = reply_message(
        subject=f"Out of office: {original['Subject']}",
        body="I am away until Monday.",
        extra={"Auto-Submitted": "auto-replied"},
    )
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    event = await sink.event_for(24, "auto_replied")
    assert event.state is None


async def test_duplicate_message_is_recorded_once(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 25)
    data = reply_message(subject=f"Re: {original['Subject']}", body="yes")
    assert (await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}"))[0] == 250
    code, text = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    assert "already" in text
    assert [e.kind for e in sink.events if e.delivery_id == 25] == ["sent", "replied"]


# -- what the listener refuses ------------------------------------------------------------------------


async def test_relay_to_a_foreign_domain_is_refused(mail_channel: ChannelFactory) -> None:
    channel, sink = await mail_channel()
    data = reply_message(subject="spam", body="relay me", to="victim@example.com")
    code, text = await smtp_send(channel.listener_port, data, rcpt_to="victim@example.com")
    assert code == 550
    assert "Relaying denied" in text
    # a sub-domain or a look-alike is foreign too
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"x@evil.{DOMAIN}")
    assert code == 550
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"x@{DOMAIN}.evil.com")
    assert code == 550
    swaks = await asyncio.to_thread(
        send_with_swaks,
        channel.listener_port,
        mail_from="spammer@example.net",
        rcpt_to="victim@example.com",
        headers={"Subject": "relay"},
        body="relay",
    )
    assert swaks.code == 550
    assert not sink.events and not sink.inbound
    assert channel.info().details["listener"]["refusedRelay"] == 4


async def test_too_many_recipients_are_refused_with_452(mail_channel: ChannelFactory) -> None:
    channel, _ = await mail_channel(max_recipients=2)
    data = reply_message(subject="x", body="x")
    rcpts = [f"r{i}@{DOMAIN}" for i in range(3)]
    code, text = await smtp_send(channel.listener_port, data, rcpt_to=rcpts)
    assert code == 452
    assert "Too many recipients" in text


async def test_oversized_message_is_refused_with_552(mail_channel: ChannelFactory) -> None:
    channel, sink = await mail_channel(max_message_bytes=4096)
    big = reply_message(subject="big", body="x" * 70 + ("\n" + "y" * 70) * 200)
    code, _ = await smtp_send(channel.listener_port, big, rcpt_to=f"responses@{DOMAIN}")
    assert code == 552
    # declared up front with SIZE (RFC 1870): refused at MAIL FROM
    code, _ = await smtp_send(
        channel.listener_port, big, rcpt_to=f"responses@{DOMAIN}", mail_options=[f"SIZE={len(big)}"]
    )
    assert code == 552
    # the listener is still serving
    code, _ = await smtp_send(
        channel.listener_port, reply_message(subject="small", body="ok"), rcpt_to=f"responses@{DOMAIN}"
    )
    assert code == 250
    assert not sink.events
    assert len(sink.inbound) == 1


async def test_malformed_input_gets_smtp_codes_and_no_crash(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 26)
    port = channel.listener_port
    rcpt = f"responses@{DOMAIN}"
    # not a message at all: no header section
    code, text = await smtp_send(port, b"this is not an e-mail message\r\njust lines\r\n", rcpt_to=rcpt)
    assert code == 554
    assert "5.6.0" in text
    # broken MIME: multipart without its boundary parameter, base64 that is not base64
    broken = (
        b"From: person@example.org\r\nSubject: Re: Evacuate\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n--nowhere\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n--nowhere--\r\n"
    )
    code, _ = await smtp_send(port, broken, rcpt_to=rcpt)
    assert code == 250
    base64_garbage = (
        b"From: person@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n=?=?==\r\n"
    )
    code, _ = await smtp_send(port, base64_garbage, rcpt_to=rcpt)
    assert code == 250
    # raw 8-bit UTF-8 in headers without RFC 2047 encoding (RFC 6532 style) still matches
    eight_bit = (
        f"From: Jürgen Groß <person@example.org>\r\nSubject: Re: Übung {original['Subject']}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Bin draußen.\r\n"
    ).encode()
    code, _ = await smtp_send(port, eight_bit, rcpt_to=rcpt, mail_options=["BODY=8BITMIME"])
    assert code == 250
    replied = await sink.event_for(26, "replied")
    assert replied.detail["text"] == "Bin draußen."
    assert replied.detail["subject"].startswith("Re: Übung Evacuate")
    # Latin-1 octets in a header (neither ASCII nor UTF-8) are read, not fatal
    latin = b"From: person@example.org\r\nSubject: Gr\xfc\xdfe\r\n\r\nhi\r\n"
    code, _ = await smtp_send(port, latin, rcpt_to=rcpt)
    assert code == 250
    await sink.wait(lambda: len(sink.inbound) >= 3)
    assert any(m.detail.get("subject") == "Grüße" for m in sink.inbound)
    assert channel.info().details["listener"]["errors"] == 0
    assert channel.ready()


def nested_multiparts(depth: int) -> bytes:
    head = b"From: person@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nhi\r\n" + closing


async def test_a_message_the_parser_cannot_read_is_refused_for_good(mail_channel: ChannelFactory) -> None:
    channel, sink = await mail_channel(max_message_bytes=1024 * 1024)
    port, rcpt = channel.listener_port, f"responses@{DOMAIN}"
    # 3,000 nested multiparts: answered 554 (RFC 5321 §4.2.5: a permanent failure), not 451, which would
    # make the sending MTA try it again for days
    code, text = await smtp_send(port, nested_multiparts(3000), rcpt_to=rcpt)
    assert code == 554 and "5.6.0" in text, text
    # deeper than the bound (Postfix's mime_nesting_limit is 100) but within Python's recursion limit
    code, text = await smtp_send(port, nested_multiparts(150), rcpt_to=rcpt)
    assert code == 554 and "5.6.0" in text and "nested" in text, text
    code, _ = await smtp_send(port, nested_multiparts(20), rcpt_to=rcpt)
    assert code == 250
    await sink.wait(lambda: len(sink.inbound) == 1)
    assert sink.inbound[0].text == "hi"
    details = channel.info().details["listener"]
    assert details["errors"] == 0 and details["invalid"] == 2
    assert channel.ready()


# -- bounces --------------------------------------------------------------------------------------


def dsn(original: EmailMessage, *, action: str = "failed", status: str = "5.1.1", to: str) -> bytes:
    """An RFC 3464 delivery status notification as Postfix writes it."""
    report = EmailMessage(policy=policy.SMTP)
    report["From"] = "MAILER-DAEMON@mx.example.org (Mail Delivery System)"
    report["To"] = to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = "Mon, 23 Nov 2026 19:00:00 +0000"
    report["Message-ID"] = f"<dsn-{os.urandom(4).hex()}@mx.example.org>"
    report["MIME-Version"] = "1.0"
    report["Content-Type"] = 'multipart/report; report-type=delivery-status; boundary="B1"'
    headers = b"".join(policy.SMTP.fold_binary(k, v) for k, v in original.items())
    body = (
        b"--B1\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message "
        b"could not be delivered.\r\n\r\n"
        b"--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.org\r\nArrival-Date: Mon, 23 Nov 2026 19:00:00 +0000\r\n\r\n"
        b"Final-Recipient: rfc822; person@example.org\r\nOriginal-Recipient: rfc822;person@example.org\r\n"
        b"Action: " + action.encode() + b"\r\nStatus: " + status.encode() + b"\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <person@example.org>: Recipient address rejected\r\n\r\n"
        b"--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n" + headers + b"\r\n--B1--\r\n"
    )
    head = b"".join(policy.SMTP.fold_binary(k, v) for k, v in report.items())
    return head + b"\r\n" + body


async def test_bounce_to_the_verp_address_fails_the_delivery(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 27)
    envelope_from = smarthost.messages[-1].mail_from
    code, _ = await smtp_send(
        channel.listener_port, dsn(original, to=envelope_from), mail_from="", rcpt_to=envelope_from
    )
    assert code == 250
    bounced = await sink.event_for(27, "bounced")
    assert bounced.state is DeliveryState.FAILED
    assert bounced.final
    assert bounced.detail["status"] == "5.1.1"
    assert bounced.detail["smtp_reply"] == "550 5.1.1 <person@example.org>: Recipient address rejected"


async def test_postfix_bounce_and_a_long_reply_subject_are_reported_unfolded(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    long_subject = "Fire alarm in building 3: leave by the nearest exit and reply when you are safe"
    await sent_work(channel, sink, smarthost, 38, subject=long_subject)
    _, other = await sent_work(channel, sink, smarthost, 39, address="ann@example.org", subject=long_subject)
    captured = next(m for m in smarthost.messages if m.rcpt_tos == ["person@example.org"])
    raw_headers = captured.data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    assert b"\r\n " in raw_headers.split(b"\r\nSubject: ", 1)[1].split(b"\r\nMessage-ID", 1)[0]  # folded
    bounce = postfix_dsn(
        action="failed", rcpt="person@example.org", envelope_to=captured.mail_from, original_headers=raw_headers
    )
    code, _ = await smtp_send(channel.listener_port, bounce, mail_from="", rcpt_to=captured.mail_from)
    assert code == 250
    bounced = await sink.event_for(38, "bounced")
    diagnostic = "550 5.1.1 <person@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
    assert bounced.detail["smtp_reply"] == bounced.detail["diagnostic"] == diagnostic
    # a mail client folds the long subject of its reply (here with a tab)
    reference = "[" + str(other["Subject"]).rsplit("[", 1)[1]
    first, _, rest = long_subject.partition(" reply ")
    reply = (
        f"From: Ann <ann@example.org>\r\nSubject: Re: {first}\r\n\treply {rest} {reference}\r\n"
        "Message-ID: <folded@example.org>\r\n\r\nsafe\r\n"
    ).encode()
    assert (await smtp_send(channel.listener_port, reply, rcpt_to=f"responses@{DOMAIN}"))[0] == 250
    replied = await sink.event_for(39, "replied")
    assert replied.detail["subject"] == f"Re: {long_subject} {reference}"


async def test_bounce_without_verp_is_matched_by_the_returned_headers(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 28)
    plain = f"bounces@{DOMAIN}"
    code, _ = await smtp_send(channel.listener_port, dsn(original, to=plain), mail_from="", rcpt_to=plain)
    assert code == 250
    assert (await sink.event_for(28, "bounced")).state is DeliveryState.FAILED


async def test_delay_notification_changes_no_state(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 29)
    to = smarthost.messages[-1].mail_from
    code, _ = await smtp_send(
        channel.listener_port,
        dsn(original, action="delayed", status="4.4.7", to=to),
        mail_from="",
        rcpt_to=to,
    )
    assert code == 250
    assert (await sink.event_for(29, "delayed")).state is None


# -- delivery status notifications (RFC 3461 requests, RFC 3464 reports) ------------------------------


async def dsn_channel(mail_channel: ChannelFactory, smarthost_factory: Any, **overrides: Any) -> tuple[
    MailChannel, MemorySink, Smarthost
]:
    host = await smarthost_factory(dsn=True)
    channel, sink = await mail_channel(smarthost_port=host.port, **overrides)
    return channel, sink, host


async def test_dsn_is_requested_when_the_smarthost_offers_it(
    mail_channel: ChannelFactory, smarthost: Smarthost, smarthost_factory: Any
) -> None:
    channel, sink, host = await dsn_channel(mail_channel, smarthost_factory)
    work = make_work(70, "person+alerts@example.org")
    await channel.submit(work)
    await sink.event_for(70, "sent")
    (captured,) = await host.wait_for(1)
    # RFC 3461 §4.3 RET=HDRS (the headers are enough to match a report), §4.4 ENVID: the same left part as
    # the Message-ID, so a report names its delivery even with no headers returned
    assert captured.dsn_mail == {"RET": "HDRS", "ENVID": f"{work.token}.a1"}
    # §4.1 NOTIFY, §4.2 ORCPT as xtext ("+" is written +2B)
    assert captured.dsn_rcpt == {"NOTIFY": "SUCCESS,FAILURE,DELAY", "ORCPT": "rfc822;person+2Balerts@example.org"}
    # a smarthost that does not offer DSN gets none of it (aiosmtpd would answer 555)
    plain_channel, plain_sink = await mail_channel()
    await plain_channel.submit(make_work(71, "other@example.org"))
    await plain_sink.event_for(71, "sent")
    (plain,) = await smarthost.wait_for(1)
    assert not any(o.split("=")[0] in ("RET", "ENVID", "NOTIFY", "ORCPT") for o in plain.mail_options)


async def test_dsn_notify_is_configurable(mail_channel: ChannelFactory, smarthost_factory: Any) -> None:
    channel, sink, host = await dsn_channel(mail_channel, smarthost_factory, dsn_notify=["FAILURE", "DELAY"])
    await channel.submit(make_work(72, "p@example.org"))
    await sink.event_for(72, "sent")
    assert (await host.wait_for(1))[0].dsn_rcpt["NOTIFY"] == "FAILURE,DELAY"
    channel, sink, host = await dsn_channel(mail_channel, smarthost_factory, dsn_notify=[])
    await channel.submit(make_work(73, "p@example.org"))
    await sink.event_for(73, "sent")
    captured = (await host.wait_for(1))[0]
    assert captured.dsn_mail == {} and captured.dsn_rcpt == {}


async def test_success_delay_and_failure_reports_reach_their_delivery_by_the_envelope_id(
    mail_channel: ChannelFactory, smarthost_factory: Any
) -> None:
    channel, sink, host = await dsn_channel(mail_channel, smarthost_factory)
    plain = f"bounces@{DOMAIN}"  # no VERP part, no returned headers: only the envelope id names the delivery
    for delivery_id, action in ((74, "delivered"), (75, "delayed"), (76, "failed"), (77, "relayed")):
        address = f"p{delivery_id}@example.org"
        await sent_work(channel, sink, host, delivery_id, address=address)
        envid = next(m for m in host.messages if m.rcpt_tos == [address]).dsn_mail["ENVID"]
        report = postfix_dsn(action=action, rcpt=address, envelope_to=plain, original_headers=None, envid=envid)
        code, _ = await smtp_send(channel.listener_port, report, mail_from="", rcpt_to=plain)
        assert code == 250
    delivered = await sink.event_for(74, "delivered")
    assert delivered.state is DeliveryState.DELIVERED and delivered.detail["status"] == "2.0.0"
    delayed = await sink.event_for(75, "delayed")
    assert delayed.state is None and not delayed.final  # still SENT: it may yet be delivered
    assert delayed.detail["action"] == "delayed" and delayed.detail["status"] == "4.4.1"
    assert delayed.detail["diagnostic"] == "connect to mail.example.org[192.0.2.25]:25: Connection refused"
    assert delayed.detail["retryUntil"] == "Sat, 28 Nov 2026 19:00:01 +0100 (CET)"
    bounced = await sink.event_for(76, "bounced")
    assert bounced.state is DeliveryState.FAILED and bounced.final
    relayed = await sink.event_for(77, "delivered")
    assert relayed.detail["action"] == "relayed"  # handed to an MTA that sends no further reports
    assert not sink.inbound


async def test_stop_closes_the_listener(mail_channel: ChannelFactory) -> None:
    channel, _ = await mail_channel()
    port = channel.listener_port
    assert channel.ready()
    await channel.stop(1.0)
    assert not channel.ready()
    assert channel.free_capacity() == 0
    with pytest.raises(OSError):
        await smtp_send(port, b"Subject: x\r\n\r\nx\r\n")


async def test_stop_hands_waiting_deliveries_back_to_the_dispatcher(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel(retry_backoff_s=[3600.0], requeue_after_s=60.0)
    smarthost.fail_next("421 4.3.2 Shutting down", times=5)
    await channel.submit(make_work(30, "g@example.org"))

    async def waiting() -> None:
        while channel.info().details["waitingToRetry"] != 1:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(waiting(), 10)
    await channel.stop(60.0)
    (retry,) = sink.events
    assert retry.kind == "retry"
    assert retry.retry_after == 60.0
    assert retry.detail["smtp_reply"] == "421 4.3.2 Shutting down"


async def test_logs_never_show_full_addresses(mail_channel: ChannelFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mail.log")  # aiosmtpd's own command log
    caplog.set_level(logging.INFO, logger="alertnode.mail")
    channel, sink = await mail_channel()
    data = reply_message(subject="hello", body="x", sender="Person <person@example.org>")
    assert (await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}"))[0] == 250
    assert (await smtp_send(channel.listener_port, data, rcpt_to="victim@example.com"))[0] == 550
    await sink.wait(lambda: bool(sink.inbound))
    assert "TO:<r***@alertnode.test>" in caplog.text  # the library's lines are there, masked
    for address in ("person@example.org", f"responses@{DOMAIN}", "victim@example.com"):
        assert address not in caplog.text


async def test_connection_dropped_by_the_smarthost_is_replaced_at_once(
    mail_channel: ChannelFactory,
    smarthost: Smarthost,
) -> None:
    channel, sink = await mail_channel(retry_backoff_s=[3600.0])
    await channel.submit(make_work(31, "h@example.org"))
    await sink.event_for(31, "sent")
    assert smarthost.drop_connections() == 1
    await asyncio.sleep(0.05)  # let the close reach the client
    await channel.submit(make_work(32, "i@example.org"))
    sent = await sink.event_for(32, "sent")
    assert sent.detail["tries"] == 1  # no back-off wait: the stale connection did not count
    assert channel.ready()


async def test_unreachable_smarthost_makes_the_channel_not_ready(mail_channel: ChannelFactory) -> None:
    channel, sink = await mail_channel(smarthost_port=free_port(), retry_backoff_s=[])
    assert channel.ready()
    await channel.submit(make_work(33, "j@example.org"))
    await sink.event_for(33, "retry")
    assert not channel.ready()
    assert channel.info().details["smarthostReachable"] is False


async def test_large_reply_with_an_attachment_is_read(mail_channel: ChannelFactory, smarthost: Smarthost) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 34)
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "person@example.org"
    msg["Subject"] = f"Re: {original['Subject']}"
    msg.set_content("Photo of the assembly point attached.")
    msg.add_attachment(os.urandom(600_000), maintype="image", subtype="jpeg", filename="point.jpg")
    code, _ = await smtp_send(channel.listener_port, msg.as_bytes(), rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    assert (await sink.event_for(34, "replied")).detail["text"] == "Photo of the assembly point attached."


async def test_reply_that_cannot_be_stored_is_refused_temporarily_and_taken_again(
    mail_channel: ChannelFactory, smarthost: Smarthost
) -> None:
    channel, sink = await mail_channel()
    _, original = await sent_work(channel, sink, smarthost, 35)
    data = reply_message(subject=f"Re: {original['Subject']}", body="safe")
    sink.fail_reports = 1
    code, _ = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert code == 451  # the sending MTA keeps the message and tries again
    code, text = await smtp_send(channel.listener_port, data, rcpt_to=f"responses@{DOMAIN}")
    assert (code, "already" in text) == (250, False)
    assert (await sink.event_for(35, "replied")).detail["text"] == "safe"


async def test_swaks_malformed_8bit_and_oversized(mail_channel: ChannelFactory, smarthost: Smarthost) -> None:
    channel, sink = await mail_channel(max_message_bytes=8192)
    _, original = await sent_work(channel, sink, smarthost, 37)
    port, rcpt = channel.listener_port, f"responses@{DOMAIN}"

    async def swaks(data: bytes) -> int:
        reply = await asyncio.to_thread(send_with_swaks, port, mail_from="person@example.org", rcpt_to=rcpt, data=data)
        return reply.code

    assert await swaks(b"no header section at all\r\n") == 554
    assert await swaks(b"From: person@example.org\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n") == 250
    big = b"From: person@example.org\r\nSubject: x\r\n\r\n" + (b"y" * 70 + b"\r\n") * 200
    assert await swaks(big) == 552
    # a line over 1,000 octets (RFC 5321 §4.5.3.1.6) is a syntax error, not a crash
    assert await swaks(b"From: person@example.org\r\nSubject: x\r\n\r\n" + b"z" * 2000 + b"\r\n") == 500
    eight_bit = f"From: person@example.org\r\nSubject: Re: Grüße {original['Subject']}\r\n\r\nja\r\n"
    assert await swaks(eight_bit.encode()) == 250
    assert (await sink.event_for(37, "replied")).detail["subject"].startswith("Re: Grüße Evacuate")
    assert channel.ready()


async def test_rows_past_their_time_are_dropped_at_start(tmp_path: Path) -> None:
    store = Store(tmp_path / "kept.sqlite", synchronous="OFF")
    store.open()
    try:
        now = time.time()
        await store.write(lambda c: records.remember_sent(c, 1, "ix", now - 60, now - 1))
        await store.write(lambda c: records.remember_sent(c, 2, "ix", now - 60, now + 3600))
        channel = MailChannel(config=MailConfig(smarthost_host="127.0.0.1", listen_enabled=False), store=store)
        await channel.start(MemorySink())

        async def purged() -> None:
            while await store.read(lambda c: records.recipient_index(c, 1)) is not None:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(purged(), 10)
        assert await store.read(lambda c: records.recipient_index(c, 2)) == "ix"
        await channel.stop(1.0)
    finally:
        store.close()


# -- slow and too many clients ---------------------------------------------------------------------


async def _greeted(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return reader, writer, await asyncio.wait_for(reader.readline(), 10)


async def _closed_by_server(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes:
    """Everything the server sent until it closed the connection (a test failure if it never does)."""
    return await asyncio.wait_for(reader.read(), timeout)


async def test_a_slow_client_is_dropped_while_another_is_served(mail_channel: ChannelFactory) -> None:
    channel, sink = await mail_channel(listen_timeout_s=2.0)
    port = channel.listener_port
    # one client sends nothing after the greeting; another drips a command a byte at a time, never ending it
    silent_reader, silent_writer, greeting = await _greeted(port)
    assert greeting.startswith(b"220 ")
    drip_reader, drip_writer, _ = await _greeted(port)
    # and a third starts a message and then drips its content
    data_reader, data_writer, _ = await _greeted(port)
    for command in (b"EHLO slow.example.org", b"MAIL FROM:<a@example.org>", f"RCPT TO:<r@{DOMAIN}>".encode(), b"DATA"):
        data_writer.write(command + b"\r\n")
        while (line := await asyncio.wait_for(data_reader.readline(), 10))[3:4] == b"-":
            pass  # the lines of a multi-line EHLO answer
    assert line.startswith(b"354")

    async def drip() -> None:
        for byte in b"EHLO slow.example.org and more and more":
            for writer in (drip_writer, data_writer):
                if not writer.is_closing():
                    writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    dripping = asyncio.create_task(drip())
    # meanwhile a real MTA (smtplib) is served
    code, _ = await smtp_send(port, reply_message(subject="hi", body="ok"), rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    assert await _closed_by_server(silent_reader) == b""
    assert await _closed_by_server(drip_reader) == b""
    assert await _closed_by_server(data_reader) == b""
    dripping.cancel()
    for writer in (silent_writer, drip_writer, data_writer):
        writer.close()
    await sink.wait(lambda: len(sink.inbound) == 1)


async def test_connections_over_the_cap_are_told_to_come_back_later(mail_channel: ChannelFactory) -> None:
    channel, _ = await mail_channel(listen_max_connections=3)
    port = channel.listener_port
    held = [await _greeted(port) for _ in range(3)]
    assert all(greeting.startswith(b"220 ") for _, _, greeting in held)
    reader, writer, refused = await _greeted(port)
    assert refused.startswith(b"421 4.7.0")  # RFC 5321 §3.8: try again later, as Postfix does
    assert await _closed_by_server(reader) == b""
    writer.close()
    details = channel.info().details["listener"]
    assert details["connections"] == 3 and details["refusedBusy"] == 1
    # one held client leaves: a new one is served
    held[0][1].close()

    async def freed() -> None:
        while channel.info().details["listener"]["connections"] > 2:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(freed(), 10)
    code, _ = await smtp_send(port, reply_message(subject="hi", body="ok"), rcpt_to=f"responses@{DOMAIN}")
    assert code == 250
    for _, held_writer, _ in held[1:]:
        held_writer.close()


async def test_a_session_kept_alive_with_noop_ends_at_the_session_limit(mail_channel: ChannelFactory) -> None:
    channel, _ = await mail_channel(listen_timeout_s=30.0, listen_session_max_s=1.0)
    reader, writer, _ = await _greeted(channel.listener_port)
    lines: list[bytes] = []
    while True:  # a NOOP well within the command time-out, again and again
        writer.write(b"NOOP\r\n")
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            break
        lines.append(line)
        if line.startswith(b"421"):
            break
        await asyncio.sleep(0.1)
    assert lines[-1].startswith(b"421 4.4.2"), lines[-3:]
    assert await _closed_by_server(reader) == b""
    writer.close()


async def test_listener_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        channel = MailChannel(config=MailConfig(smarthost_host="127.0.0.1", listen_port=port))
        with pytest.raises(ChannelError, match=f"cannot listen for mail on 127.0.0.1:{port}"):
            await channel.start(MemorySink())
