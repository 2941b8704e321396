"""Rich and tracked e-mails (mail/rich_body.py through compose): the MIME structure, the inline image by cid,
the link button, the text alternative, the tracking image; parsed back with the email package."""

from __future__ import annotations

import html
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.domain import DeliveryWork, RichParts
from alertnode.mail.compose import MailIdentity, compose
from alertnode.mail.rich_body import IMAGE_ONLY_TEXT
from tests.image_server import png

IDENTITY = MailIdentity(domain="mail.example.net")
PIXEL = "http://127.0.0.1:8081/o/TOKEN-1.gif"


def parsed(text: str, rich: RichParts | None, **params: Any) -> EmailMessage:
    work = DeliveryWork(delivery_id=1, alert_ref="A", client_ref="c", item_index=0, tag="t", alert_type="email",
                        address="bob@example.org", contact_id=None, token="TOKEN-1", content=text.encode(),
                        text=text, params={"subject": "Boiler", **params}, rich=rich)
    msg = BytesParser(policy=policy.default).parsebytes(compose(work, IDENTITY, 1_795_000_000.0).data)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(part: EmailMessage | None) -> str:
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_text_image_and_link() -> None:
    image = png()
    msg = parsed("Boiler 3 pressure high.\nCheck it.", RichParts(image, "image/png", "https://runbook.example/b3",
                                                                  "Open the runbook"))
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
    assert text_of(msg.get_body(preferencelist=("plain",))) == (
        "Boiler 3 pressure high.\nCheck it.\n\nOpen the runbook: https://runbook.example/b3\n")
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    assert related.get_param("type") == "text/html"
    page = text_of(msg.get_body(preferencelist=("html",)))
    img = next(p for p in msg.walk() if p.get_content_type() == "image/png")
    cid = str(img["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in page and cid.endswith("@mail.example.net")
    assert img.get_content() == image and img.get_content_disposition() == "inline"
    assert 'href="https://runbook.example/b3"' in page and ">Open the runbook</a>" in page
    assert "Boiler 3 pressure high.<br>Check it." in page
    assert re.findall(r'<img src="([^"]+)"', page) == [f"cid:{cid}"]  # nothing hot-linked, nothing tracked


def test_image_only_and_tracked() -> None:
    msg = parsed("", RichParts(png(), "image/png", open_pixel_url=PIXEL))
    assert text_of(msg.get_body(preferencelist=("plain",))) == IMAGE_ONLY_TEXT + "\n"
    assert f'<img src="{PIXEL}" width="1" height="1"' in text_of(msg.get_body(preferencelist=("html",)))


def test_tracked_plain_text_gets_an_html_alternative() -> None:
    msg = parsed("Fire drill at 14:00 — building B", RichParts(open_pixel_url=PIXEL))
    assert [p.get_content_type() for p in msg.walk()] == ["multipart/alternative", "text/plain", "text/html"]
    plain = msg.get_body(preferencelist=("plain",))
    assert text_of(plain) == "Fire drill at 14:00 — building B\n"
    assert plain is not None and plain.get_content_charset() == "utf-8"
    page = text_of(msg.get_body(preferencelist=("html",)))
    assert "building B</p>" in page and PIXEL in page


def test_tracked_html_body_stays_one_part() -> None:
    msg = parsed("<p>Drill &amp; more</p>", RichParts(open_pixel_url=PIXEL), emailBodyContentType="text/html")
    assert msg.get_content_type() == "text/html"
    assert text_of(msg) == f'<p>Drill &amp; more</p>\n<img src="{PIXEL}" width="1" height="1" alt="" ' \
                                'style="display:block;border:0">\n'


def test_text_is_escaped_in_html() -> None:
    msg = parsed('<script>alert("x")</script> & co', RichParts(link_url="https://x.example/?a=1&b=\"2\"",
                                                                 link_label="<b>Go</b>"))
    page = text_of(msg.get_body(preferencelist=("html",)))
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp; co" in page
    assert 'href="https://x.example/?a=1&amp;b=&quot;2&quot;"' in page and "&lt;b&gt;Go&lt;/b&gt;</a>" in page


def test_without_rich_parts_the_message_is_unchanged() -> None:
    msg = parsed("Plain", None)
    assert msg.get_content_type() == "text/plain" and text_of(msg) == "Plain\n"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_text_comes_back_from_both_alternatives(text: str) -> None:
    msg = parsed(text, RichParts(link_url="https://x.example/a", link_label="Go", open_pixel_url=PIXEL))
    lines = re.sub(r"\r\n?|\n", "\n", text)
    expected = (lines.rstrip() + "\n\n" if lines.strip() else "") + "Go: https://x.example/a\n"
    assert text_of(msg.get_body(preferencelist=("plain",))) == expected
    page = text_of(msg.get_body(preferencelist=("html",)))
    for para in [p for p in lines.strip().split("\n\n") if p.strip()]:
        assert f"<p>{html.escape(para).replace(chr(10), '<br>')}</p>" in page
