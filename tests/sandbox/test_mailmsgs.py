"""The sandbox's e-mail texts (pure), read back by the node's own parser of inbound mail."""

from __future__ import annotations

from alertnode.mail.replies import InboundKind, parse_mail
from alertnode.sandbox import mailmsgs
from alertnode.sandbox.smarthost import xtext_decode

TOKEN = "okP8GwV7Fu_7Qu7t"
ORIGINAL = (
    "From: Alerts <alerts@alertnode.localdomain>\r\n"
    "To: ann@example.org\r\n"
    "Reply-To: responses@alertnode.localdomain\r\n"
    "Subject: Boiler 3 [ANYDMQQ3KS-okP8GwV7Fu_7Qu7t]\r\n"
    f"Message-ID: <{TOKEN}.a1@alertnode.localdomain>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Boiler 3 pressure high.\r\nReply OK.\r\n"
).encode()


def test_summary_of_a_message() -> None:
    s = mailmsgs.summary(mailmsgs.read(ORIGINAL))
    assert s.sender == "Alerts <alerts@alertnode.localdomain>" and s.reply_to == "responses@alertnode.localdomain"
    assert s.subject.startswith("Boiler 3 [") and s.message_id == f"<{TOKEN}.a1@alertnode.localdomain>"
    assert s.text.replace("\r\n", "\n") == "Boiler 3 pressure high.\nReply OK.\n"
    assert mailmsgs.header_block(ORIGINAL).endswith(b"charset=utf-8\r\n")


def test_a_success_report_reads_as_delivered_for_its_delivery() -> None:
    report = mailmsgs.dsn(envelope_from=f"bounces+{TOKEN}@alertnode.localdomain", recipient="ann@example.org",
                          action="delivered", envid=f"{TOKEN}.a1", orcpt="rfc822;ann@example.org",
                          original_headers=mailmsgs.header_block(ORIGINAL), now=1_800_000_000.0)
    parsed = parse_mail(report, "", [f"bounces+{TOKEN}@alertnode.localdomain"])
    assert parsed.kind is InboundKind.DELIVERED
    assert parsed.dsn is not None and parsed.dsn.action == "delivered" and parsed.dsn.status == "2.0.0"
    assert parsed.dsn.envelope_id == f"{TOKEN}.a1" and parsed.dsn.final_recipient == "ann@example.org"
    assert parsed.tokens[0] == TOKEN


def test_a_failure_report_reads_as_a_bounce() -> None:
    report = mailmsgs.dsn(envelope_from=f"bounces+{TOKEN}@alertnode.localdomain", recipient="bob@nowhere.invalid",
                          action="failed", envid="", orcpt="", original_headers=mailmsgs.header_block(ORIGINAL),
                          now=1_800_000_000.0, diagnostic="550 5.1.1 no such mailbox")
    parsed = parse_mail(report, "", [f"bounces+{TOKEN}@alertnode.localdomain"])
    assert parsed.kind is InboundKind.BOUNCE
    assert parsed.dsn is not None and parsed.dsn.status == "5.1.1" and "no such mailbox" in parsed.dsn.diagnostic
    assert TOKEN in parsed.tokens  # from the VERP address, there being no ENVID


def test_a_reply_reads_as_a_reply_to_its_delivery() -> None:
    original = mailmsgs.summary(mailmsgs.read(ORIGINAL))
    msg, to = mailmsgs.reply(original=original, recipient="ann@example.org", text="OK, on my way", now=1.8e9)
    assert to == "responses@alertnode.localdomain"
    assert msg["Subject"] == f"Re: {original.subject}" and msg["In-Reply-To"] == original.message_id
    parsed = parse_mail(msg.as_bytes(), "ann@example.org", [to])
    assert parsed.kind is InboundKind.REPLY and parsed.sender == "ann@example.org"
    assert "\n> Boiler 3 pressure high.\n" in msg.get_content()
    assert parsed.text == "OK, on my way"  # the node strips the quoted original as it does a mail program's
    assert TOKEN in parsed.tokens
    again, _ = mailmsgs.reply(original=mailmsgs.summary(msg), recipient="x@y.org", text="z", now=1.8e9)
    assert again["Subject"] == msg["Subject"]  # Re: once
    assert again["References"].split() == [original.message_id, msg["Message-ID"]]


def test_xtext() -> None:
    assert xtext_decode("rfc822;ann+2Bx@example.org") == "rfc822;ann+x@example.org"
    assert xtext_decode("a+3Db+zz") == "a=b+zz"
