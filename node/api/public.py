"""The public listener: per-recipient short links (``/s/{token}``).

A click is recorded (time, browser, OS, device) as a ``clicked`` response of that recipient and then
redirects to the alert's onward ``lookups.shortlink.url`` with the recipient's details as query
parameters, or shows a plain thank-you page. Unknown or expired tokens get a plain 404 page.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from ua_parser import parse as parse_ua

from alertnode.domain import ChannelEvent, DeliveryState, EventSink
from alertnode.errors import StoreUnavailable
from alertnode.store import views
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em"><h1>{title}</h1><p>{text}</p>
</body></html>"""


def _page(title: str, text: str, status: int) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), text=html.escape(text)), status_code=status)


def user_agent_details(header: str) -> dict[str, str]:
    result = parse_ua(header[:1024]) if header else None
    if result is None:
        return {"browser": "unknown", "os": "unknown", "device": "unknown"}

    def fmt(part: Any) -> str:
        if part is None:
            return "unknown"
        version = ".".join(str(v) for v in (part.major, part.minor) if v)
        return f"{part.family} {version}".strip()

    return {"browser": fmt(result.user_agent), "os": fmt(result.os),
            "device": result.device.family if result.device else "unknown"}


def onward_url(base: str, details: dict[str, str]) -> str:
    parts = urlsplit(base)
    query = parts.query + ("&" if parts.query else "") + urlencode(details)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def create_public_app(store: Store, cipher: Cipher, sink: EventSink) -> FastAPI:
    app = FastAPI(title="alertnode public listener", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return _page("Not found" if exc.status_code == 404 else "Error", str(exc.detail), exc.status_code)

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(request: Request, exc: StoreUnavailable) -> Response:
        log.warning("public %s: %s", request.url.path, exc)
        return _page("Sorry", "The service is briefly unavailable. Please try again in a moment.", 503)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on public %s", request.url.path, exc_info=exc)
        return _page("Sorry", "Something went wrong. Please try again later.", 500)

    @app.get("/s/{token}")
    async def click(token: str, request: Request) -> Response:
        if not 8 <= len(token) <= 64:
            return _page("Link not found", "This link is unknown or has expired.", 404)
        now = time.time()
        found = await store.read(lambda c: views.shortlink_target(c, cipher, token, now))
        if found is None:
            return _page("Link not found", "This link is unknown or has expired.", 404)
        ua = user_agent_details(request.headers.get("user-agent", ""))
        await sink.report(ChannelEvent(found.delivery_id, "clicked", now, DeliveryState.RESPONDED,
                                       {"via": "shortlink", **ua}))
        shortlink = (found.params.get("lookups") or {}).get("shortlink") or {}
        url = shortlink.get("url")
        if url:
            details = {"alertRef": found.alert_ref, "reference": shortlink.get("reference") or found.client_ref,
                       "recipient": found.recipient, "type": found.alert_type}
            if found.contact_id:
                details["contact"] = found.contact_id
            return RedirectResponse(onward_url(url, details), status_code=302)
        return _page("Thank you", "Your response has been recorded.", 200)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    return app
