"""The public listener: per-recipient short links (``/s/{token}``).

Mail gateways and chat apps open every link they see, so opening a link never acknowledges an alert:

* ``GET /s/{token}`` (and ``HEAD``) only shows a page, or, when the alert item names an onward
  ``lookups.shortlink.url``, redirects there with the recipient's details as query parameters. The visit is
  reported as ``opened`` when it looks like a person's browser and as ``previewed`` otherwise (HEAD, prefetch,
  known scanners and previewers, programs: see :mod:`alertnode.api.visits`); neither changes the recipient's
  state, and each is reported once per recipient and kind within ten minutes.
* The page has an *Acknowledge* button: a form that POSTs the recipient's form token back to the same address.
  That POST is the human action: it records ``clicked`` and makes the recipient ``responded`` (the reference's
  ``shortlink`` response, for escalation and ``previouslySeen``). It is taken once per recipient; a POST without
  the right token is refused (403) and so is one from a known scanner (a sandbox pressing buttons).
* In the redirect case the node never sees the person act on the onward page, so the redirect carries
  ``ackUrl`` and ``ackToken``: the onward site POSTs ``ack=<ackToken>`` to ``ackUrl`` (from its own page's button
  or server to server) to acknowledge for that recipient. Without that, a redirect link only reports ``opened``.

Unknown or expired tokens get a plain 404 page. No page loads anything from elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from ua_parser import parse as parse_ua

from alertnode.api.visits import Visit, VisitLog, Visitor, classify
from alertnode.domain import ChannelEvent, DeliveryState, EventSink
from alertnode.errors import StoreUnavailable
from alertnode.store import repo, views
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

# Headers of every page: never cached or framed, no referrer (the link is a credential), nothing loaded from
# anywhere, forms only to this listener.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em"><h1>{title}</h1><p>{text}</p>
{form}</body></html>"""
_FORM = """<form method="post" action="{action}"><input type="hidden" name="ack" value="{token}">
<button type="submit" id="ack" style="font-size:1.2em;padding:.6em 1.4em">Acknowledge</button></form>"""
_MAX_FORM_BYTES = 4096
_FORM_TOKEN_BYTES = 16  # 128 bits (NIST SP 800-107 §5.3.4: a truncated HMAC-SHA256 keeps its strength to 128)


def _page(title: str, text: str, status: int, form: str = "") -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _not_found() -> HTMLResponse:
    return _page("Link not found", "This link is unknown or has expired.", 404)


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


def form_token(key: bytes, token: str) -> str:
    """The acknowledgement form's token for a link: HMAC-SHA256 of the link's token, so a page of one
    recipient cannot acknowledge for another, and nothing needs storing."""
    mac = hmac.new(key, b"ack:" + token.encode("ascii"), hashlib.sha256).digest()[:_FORM_TOKEN_BYTES]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def create_public_app(store: Store, cipher: Cipher, sink: EventSink, *, base_url: str, form_key: bytes,
                      clock: Callable[[], float] = time.time) -> FastAPI:
    """``base_url``: how recipients reach this listener (public.base_url); ``form_key``: the secret of the
    acknowledgement forms' tokens."""
    app = FastAPI(title="alertnode public listener", docs_url=None, redoc_url=None, openapi_url=None)
    visits = VisitLog()
    acknowledging = asyncio.Lock()  # one acknowledgement at a time: checked and recorded together

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return _page("Not found" if exc.status_code == 404 else "Error", str(exc.detail), exc.status_code)

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(request: Request, exc: StoreUnavailable) -> Response:
        log.warning("public %s: %s", request.url.path, exc)
        return _page("Sorry", "The service is briefly unavailable. Please try again in a moment.", 503)
    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        log.debug("client left during public %s", request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on public %s", request.url.path, exc_info=exc)
        return _page("Sorry", "Something went wrong. Please try again later.", 500)

    async def target(token: str) -> views.ShortLinkTarget | None:
        if not 8 <= len(token) <= 64 or not token.isascii():
            return None
        now = clock()
        return await store.read(lambda c: views.shortlink_target(c, cipher, token, now))

    async def report_visit(found: views.ShortLinkTarget, visit: Visit, ua: dict[str, str], redirected: bool) -> None:
        kind = "opened" if visit.by_person else "previewed"
        now = clock()
        if not visits.first(found.delivery_id, kind, now):
            return
        detail: dict[str, Any] = {"via": "shortlink", **ua, "redirected": redirected}
        if not visit.by_person:
            detail.update(visitor=visit.visitor.value, reason=visit.reason)
        await sink.report(ChannelEvent(found.delivery_id, kind, now, None, detail))

    @app.api_route("/s/{token}", methods=["GET", "HEAD"])
    async def show(token: str, request: Request) -> Response:
        found = await target(token)
        if found is None:
            return _not_found()
        visit = classify(request.method, request.headers)
        shortlink = (found.params.get("lookups") or {}).get("shortlink") or {}
        url = shortlink.get("url")
        await report_visit(found, visit, user_agent_details(request.headers.get("user-agent", "")), bool(url))
        if url:
            details = {"alertRef": found.alert_ref, "reference": shortlink.get("reference") or found.client_ref,
                       "recipient": found.recipient, "type": found.alert_type}
            if found.contact_id:
                details["contact"] = found.contact_id
            details.update(ackUrl=f"{base_url}/s/{token}", ackToken=form_token(form_key, token))
            return RedirectResponse(onward_url(url, details), status_code=302, headers=_HEADERS)
        done = await store.read(lambda c: repo.acknowledged_by_link(c, found.delivery_id))
        if done:
            return _page("Thank you", "Your response has been recorded.", 200)
        reference = str(shortlink.get("reference") or found.client_ref)
        form = _FORM.format(action=html.escape(f"/s/{token}"), token=form_token(form_key, token))
        return _page("Alert", f"Alert {reference}: press the button to acknowledge that you have seen it.", 200,
                     form)

    @app.post("/s/{token}")
    async def acknowledge(token: str, request: Request) -> Response:
        found = await target(token)
        if found is None:
            return _not_found()
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > _MAX_FORM_BYTES:
            return _page("Error", "The form is too large.", 413)
        raw = await request.body()
        fields = parse_qs(raw[:_MAX_FORM_BYTES].decode("ascii", "replace"), max_num_fields=8)
        presented = (fields.get("ack") or [""])[0]
        if not hmac.compare_digest(presented.encode(), form_token(form_key, token).encode()):
            return _page("Expired", "This button is not valid any more: open the link again.", 403)
        visit = classify(request.method, request.headers)
        if visit.visitor is Visitor.SCANNER:
            log.info("acknowledgement refused from a link scanner (%s)", visit.reason,
                     extra={"alert_ref": found.alert_ref, "delivery_id": found.delivery_id})
            return _page("Not recorded", "Automated link checkers cannot acknowledge alerts.", 403)
        ua = user_agent_details(request.headers.get("user-agent", ""))
        async with acknowledging:
            if await store.read(lambda c: repo.acknowledged_by_link(c, found.delivery_id)):
                return _page("Thank you", "Your response has already been recorded.", 200)
            await sink.report(ChannelEvent(found.delivery_id, "clicked", clock(), DeliveryState.RESPONDED,
                                           {"via": "shortlink", "action": "acknowledge", **ua}))
        return _page("Thank you", "Your response has been recorded.", 200)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    return app
