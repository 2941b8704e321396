"""Images of alert items: the pure rules (jobs/images.py) fed values, and the fetch adapter (jobs/image_fetch.py)
against a real HTTP server on 127.0.0.1 (tests/image_server.py)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertnode.jobs.content_config import ContentSection
from alertnode.jobs.image_fetch import ImageFetcher
from alertnode.jobs.images import Image, ImageError, Redirects, check_body, sniff, url_problem
from tests.image_server import GIF, JPEG, WEBP, ImageServer, png


def test_types_are_found_by_their_magic_bytes() -> None:
    assert sniff(png()) == "image/png"
    assert sniff(JPEG) == "image/jpeg"
    assert sniff(GIF) == "image/gif" and sniff(b"GIF87a" + b"\x00" * 10) == "image/gif"
    assert sniff(WEBP) == "image/webp"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None  # a RIFF that is not WebP (a WAV)
    assert sniff(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None  # SVG can carry script: not taken
    assert sniff(b"") is None and sniff(b"\x89PN") is None


@given(st.binary(max_size=64).filter(lambda b: not b.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF"))))
def test_anything_else_is_not_an_image(data: bytes) -> None:
    assert sniff(data) is None


def test_body_rules() -> None:
    image = check_body(png(), 1000)
    assert image == Image("image/png", png()) and image.extension == "png" and len(image.sha256) == 64
    with pytest.raises(ImageError, match="larger than 10 bytes"):
        check_body(png(), 10)
    with pytest.raises(ImageError, match="not a PNG, JPEG, GIF or WebP"):
        check_body(b"hello", 1000)
    with pytest.raises(ImageError, match="empty"):
        check_body(b"", 1000)


@pytest.mark.parametrize(("url", "problem"), [
    ("https://cdn.example.com/a.png", None),
    ("http://127.0.0.1:8080/a.png?x=1", None),
    ("ftp://cdn.example.com/a.png", "must be an http or https URL"),
    ("https:///a.png", "no host"),
    ("https://user:secret@cdn.example.com/a.png", "user name or password"),
    ("https://cdn.example.com:99999/a.png", "not a valid URL"),
])
def test_url_rules(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_host_list_applies_to_every_hop() -> None:
    assert url_problem("https://img.example.com/a.png", ["*.example.com"]) is None
    assert "not in content.image_hosts" in (url_problem("https://evil.test/a.png", ["*.example.com"]) or "")
    hops = Redirects("https://img.example.com/a", 3, ["*.example.com"])
    with pytest.raises(ImageError, match=re.escape("redirected to a URL that cannot be fetched: host 'evil.test'")):
        hops.follow(302, "https://evil.test/a.png")


def test_redirects_are_followed_resolved_and_bounded() -> None:
    hops = Redirects("http://h.test/a/b", 2)
    assert hops.follow(302, "../c") == "http://h.test/c"
    assert hops.follow(301, "/d") == "http://h.test/d"
    with pytest.raises(ImageError, match="more than 2 redirects"):
        hops.follow(302, "/e")
    loop = Redirects("http://h.test/a", 5)
    loop.follow(302, "/b")
    with pytest.raises(ImageError, match=re.escape("redirect loop: http://h.test/a")):
        loop.follow(302, "/a")
    with pytest.raises(ImageError, match="without a Location"):
        Redirects("http://h.test/a", 5).follow(307, None)


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_fetch_of_each_image_type(server: ImageServer) -> None:
    fetcher = ImageFetcher(ContentSection())
    for path, mime in (("/red.png", "image/png"), ("/photo.jpg", "image/jpeg"), ("/anim.gif", "image/gif"),
                       ("/pic.webp", "image/webp")):
        image = await fetcher.fetch(server.url(path))
        assert image.mime == mime
    assert (await fetcher.fetch(server.url("/hop1"))).data == png()  # two redirects
    # no credentials of any kind go out: no Authorization, no Cookie, no proxy header
    sent = {k.lower() for r in server.requests for k in r["headers"]}
    assert not sent & {"authorization", "cookie", "proxy-authorization"}
    assert all(r["headers"]["User-Agent"].startswith("alertnode/") for r in server.requests)


@pytest.mark.parametrize(("path", "message"), [
    ("/big.png", "is 3000"),                       # refused on its Content-Length, body not read
    ("/stream.png", "larger than 1048576 bytes"),  # no length given: cut off at the limit
    ("/text.png", "not a PNG, JPEG, GIF or WebP image"),
    ("/missing.png", "HTTP 404"),
    ("/loop-a", "redirect loop"),
    ("/far1", "more than 3 redirects"),
    ("/to-ftp", "must be an http or https URL"),
])
async def test_fetch_refusals_say_why(server: ImageServer, path: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        await ImageFetcher(ContentSection()).fetch(server.url(path))


async def test_unreachable_and_silent_servers(server: ImageServer) -> None:
    with pytest.raises(ImageError, match="unreachable: ConnectError"):
        await ImageFetcher(ContentSection()).fetch(f"http://127.0.0.1:{_closed_port()}/a.png")
    with pytest.raises(ImageError, match=re.escape("within 0.5 s")):
        await ImageFetcher(ContentSection(image_fetch_timeout_s=0.5)).fetch(server.url("/slow"))


async def test_fetch_all_fetches_each_url_once(server: ImageServer) -> None:
    fetcher = ImageFetcher(ContentSection(image_max_redirects=0))
    found = await fetcher.fetch_all([server.url("/red.png"), server.url("/red.png"), server.url("/hop1")])
    assert isinstance(found[server.url("/red.png")], Image)
    assert isinstance(found[server.url("/hop1")], ImageError)  # no redirects allowed
    assert [r["path"] for r in server.requests].count("/red.png") == 1
