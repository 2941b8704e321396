"""The body of a rich e-mail (an image, a link with its label) and of a tracked one. Pure: no sockets, no clock.

The message is ``multipart/alternative`` (RFC 2046 §5.1.4): a text/plain part (the text, then the link's label
and URL) and an HTML part (RFC 2557 ``multipart/related`` when there is an image): the text, the image as an
inline part referred to by ``cid:`` (RFC 2392; the image travels in the message, nothing is hot-linked), the
link as a button, and, when opens are tracked, a 1x1 image from the public listener (the one remote image).
A text/html body of the client's own gets the tracking image appended and stays a single part.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import html
import re
import secrets

from alertnode.domain import RichParts

# RFC 5322 §2.1.1: lines of at most 998 characters; longer ones need quoted-printable.
_MAX_LINE = 998
_LINE_END = re.compile(r"\r\n?|\n")
_BUTTON = ("display:inline-block;padding:12px 20px;background:#1a5fb4;color:#ffffff;text-decoration:none;"
           "border-radius:4px;font-family:sans-serif;font-weight:bold")
IMAGE_ONLY_TEXT = "(This alert is an image: it is shown in the HTML version of this message.)"


def plain_text(text: str, rich: RichParts) -> str:
    """The text/plain alternative: the text (a note for an image-only alert), then the link."""
    lines = [text.rstrip()] if text.strip() else ([IMAGE_ONLY_TEXT] if rich.image else [])
    if rich.link_url:
        lines.append(f"{rich.link_label}: {rich.link_url}")
    return "\n\n".join(lines) + "\n"


def pixel_tag(url: str) -> str:
    return f'<img src="{html.escape(url, quote=True)}" width="1" height="1" alt="" style="display:block;border:0">'


def html_text(text: str, rich: RichParts, cid: str | None) -> str:
    """The HTML part: escaped text (line breaks kept), the inline image, the link button, the tracking image."""
    parts = ['<!doctype html><html><head><meta charset="utf-8"></head>'
             '<body style="font-family:sans-serif;max-width:40em">']
    if text.strip():
        paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
        parts.extend(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    if cid is not None:
        parts.append(f'<p><img src="cid:{html.escape(cid, quote=True)}" alt="Alert image" '
                     'style="max-width:100%;height:auto"></p>')
    if rich.link_url:
        parts.append(f'<p><a href="{html.escape(rich.link_url, quote=True)}" style="{_BUTTON}">'
                     f"{html.escape(rich.link_label or rich.link_url)}</a></p>")
    if rich.open_pixel_url:
        parts.append(pixel_tag(rich.open_pixel_url))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _text_cte(text: str) -> tuple[str, str]:
    """(charset, Content-Transfer-Encoding) of a text part: 7bit when it can be (RFC 2045 §2.7)."""
    if text.isascii() and all(len(line) <= _MAX_LINE for line in text.splitlines()):
        return "us-ascii", "7bit"
    return "utf-8", "quoted-printable"


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _qp(text: str) -> bytes:
    """RFC 2045 §6.7 quoted-printable of UTF-8 text, lines of at most 76 characters, CRLF line ends."""
    return _crlf(binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False))


def _html_part(page: str) -> bytes:
    return (b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
            + _qp(page))


@functools.lru_cache(maxsize=64)
def _plain_part(plain: str) -> bytes:
    charset, cte = _text_cte(plain)
    body = _crlf(plain.encode("ascii")) if cte == "7bit" else _qp(plain)
    return (f'Content-Type: text/plain; charset="{charset}"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
            .encode("ascii") + body)


@functools.lru_cache(maxsize=8)
def _image_part(image: bytes, mime: str, domain: str) -> tuple[bytes, str]:
    """The inline image part and its Content-ID, encoded once per image (every recipient gets the same part).
    The Content-ID names the content (RFC 2045 §7: the same body part may carry the same id), so it is made of
    the image's digest: world-unique for that image, and equal in every message that carries it."""
    cid = f"image.{hashlib.sha256(image).hexdigest()[:32]}@{domain}"
    head = (f"Content-Type: {mime}\r\nContent-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: inline; filename="image.{mime.split("/", 1)[1]}"\r\nContent-ID: <{cid}>\r\n\r\n')
    return head.encode("ascii") + _crlf(base64.encodebytes(image)), cid


def _multipart(subtype: str, parts: list[bytes], extra: str = "") -> bytes:
    """A multipart entity (RFC 2046 §5.1.1) with a random boundary that none of its parts holds."""
    while True:
        boundary = "=_an_" + secrets.token_hex(12)
        marker = boundary.encode("ascii")
        if not any(marker in part for part in parts):
            break
    # folded before the boundary (RFC 5322 §2.2.3): header lines stay within 78 characters
    out = [f'Content-Type: multipart/{subtype};{extra}\r\n boundary="{boundary}"\r\n\r\n'.encode("ascii")]
    for part in parts:
        # the CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1), not to the part's content
        out.append(b"--" + marker + b"\r\n" + part + b"\r\n")
    out.append(b"--" + marker + b"--\r\n")
    return b"".join(out)


def body_block(text: str, rich: RichParts, html_body: bool, domain: str) -> bytes:
    """Content header fields (MIME-Version first), the blank line and the body. ``html_body``: the client's content
    is text/html (only the tracking image is added). Built by hand rather than with ``email.message``: what is the
    same for every recipient (the text part, the encoded image) is encoded once; only the HTML differs (its
    tracking image), and quoted-printable is cheap."""
    version = b"MIME-Version: 1.0\r\n"
    text = _LINE_END.sub("\n", text)  # a lone CR or LF becomes a line end (RFC 5322 §2.3: CR and LF go as CRLF)
    if html_body:
        page = text.rstrip("\n") + ("\n" + pixel_tag(rich.open_pixel_url) if rich.open_pixel_url else "") + "\n"
        return version + _html_part(page)
    with_image = rich.image is not None and rich.image_type is not None
    cid = None
    html_entity: bytes
    if with_image:
        assert rich.image is not None and rich.image_type is not None
        image_part, cid = _image_part(rich.image, rich.image_type, domain)
        html_entity = _multipart("related", [_html_part(html_text(text, rich, cid)), image_part],
                                 ' type="text/html";')  # RFC 2387 §3.1: the root part's type is mandatory
    else:
        html_entity = _html_part(html_text(text, rich, None))
    return version + _multipart("alternative", [_plain_part(plain_text(text, rich)), html_entity])
