"""SIP message text as the worker reads it from pjsua2 (``wholeMsg``): header values, the Request-URI,
the key of an INFO ``application/dtmf``. Pure."""

from __future__ import annotations


def info_dtmf_digit(content_type: str, body: str) -> str:
    """The key an INFO ``application/dtmf`` body carries (the key itself, some send ``Signal=5``);
    "" for another content type or a body that names no key."""
    if content_type.split(";", 1)[0].strip().lower() != "application/dtmf":
        return ""
    text = body.strip()
    if text.lower().startswith("signal"):
        text = text.partition("=")[2].strip()
    key = text[:1].upper()
    return key if key and key in "0123456789*#ABCD" else ""


_COMPACT = {"from": "f", "to": "t", "call-id": "i", "content-type": "c"}


def header(msg: str, name: str) -> str:
    """A header's value in a whole SIP message (compact forms too, RFC 3261 §7.3.3)."""
    names = (name.lower(), _COMPACT.get(name.lower(), ""))
    for line in msg.split("\r\n"):
        if not line:
            break  # the end of the headers (RFC 3261 §7)
        head, _, value = line.partition(":")
        if head.strip().lower() in names:
            return value.strip()
    return ""


def request_uri(msg: str) -> str:
    """The Request-URI of a request's start line (RFC 3261 §7.1): ``INVITE sip:x@y SIP/2.0``."""
    parts = msg.split("\r\n", 1)[0].split(" ")
    return parts[1] if len(parts) == 3 else ""
