"""Fetching the image of an alert item over HTTP: the adapter around httpx that applies the rules of
:mod:`alertnode.jobs.images`.

Every fetch uses a client of its own with no credentials, cookies, ``.netrc`` or proxy settings from the
environment (``trust_env=False``), follows redirects itself (so that each hop is checked and a loop is named)
and is bounded by ``content.image_fetch_timeout_s`` in all. httpx's exceptions become
:class:`~alertnode.jobs.images.ImageError` here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import httpx

from alertnode import __version__
from alertnode.jobs.content_config import ContentSection
from alertnode.jobs.images import REDIRECT_STATUSES, Image, ImageError, Redirects, check_body, url_problem

log = logging.getLogger(__name__)


class ImageFetcher:
    def __init__(self, config: ContentSection, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport

    async def fetch(self, url: str) -> Image:
        """The image at ``url``, checked; ImageError says why not."""
        problem = url_problem(url, self.config.image_hosts)
        if problem is not None:
            raise ImageError(problem)
        timeout = self.config.image_fetch_timeout_s
        try:
            async with asyncio.timeout(timeout):
                return await self._fetch(url)
        except TimeoutError:
            raise ImageError(f"no complete answer within {timeout:g} s (content.image_fetch_timeout_s)") from None

    async def fetch_all(self, urls: Iterable[str]) -> dict[str, Image | ImageError]:
        """Each distinct URL fetched once, at the same time."""
        distinct = list(dict.fromkeys(urls))

        async def one(url: str) -> Image | ImageError:
            try:
                return await self.fetch(url)
            except ImageError as exc:
                return exc

        results = await asyncio.gather(*(one(u) for u in distinct))
        return dict(zip(distinct, results, strict=True))

    async def _fetch(self, url: str) -> Image:
        cfg = self.config
        redirects = Redirects(url, cfg.image_max_redirects, cfg.image_hosts)
        timeout = httpx.Timeout(cfg.image_fetch_timeout_s)
        headers = {"User-Agent": f"alertnode/{__version__} (image fetch)", "Accept": "image/*"}
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout, headers=headers,
                                     transport=self._transport) as client:
            while True:
                try:
                    async with client.stream("GET", redirects.url) as resp:
                        if resp.status_code in REDIRECT_STATUSES:
                            redirects.follow(resp.status_code, resp.headers.get("location"))
                            continue
                        if resp.status_code != 200:
                            raise ImageError(f"the server answered HTTP {resp.status_code}")
                        length = resp.headers.get("content-length", "")
                        if length.isdigit() and int(length) > cfg.image_max_bytes:
                            raise ImageError(f"the image is {int(length)} bytes, more than {cfg.image_max_bytes} "
                                             "(content.image_max_bytes)")
                        body = bytearray()
                        async for chunk in resp.aiter_bytes():
                            body.extend(chunk)
                            if len(body) > cfg.image_max_bytes:
                                break  # check_body names the limit; the rest is never read
                        return check_body(bytes(body), cfg.image_max_bytes)
                except httpx.InvalidURL as exc:
                    raise ImageError(f"not a valid URL ({exc})") from None
                except httpx.TimeoutException:
                    raise ImageError(f"no answer within {cfg.image_fetch_timeout_s:g} s "
                                     "(content.image_fetch_timeout_s)") from None
                except httpx.HTTPError as exc:
                    # connection refused, name not resolved, TLS failure, a broken answer
                    raise ImageError(f"unreachable: {type(exc).__name__}: {exc}".rstrip(": ")) from None
