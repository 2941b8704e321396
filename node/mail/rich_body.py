"""The body of a rich e-mail (an image, a link with its label) and of a tracked one. Pure: no sockets, no clock.

The message is ``multipart/alternative`` (RFC 2046 §5.1.4): a text/plain part (the text, then the link's label
and URL) and an HTML part (RFC 2557 ``multipart/related`` when there is an image): the text, the image as an
inline part referred to by ``cid:`` (RFC 2392; the image travels in the message, nothing is hot-linked), the
link as a button, and, when opens are tracked, a 1x1 image from the public listener (the one remote image).
A text/html body of the client's own gets the tracking image appended and stays a single part.
"""

from __future__ import annotations

import html
from email import policy
from email.message import EmailMessage

from alertnode.domain import RichParts

# RFC 5322 §2.1.1: lines of at most 998 characters; longer ones need quoted-printable.
_MAX_LINE = 998
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


def body_block(text: str, rich: RichParts, html_body: bool, cid: str) -> bytes:
    """Content header fields, the blank line and the body. ``html_body``: the client's content is text/html
    (only the tracking image is added); ``cid``: the Content-ID of the inline image (without <>)."""
    msg = EmailMessage(policy=policy.SMTP)
    if html_body:
        page = text.rstrip("\n") + ("\n" + pixel_tag(rich.open_pixel_url) if rich.open_pixel_url else "") + "\n"
        msg.set_content(page, subtype="html", charset="utf-8", cte="quoted-printable")
        return msg.as_bytes()
    plain = plain_text(text, rich)
    charset, cte = _text_cte(plain)
    msg.set_content(plain, charset=charset, cte=cte)
    with_image = rich.image is not None and rich.image_type is not None
    msg.add_alternative(html_text(text, rich, cid if with_image else None), subtype="html", charset="utf-8",
                        cte="quoted-printable")
    if with_image:
        assert rich.image is not None and rich.image_type is not None
        maintype, subtype = rich.image_type.split("/", 1)
        html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(rich.image, maintype=maintype, subtype=subtype, cid=f"<{cid}>",
                              disposition="inline", filename=f"image.{subtype}")
        html_part.set_param("type", "text/html")  # RFC 2387 §3.1: the type of the root part is mandatory
    return msg.as_bytes()
