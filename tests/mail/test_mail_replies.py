"""Reading inbound mail: classification, correlation evidence, quote stripping, robustness."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.mail.replies import (
    MAX_MIME_DEPTH,
    InboundKind,
    UnreadableMessage,
    html_to_text,
    parse_mail,
    strip_quoted,
    subject_candidates,
)
from tests.peers.smtp import postfix_dsn


def mail(body: str = "OK", **headers: str) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    for name, value in {"From": "Ann <ann@example.org>", "Subject": "Re: x", **headers}.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def test_reply_evidence_order_verp_then_message_ids_then_subject() -> None:
    raw = mail(Subject="Re: Drill [ANREF-tokS]", In_Reply_To="<tokM.a1@node.example>")
    parsed = parse_mail(raw, "ann@example.org", ["bounces+tokV@node.example"])
    assert parsed.kind is InboundKind.REPLY
    assert parsed.tokens[:3] == ("tokV", "tokM", "tokS")
    assert parsed.sender == "ann@example.org"


def test_subject_reference_with_dashes_in_the_token() -> None:
    assert subject_candidates("Re: Fire [ANREF-ab-c_d]")[:2] == ["ab-c_d", "c_d"]
    assert "ab-c_d" in subject_candidates("AW: Fire [ab-c_d]")
    assert subject_candidates("no reference here") == []


def test_quoted_history_is_stripped() -> None:
    assert strip_quoted("Yes\n\n> old\n> older\n") == "Yes"
    assert strip_quoted("Yes\nOn Tue, 1 Jan 2026, Alerts <a@x> wrote:\n> Fire\n") == "Yes"
    assert strip_quoted("Ja\n\nAm 01.01.2026 um 10:00 schrieb Alerts <a@x>:\n> Feuer") == "Ja"
    assert strip_quoted("Oui\nLe 1 janv. 2026, Alerts a écrit :\n> Feu") == "Oui"
    assert strip_quoted("Fine\r\n\r\n-----Original Message-----\r\nFrom: a\r\n") == "Fine"
    assert strip_quoted("Fine\n________________________________\nFrom: Alerts\nSent: Monday\n") == "Fine"
    assert strip_quoted("Fine\nFrom: Alerts <a@x>\nSent: Monday\nTo: me\n") == "Fine"
    assert strip_quoted("Safe\n-- \nAnn\nPhone 123") == "Safe"
    assert strip_quoted("\n\nline one\n\nline two\n\n") == "line one\n\nline two"


def test_html_only_reply_is_read_without_its_quote() -> None:
    html = '<div>I am <b>safe</b></div><div class="gmail_quote"><blockquote>Fire!</blockquote></div>'
    assert html_to_text(html).strip() == "I am safe"
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "ann@example.org"
    msg["Subject"] = "Re: [R-t1]"
    msg.set_content(html, subtype="html")
    parsed = parse_mail(msg.as_bytes(), "ann@example.org", ["r@n.example"])
    assert parsed.text == "I am safe"


def test_multipart_alternative_prefers_plain_text() -> None:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "ann@example.org"
    msg["Subject"] = "Re: [R-t1]"
    msg.set_content("plain answer")
    msg.add_alternative("<p>html answer</p>", subtype="html")
    msg.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream", filename="a.bin")
    assert parse_mail(msg.as_bytes(), "", ["r@n.example"]).text == "plain answer"


def test_auto_replies_are_recognised() -> None:
    assert parse_mail(mail(Auto_Submitted="auto-replied"), "a@x", []).kind is InboundKind.AUTO_REPLY
    assert parse_mail(mail(Auto_Submitted="no"), "a@x", []).kind is InboundKind.REPLY
    assert parse_mail(mail(Subject="Out of Office: Fire"), "a@x", []).kind is InboundKind.AUTO_REPLY
    assert parse_mail(mail(Subject="Automatic reply: Fire"), "a@x", []).kind is InboundKind.AUTO_REPLY
    assert parse_mail(mail(Precedence="bulk"), "a@x", []).kind is InboundKind.AUTO_REPLY


def dsn(action: str, original_headers: bytes, *, rfc822: bool = False) -> bytes:
    part3 = (
        b"Content-Type: message/rfc822\r\n\r\n" + original_headers + b"\r\nbody\r\n"
        if rfc822
        else b"Content-Type: text/rfc822-headers\r\n\r\n" + original_headers
    )
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nSubject: Delivery Status Notification\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=X\r\n\r\n"
        b"--X\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n"
        b"--X\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        b"Final-Recipient: rfc822; bob@example.org\r\nAction: " + action.encode() + b"\r\nStatus: 5.2.2\r\n"
        b"Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n\r\n"
        b"--X\r\n" + part3 + b"\r\n--X--\r\n"
    )


ORIGINAL = b"Message-ID: <tokO.a1@node.example>\r\nSubject: Fire [ANREF-tokS]\r\nFrom: alerts@node.example\r\n"


def test_rfc3464_bounce_names_its_delivery() -> None:
    parsed = parse_mail(dsn("failed", ORIGINAL), "", ["bounces@node.example"])
    assert parsed.kind is InboundKind.BOUNCE
    assert parsed.tokens[:2] == ("tokO", "tokS")
    assert parsed.dsn is not None
    assert (parsed.dsn.action, parsed.dsn.status, parsed.dsn.final_recipient) == (
        "failed",
        "5.2.2",
        "bob@example.org",
    )
    assert parsed.dsn.diagnostic == "552 5.2.2 mailbox full"
    with_original = parse_mail(dsn("failed", ORIGINAL, rfc822=True), "", ["bounces+tokV@node.example"])
    assert with_original.tokens[:3] == ("tokV", "tokO", "tokS")


def test_dsn_actions() -> None:
    assert parse_mail(dsn("delayed", ORIGINAL), "", []).kind is InboundKind.DELAY
    assert parse_mail(dsn("delivered", ORIGINAL), "", []).kind is InboundKind.DELIVERED
    assert parse_mail(dsn("relayed", ORIGINAL), "", []).kind is InboundKind.DELIVERED


def test_non_standard_bounce_to_the_verp_address() -> None:
    raw = mail(
        "Your message could not be delivered: mailbox unavailable.",
        From="MAILER-DAEMON@old.example",
        Subject="failure notice",
    )
    parsed = parse_mail(raw, "", ["bounces+tokQ@node.example"])
    assert parsed.kind is InboundKind.BOUNCE
    assert parsed.tokens == ("tokQ",)
    assert parsed.dsn is not None and "mailbox unavailable" in parsed.dsn.diagnostic


def test_headerless_input_is_invalid() -> None:
    assert parse_mail(b"hello there\r\n", "", []).kind is InboundKind.INVALID
    assert parse_mail(b"", "", []).kind is InboundKind.INVALID


def test_encoded_words_and_raw_8bit_headers_are_decoded() -> None:
    encoded = b"From: =?utf-8?q?J=C3=B6rg?= <j@x.example>\r\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= [R-t1]\r\n\r\nx\r\n"
    parsed = parse_mail(encoded, "", [])
    assert parsed.subject == "Grüße [R-t1]"
    assert parsed.sender == "j@x.example"
    raw = "Subject: Grüße [R-t2]\r\nFrom: j@x.example\r\n\r\nx\r\n".encode()
    assert parse_mail(raw, "", []).subject == "Grüße [R-t2]"
    assert parse_mail(b"Subject: Gr\xfc\xdfe\r\nFrom: j@x.example\r\n\r\nx\r\n", "", []).subject == "Grüße"


def test_unknown_charset_and_bad_transfer_encoding_do_not_raise() -> None:
    raw = (
        b"From: a@x.example\r\nSubject: x\r\nContent-Type: text/plain; charset=x-no-such\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n@@@ not base64 @@@\r\n"
    )
    parsed = parse_mail(raw, "", [])
    assert parsed.kind is InboundKind.REPLY
    assert isinstance(parsed.text, str)


_HEADERISH = st.sampled_from(
    [
        b"From: ",
        b"Subject: ",
        b"Content-Type: multipart/mixed; boundary=",
        b"Content-Type: message/rfc822",
        b"Content-Type: multipart/report; report-type=delivery-status",
        b"Content-Transfer-Encoding: base64",
        b"In-Reply-To: <",
        b"\r\n",
        b"--",
        b"=?utf-8?q?",
        b"?=",
        b"[ANREF-",
        b"]",
        b"\xc3\xbc",
        b"\xff",
        b"Action: failed\r\n",
    ]
)


@settings(max_examples=300, deadline=None)  # no timing in tests: CI machines are slow
@given(st.lists(st.one_of(_HEADERISH, st.binary(max_size=20)), max_size=40))
def test_parser_never_raises_on_arbitrary_bytes(chunks: list[bytes]) -> None:
    parsed = parse_mail(b"".join(chunks), "x@y.example", ["bounces+t@n.example"])
    assert isinstance(parsed.kind, InboundKind)
    assert len(parsed.tokens) <= 8


POSTFIX_ORIGINAL = (
    b"Date: Mon, 23 Nov 2026 18:00:01 +0000\r\nFrom: alerts@node.example\r\nTo: person@example.org\r\n"
    b"Subject: Fire alarm in building 3: leave by the nearest exit and reply when you are\r\n"
    b" safe [ANREF-tokS]\r\nMessage-ID: <tokO.a1@node.example>\r\n"
)


def test_folded_header_fields_are_unfolded_before_they_are_reported() -> None:
    # RFC 5322 §2.2.3: unfolding removes each CRLF that is followed by white space
    raw = postfix_dsn(
        action="failed",
        rcpt="person@example.org",
        envelope_to="bounces@node.example",
        original_headers=POSTFIX_ORIGINAL,
    )
    parsed = parse_mail(raw, "", ["bounces@node.example"])
    assert parsed.kind is InboundKind.BOUNCE
    assert parsed.dsn is not None
    assert parsed.dsn.diagnostic == (
        "550 5.1.1 <person@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
    )
    assert parsed.text == parsed.dsn.diagnostic
    assert parsed.tokens[:2] == ("tokO", "tokS")  # the folded returned Subject still yields its reference
    delayed = parse_mail(
        postfix_dsn(action="delayed", rcpt="p@example.org", envelope_to="b@node.example", original_headers=None), "", []
    )
    assert delayed.dsn is not None
    assert delayed.dsn.diagnostic == "connect to mail.example.org[192.0.2.25]:25: Connection refused"


def test_long_reply_subjects_are_unfolded() -> None:
    raw = (
        b"From: ann@example.org\r\n"
        b"Subject: Re: Fire alarm in building 3: leave by the nearest exit and reply when\r\n"
        b"\tyou are safe [ANREF-tokS]\r\n\r\nsafe\r\n"
    )
    parsed = parse_mail(raw, "", [])
    assert parsed.subject == (
        "Re: Fire alarm in building 3: leave by the nearest exit and reply when you are safe [ANREF-tokS]"
    )
    encoded = (
        b"From: ann@example.org\r\n"
        b"Subject: =?utf-8?q?Re=3A_Feueralarm_in_Geb=C3=A4ude_3=3A_bitte_verlassen_Sie_das?=\r\n"
        b" =?utf-8?q?_Geb=C3=A4ude?= [ANREF-tokS]\r\n\r\nja\r\n"
    )
    assert parse_mail(encoded, "", []).subject == (
        "Re: Feueralarm in Gebäude 3: bitte verlassen Sie das Gebäude [ANREF-tokS]"
    )
    plain_folded = b"From: ann@example.org\r\nSubject: Re: a very\r\n   long   subject\r\n\r\nok\r\n"
    assert parse_mail(plain_folded, "", []).subject == "Re: a very long   subject"


def _nested(depth: int) -> bytes:
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return b"From: a@x.example\r\nSubject: deep\r\n" + opening + b"Content-Type: text/plain\r\n\r\nhi\r\n" + closing


def test_mime_nesting_is_bounded() -> None:
    # the top-level message and its innermost text part count as levels too
    assert parse_mail(_nested(MAX_MIME_DEPTH - 1), "", []).text == "hi"
    with pytest.raises(UnreadableMessage, match="nested deeper than 100"):
        parse_mail(_nested(MAX_MIME_DEPTH), "", [])
    with pytest.raises(UnreadableMessage):
        parse_mail(_nested(3000), "", [])  # past Python's recursion limit inside the email package
