"""Composing: headers, references, encodings, multipart, and the request-time checks."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.domain import DeliveryWork
from alertnode.mail.compose import (
    ENVID_MAX,
    MailIdentity,
    check_item,
    compose,
    envelope_id,
    message_id,
    subject_reference,
    token_from_part,
    token_part,
    verp_sender,
    xtext,
)
from alertnode.mail.replies import envid_candidates, msgid_candidates, subject_candidates, verp_candidates

IDENTITY = MailIdentity(domain="mail.example.net", default_sender="alerts", bounce_local_part="bounces")
NOW = 1_795_000_000.0


def work(**params: Any) -> DeliveryWork:
    text = params.pop("text", "Hello")
    token = params.pop("token", "AbC_12-xyz")
    address = params.pop("address", "bob@example.org")
    return DeliveryWork(
        delivery_id=1,
        alert_ref="A",
        client_ref="c",
        item_index=0,
        tag="t",
        alert_type="email",
        address=address,
        contact_id=None,
        token=token,
        content=text.encode(),
        text=text,
        params=params,
        attempt=2,
        email_subject_ref="ANREF",
    )


def parse(data: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def test_defaults_when_the_item_gives_no_parts() -> None:
    out = compose(work(), IDENTITY, NOW)
    msg = parse(out.data)
    assert str(msg["From"]) == "alerts@mail.example.net"
    assert str(msg["To"]) == "bob@example.org"
    assert msg["Reply-To"] is None
    assert str(msg["Subject"]) == "[ANREF-AbC_12-xyz]"
    assert str(msg["Message-ID"]) == "<AbC_12-xyz.a2@mail.example.net>" == out.message_id
    assert str(msg["Date"]) == "Wed, 18 Nov 2026 11:06:40 +0000"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "text/plain" and msg.get_param("charset") == "us-ascii"
    assert out.envelope_from == "bounces+AbC_12-xyz@mail.example.net"
    assert out.envelope_to == "bob@example.org"
    assert not out.eight_bit and not out.smtputf8
    assert out.data.isascii() and b"\r\n\r\nHello\r\n" in out.data


def test_parts_are_completed_with_the_domain() -> None:
    msg = parse(compose(work(sender="ops", to="undisclosed", replyTo="answers", subject="Hi"), IDENTITY, NOW).data)
    assert (str(msg["From"]), str(msg["To"]), str(msg["Reply-To"])) == (
        "ops@mail.example.net",
        "undisclosed@mail.example.net",
        "answers@mail.example.net",
    )
    assert str(msg["Subject"]) == "Hi [ANREF-AbC_12-xyz]"


def test_long_lines_are_quoted_printable() -> None:
    out = compose(work(text="x" * 2000), IDENTITY, NOW)
    assert all(len(line) <= 998 for line in out.data.split(b"\r\n"))
    assert parse(out.data).get_content().replace("\r\n", "\n") == "x" * 2000 + "\n"


def test_international_recipient_needs_smtputf8() -> None:
    out = compose(work(address="jörg@bücher.example"), IDENTITY, NOW)
    assert out.smtputf8
    assert out.envelope_to == "jörg@xn--bcher-kva.example"


def test_multipart_content_goes_out_verbatim_with_crlf() -> None:
    body = "preamble\n--b1\nContent-Type: text/plain\n\none\n--b1\nContent-Type: text/html\n\n<i>two</i>\n--b1--\n"
    out = compose(work(text=body, emailBodyIsMultipart=True, multipartBoundary="b1"), IDENTITY, NOW)
    assert not out.eight_bit
    assert b"\n" not in out.data.replace(b"\r\n", b"")
    msg = parse(out.data)
    assert msg.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["MIME-Version"] == "1.0"


@settings(deadline=None)
@given(st.text(min_size=1, max_size=80).filter(lambda s: "\r" not in s and "\n" not in s))
def test_any_subject_survives_encoding(subject: str) -> None:
    out = compose(work(subject=subject), IDENTITY, NOW)
    assert out.data.isascii()
    decoded = str(parse(out.data)["Subject"])
    assert decoded.endswith("[ANREF-AbC_12-xyz]")
    assert " ".join(decoded.split()) == " ".join(f"{subject.strip()} [ANREF-AbC_12-xyz]".split())
    assert subject_candidates(decoded)[0] == "AbC_12-xyz"


@settings(deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_token_round_trips_through_subject_message_id_and_verp(token: str) -> None:
    assert token_from_part(token_part(token)) == token
    assert token in subject_candidates("Re: x " + subject_reference("ANREF", token))
    assert token in subject_candidates(subject_reference(None, token))
    assert msgid_candidates([message_id(token, 3, "d.example")]) == [token]
    if len(verp_sender(IDENTITY, token).partition("@")[0]) > len("bounces"):
        assert verp_candidates([verp_sender(IDENTITY, token)], "bounces") == [token]


@settings(deadline=None)
@given(st.text(max_size=200))
def test_any_body_text_round_trips(text: str) -> None:
    out = compose(work(text=text), IDENTITY, NOW)
    assert out.data.isascii()
    got = parse(out.data).get_content()
    # lines end in CRLF on the wire (RFC 5322 §2.1): every line break becomes one, nothing else changes
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":
        lines.pop()
    expected = "".join(line + "\n" for line in lines) or "\n"
    assert got.replace("\r\n", "\n") == expected


# -- request-time checks ------------------------------------------------------------------------------


def paths(item: dict[str, Any], content: bytes | None = b"x") -> list[str]:
    return [p.path for p in check_item(item, content, "alert[0]")]


def test_parts_must_be_local_parts() -> None:
    assert paths({"sender": "a@b.c"}) == ["alert[0].sender"]
    assert paths({"replyTo": "two words"}) == ["alert[0].replyTo"]
    assert paths({"to": "x" * 65}) == ["alert[0].to"]
    assert paths({"to": ".dot"}) == ["alert[0].to"]
    assert paths({"to": 5}) == ["alert[0].to"]
    assert paths({"sender": "alerts\n"}) == ["alert[0].sender"]  # no header injection
    assert paths({"sender": "alerts", "to": "undisclosed", "replyTo": "alert.Responses+x"}) == []


def test_subject_and_content_type() -> None:
    assert paths({"subject": "a\r\nBcc: x@y"}) == ["alert[0].subject"]
    assert paths({"emailBodyContentType": "text/html; charset=utf-8"}) == []
    assert paths({"emailBodyContentType": "image/png"}) == ["alert[0].emailBodyContentType"]
    assert paths({"emailBodyContentType": "garbage"}) == ["alert[0].emailBodyContentType"]
    assert paths({"emailBodyContentType": "text/plain; charset=klingon"}) == ["alert[0].emailBodyContentType"]


def test_multipart_rules() -> None:
    body = b"--abc\r\nContent-Type: text/plain\r\n\r\nx\r\n--abc--\r\n"
    assert paths({"emailBodyIsMultipart": True, "multipartBoundary": "abc"}, body) == []
    assert paths({"emailBodyIsMultipart": True}, body) == ["alert[0].multipartBoundary"]
    assert paths({"emailBodyIsMultipart": True, "multipartBoundary": "a" * 71}, body) == ["alert[0].multipartBoundary"]
    assert paths({"emailBodyIsMultipart": True, "multipartBoundary": "bad boundary "}, body) == [
        "alert[0].multipartBoundary"
    ]
    assert paths({"emailBodyIsMultipart": True, "multipartBoundary": "zzz"}, body) == [
        "alert[0].content",
        "alert[0].content",
    ]
    assert paths({"emailBodyIsMultipart": "yes"}) == ["alert[0].emailBodyIsMultipart"]
    assert paths(
        {"emailBodyIsMultipart": True, "multipartBoundary": "abc", "emailBodyContentType": "text/plain"}, body
    ) == ["alert[0].emailBodyContentType"]


def test_envelope_id_and_xtext() -> None:
    assert xtext("person+tag@example.org") == "person+2Btag@example.org"
    assert xtext("a=b c\u00e9") == "a+3Db+20c+C3+A9"
    assert envelope_id("tok_1-x", 2) == "tok_1-x.a2"
    assert envid_candidates("tok_1-x.a2") == ["tok_1-x"]
    assert envid_candidates(envelope_id("ünicode token", 1)) == ["ünicode token"]
    assert envid_candidates("someone-elses-id") == []
    assert len(xtext(envelope_id("t" * 48, 999_999))) <= ENVID_MAX
