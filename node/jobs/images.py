"""The image of an alert item (``image_url``): what may be fetched and what was fetched. Pure: no I/O.

Rules, in the order a fetch meets them (:mod:`alertnode.jobs.image_fetch` is the adapter that applies them):

1. The URL is ``http`` or ``https`` with a host and no user name or password in it (the node sends no
   credentials of any kind), and the host is allowed by ``content.image_hosts`` (globs; empty: any host).
2. A redirect (301, 302, 303, 307, 308) is followed to its ``Location`` (resolved against the URL it came from),
   which must pass rule 1 again; a URL seen before in the same fetch is a redirect loop; more than
   ``content.image_max_redirects`` redirects are refused.
3. Any other answer than 200 refuses the image, naming the status.
4. The body may be at most ``content.image_max_bytes`` (a ``Content-Length`` above it is refused before the body
   is read; a body that grows past it is cut off and refused).
5. The body must be a PNG, JPEG, GIF or WebP image by its first bytes (the ``Content-Type`` the server claims is
   not trusted); it is stored and sent with the type found here.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from alertnode.errors import NodeError

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})  # RFC 9110 §15.4

# Magic numbers: PNG §5.2 signature; JPEG SOI marker (ITU-T T.81 §B.1.1.3) and the next marker's 0xFF;
# GIF87a/GIF89a header (GIF89a spec §17); WebP is a RIFF container whose form type is "WEBP" (RFC 9649 §2).
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
)

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


class ImageError(NodeError):
    """The image cannot be used; ``message`` says why, for the JSON path of its ``image_url``."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def sniff(data: bytes) -> str | None:
    """The MIME type of an image by its first bytes, or None when it is not a PNG, JPEG, GIF or WebP."""
    for magic, offset, mime in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def url_problem(url: str, hosts: Sequence[str] = ()) -> str | None:
    """Why ``url`` may not be fetched (rule 1), or None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username is not None or parts.password is not None:
        return "the URL must not carry a user name or password"
    if port == 0:
        return "the URL's port is not valid"
    if hosts and not any(fnmatch.fnmatchcase(parts.hostname.lower(), h.lower()) for h in hosts):
        return f"host {parts.hostname!r} is not in content.image_hosts"
    return None


def link_problem(url: str) -> str | None:
    """Why ``url`` cannot be a link button (``link_url``): rule 1 without the host list."""
    return url_problem(url)


class Redirects:
    """The redirects of one fetch (rule 2): fed each redirect, answers the next URL or raises ImageError."""

    def __init__(self, first_url: str, max_redirects: int, hosts: Sequence[str] = ()) -> None:
        self.seen = [first_url]
        self.max_redirects = max_redirects
        self.hosts = tuple(hosts)

    @property
    def url(self) -> str:
        return self.seen[-1]

    def follow(self, status: int, location: str | None) -> str:
        if not location:
            raise ImageError(f"the server answered HTTP {status} without a Location")
        target = urljoin(self.url, location.strip())
        if target in self.seen:
            raise ImageError(f"redirect loop: {target} was already visited")
        if len(self.seen) > self.max_redirects:
            raise ImageError(f"more than {self.max_redirects} redirects (content.image_max_redirects)")
        problem = url_problem(target, self.hosts)
        if problem is not None:
            raise ImageError(f"redirected to a URL that cannot be fetched: {problem}")
        self.seen.append(target)
        return target


@dataclass(frozen=True)
class Image:
    """An image as fetched and checked: stored with its alert (encrypted), never fetched again."""

    mime: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime]


def check_body(data: bytes, max_bytes: int) -> Image:
    """Rules 4 and 5 on a body read in full."""
    if len(data) > max_bytes:
        raise ImageError(f"the image is larger than {max_bytes} bytes (content.image_max_bytes)")
    if not data:
        raise ImageError("the server answered an empty body")
    mime = sniff(data)
    if mime is None:
        raise ImageError("not a PNG, JPEG, GIF or WebP image (checked by its first bytes)")
    return Image(mime, data)
