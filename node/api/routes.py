"""The control API (FastAPI). Request bodies are parsed here, by the contract models, so every
refusal has the same shape: HTTP 4xx, ``success: false``, a ``failureReason`` and ``errors`` each
naming its JSON path. Authentication: ``Authorization: Bearer <key>`` or ``apiKey`` in the body."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from alertnode import __version__
from alertnode.api import resource
from alertnode.api.auth import fingerprint
from alertnode.api.openapi import PUBLIC, body, build
from alertnode.api.request import RequestReader
from alertnode.contract.lifetime import iso_time, parse_iso_duration
from alertnode.contract.problems import json_path
from alertnode.contract.sendalert import (
    CollectEventsRequest,
    ErrorResponse,
    GetInfoRequest,
    SchedulePublishRequest,
    SendAlertRequest,
    SendAlertResponse,
    StoreContentRequest,
)
from alertnode.domain import AlertCommand, Channel
from alertnode.errors import ApiError, LifetimeError, Problem, StoreUnavailable
from alertnode.jobs.intake import Intake
from alertnode.store import commands, eventlog, repo, views
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

DOCS_ASSETS = "/docs-assets"
"""where the documentation UI's scripts and styles are served (no API key: /docs is public, like the schema)"""


@dataclass
class Services:
    store: Store
    cipher: Cipher
    requests: RequestReader
    """API key and body checks, shared with the extensions' routes"""
    intake: Intake
    channels: Mapping[str, Channel]
    started_at: float
    queue_capacity: Mapping[str, int]
    """most deliveries of each alert type waiting at once (limits.queue_capacity)"""
    clock: Callable[[], float] = time.time
    readiness: Callable[[], Awaitable[dict[str, Any]]] | None = None
    extra_info: dict[str, Callable[[], Any]] = field(default_factory=dict)
    sandbox: bool = False
    """the node runs in sandbox mode: every event collectevents returns says so (``detail.sandbox``)"""


def _error(exc: ApiError) -> JSONResponse:
    body = {"success": False, "failureReason": exc.reason, "errors": [p.as_dict() for p in exc.problems]}
    return JSONResponse(body, status_code=exc.http_status)


def create_app(svc: Services) -> FastAPI:
    # /docs from Swagger UI's assets in the fastapi-offline package, served by the node itself: the node often
    # has no internet, and a CDN-loaded page is blank there. No online validator badge either.
    app = FastAPIOffline(
        title="alertnode control API",
        version=__version__,
        description=_DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.lean_routes = {}  # path -> endpoint, served by LeanFront (_lean_route)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # only query and path parameters get here (bodies are read by RequestReader): name the parameter
        problems = [Problem(json_path(_without_source(tuple(e["loc"]))), str(e.get("msg", "invalid")))
                    for e in exc.errors()]
        return _error(ApiError("the request is not valid", problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"success": False, "failureReason": str(exc.detail), "errors": []},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # the database is away (a restart, a fail-over): nothing was accepted; the client tries again
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"success": False, "failureReason": f"the store is not available: {exc}", "errors": []},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        # the client went away inside its body (or was dropped as too slow): nobody to answer
        log.debug("client left during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"success": False, "failureReason": "internal error", "errors": []}, status_code=500)

    parse = svc.requests.parse
    require_key = svc.requests.require_key

    @app.post("/api/json/sendalert", openapi_extra=body(SendAlertRequest), tags=["jobs"],
              responses={200: {"model": SendAlertResponse}})
    async def sendalert(request: Request) -> JSONResponse:
        """Send one or more alerts (SMS, e-mail, calls, inbound calls) to people. See the contract in the
        description. A repeated `uniqueId` returns the first answer and creates nothing."""
        req = await parse(request, SendAlertRequest)
        return JSONResponse(await svc.intake.send_alert(req))

    _lean_route(app, "/api/json/sendalert", sendalert)

    @app.post("/api/json/storecontent", openapi_extra=body(StoreContentRequest), tags=["jobs"])
    async def storecontent(request: Request) -> JSONResponse:
        """Store content, a recipient list, contact list, contact-set list or contact-group; the `uuid`
        answered is usable in the `stored*` fields of sendalert until its lifetime ends."""
        req = await parse(request, StoreContentRequest)
        return JSONResponse(await svc.intake.store_content(req))

    @app.post("/api/json/collectevents", openapi_extra=body(CollectEventsRequest), tags=["results"])
    async def collectevents(request: Request) -> JSONResponse:
        """Every event after `cursor`, in order. Pass the answered `cursor` to the next call: no event is
        missed or repeated across calls."""
        req = await parse(request, CollectEventsRequest)
        rows = await svc.store.read(lambda c: eventlog.events_since(c, svc.cipher, req.cursor, req.limit, req.alertRef))
        cursor = rows[-1].seq if rows else req.cursor
        return JSONResponse({"success": True, "cursor": cursor, "more": len(rows) == req.limit,
                             "events": [r.as_dict(sandbox=svc.sandbox) for r in rows]})

    @app.post("/api/json/getinfo", openapi_extra=body(GetInfoRequest), tags=["node"])
    async def getinfo(request: Request) -> JSONResponse:
        """Channels configured, their state and remaining capacity per alert type."""
        await parse(request, GetInfoRequest)
        queued = await svc.store.read(repo.queued_counts)
        seen: set[int] = set()
        channels = []
        for ch in svc.channels.values():
            if id(ch) not in seen:
                seen.add(id(ch))
                channels.append(ch.info().as_dict())
        capacity = {t: max(0, cap - queued.get(t, 0)) for t, cap in svc.queue_capacity.items()
                    if t in svc.channels}
        info: dict[str, Any] = {
            "success": True, "version": __version__, "uptimeSeconds": round(svc.clock() - svc.started_at, 1),
            "alertTypes": sorted(svc.channels), "channels": channels, "remainingCapacity": capacity,
            "queued": queued,
        }
        for name, fn in svc.extra_info.items():
            info[name] = fn()
        return JSONResponse(info)

    @app.get("/api/json/alerts/{alertRef}", tags=["jobs"])
    async def get_alert(request: Request, alertRef: str, limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
                        offset: Annotated[int, Query(ge=0, le=2**31)] = 0) -> JSONResponse:
        """The alert as a resource: status, counts (with `responseRate`, `openCount` and `openRate`), items and
        per recipient its state, attempts and responses (`limit`/`offset` page the recipients of each item).
        Needs the Bearer header."""
        reader = fingerprint(require_key(request))  # `read` is the asking key's
        view = await svc.store.read(lambda c: views.alert_view(c, svc.cipher, alertRef, limit, offset, reader=reader))
        if view is None:
            raise ApiError("no such alert", [Problem("alertRef", "unknown or past its lifetime")], 404)
        return JSONResponse(resource.as_json(view, svc.clock(), offset))

    async def schedule(request: Request, alertRef: str) -> JSONResponse:
        req = await parse(request, SchedulePublishRequest)
        try:
            delay = parse_iso_duration(req.publish_delay)
        except LifetimeError as exc:
            raise ApiError("the request is not valid", [Problem("publish_delay", str(exc))]) from None
        now = svc.clock()
        done = await svc.store.write(lambda c: commands.apply(c, svc.cipher, alertRef, AlertCommand.PUBLISH, now,
                                                              publish_at=now + delay))
        if done is None:
            raise ApiError("no such alert", [Problem("alertRef", "unknown or past its lifetime")], 404)
        if not done.done:
            raise ApiError("the alert is cancelled", [Problem("alertRef", "cancelled alerts cannot be published")],
                           409)
        return JSONResponse({"success": True, "alertRef": alertRef, "publishAt": iso_time(now + delay)})

    # the reference's schedule_url is PUT; POST is taken too, for clients that only POST (one route, so that
    # a 405 names both in Allow; the document gives each method its own operation id)
    app.add_api_route("/api/json/alerts/{alertRef}/schedule", schedule, methods=["PUT", "POST"], tags=["jobs"],
                      openapi_extra=body(SchedulePublishRequest), operation_id="publish_alert",
                      responses={409: {"model": ErrorResponse, "description": "The alert is cancelled."}},
                      summary="Publish a stored alert after publish_delay (ISO 8601, P0DT0S = now)")

    @app.post("/api/json/alerts/{alertRef}/cancel", tags=["jobs"])
    async def cancel(request: Request, alertRef: str) -> JSONResponse:
        """Cancel an alert: nothing more is sent; deliveries not yet sent fail with reason `cancelled`
        (a message already handed to the SMSC or smarthost cannot be recalled); a call ringing is cancelled
        and a call answered is hung up, its recipient's result `cancelled` too."""
        require_key(request)
        now = svc.clock()
        done = await svc.store.write(lambda c: commands.apply(c, svc.cipher, alertRef, AlertCommand.CANCEL, now))
        if done is None:
            raise ApiError("no such alert", [Problem("alertRef", "unknown or past its lifetime")], 404)
        found = done.cancelled_deliveries
        for channel in {id(ch): ch for ch in svc.channels.values()}.values():
            await channel.cancel(found)
        return JSONResponse({"success": True, "alertRef": alertRef, "cancelledDeliveries": len(found)})

    async def set_hold(request: Request, alertRef: str, hold: bool) -> JSONResponse:
        require_key(request)
        command = AlertCommand.HOLD if hold else AlertCommand.RESUME
        now = svc.clock()
        done = await svc.store.write(lambda c: commands.apply(c, svc.cipher, alertRef, command, now))
        if done is None:
            raise ApiError("no such alert", [Problem("alertRef", "unknown or past its lifetime")], 404)
        if not done.done:
            status = done.status.value
            problem = Problem("alertRef", f"cannot {command} an alert that is {status}")
            raise ApiError(f"the alert is {status}", [problem], 409)
        return JSONResponse({"success": True, "alertRef": alertRef, "status": done.status.value})

    @app.post("/api/json/alerts/{alertRef}/hold", tags=["jobs"], responses={409: {"model": ErrorResponse}})
    async def hold(request: Request, alertRef: str) -> JSONResponse:
        """Put an alert on hold: nothing more is sent until it is resumed (in-flight work finishes)."""
        return await set_hold(request, alertRef, True)

    @app.post("/api/json/alerts/{alertRef}/resume", tags=["jobs"], responses={409: {"model": ErrorResponse}})
    async def resume(request: Request, alertRef: str) -> JSONResponse:
        """Resume an alert that is on hold."""
        return await set_hold(request, alertRef, False)

    @app.get("/healthz", tags=["node"], openapi_extra=PUBLIC)
    async def healthz() -> Response:
        """The process is alive. Needs no API key."""
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", tags=["node"], openapi_extra=PUBLIC,
             responses={503: {"description": "Not ready: the same document, with `ready: false`."}})
    async def readyz() -> JSONResponse:
        """Ready: the store is writable, listeners are up, each configured link's state. Needs no API key."""
        if svc.readiness is None:
            return JSONResponse({"ready": True})
        state = await svc.readiness()
        return JSONResponse(state, status_code=200 if state.get("ready") else 503)

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = build(app, (SendAlertRequest, StoreContentRequest, CollectEventsRequest,
                                             GetInfoRequest, SchedulePublishRequest))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _lean_route(app: FastAPI, path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
    """Serve POST ``path`` by ``endpoint`` from :class:`LeanFront`, in front of the whole application: the endpoint
    takes only the request and answers a Response, so neither FastAPI's route machinery nor its middlewares
    (server errors, body limit, telemetry, exit stack, exceptions, router) have anything to do for it, and
    together they cost a small sendalert ~30 µs of the event loop's time (tools/bench/api.py). The same
    exception handlers answer its errors (JSON paths, 503 when the store is away, 500 for a crash). The FastAPI
    route stays, for the OpenAPI document and for an application served without the front."""
    lean: dict[str, Callable[[Request], Awaitable[Response]]] = app.state.lean_routes
    lean[path] = endpoint
    app.router.routes.insert(0, Route(path, endpoint, methods=["POST"]))


class LeanFront:
    """The control listener's ASGI application: POSTs to the paths :func:`_lean_route` named go straight to their
    endpoint; everything else to the FastAPI application behind."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.lean: dict[str, Callable[[Request], Awaitable[Response]]] = app.state.lean_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.lean.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self.app
                request = Request(scope, receive, send)
                try:
                    response = await endpoint(request)
                except Exception as exc:
                    handler = self._handler(exc)
                    if handler is None:
                        raise
                    answer = handler(request, exc)
                    response = await answer if inspect.isawaitable(answer) else answer
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _handler(self, exc: Exception) -> Callable[[Request, Exception], Response | Awaitable[Response]] | None:
        handlers = self.app.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None


def _without_source(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A parameter's location without FastAPI's ``query``/``path``/``header`` in front."""
    return loc[1:] if loc and loc[0] in ("query", "path", "header", "cookie") else loc


_DESCRIPTION = """
The job API of alertnode, following Alerting Hub's `sendalert` specification.

**Authentication**: `Authorization: Bearer <key>` (or `X-Api-Key`), or `apiKey` in the JSON body.

**Errors**: every refused request is answered 4xx with
`{"success": false, "failureReason": "...", "errors": [{"path": "alert[0].recipients[2]", "message": "..."}]}`.

**Choices where the reference says "see API guide"**:
- `version`: `latest` or `1`.
- `notification` (boolean, default true): false reports no events for the alert (no callbacks, not in
  collectevents). `notificationType`: `all` (every event), `final` (each recipient's final result),
  `responses` (replies, key presses, clicks).
- `callbackURL`: events are POSTed as `{"events": [...]}` with `X-Alertnode-Timestamp` and
  `X-Alertnode-Signature: sha256=HMAC-SHA256(secret, timestamp + "." + body)`; any 2xx acknowledges.
- `schedule`: `startAt` (RFC 3339) or `delay` (ISO 8601, e.g. `PT15M`); `publish: false` stores the alert
  unpublished until `PUT /api/json/alerts/{alertRef}/schedule {"publish_delay": "P0DT0S"}`; quiet hours
  `ceaseAt`/`resumeAt` (HHMM) in `timezone` (or the contact's `timezone` lookup); `endAt` hard end.
- `tts`: `language` (e.g. `en-GB`), `gender` (`MALE`/`FEMALE`), optional `engine` (`espeak`, `gtts`).
- `inboundCall`: the recipients are the expected callers; with none, any caller of `telephoneNumber`.
- `remainingCapacity`: how many more deliveries of that type the node's queue takes now.
- `uniqueId` (top level, optional): idempotency key.
- `lookups`: a `shortlink` section, even an empty one, implies `performLookups` and `uniqueLookups` (the
  reference). A keyword that no contact of the contact-group holds is refused (400 at the text's path); a
  contact lookup the recipient does not have (a plain recipient, or a contact without it) is empty for that
  recipient: braces never reach a person.
- `sender` of an sms item: may be left out when the node has `[sms] default_sender`, which is then used (also by
  event routes without `sms_sender`); without one it is mandatory, as in the reference.
- `tts` of a call or inboundCall item with `voiceFormat` mp3, wav or aiff: accepted and not used, with a
  `warnings` entry in the answer (`{"path": "alert[0].tts", "message": ...}`).
- `lookups.shortlink`: opening a short link never acknowledges (link scanners open every link): a GET shows a
  page with an Acknowledge button (or redirects to `url`) and is reported as `opened` or `previewed`; the
  button's POST is the `clicked` response. With a `url`, the redirect adds `ackUrl` and `ackToken` for the
  onward page to POST `ack=<ackToken>` to.
- Numbers: an integral number such as `35.0` is taken where an integer is expected (JSON Schema counts it as one).
- Replay IVR: an `additionalContent` item `pre`, `post` or `done` left out is the node's stock prompt (English;
  a `post` for keys other than 1 and 2 is spoken with the alert's keys). A key of no digit set plays a short tone
  and the key wait starts over; a key wait that ends without a key plays "Goodbye." before the node hangs up.
- `ivrControl.ivrAnsweringMachine` (extension; default the node's `voice.answering_machine`, `off` unless set):
  answering-machine detection on outbound calls. The prompts wait for the detector, which presumes a person by
  1.5 s after the answer unless the far end is still talking. `hangup`: a machine is hung up on, the attempt
  ends with outcome `machine` and counts as not reached (retried while `ivrAttempts` are left). `voicemail`: the
  message (simple: the content; replay: `pre` and the content) is played once after the mailbox's beep (or, with
  no beep, when its greeting has been silent for 2 s) and the recipient's result is final: `answered` with
  outcome `voicemail_left`. Events `amd` (`verdict` human/machine/unknown, `final`, `reason` and the timings that
  decided, in ms after the answer), `amd_beep`, `amd_greeting_end`, `voicemail_left`.

**Rich items** (LiveLike's alert variations, mapped to the channels): `image_url`, `link_url` and `link_label` on
an sms, email or call item give text only, image only (no `content`), text and image, and a link with its label.
E-mail shows the image inline (a `cid:` part; never hot-linked) and the link as a button; an SMS carries the text
and a per-recipient link to a page on the public listener with the image, the link and an acknowledge button;
a call reads the text. The image is fetched once when the alert is accepted (PNG, JPEG, GIF or WebP by its magic
bytes, at most `content.image_max_bytes`, redirects checked) and stored with the alert; one that cannot be used
is refused with 400 at its `alert[i].image_url`.

**Opens** (Sendbird's `open_count`/`open_rate`): `trackOpens` on an email item (default `content.track_opens`,
off) adds a per-recipient tracking image; SMS page views count for SMS. Events `opened` (a person) and
`previewed` (an image proxy or scanner: not an open) are reported once per delivery, with `detail.via`
(`image`, `page`).

**Counts** of the alert resource (`GET /api/json/alerts/{alertRef}`) and of each alert of the collection
(`counts`): `targeted`, `sent`, `delivered`, `responded`, `failed`, `unconfirmed`, `expired`, `queued`;
`responseRate` = responded / targeted; beside it `openCount` (e-mail and SMS deliveries opened: their tracking
image or page fetched by a person, or answered by their recipient) and `openRate` = openCount / the e-mail and
SMS deliveries sent (0 when none was). Calls have no opens.
"""
