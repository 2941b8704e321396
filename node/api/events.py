"""The events extension's HTTP side: ``POST /api/events`` and ``GET /api/events/suppressed`` on the control API.

The body is read by the control API's one request reader (key, size, JSON object), then checked the way
events are (optional fields omitted, never null; events enabled) and handed to the runtime
(``alertnode.jobs.events_runtime``), which routes it, coalesces storms and fires escalations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from alertnode.api.auth import fingerprint
from alertnode.api.extension import Extension, ExtensionContext
from alertnode.api.request import RequestReader
from alertnode.contract.events import EventRequest
from alertnode.contract.lifetime import iso_time
from alertnode.contract.problems import validation_problems
from alertnode.contract.sendalert import ErrorResponse
from alertnode.errors import ApiError, Problem
from alertnode.jobs import events
from alertnode.jobs.events_config import EventsConfig
from alertnode.jobs.events_runtime import EventsRuntime


def originator_of(api_key: str) -> str:
    """A stable, non-secret name for the key an event came with (``auth.fingerprint``)."""
    return fingerprint(api_key)


def event_request(raw: dict[str, Any], config: EventsConfig) -> EventRequest:
    """The event in a body the request reader accepted (a JSON object)."""
    raw = {k: v for k, v in raw.items() if k != "apiKey"}
    nulls = [Problem(name, "must be omitted rather than null") for name, value in raw.items() if value is None]
    if nulls:
        raise ApiError("optional fields are omitted, never null", nulls)
    if not config.enabled:
        raise ApiError("events are disabled on this node", [Problem("events.enabled", "false")], 403)
    try:
        return EventRequest.model_validate(raw)
    except ValidationError as exc:
        raise ApiError("the event is not valid", validation_problems(exc)) from None


class EventsExtension(Extension):
    name = "events"

    def __init__(self, runtime: EventsRuntime, config: EventsConfig, requests: RequestReader) -> None:
        self.runtime = runtime
        self.config = config
        self.requests = requests

    def routes(self, app: FastAPI) -> None:
        async def post_event(request: Request) -> JSONResponse:
            """Send an event: routed by glob on `event` to contact sets and alert types configured on the node;
            repeats within the dedup window are coalesced into the open alert. A route may have quiet hours
            (`cease_at`/`resume_at` in its zone; a contact's `timezone` lookup holds that contact's messages) and
            escalation steps, each `after_min` after the one before, to the contacts who have not answered (a
            declined answer is no answer) or to a contact set of its own; the answer carries `escalationAt` (step
            1) and `escalationSteps`."""
            key, raw, _ = await self.requests.body(request)
            req = event_request(raw, self.config)
            return JSONResponse(await self.runtime.handle(events.Event.from_request(req), originator_of(key)))

        async def suppressed(request: Request, limit: Annotated[int, Query(ge=1, le=10000)] = 100) -> JSONResponse:
            """Audit of contacts the per-contact cap kept from being alerted (newest first)."""
            self.requests.require_key(request)
            rows = [{"at": iso_time(r.at), "contact": r.contact, "route": r.route, "event": r.event,
                     "reason": r.reason, **({"alertRef": r.alert_ref} if r.alert_ref else {})}
                    for r in await self.runtime.suppressed(limit)]
            return JSONResponse({"success": True, "suppressed": rows})

        body = {"requestBody": {"required": True, "content": {"application/json": {
            "schema": EventRequest.model_json_schema()}}}}
        disabled: dict[int | str, dict[str, Any]] = {
            403: {"model": ErrorResponse, "description": "Events are disabled on this node."}}
        app.add_api_route("/api/events", post_event, methods=["POST"], tags=["events"], openapi_extra=body,
                          responses=disabled)
        app.add_api_route("/api/events/suppressed", suppressed, methods=["GET"], tags=["events"])

    def info(self) -> Mapping[str, Any]:
        return self.runtime.info()

    async def start(self) -> None:
        self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()


def create(ctx: ExtensionContext) -> EventsExtension:
    runtime = EventsRuntime(ctx.events, ctx.store, ctx.cipher, ctx.intake, claim_s=ctx.lease_s)
    return EventsExtension(runtime, ctx.events, ctx.requests)
