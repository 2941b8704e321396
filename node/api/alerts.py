"""The alerts extension of the control API: the alert collection, read and acknowledge, an alert's timeline and
escalation steps, groups, originators and the activity per minute (the operator console reads them all).

Every route needs the API key; the key's fingerprint (``auth.fingerprint``) is the reader of ``read`` and the
operator named by an acknowledgement. Reads go through ``Store.read``; an acknowledgement is reported through
the node's event sink like a channel's event, so escalation and previouslySeen read it as a recipient's answer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from alertnode.api import alert_query, resource
from alertnode.api.auth import fingerprint
from alertnode.api.extension import Extension, ExtensionContext
from alertnode.contract.alerts import ROUTE_PREFIX, AcknowledgeRequest
from alertnode.contract.lifetime import iso_time
from alertnode.contract.problems import validation_problems
from alertnode.contract.sendalert import ErrorResponse
from alertnode.domain import ChannelEvent, DeliveryState
from alertnode.errors import ApiError, Problem
from alertnode.jobs import expand
from alertnode.store import listing, marks, repo, timeline

_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorResponse}, 401: {"model": ErrorResponse},
                                            404: {"model": ErrorResponse}}
_NO_ALERT = "no such alert"
TIMELINE_MAX = 5000
ACTIVITY_MAX_MIN = 1440


def _no_alert() -> ApiError:
    return ApiError(_NO_ALERT, [Problem("alertRef", "unknown or past its lifetime")], 404)


def _int_param(name: str, value: int | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not low <= value <= high:
        raise ApiError("the query is not valid", [Problem(name, f"must be {low} to {high}")])
    return value


class AlertsExtension(Extension):
    name = "alerts"

    def __init__(self, ctx: ExtensionContext, clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.clock = clock

    def _reader(self, request: Request) -> str:
        return fingerprint(self.ctx.requests.require_key(request))

    # -- the collection --------------------------------------------------------------------------
    async def list_alerts(self, request: Request) -> JSONResponse:
        reader = self._reader(request)
        params = {k: request.query_params.get(k) for k in alert_query.PARAMS}
        flt, limit = alert_query.parse_query(params, reader)
        now = self.clock()
        page = await self.ctx.store.read(lambda c: listing.list_alerts(c, flt, now, limit, reader))
        path = resource.ALERTS
        links: dict[str, Any] = {"self": {"href": alert_query.page_href(path, params, params.get("cursor"))},
                                 "first": {"href": alert_query.page_href(path, params, None)}}
        next_cursor = alert_query.encode_cursor(page.cursor) if page.more and page.cursor is not None else None
        if next_cursor is not None:
            links["next"] = {"href": alert_query.page_href(path, params, next_cursor)}
        return JSONResponse({"success": True, "_links": links, "count": len(page.alerts), "more": page.more,
                             "cursor": next_cursor, "reader": reader,
                             "_embedded": {"alerts": [resource.summary_json(s) for s in page.alerts]}},
                            headers={"Cache-Control": "no-store"})

    # -- read and acknowledge --------------------------------------------------------------------
    async def set_read(self, request: Request, alert_ref: str, read: bool) -> JSONResponse:
        reader = self._reader(request)
        now = self.clock()
        cipher = self.ctx.cipher
        changed = await self.ctx.store.write(lambda c: marks.mark_read(c, cipher, alert_ref, reader, read, now))
        if changed is None:
            raise _no_alert()
        return JSONResponse({"success": True, "alertRef": alert_ref, "read": read, "changed": changed,
                             "reader": reader})

    async def acknowledge(self, request: Request, alert_ref: str) -> JSONResponse:
        key, _, body = await self.ctx.requests.body(request)
        try:
            req = AcknowledgeRequest.model_validate_json(body)
        except ValidationError as exc:
            raise ApiError("the request is not valid", validation_problems(exc)) from None
        given = req.target_fields()
        if len(given) != 1:
            raise ApiError("the request is not valid",
                           [Problem(name, "give exactly one of deliveryId, contact, recipient")
                            for name in (given or ["(body)"])])
        recipient = req.recipient
        if recipient is not None:  # stored as the intake normalized it
            recipient = expand.normalize_phone(recipient) or expand.normalize_email(recipient) or recipient
        cipher = self.ctx.cipher
        found = await self.ctx.store.read(lambda c: marks.ack_candidates(
            c, cipher, alert_ref, delivery_id=req.deliveryId, contact=req.contact, recipient=recipient))
        if found is None:
            raise _no_alert()
        if not found:
            raise ApiError("no delivery of this alert matches", [Problem(given[0], "not a recipient of this alert")],
                           404)
        operator = fingerprint(key)
        now = self.clock()
        detail: dict[str, Any] = {"by": "operator", "operator": operator}
        if req.note:
            detail["note"] = req.note
        todo = [c for c in found if not c.acknowledged]
        # final unless the channel still holds the delivery and will close it with its own final event
        await self.ctx.sink.report_many([ChannelEvent(c.delivery_id, "acknowledged", now, DeliveryState.RESPONDED,
                                                      detail, final=not c.channel_owned) for c in todo])
        await self.ctx.store.write(lambda c: marks.mark_read(c, cipher, alert_ref, operator, True, now))
        return JSONResponse({"success": True, "alertRef": alert_ref, "operator": operator,
                             "acknowledged": [c.delivery_id for c in todo],
                             "alreadyAcknowledged": [c.delivery_id for c in found if c.acknowledged]})

    # -- timeline and escalation -----------------------------------------------------------------
    async def alert_events(self, request: Request, alert_ref: str, after: int | None, limit: int | None,
                       delivery_id: int | None) -> JSONResponse:
        self._reader(request)
        start = _int_param("after", after, 0, 0, 2**63 - 1)
        size = _int_param("limit", limit, 500, 1, TIMELINE_MAX)
        if delivery_id is not None:
            _int_param("deliveryId", delivery_id, 1, 1, 2**63 - 1)
        cipher = self.ctx.cipher

        def read(c: Any) -> list[Any] | None:
            if repo.get_alert(c, alert_ref) is None:
                return None
            return timeline.alert_events(c, cipher, alert_ref, start, size, delivery_id)

        rows = await self.ctx.store.read(read)
        if rows is None:
            raise _no_alert()
        cursor = rows[-1].seq if rows else start
        base = f"{resource.ALERTS}/{alert_ref}/timeline"
        only = f"&deliveryId={delivery_id}" if delivery_id is not None else ""
        links: dict[str, Any] = {"self": {"href": f"{base}?after={start}&limit={size}{only}"},
                                 "alert": {"href": f"{resource.ALERTS}/{alert_ref}"}}
        more = len(rows) == size
        if more:
            links["next"] = {"href": f"{base}?after={cursor}&limit={size}{only}"}
        events = [resource.event_json(r, sandbox=self.ctx.sandbox) for r in rows]
        return JSONResponse({"success": True, "_links": links, "alertRef": alert_ref, "cursor": cursor, "more": more,
                             "events": events}, headers={"Cache-Control": "no-store"})

    async def steps(self, request: Request, alert_ref: str) -> JSONResponse:
        self._reader(request)
        now = self.clock()
        esc = await self.ctx.store.read(lambda c: timeline.escalation(c, self.ctx.cipher, alert_ref, now))
        if esc is None:
            raise _no_alert()
        return JSONResponse(resource.escalation_json(alert_ref, esc), headers={"Cache-Control": "no-store"})

    # -- groups and originators ------------------------------------------------------------------
    def _route_json(self, name: str) -> dict[str, Any] | None:
        route = self.ctx.events.route(name)
        if route is None:
            return None
        out: dict[str, Any] = {"match": list(route.match), "alertTypes": list(route.alert_types),
                               "contactSets": list(route.contact_sets)}
        steps = route.escalation_steps
        if steps:
            out["escalation"] = [{"afterMin": step.after_min, "alertTypes": list(step.alert_types),
                                  "previouslySeen": step.previously_seen,
                                  **({"contactSets": list(step.contact_sets)} if step.contact_sets else {})}
                                 for step in steps]
        return out

    def _group_json(self, g: listing.GroupSummary) -> dict[str, Any]:
        kind, _, name = g.group_id.partition(":")
        out: dict[str, Any] = {
            "_links": {"self": {"href": resource.group_href(g.group_id)},
                       "alerts": {"href": alert_query.page_href(resource.ALERTS, {"group": g.group_id}, None)}},
            "id": g.group_id, "type": "group", "kind": "route" if kind == "route" else "contactSet", "name": name,
            "numAlerts": g.alerts, "lastAlert": iso_time(g.last_alert_at) if g.last_alert_at is not None else None,
        }
        if kind == "route":
            out["route"] = self._route_json(name)
        return out

    async def groups(self, request: Request) -> JSONResponse:
        self._reader(request)
        configured = [ROUTE_PREFIX + r.name for r in self.ctx.events.routes]

        def read(c: Any) -> list[listing.GroupSummary]:
            ids = sorted({*listing.known_groups(c), *configured})
            return [listing.group_summary(c, g) for g in ids]

        found = await self.ctx.store.read(read)
        return JSONResponse({"success": True, "_links": {"self": {"href": "/api/json/groups"}}, "count": len(found),
                             "_embedded": {"groups": [self._group_json(g) for g in found]}})

    async def group(self, request: Request, group_id: str) -> JSONResponse:
        self._reader(request)
        unknown = ApiError("no such group", [Problem("groupId", "no alert went to it and no route has this name")],
                           404)
        if not listing.is_group_id(group_id):
            raise unknown
        g = await self.ctx.store.read(lambda c: listing.group_summary(c, group_id))
        configured = group_id.startswith(ROUTE_PREFIX) and self._route_json(group_id[len(ROUTE_PREFIX):]) is not None
        if g.alerts == 0 and not configured:
            raise unknown
        return JSONResponse({"success": True, **self._group_json(g)})

    def _originator_json(self, o: listing.OriginatorSummary, reader: str) -> dict[str, Any]:
        return {
            "_links": {"self": {"href": resource.originator_href(o.originator)},
                       "alerts": {"href": alert_query.page_href(resource.ALERTS, {"originator": o.originator}, None)}},
            "id": o.originator, "type": "originator", "kind": "apiKey", "you": o.originator == reader,
            "numAlerts": o.alerts, "numEvents": o.events, "firstSeen": iso_time(o.first_at),
            "lastAlert": iso_time(o.last_alert_at) if o.last_alert_at is not None else None,
        }

    async def originators(self, request: Request) -> JSONResponse:
        reader = self._reader(request)
        found = await self.ctx.store.read(lambda c: listing.originators(c))
        return JSONResponse({"success": True, "_links": {"self": {"href": "/api/json/originators"}},
                             "count": len(found),
                             "_embedded": {"originators": [self._originator_json(o, reader) for o in found]}})

    async def originator(self, request: Request, originator: str) -> JSONResponse:
        reader = self._reader(request)
        found = await self.ctx.store.read(lambda c: listing.originators(c, originator))
        if not found:
            raise ApiError("no such originator", [Problem("originator", "no event came with this key")], 404)
        return JSONResponse({"success": True, **self._originator_json(found[0], reader)})

    # -- activity --------------------------------------------------------------------------------
    async def activity(self, request: Request, minutes: int | None) -> JSONResponse:
        self._reader(request)
        span = _int_param("minutes", minutes, 60, 1, ACTIVITY_MAX_MIN)
        now = self.clock()
        start = math.floor(now / 60) * 60.0 - (span - 1) * 60.0
        types = list(dict.fromkeys(t for ch in self.ctx.channels for t in ch.alert_types))
        act = await self.ctx.store.read(lambda c: timeline.activity(c, start, span, types))
        return JSONResponse({"success": True, "start": iso_time(act.start), "startEpoch": act.start,
                             "minutes": act.minutes, "series": list(timeline.SERIES),
                             "channels": {t: dict(v) for t, v in act.counts.items()}},
                            headers={"Cache-Control": "no-store"})

    # -- wiring ------------------------------------------------------------------------------------
    def routes(self, app: FastAPI) -> None:
        app.description = (app.description or "") + DESCRIPTION

        async def list_alerts(
            request: Request,
            status: str | None = Query(None, description="Comma list of statuses: scheduled, running, on_hold, "
                                       "completed, cancelled."),
            view: str | None = Query(None, description="all (default), pending (not published yet) or history.",
                                     json_schema_extra={"enum": ["all", "pending", "history"]}),
            clientRef: str | None = Query(None, description="Exactly this clientRef."),
            tag: str | None = Query(None, description="An item with exactly this tag."),
            alertType: str | None = Query(None, description="An item of this type: sms, email, call, inboundCall.",
                                          json_schema_extra={"enum": ["sms", "email", "call", "inboundCall"]}),
            category: str | None = Query(None, description="user or admin.",
                                         json_schema_extra={"enum": ["user", "admin"]}),
            group: str | None = Query(None, description="A group id: set:<contact set> or route:<events route>."),
            originator: str | None = Query(None, description="An originator id (key-…): alerts its events made."),
            from_: str | None = Query(None, alias="from", description="Created at or after (RFC 3339 with offset)."),
            to: str | None = Query(None, description="Created before (RFC 3339 with offset)."),
            unread: str | None = Query(None, description="true: only alerts the asking key has not marked read.",
                                       json_schema_extra={"enum": ["true", "false"]}),
            cursor: str | None = Query(None, description="The `cursor` of the previous page."),
            limit: int | None = Query(None, description="Alerts per page, 1 to 200 (default 50).",
                                      json_schema_extra={"minimum": 1, "maximum": 200}),
        ) -> JSONResponse:
            """The alerts, newest first, filtered; paged by cursor (stable while new alerts arrive). Entries carry
            no contact data; `_links.next` gives the next page. See "The alert collection" in the description."""
            return await self.list_alerts(request)

        async def read_alert(request: Request, alertRef: str) -> JSONResponse:
            """POST marks the alert read for the API key asking (its `read` becomes true for that key only),
            recorded as a `read` event when it changes something; DELETE marks it unread again (an `unread`
            event)."""
            return await self.set_read(request, alertRef, request.method == "POST")

        async def acknowledge(request: Request, alertRef: str) -> JSONResponse:
            """Acknowledge on behalf of a recipient (an operator took their call): each matching delivery not yet
            acknowledged gets an `acknowledged` event (state responded, detail `by: operator`, `operator`, `note`),
            which stops escalation and counts for previouslySeen like the recipient's own answer on that channel.
            The alert is marked read for the operator."""
            return await self.acknowledge(request, alertRef)

        async def alert_timeline(
            request: Request, alertRef: str,
            after: int | None = Query(None, description="Events after this seq (the previous answer's `cursor`).",
                                      json_schema_extra={"minimum": 0, "maximum": 2**63 - 1}),
            limit: int | None = Query(None, description="At most this many events, 1 to 5000 (default 500).",
                                      json_schema_extra={"minimum": 1, "maximum": 5000}),
            deliveryId: int | None = Query(None, description="Only this recipient's events.",
                                           json_schema_extra={"minimum": 1, "maximum": 2**63 - 1}),
        ) -> JSONResponse:
            """Every event of the alert in order, those its notification settings keep from callbacks included:
            attempts, receipts, key presses, replies, clicks, acknowledgements, holds, reads."""
            return await self.alert_events(request, alertRef, after, limit, deliveryId)

        async def alert_escalation(request: Request, alertRef: str) -> JSONResponse:
            """The escalation steps around the alert: every alert of its link (linkedAlerts) in order with its
            status and counts, and follow-ups an events route has planned (due, done, outcome)."""
            return await self.steps(request, alertRef)

        async def groups(request: Request) -> JSONResponse:
            """Every group: events routes configured or used, and contact sets alerts went to."""
            return await self.groups(request)

        async def group(request: Request, groupId: str) -> JSONResponse:
            """A group: `route:<name>` (an events route, with its rule) or `set:<name>` (a contact set), with its
            number of alerts and a link to them."""
            return await self.group(request, groupId)

        async def originators(request: Request) -> JSONResponse:
            """Every originator (the API keys events came with, by fingerprint), with their alerts and events."""
            return await self.originators(request)

        async def originator(request: Request, originatorId: str) -> JSONResponse:
            """One originator; `you` says whether it is the key asking."""
            return await self.originator(request, originatorId)

        async def activity(
            request: Request,
            minutes: int | None = Query(None, description="Minutes up to now, 1 to 1440 (default 60).",
                                        json_schema_extra={"minimum": 1, "maximum": ACTIVITY_MAX_MIN}),
        ) -> JSONResponse:
            """Per channel and minute: sent (messages handed over, calls placed), delivered (receipts, calls
            answered by the phone), answered (replies, keys, clicks, acknowledgements) and failed. The console's
            live chart."""
            return await self.activity(request, minutes)

        alert_path = "/api/json/alerts/{alertRef}"
        app.add_api_route("/api/json/alerts", list_alerts, methods=["GET"], tags=["alerts"], responses=_ERRORS)
        # one route for both methods, so that a 405 names both in Allow (the document gives each its own id)
        app.add_api_route(f"{alert_path}/read", read_alert, methods=["POST", "DELETE"], tags=["alerts"],
                          responses=_ERRORS)
        app.add_api_route(f"{alert_path}/acknowledge", acknowledge, methods=["POST"], tags=["alerts"],
                          responses=_ERRORS,
                          openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                              "schema": AcknowledgeRequest.model_json_schema()}}}})
        app.add_api_route(f"{alert_path}/timeline", alert_timeline, methods=["GET"], tags=["alerts"], responses=_ERRORS)
        app.add_api_route(f"{alert_path}/escalation", alert_escalation, methods=["GET"], tags=["alerts"],
                          responses=_ERRORS)
        app.add_api_route("/api/json/groups", groups, methods=["GET"], tags=["alerts"], responses=_ERRORS)
        app.add_api_route("/api/json/groups/{groupId}", group, methods=["GET"], tags=["alerts"], responses=_ERRORS)
        app.add_api_route("/api/json/originators", originators, methods=["GET"], tags=["alerts"], responses=_ERRORS)
        app.add_api_route("/api/json/originators/{originatorId}", originator, methods=["GET"], tags=["alerts"],
                          responses=_ERRORS)
        app.add_api_route("/api/json/activity", activity, methods=["GET"], tags=["alerts"], responses=_ERRORS)


DESCRIPTION = """

**The alert resource** (alert-resource.txt), `GET /api/json/alerts/{alertRef}`, mapped onto an alerting node:
`alertType` is the channels of the alert's items (`sms,call`); `category` is `user` or `admin` as the sender
gave it in sendalert (`admin`: about the node or sent by its operators, such as the console's test alerts);
`appData` is the string the sender gave in sendalert or in an event (encrypted at rest); `body.<locale>` is the
text of each locale at least one recipient was sent (chosen by the contact's `locale` lookup; `und` for the
content given without a locale; the first item's when items differ); `groups` / `numGroups` are the events route
that opened the alert (`route:<name>`) and the contact sets its items named (`set:<name>`), each a resource at
`/api/json/groups/{id}`; `originators` are the API keys (by fingerprint, `key-` and 12 hex digits of the key's
SHA-256, never the key) whose events made or joined the alert, each at `/api/json/originators/{id}`; a sendalert
alert has none. `read` is per API key (the node's "logged in user" is its key): `POST …/read` and
`DELETE …/read`. Each recipient carries its `deliveryId`.

**Acknowledge for a recipient**: `POST /api/json/alerts/{alertRef}/acknowledge` with exactly one of
`deliveryId`, `contact`, `recipient`, and an optional `note`. The deliveries become `responded` (event
`acknowledged`) and count as the recipient's answer on their channel: escalations and `previouslySeen` skip the
contact as if they had replied.

**The alert collection**, `GET /api/json/alerts`: newest first; filters `status` (comma list), `view`
(`pending`: created but not published yet and not cancelled, LiveLike's "Pending"; `history`: published or
cancelled), `clientRef`, `tag`, `alertType`, `category`, `group`, `originator`, `from`/`to` (creation time,
RFC 3339), `unread=true`; `limit` (1-200). Paged by cursor: pass the answered `cursor` (or follow
`_links.next`); alerts created meanwhile never shift a page. HAL: `_links` (`self`, `first`, `next`) and
`_embedded.alerts`.
"""


def create(ctx: ExtensionContext) -> AlertsExtension:
    return AlertsExtension(ctx)
