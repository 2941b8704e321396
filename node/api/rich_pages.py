"""The public listener's routes for rich alerts and opens.

* ``GET /m/{token}``: the page an SMS of a rich item links to (livelike-alerts.txt variations): the text, the
  image and the link button, and a button to acknowledge. A view by a person is the SMS's ``opened``; by a
  scanner or link previewer, ``previewed`` (:mod:`alertnode.api.visits`). Each is reported once per delivery.
* ``GET /m/{token}/image``: the item's image as stored with the alert (the page never hot-links it).
* ``POST /m/{token}``: the acknowledge button: a ``clicked`` response (``via: page``), as a short link's is;
  never on a GET, so a scanner that follows the link acknowledges nothing.
* ``GET /o/{token}.gif``: the e-mail's tracking image (opt-in): ``opened`` by a person, ``previewed`` by an image
  proxy or scanner, once each per delivery; always answers the same transparent 1x1 GIF.

Unknown, expired and cancelled tokens get a plain 404 page (the GIF for ``/o``: a mail client shows nothing).
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from alertnode.api import visits
from alertnode.api.public import user_agent_details
from alertnode.api.visits import Visit
from alertnode.domain import ChannelEvent, DeliveryState, EventSink
from alertnode.jobs import lookups, rich
from alertnode.jobs.content_config import ContentSection
from alertnode.jobs.dispatcher import choose_body
from alertnode.store import rich as rich_store
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

# GIF89a, 1x1, one transparent colour (GIF89a spec §§17-23: header, screen descriptor, colour table,
# graphic control extension with the transparency flag, image descriptor, LZW data, trailer)
PIXEL_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
             b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link's site must not learn the recipient's token
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}
_STYLE = ("font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.4")
_BUTTON = ("display:inline-block;padding:12px 20px;background:#1a5fb4;color:#fff;text-decoration:none;"
           "border-radius:4px;border:0;font-size:1em;font-weight:bold;cursor:pointer")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
           f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title></head>'
           f'<body style="{_STYLE}">{body}</body></html>')
    return HTMLResponse(doc, status_code=status, headers=_HEADERS)


def _not_found() -> HTMLResponse:
    return _page("Link not found", "<h1>Link not found</h1><p>This link is unknown or has expired.</p>", 404)


def page_text(target: rich_store.PageTarget, token: str, base_url: str, now: float) -> str:
    """The item's text for this recipient, as the dispatcher renders it (body by locale, lookups)."""
    text = choose_body(target.params, target.content or b"", target.lookups) or ""
    lk = target.params.get("lookups") or {}
    if lk.get("performLookups") or lk.get("shortlink"):
        shortlink = lk.get("shortlink") or {}
        ctx = lookups.LookupContext(
            now=now, recipient=target.recipient, sender=str(target.params.get("sender") or ""),
            alert_ref=target.alert_ref, reference=str(shortlink.get("reference") or target.client_ref),
            alert_type=target.alert_type, shortlink=f"{base_url}/s/{token}", contact=target.lookups,
        )
        text = lookups.render(text, ctx)
    return text


def page_html(token: str, text: str, params: Any, has_image: bool) -> str:
    parts = ["<h1>Alert</h1>"]
    for para in [p for p in text.strip().split("\n\n") if p.strip()]:
        parts.append(f"<p>{html.escape(para).replace(chr(10), '<br>')}</p>")
    if has_image:
        parts.append(f'<p><img src="/m/{html.escape(token, quote=True)}/image" alt="Alert image" '
                     'style="max-width:100%;height:auto"></p>')
    link = params.get("link_url")
    if link:
        parts.append(f'<p><a href="{html.escape(str(link), quote=True)}" rel="noopener noreferrer" '
                     f'style="{_BUTTON}">{html.escape(rich.link_label(params))}</a></p>')
    parts.append(f'<form method="post" action="/m/{html.escape(token, quote=True)}"><p>'
                 f'<button type="submit" style="{_BUTTON};background:#26a269">Acknowledge</button></p></form>')
    return "\n".join(parts)


def add_routes(app: FastAPI, store: Store, cipher: Cipher, sink: EventSink, base_url: str,
               content: ContentSection) -> None:
    async def target_of(token: str, now: float) -> rich_store.PageTarget | None:
        if not 8 <= len(token) <= 64:
            return None
        return await store.read(lambda c: rich_store.page_target(c, cipher, token, now))

    async def record(target: rich_store.PageTarget, visit: Visit, via: str, request: Request, now: float) -> None:
        first = await store.write(lambda c: rich_store.record_view(c, target.delivery_id, visit.by_person, now))
        if not first:
            return
        detail: dict[str, Any] = {"via": via}
        if visit.by_person:
            detail.update(user_agent_details(request.headers.get("user-agent", "")))
            kind = "opened"
        else:
            detail.update(agent=visit.agent, viewer=visit.visitor.value)
            kind = "previewed"
        await sink.report(ChannelEvent(target.delivery_id, kind, now, None, detail))

    def classify(request: Request, method: str | None = None, *, image: bool = False) -> Visit:
        return visits.classify(method or request.method, request.headers, content.scanner_agents, image=image)

    @app.get("/m/{token}")
    async def page(token: str, request: Request) -> Response:
        now = time.time()
        target = await target_of(token, now)
        if target is None or target.alert_type != "sms" or not rich.has_rich(target.params):
            return _not_found()  # only a rich SMS links to its page
        await record(target, classify(request), "page", request, now)
        text = page_text(target, token, base_url, now)
        return _page("Alert", page_html(token, text, target.params, target.has_image))

    @app.get("/m/{token}/image")
    async def image(token: str) -> Response:
        now = time.time()
        target = await target_of(token, now)
        if target is None or not target.has_image:
            return _not_found()
        alert_ref, idx = target.alert_ref, target.item_idx
        found = await store.read(lambda c: rich_store.get_image(c, cipher, alert_ref, idx))
        if found is None:
            return _not_found()
        return Response(found.data, media_type=found.mime, headers={
            "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
            "ETag": f'"{found.sha256[:32]}"'})

    @app.post("/m/{token}")
    async def acknowledge(token: str, request: Request) -> Response:
        now = time.time()
        target = await target_of(token, now)
        if target is None or target.alert_type != "sms" or not rich.has_rich(target.params):
            return _not_found()
        visit = classify(request, "GET")  # the button is a POST: judge the agent as for a page view
        if not visit.by_person:
            return _page("Alert", "<h1>Alert</h1><p>Open this page in a browser to acknowledge.</p>")
        details = user_agent_details(request.headers.get("user-agent", ""))
        await sink.report(ChannelEvent(target.delivery_id, "clicked", now, DeliveryState.RESPONDED,
                                       {"via": "page", **details}))
        return _page("Thank you", "<h1>Thank you</h1><p>Your acknowledgement has been recorded.</p>")

    @app.get("/o/{name}")
    async def pixel(name: str, request: Request) -> Response:
        now = time.time()
        token = name[:-4] if name.endswith(".gif") else name
        target = await target_of(token, now)
        if target is not None and target.alert_type == "email":
            await record(target, classify(request, image=True), "image", request, now)
        return Response(PIXEL_GIF, media_type="image/gif",
                        headers={"Cache-Control": "no-store, private", "Pragma": "no-cache"})
