"""The console extension: serves the page and its assets on the control listener.

The page holds no data and needs no key to load; it asks the control API for everything with
``Authorization: Bearer <key>``. The key comes from the URL fragment (``/console#key=...``: never sent to the
server nor logged), else this tab's sessionStorage, else a sign-in form (the status page does the same). A strict
Content-Security-Policy allows nothing but the node itself: no inline script, no other origin.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import Response

from alertnode import __version__
from alertnode.api.extension import Extension, ExtensionContext

ASSETS = {"console.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "api.js": "text/javascript; charset=utf-8", "dom.js": "text/javascript; charset=utf-8",
          "draw.js": "text/javascript; charset=utf-8", "views.js": "text/javascript; charset=utf-8",
          "detail.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml"}
# nothing but this node: scripts and styles from its files, data from its API, no frames (clickjacking)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}


def asset(name: str) -> bytes:
    return resources.files("alertnode.console").joinpath("assets", name).read_bytes()


def page(refresh_s: float) -> bytes:
    settings = json.dumps({"refreshMs": int(refresh_s * 1000), "version": __version__})
    # settings travel in a data attribute: the CSP allows no inline script
    html = asset("console.html").decode("utf-8")
    return html.replace("__SETTINGS__", settings.replace("&", "&amp;").replace('"', "&quot;")).encode("utf-8")


class ConsoleExtension(Extension):
    name = "console"

    def __init__(self, ctx: ExtensionContext) -> None:
        self.enabled = ctx.ops.console
        self.html = page(ctx.ops.console_refresh_s) if self.enabled else b""
        self.files = {name: asset(name) for name in ASSETS} if self.enabled else {}

    def routes(self, app: FastAPI) -> None:
        if not self.enabled:
            return

        async def console() -> Response:
            return Response(self.html, media_type="text/html; charset=utf-8", headers=HEADERS)

        app.add_api_route("/console", console, methods=["GET"], include_in_schema=False)
        for name, media_type in ASSETS.items():
            app.add_api_route(f"/console/{name}", self._serve(name, media_type), methods=["GET"],
                              include_in_schema=False)

    def _serve(self, name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
        body = self.files[name]

        async def serve() -> Response:
            return Response(body, media_type=media_type, headers=HEADERS)

        return serve


def create(ctx: ExtensionContext) -> ConsoleExtension:
    return ConsoleExtension(ctx)
