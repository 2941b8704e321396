"""Reading what arrives on the SMTP listener: replies, bounces, auto-replies. Pure: bytes in, a
:class:`ParsedMail` out; no sockets, no store, no clock.

Parsing uses the email package's compat32 policy, which never raises on odd headers; every header is
decoded here (RFC 2047 words, raw 8-bit octets read as UTF-8 then Latin-1) so a malformed message
still yields what can be read from it, with its defects listed.

Correlation evidence, strongest first:
1. the VERP envelope recipient ``<bounce>+<part>@domain`` (bounces come back to the envelope sender);
2. for delivery status notifications (RFC 3464 inside RFC 6522 multipart/report), the
   Original-Envelope-Id (the ENVID the node sent, RFC 3461 §4.4), then the Message-ID and Subject of
   the returned original;
3. In-Reply-To and References (RFC 5322 §3.6.4) naming a Message-ID the node made;
4. the ``[<emailSubjectRef>-<part>]`` reference in the subject.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.errors import HeaderParseError, MessageError
from email.header import Header, decode_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr
from html.parser import HTMLParser

from alertnode.mail.compose import token_from_part

MAX_MIME_DEPTH = 100
"""Deepest nesting of MIME parts read; deeper messages are refused for good. Postfix's
mime_nesting_limit has the same default; real mail (forwards of forwards) stays far below."""

MAX_CANDIDATES = 8
"""Most token candidates returned: each costs a store lookup, and a real reply carries one or two."""

_MAX_TEXT = 16_000
_DECODE_ERRORS = (
    ValueError,
    LookupError,
    TypeError,
    IndexError,
    AttributeError,
    MessageError,
    HeaderParseError,
)

# RFC 5322 §2.2.3: folding put a CRLF before white space that was there; unfolding takes the line break
# out. The white space around it is read as the one space it was before folding (Postfix folds a DSN's
# Diagnostic-Code by replacing a space with CRLF and four spaces).
_FOLD = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")
_BRACKET = re.compile(r"\[([^\[\]\s]{1,200})\]")
_MSGID = re.compile(r"<([^<>\s@]{1,200})@([^<>\s]{1,255})>")
_MSGID_LEFT = re.compile(r"^(?P<part>.+)\.a\d{1,6}\Z")
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit"
    r"|r[ée]ponse automatique)",
    re.IGNORECASE,
)
# Lines that open the quoted original in common mail clients (Gmail/Apple/Thunderbird, Outlook,
# German and French clients).
_QUOTE_HEADERS = (
    re.compile(r"^\s*On\b.{0,400}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,400}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,400}\ba [ée]crit\s?:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*-{2,}\s*(Original Message|Urspr[üu]ngliche Nachricht|Message d'origine)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*-{5,}\s*Forwarded message\s*-{5,}\s*$", re.IGNORECASE),
)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(From|Von|De)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*\*?(Sent|Date|Gesendet|Envoy[ée]|To|An|Subject|Betreff)\s*:", re.IGNORECASE)
_SIGNATURE = "-- "  # RFC 3676 §4.3 signature separator


class InboundKind(enum.Enum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    """An out-of-office or other automatic answer (RFC 3834): seen, but not the person responding."""
    BOUNCE = "bounce"
    """A delivery status notification saying delivery failed (RFC 3464 Action: failed)."""
    DELAY = "delay"
    """A DSN saying delivery is delayed and still being tried (Action: delayed)."""
    DELIVERED = "delivered"
    """A DSN confirming delivery (Action: delivered/relayed/expanded)."""
    INVALID = "invalid"
    """Not an RFC 5322 message at all (no header section)."""


class UnreadableMessage(ValueError):
    """A message the parser can never read; the listener refuses it with 554 5.6.0 (RFC 3463 §3.7:
    a media error), so the sending MTA returns it instead of trying again for days."""


@dataclass(frozen=True)
class DsnInfo:
    action: str
    status: str
    final_recipient: str
    diagnostic: str
    envelope_id: str = ""
    """Original-Envelope-Id (RFC 3464 §2.2.1): the ENVID the node sent (RFC 3461 §4.4)."""
    retry_until: str = ""
    """Will-Retry-Until (RFC 3464 §2.3.8) of a delayed report."""


@dataclass(frozen=True)
class ParsedMail:
    kind: InboundKind
    sender: str
    subject: str
    text: str
    message_id: str
    tokens: tuple[str, ...]
    """Candidate delivery tokens, strongest evidence first (at most MAX_CANDIDATES)."""
    dsn: DsnInfo | None = None
    defects: tuple[str, ...] = field(default_factory=tuple)


# -- header decoding -------------------------------------------------------------------------------


def _bytes_text(raw: bytes, charset: str | None = None) -> str:
    for candidate in (charset, "utf-8"):
        if candidate:
            try:
                return raw.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                continue
    return raw.decode("latin-1")  # every octet is a Latin-1 character: never fails


def _surrogates_to_text(value: str) -> str:
    """compat32 keeps raw 8-bit header octets as surrogate escapes; read them as UTF-8 (RFC 6532)."""
    if value.isascii():
        return value
    try:
        return _bytes_text(value.encode("ascii", "surrogateescape"))
    except UnicodeEncodeError:
        return value


def header_text(value: object) -> str:
    """A header value as readable text: unfolded (RFC 5322 §2.2.3), RFC 2047 encoded words decoded."""
    if value is None:
        return ""
    if isinstance(value, Header):
        # compat32 wraps raw 8-bit input as unknown-8bit chunks; their text keeps the octets as
        # surrogate escapes, which str(Header) would turn into replacement characters.
        chunks = getattr(value, "_chunks", None) or [(str(value), None)]
        raw = "".join(str(text) for text, _ in chunks)
    else:
        raw = str(value)
    raw = _FOLD.sub(" ", _surrogates_to_text(raw)).strip()
    try:
        parts = decode_header(raw)
    except _DECODE_ERRORS:
        return raw
    out = []
    for chunk, charset in parts:
        out.append(_bytes_text(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return " ".join(" ".join(out).split()) if len(parts) > 1 else "".join(out).strip()


def _get(msg: Message, name: str) -> str:
    try:
        return header_text(msg.get(name))
    except _DECODE_ERRORS:
        return ""


def _get_all(msg: Message, name: str) -> list[str]:
    try:
        return [header_text(v) for v in (msg.get_all(name) or [])]
    except _DECODE_ERRORS:
        return []


def _address(value: str) -> str:
    try:
        return parseaddr(value)[1].strip()
    except _DECODE_ERRORS:
        return ""


# -- correlation evidence ----------------------------------------------------------------------------


def subject_candidates(subject: str) -> list[str]:
    """Tokens a ``[<ref>-<part>]`` (or ``[<part>]``) reference in ``subject`` may name."""
    found: list[str] = []
    for inner in reversed(_BRACKET.findall(subject)):  # the node appends its reference at the end
        cuts = [i for i, ch in enumerate(inner) if ch == "-"]
        for cut in cuts:
            found.append(inner[cut + 1 :])
        found.append(inner)
    return [t for t in (token_from_part(p) for p in found) if t]


def msgid_candidates(values: Iterable[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        for left, _domain in _MSGID.findall(value):
            match = _MSGID_LEFT.match(left)
            if match:
                token = token_from_part(match.group("part"))
                if token:
                    found.append(token)
    return found


def _xtext_decoded(value: str) -> str:
    """RFC 3461 §4 xtext ``+HH`` undone (a report may carry the ENVID as it went on the wire)."""
    return re.sub(r"\+([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def envid_candidates(envelope_id: str) -> list[str]:
    """The token an ENVID the node made (``<part>.a<attempt>``, node/mail/compose.py) names."""
    match = _MSGID_LEFT.match(envelope_id)
    token = token_from_part(match.group("part")) if match else None
    return [token] if token else []


def verp_candidates(rcpt_tos: Sequence[str], bounce_local_part: str) -> list[str]:
    found: list[str] = []
    prefix = bounce_local_part.lower() + "+"
    for rcpt in rcpt_tos:
        local = rcpt.rpartition("@")[0]
        if local.lower().startswith(prefix):
            token = token_from_part(local[len(prefix) :])
            if token:
                found.append(token)
    return found


def _dedupe(tokens: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for token in tokens:
        seen.setdefault(token, None)
    return tuple(seen)[:MAX_CANDIDATES]


# -- body text ---------------------------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """Visible text of an HTML body, without quoted history (<blockquote>, Gmail's gmail_quote)."""

    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table"})
    _SKIP = frozenset({"script", "style", "head", "title", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(v or "" for k, v in attrs if k == "class")
        if tag in self._SKIP or (tag == "div" and ("gmail_quote" in classes or "moz-cite" in classes)):
            self._skip += 1
        elif tag in self._BREAKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP or (tag == "div" and self._skip):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except _DECODE_ERRORS:
        pass
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    return "\n".join(lines)


def _part_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except _DECODE_ERRORS:
        payload = None
    if isinstance(payload, bytes):
        charset = None
        try:
            charset = part.get_content_charset()
        except _DECODE_ERRORS:
            charset = None
        return _bytes_text(payload, charset)
    raw = part.get_payload()
    return _surrogates_to_text(raw) if isinstance(raw, str) else ""


def _is_attachment(part: Message) -> bool:
    try:
        return (part.get_content_disposition() or "") == "attachment"
    except _DECODE_ERRORS:
        return False


def body_text(msg: Message) -> str:
    """The best plain text of ``msg``: the first inline text/plain part, else the first text/html."""
    plain: str | None = None
    html: str | None = None
    for part in msg.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = _part_text(part)
        elif ctype == "text/html" and html is None:
            html = _part_text(part)
        elif ctype in ("message/rfc822", "message/delivery-status"):
            break  # a returned original is not the sender's own text
    if plain is not None:
        return plain
    return html_to_text(html) if html is not None else ""


def strip_quoted(text: str) -> str:
    """The new text of a reply: quoted lines, the quoted original and the signature removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if line == _SIGNATURE or line.rstrip() == "--":
            break
        joined = line if i + 1 >= len(lines) else f"{line} {lines[i + 1]}"
        if any(p.match(line) for p in _QUOTE_HEADERS):
            break
        # "On Mon, 1 Jan 2024, A <a@b>\nwrote:" — clients wrap the attribution line
        if line.strip().lower().startswith(("on ", "am ", "le ")) and any(p.match(joined) for p in _QUOTE_HEADERS):
            break
        if _OUTLOOK_FROM.match(line) and i + 1 < len(lines) and _OUTLOOK_NEXT.match(lines[i + 1]):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept)[:_MAX_TEXT]


# -- delivery status notifications ---------------------------------------------------------------


def _find_parts(msg: Message, ctype: str) -> list[Message]:
    return [p for p in msg.walk() if p.get_content_type() == ctype]


def _original_headers(msg: Message) -> Message | None:
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif ctype == "text/rfc822-headers":  # RFC 6522 §4: just the original's header section
            return HeaderParser(policy=policy.compat32).parsestr(_part_text(part))
    return None


def _dsn_fields(msg: Message) -> DsnInfo | None:
    """The most telling per-recipient block of the message/delivery-status part (RFC 3464 §2.3)."""
    blocks: list[Message] = []
    for part in _find_parts(msg, "message/delivery-status"):
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks.extend(b for b in payload if isinstance(b, Message))
        elif isinstance(payload, str):  # a parser that did not split the blocks: do it here
            for chunk in re.split(r"\r?\n\s*\r?\n", payload):
                blocks.append(HeaderParser(policy=policy.compat32).parsestr(chunk))
    rank = {"failed": 0, "delayed": 1, "delivered": 2, "relayed": 2, "expanded": 2}
    # the per-message fields come first (§2.1); an MTA that mixes them into a recipient block is read too
    envelope_id = next((v for v in (_get(b, "Original-Envelope-Id") for b in blocks) if v), "")
    best: DsnInfo | None = None
    for block in blocks:
        action = _get(block, "Action").lower().strip()
        if action not in rank:
            continue
        info = DsnInfo(
            action=action,
            status=_get(block, "Status").strip(),
            final_recipient=_get(block, "Final-Recipient").partition(";")[2].strip()
            or _get(block, "Original-Recipient").partition(";")[2].strip(),
            diagnostic=_get(block, "Diagnostic-Code").partition(";")[2].strip(),
            envelope_id=_xtext_decoded(envelope_id.strip()),
            retry_until=_get(block, "Will-Retry-Until").strip(),
        )
        if best is None or rank[action] < rank[best.action]:
            best = info
    return best


def _is_auto_reply(msg: Message, subject: str) -> bool:
    auto = _get(msg, "Auto-Submitted").lower()
    if auto and auto != "no":  # RFC 3834 §5
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if _get(msg, "Precedence").lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(_AUTO_SUBJECT.match(subject))


def _looks_like_bounce(envelope_from: str, sender: str, subject: str) -> bool:
    """A non-RFC 3464 bounce: from the null reverse-path (RFC 5321 §4.5.5) or a mailer daemon."""
    local = sender.partition("@")[0].lower()
    from_daemon = local in ("mailer-daemon", "postmaster")
    failure_words = re.search(r"undeliver|failure|failed|returned|not delivered|delivery status", subject, re.I)
    return (envelope_from in ("", "<>") or from_daemon) and bool(failure_words)


# -- the entry point ----------------------------------------------------------------------------------


def mime_depth(msg: Message) -> int:
    """How deeply parts nest inside ``msg`` (1: a single part). Iterative: the depth is not trusted."""
    deepest = 0
    stack = [(msg, 1)]
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
    return deepest


def parse_mail(
    raw: bytes,
    envelope_from: str,
    rcpt_tos: Sequence[str],
    bounce_local_part: str = "bounces",
) -> ParsedMail:
    """Classify and read one inbound message. Raises :class:`UnreadableMessage` for a message this
    parser can never read (the same bytes would fail again: a permanent failure)."""
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
    except RecursionError as exc:  # the email package parses nested parts recursively
        raise UnreadableMessage(f"MIME parts nested deeper than {MAX_MIME_DEPTH} levels") from exc
    except MemoryError:
        raise  # not the message's fault: worth another try later
    except Exception as exc:
        raise UnreadableMessage(f"cannot parse the message ({type(exc).__name__})") from exc
    if mime_depth(msg) > MAX_MIME_DEPTH:
        raise UnreadableMessage(f"MIME parts nested deeper than {MAX_MIME_DEPTH} levels")
    try:
        return _read(msg, envelope_from, rcpt_tos, bounce_local_part)
    except MemoryError:
        raise
    except Exception as exc:  # the parse is deterministic: what fails once fails every time
        raise UnreadableMessage(f"cannot read the message ({type(exc).__name__})") from exc


def _read(msg: Message, envelope_from: str, rcpt_tos: Sequence[str], bounce_local_part: str) -> ParsedMail:
    defects = tuple(sorted({type(d).__name__ for part in msg.walk() for d in part.defects}))
    subject = _get(msg, "Subject")
    sender = _address(_get(msg, "From")) or envelope_from
    message_id = _get(msg, "Message-ID")
    verp = verp_candidates(rcpt_tos, bounce_local_part)
    if not msg.keys():
        return ParsedMail(InboundKind.INVALID, envelope_from, "", "", "", _dedupe(verp), None, defects)

    is_report = msg.get_content_type() == "multipart/report" or bool(_find_parts(msg, "message/delivery-status"))
    dsn = _dsn_fields(msg) if is_report else None
    if dsn is not None or (verp and _looks_like_bounce(envelope_from, sender, subject)):
        original = _original_headers(msg)
        evidence: list[str] = list(verp)
        if dsn is not None:
            evidence += envid_candidates(dsn.envelope_id)
        if original is not None:
            evidence += msgid_candidates([_get(original, "Message-ID")])
            evidence += subject_candidates(_get(original, "Subject"))
        evidence += msgid_candidates(_get_all(msg, "In-Reply-To") + _get_all(msg, "References"))
        if dsn is None:
            dsn = DsnInfo("failed", "", "", strip_quoted(body_text(msg))[:500])
        kind = {
            "failed": InboundKind.BOUNCE,
            "delayed": InboundKind.DELAY,
        }.get(dsn.action, InboundKind.DELIVERED)
        return ParsedMail(kind, sender, subject, dsn.diagnostic, message_id, _dedupe(evidence), dsn, defects)

    evidence = list(verp)
    evidence += msgid_candidates(_get_all(msg, "In-Reply-To") + _get_all(msg, "References"))
    evidence += subject_candidates(subject)
    kind = InboundKind.AUTO_REPLY if _is_auto_reply(msg, subject) else InboundKind.REPLY
    text = strip_quoted(body_text(msg))
    return ParsedMail(kind, sender, subject, text, message_id, _dedupe(evidence), None, defects)
