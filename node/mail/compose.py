"""Composing the RFC 5322 message for one e-mail delivery. Pure: no sockets, no clock.

What the reference asks for (alertType=email):
- ``sender``, ``to`` and ``replyTo`` are left-hand parts; the node completes them with its mail domain.
  ``to`` replaces what the To: header shows (e.g. ``undisclosed``); the envelope recipient is always
  the delivery's own address.
- ``subject`` gets a unique reference appended, ``[<emailSubjectRef>-<per-recipient part>]``, so a
  reply can be tied to its alert and recipient. The per-recipient part is the delivery's token
  (see :func:`token_part`), which ``find_by_token`` resolves.
- Body: ``text/plain; charset=us-ascii`` unless ``emailBodyContentType`` says otherwise;
  ``emailBodyIsMultipart`` sends the content as the body of a multipart whose parts are delimited
  by ``multipartBoundary``.

The Message-ID embeds the token too (``<token.a<attempt>@domain>``) so In-Reply-To/References
identify the delivery when a mail client rewrites the subject, and the envelope sender is
``<bounce>+<token>@domain`` (VERP) so a bounce names its delivery even when it is not an RFC 3464 report.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.utils import format_datetime
from typing import Any

from alertnode.domain import DeliveryWork
from alertnode.errors import Problem
from alertnode.mail import rich_body
from alertnode.mail.config import LOCAL_PART_MAX, valid_local_part

DEFAULT_CONTENT_TYPE = "text/plain; charset=us-ascii"

# Tokens of this shape go into subjects, Message-IDs and VERP local parts as they are; anything else
# is hex-encoded behind a marker so the same three places still carry it losslessly.
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,48}\Z")
_HEX_MARK = "x."
# RFC 2046 §5.1.1: boundary = 0*69<bchars> bcharsnospace; 1–70 characters.
_BCHARS = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]\Z")
# RFC 5322 §2.1.1: lines must not exceed 998 characters excluding CRLF.
_MAX_LINE = 998


@dataclass(frozen=True)
class MailIdentity:
    """The node's side of every message: its domain and default parts (from MailConfig)."""

    domain: str
    default_sender: str = "alerts"
    bounce_local_part: str = "bounces"


@dataclass(frozen=True)
class Composed:
    """A message ready for the smarthost."""

    envelope_from: str
    envelope_to: str
    message_id: str
    data: bytes
    eight_bit: bool
    """The data holds 8-bit octets: send with BODY=8BITMIME (RFC 6152)."""
    smtputf8: bool
    """An address is not ASCII: send with SMTPUTF8 (RFC 6531)."""
    envid: str = ""
    """RFC 3461 §4.4 envelope identifier (the Message-ID's left part); empty when too long for ENVID."""


def token_part(token: str) -> str:
    """The per-recipient reference part for ``token``: the token itself when it is short and plain."""
    if _SAFE_TOKEN.match(token):
        return token
    return _HEX_MARK + binascii.hexlify(token.encode("utf-8")).decode("ascii")


def token_from_part(part: str) -> str | None:
    """Inverse of :func:`token_part` (None when ``part`` is not one)."""
    if part.startswith(_HEX_MARK):
        try:
            return binascii.unhexlify(part[len(_HEX_MARK) :]).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
    return part if _SAFE_TOKEN.match(part) else None


def subject_reference(subject_ref: str | None, token: str) -> str:
    """``[<emailSubjectRef>-<per-recipient part>]`` (just the part when the alert has no subject ref)."""
    part = token_part(token)
    return f"[{subject_ref}-{part}]" if subject_ref else f"[{part}]"


def message_id(token: str, attempt: int, domain: str) -> str:
    return f"<{envelope_id(token, attempt)}@{domain}>"


ENVID_MAX = 100
"""RFC 3461 §4.4: an ENVID is at most 100 characters."""


def envelope_id(token: str, attempt: int) -> str:
    """``<per-recipient part>.a<attempt>``: the Message-ID's left part, and the DSN envelope id."""
    return f"{token_part(token)}.a{attempt}"


def xtext(value: str) -> str:
    """RFC 3461 §4 xtext: printable ASCII but ``+`` and ``=`` as is, everything else as ``+HH``."""
    return "".join(
        chr(b) if 0x21 <= b <= 0x7E and b not in (0x2B, 0x3D) else f"+{b:02X}" for b in value.encode("utf-8")
    )


def verp_sender(identity: MailIdentity, token: str) -> str:
    local = f"{identity.bounce_local_part}+{token_part(token)}"
    if len(local) > LOCAL_PART_MAX:  # RFC 5321 §4.5.3.1.1
        local = identity.bounce_local_part
    return f"{local}@{identity.domain}"


def _param(params: Mapping[str, Any], key: str) -> Any:
    value = params.get(key)
    return value if value not in ("", None) else None


def parse_content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """(maintype, subtype, params) of a Content-Type value; raises ValueError when it is not one."""
    probe = Message()
    probe["Content-Type"] = value
    if probe.get_content_type() == "text/plain" and not value.strip().lower().startswith("text/plain"):
        # email falls back to text/plain for anything it cannot parse (RFC 2045 §5.2)
        raise ValueError(f"not a content type: {value!r}")
    maintype, subtype = probe.get_content_maintype(), probe.get_content_subtype()
    params: dict[str, str] = {}
    for key, val in (probe.get_params(header="content-type") or [])[1:]:
        params[key.lower()] = str(val)
    return maintype, subtype, params


def check_item(item: Mapping[str, Any], content: bytes | None, path: str) -> list[Problem]:
    """Request-time checks of an email item's own fields; ``path`` is e.g. ``alert[0]``."""
    problems: list[Problem] = []
    for key in ("sender", "to", "replyTo"):
        value = item.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            problems.append(Problem(f"{path}.{key}", "must be a string"))
        elif "@" in value:
            problems.append(Problem(f"{path}.{key}", "give only the left-hand part (no @); the node adds its domain"))
        elif not valid_local_part(value):
            problems.append(
                Problem(
                    f"{path}.{key}",
                    "must be an e-mail local part: letters, digits and !#$%&'*+/=?^_`{|}~- "
                    "with single dots between them, at most 64 characters (RFC 5321 §4.5.3.1.1)",
                )
            )
    subject = item.get("subject")
    if subject is not None and not isinstance(subject, str):
        problems.append(Problem(f"{path}.subject", "must be a string"))
    elif isinstance(subject, str) and ("\r" in subject or "\n" in subject):
        problems.append(Problem(f"{path}.subject", "must be one line (no CR or LF)"))
    multipart = item.get("emailBodyIsMultipart", False)
    if not isinstance(multipart, bool):
        problems.append(Problem(f"{path}.emailBodyIsMultipart", "must be true or false"))
        multipart = False
    ctype = item.get("emailBodyContentType")
    maintype = "text"
    if ctype not in (None, ""):
        if not isinstance(ctype, str) or "\r" in ctype or "\n" in ctype:
            problems.append(Problem(f"{path}.emailBodyContentType", "must be a one-line string"))
        else:
            try:
                maintype, _, params = parse_content_type(ctype)
            except ValueError as exc:
                problems.append(Problem(f"{path}.emailBodyContentType", str(exc)))
            else:
                if not multipart and maintype != "text":
                    problems.append(
                        Problem(
                            f"{path}.emailBodyContentType",
                            "must be a text/* type unless emailBodyIsMultipart is true",
                        )
                    )
                if multipart and maintype != "multipart":
                    problems.append(
                        Problem(f"{path}.emailBodyContentType", "must be a multipart/* type when multipart")
                    )
                charset = params.get("charset")
                if charset:
                    try:
                        "".encode(charset)
                    except LookupError:
                        problems.append(Problem(f"{path}.emailBodyContentType", f"unknown charset {charset!r}"))
    boundary = item.get("multipartBoundary")
    if multipart:
        if not isinstance(boundary, str) or not boundary:
            problems.append(Problem(f"{path}.multipartBoundary", "is required when emailBodyIsMultipart is true"))
        elif not _BCHARS.match(boundary):
            problems.append(
                Problem(
                    f"{path}.multipartBoundary",
                    "must be 1–70 characters from RFC 2046 §5.1.1 bchars, not ending in a space",
                )
            )
        elif content is not None:
            lines = content.replace(b"\r\n", b"\n").split(b"\n")
            delimiter = b"--" + boundary.encode("ascii")
            if not any(line.rstrip(b" \t") == delimiter for line in lines):
                problems.append(
                    Problem(f"{path}.content", f"multipart content has no delimiter line {delimiter.decode()!r}")
                )
            if not any(line.rstrip(b" \t") == delimiter + b"--" for line in lines):
                problems.append(
                    Problem(
                        f"{path}.content",
                        f"multipart content has no close delimiter '{delimiter.decode()}--'",
                    )
                )
    elif boundary not in (None, "") and not isinstance(boundary, str):
        problems.append(Problem(f"{path}.multipartBoundary", "must be a string"))
    return problems


_PLAIN_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,255}\Z")
# RFC 5322 §2.1.1: header lines SHOULD stay within 78 characters; longer values are folded.
_FOLD_AT = 78


def _own_address(local: str, domain: str) -> str:
    """``local@domain`` for the node's own parts; refuses anything that is not a local part."""
    if not valid_local_part(local):
        raise ValueError(f"{local!r} is not an e-mail local part")
    return f"{local}@{domain}"


def _recipient_address(address: str) -> tuple[str, bool]:
    """The envelope form of the recipient (IDNA domain) and whether it needs SMTPUTF8."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain or any(ch in address for ch in "\r\n<>"):
        raise ValueError("not an e-mail address")
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}", not (local.isascii() and domain.isascii())


def _header(name: str, value: str, smtputf8: bool = False) -> bytes:
    """One header field, folded and RFC 2047-encoded by the email package (slow: used when needed)."""
    pol = policy.SMTPUTF8 if smtputf8 else policy.SMTP
    # a header object, not fold_binary(str): only the object encodes every non-ASCII character
    folded: str = pol.header_factory(name, value).fold(policy=pol)
    return folded.encode("utf-8" if smtputf8 else "ascii")


@functools.lru_cache(maxsize=64)
def _subject_prefix(subject: str) -> bytes:
    """``Subject: <subject>`` folded and encoded, without the line end (cached: one per alert item)."""
    if not subject:
        return b"Subject:"
    line = f"Subject: {subject}"
    if line.isascii() and len(line) <= _FOLD_AT:
        return line.encode("ascii")
    return _header("Subject", subject).rstrip(b"\r\n")


def _subject_line(subject: str, reference: str) -> bytes:
    prefix = _subject_prefix(subject)
    last = prefix.rsplit(b"\r\n", 1)[-1]
    # RFC 5322 §2.2.3 folding before the reference: unfolding gives back "<subject> <reference>"
    glue = b" " if len(last) + 1 + len(reference) <= _FOLD_AT else b"\r\n "
    return prefix + glue + reference.encode("ascii") + b"\r\n"


@functools.lru_cache(maxsize=64)
def _body_block(text: str, ctype: str | None, boundary: str | None) -> tuple[bytes, bool]:
    """Content header fields, the blank line and the encoded body; whether it is 8-bit.
    Cached: without per-recipient lookups every recipient of an item gets the same body."""
    msg = EmailMessage(policy=policy.SMTP)
    if boundary is not None:
        # The content already is a multipart body (preamble, parts, close delimiter): sent verbatim,
        # with CRLF line ends (RFC 5322 §2.1) and as 8bit when it is not ASCII (RFC 6152).
        _multipart_body(msg, ctype, boundary)
        eight_bit = not text.isascii()
        if eight_bit:
            msg["Content-Transfer-Encoding"] = "8bit"
        head = b"".join(_header(name, str(value)) for name, value in msg.items())
        raw = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
        if not raw.endswith(b"\r\n"):
            raw += b"\r\n"
        return head + b"\r\n" + raw, eight_bit
    _text_body(msg, text, ctype or DEFAULT_CONTENT_TYPE)
    return msg.as_bytes(), False


def _text_body(msg: EmailMessage, text: str, ctype: str) -> None:
    maintype, subtype, params = parse_content_type(ctype)
    charset = params.pop("charset", "us-ascii")
    try:
        text.encode(charset)
    except (UnicodeEncodeError, LookupError):
        # A charset that cannot carry the text (e.g. the us-ascii default with an umlaut) would make
        # the message lie about itself; UTF-8 carries everything.
        charset = "utf-8"
    long_line = any(len(line) > _MAX_LINE for line in text.splitlines())
    # RFC 2045 §6.7: quoted-printable stays readable when mostly ASCII, and is 7-bit and line-safe.
    cte = "7bit" if charset.lower() in ("us-ascii", "ascii") and not long_line else "quoted-printable"
    if maintype != "text":
        subtype = "plain"
    msg.set_content(text, subtype=subtype, charset=charset, cte=cte)
    for key, value in params.items():
        msg.set_param(key, value)


def _multipart_body(msg: EmailMessage, ctype: str | None, boundary: str) -> None:
    subtype = "mixed"
    if ctype:
        maintype, sub, _ = parse_content_type(ctype)
        if maintype == "multipart":
            subtype = sub
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/{subtype}; boundary="{boundary}"'


def compose(work: DeliveryWork, identity: MailIdentity, now: float) -> Composed:
    """The message for ``work`` as sent at ``now`` (a POSIX time). Raises ValueError for parts that
    cannot be put in a header (the request checks refuse them earlier)."""
    params = work.params
    domain = identity.domain
    recipient, smtputf8 = _recipient_address(work.address)
    lines = [
        b"Date: " + format_datetime(datetime.fromtimestamp(now, UTC)).encode("ascii") + b"\r\n",
        b"From: " + _own_address(_param(params, "sender") or identity.default_sender, domain).encode() + b"\r\n",
    ]
    to_part = _param(params, "to")
    if to_part:
        lines.append(b"To: " + _own_address(str(to_part), domain).encode("ascii") + b"\r\n")
    elif _PLAIN_ADDRESS.match(work.address.strip()):
        lines.append(b"To: " + work.address.strip().encode("ascii") + b"\r\n")
    else:
        lines.append(_header("To", work.address.strip(), smtputf8))
    reply_to = _param(params, "replyTo")
    if reply_to:
        lines.append(b"Reply-To: " + _own_address(str(reply_to), domain).encode("ascii") + b"\r\n")
    # one line: str.splitlines() breaks are what email refuses in a header value
    subject = " ".join(str(_param(params, "subject") or "").splitlines()).strip()
    lines.append(_subject_line(subject, subject_reference(work.email_subject_ref, work.token)))
    envid = envelope_id(work.token, work.attempt)
    mid = f"<{envid}@{domain}>"
    lines.append(b"Message-ID: " + mid.encode("ascii") + b"\r\n")
    # RFC 3834 §5: tells auto-responders (vacation, out-of-office) not to answer an alert;
    # X-Auto-Response-Suppress is the Exchange spelling of the same request.
    lines.append(b"Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: OOF, AutoReply\r\n")
    body = work.text if work.text is not None else work.content.decode("utf-8", errors="replace")
    boundary = _param(params, "multipartBoundary")
    multipart = params.get("emailBodyIsMultipart") is True and boundary is not None
    ctype = _param(params, "emailBodyContentType")
    if work.rich is not None and not multipart:
        # an image, a link or a tracking image: the node writes the MIME structure (node/mail/rich_body.py)
        html_body = ctype is not None and parse_content_type(str(ctype))[:2] == ("text", "html")
        block, eight_bit = rich_body.body_block(body, work.rich, html_body, domain), False
    else:
        block, eight_bit = _body_block(body, ctype, str(boundary) if multipart else None)
    return Composed(
        envelope_from=verp_sender(identity, work.token),
        envelope_to=recipient,
        message_id=mid,
        data=b"".join(lines) + block,
        eight_bit=eight_bit,
        smtputf8=smtputf8,
        envid=envid if len(xtext(envid)) <= ENVID_MAX else "",
    )
