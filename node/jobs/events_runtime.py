"""The events extension: ``POST /api/events`` on the control API, storm state in the store, escalations.

Routing, templates, dedup and caps are decided in ``node.jobs.events`` (pure); this module reads and writes
the state those decisions need (tables of migration 0040), creates alerts through the intake exactly like
``sendalert`` does, and fires due escalations. Events with one dedup key are serialized by a lock so that a
storm arriving all at once opens one alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import sqlite3
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError

from alertnode.api.routes import _bearer
from alertnode.contract.sendalert import ContactGroup, SendAlertRequest, Strict
from alertnode.errors import ApiError, Problem
from alertnode.jobs import events
from alertnode.jobs.events_config import EventsConfig, RouteConfig
from alertnode.jobs.intake import validation_problems
from alertnode.store import repo

if TYPE_CHECKING:
    from alertnode.app import Node

log = logging.getLogger(__name__)

ESCALATION_POLL_S = 1.0      # resolution of escalation due times (they are minutes apart)
HOUSEKEEPING_EVERY_S = 60.0
AUDIT_KEEP_S = 30 * 86400.0  # suppression audit rows are kept 30 days
STORM_KEEP_S = 86400.0       # closed storm rows of alerts already purged are dropped after a day


class EventRequest(Strict):
    """Body of POST /api/events. Optional fields are omitted, never null (a null is refused by name)."""

    event: str = Field("", max_length=256, description="What happened; routing rules match it with Unix glob.")
    message: str = Field(min_length=1, max_length=4096, description="Human-readable text (required).")
    title: str = Field("", max_length=256, description="Short headline.")
    channel: str = Field("", max_length=128, description="Channel; routes may match it with a glob too.")
    tags: list[str] = Field(default_factory=list, max_length=32, description="Categorisation tags.")
    link: str = Field("", pattern=r"^https?://\S+$", max_length=2048, description="URL for the event.")
    data: dict[str, Any] = Field(default_factory=dict, description="Key-value data for templates ({data.KEY}).")
    dedupKey: str | None = Field(None, min_length=1, max_length=256,
                                 description="Explicit dedup key (else `event` plus events.dedup_fields).")

    def to_event(self) -> events.Event:
        return events.Event(message=self.message, event=self.event, title=self.title, channel=self.channel,
                            tags=tuple(self.tags), link=self.link, data=self.data, dedup_key=self.dedupKey)


def originator_of(api_key: str) -> str:
    """A stable, non-secret name for the key an event came with (12 hex digits of its SHA-256)."""
    return "key-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


# -- store functions (run on the store's threads) ----------------------------------------------------


def _open_storm(conn: sqlite3.Connection, dedup_ix: str) -> events.OpenStorm | None:
    row = conn.execute("SELECT s.storm_id, s.alert_ref, s.opened_at, s.coalesced, a.status FROM event_storms s"
                       " LEFT JOIN alerts a ON a.alert_ref = s.alert_ref WHERE s.dedup_ix = ?"
                       " ORDER BY s.opened_at DESC LIMIT 1", (dedup_ix,)).fetchone()
    if row is None:
        return None
    return events.OpenStorm(row[0], row[1], row[2], row[3], cancelled=row[4] == "cancelled")


def _alert_cancelled(conn: sqlite3.Connection, alert_ref: str) -> bool:
    row = conn.execute("SELECT status FROM alerts WHERE alert_ref = ?", (alert_ref,)).fetchone()
    return row is not None and row[0] == "cancelled"


def _coalesce(conn: sqlite3.Connection, storm_id: str, alert_ref: str, originator: str, now: float) -> None:
    conn.execute("UPDATE event_storms SET coalesced = coalesced + 1, last_at = MAX(last_at, ?) WHERE storm_id = ?",
                 (now, storm_id))
    _add_originator(conn, alert_ref, originator, now)


def _add_originator(conn: sqlite3.Connection, alert_ref: str, originator: str, now: float) -> None:
    conn.execute("INSERT INTO event_originators (alert_ref, originator, first_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (alert_ref, originator) DO UPDATE SET events = events + 1",
                 (alert_ref, originator, now))


def _contact_history(conn: sqlite3.Connection, keys: Sequence[str], since: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for key in keys:
        out[key] = [r[0] for r in conn.execute("SELECT at FROM event_contacted WHERE contact = ? AND at > ?",
                                               (key, since))]
    return out


def _suppressed_rows(conn: sqlite3.Connection, limit: int, since: float) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT at, contact, route, event, alert_ref, reason FROM event_suppressed WHERE at >= ?"
                        " ORDER BY id DESC LIMIT ?", (since, limit)).fetchall()
    return [{"at": repo._iso(r[0]), "contact": r[1], "route": r[2], "event": r[3], "reason": r[5],
             **({"alertRef": r[4]} if r[4] else {})} for r in rows]


def _escalation_done(conn: sqlite3.Connection, row_id: int, outcome: str, now: float) -> None:
    conn.execute("UPDATE event_escalations SET done_at = ?, result = ? WHERE id = ?", (now, outcome[:1000], row_id))


def _housekeeping(conn: sqlite3.Connection, now: float, cap_window_s: float) -> None:
    conn.execute("DELETE FROM event_contacted WHERE at < ?", (now - cap_window_s,))
    conn.execute("DELETE FROM event_suppressed WHERE at < ?", (now - AUDIT_KEEP_S,))
    conn.execute("DELETE FROM event_storms WHERE last_at < ? AND (alert_ref IS NULL OR alert_ref NOT IN"
                 " (SELECT alert_ref FROM alerts))", (now - STORM_KEEP_S,))
    conn.execute("DELETE FROM event_originators WHERE alert_ref NOT IN (SELECT alert_ref FROM alerts)")
    conn.execute("DELETE FROM event_escalations WHERE done_at IS NOT NULL AND done_at < ?", (now - AUDIT_KEEP_S,))


class EventsRuntime:
    def __init__(self, node: Node, clock: Callable[[], float] = time.time) -> None:
        assert node.store is not None and node.cipher is not None and node.intake is not None
        assert node.services is not None
        self.node = node
        self.config: EventsConfig = node.config.events
        self.store = node.store
        self.cipher = node.cipher
        self.intake = node.intake
        self.services = node.services
        self.clock = clock
        # open storms by dedup index: this process is the only writer of event_storms, so the cache is exact
        self._storms: dict[str, events.OpenStorm] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._task: asyncio.Task[None] | None = None
        self._cap_lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="events-escalations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- HTTP -----------------------------------------------------------------------------------
    def routes(self, app: FastAPI) -> None:
        async def post_event(request: Request) -> JSONResponse:
            """Send an event: routed by glob on `event` to contact sets and alert types configured on the node;
            repeats within the dedup window are coalesced into the open alert."""
            key, req = await self._parse(request)
            return JSONResponse(await self.handle(req.to_event(), originator_of(key)))

        async def suppressed(request: Request, limit: int = 100) -> JSONResponse:
            """Audit of contacts the per-contact cap kept from being alerted (newest first)."""
            self._require_key(request)
            if not 1 <= limit <= 10000:
                raise ApiError("bad paging", [Problem("limit", "must be 1 to 10000")])
            now = self.clock()
            rows = await self.store.read(lambda c: _suppressed_rows(c, limit, now - AUDIT_KEEP_S))
            return JSONResponse({"success": True, "suppressed": rows})

        body = {"requestBody": {"required": True, "content": {"application/json": {
            "schema": EventRequest.model_json_schema()}}}}
        app.add_api_route("/api/events", post_event, methods=["POST"], tags=["events"], openapi_extra=body)
        app.add_api_route("/api/events/suppressed", suppressed, methods=["GET"], tags=["events"])

    def _require_key(self, request: Request) -> str:
        key = _bearer(request)
        if key is None or not self.services.keys.check(key):
            raise ApiError("missing or wrong API key", [Problem("Authorization", "not accepted")], 401)
        return key

    async def _parse(self, request: Request) -> tuple[str, EventRequest]:
        limit = self.node.config.api.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ApiError(f"request body larger than {limit} bytes", [], http_status=413)
        body = await request.body()
        if len(body) > limit:
            raise ApiError(f"request body larger than {limit} bytes", [], http_status=413)
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._require_key(request)
            raise ApiError("request body is not valid JSON", [Problem("(body)", str(exc))]) from None
        key = _bearer(request)
        if key is None and isinstance(raw, dict) and isinstance(raw.get("apiKey"), str):
            key = raw["apiKey"]
        if key is None or not self.services.keys.check(key):
            raise ApiError("missing or wrong API key", [Problem("apiKey", "not accepted")], 401)
        if not isinstance(raw, dict):
            raise ApiError("request body must be a JSON object", [Problem("(body)", "not an object")])
        raw.pop("apiKey", None)
        nulls = [Problem(name, "must be omitted rather than null") for name, value in raw.items() if value is None]
        if nulls:
            raise ApiError("optional fields are omitted, never null", nulls)
        if not self.config.enabled:
            raise ApiError("events are disabled on this node", [Problem("events.enabled", "false")], 403)
        try:
            return key, EventRequest.model_validate(raw)
        except ValidationError as exc:
            raise ApiError("the event is not valid", validation_problems(exc)) from None

    # -- the decision ---------------------------------------------------------------------------
    def _lock(self, dedup_ix: str) -> asyncio.Lock:
        lock = self._locks.get(dedup_ix)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[dedup_ix] = lock
        return lock

    async def handle(self, event: events.Event, originator: str) -> dict[str, Any]:
        route = events.match_route(self.config, event)
        if route is None:
            raise ApiError("no route for this event", [Problem(
                "event", f"no routing rule matches {event.event!r} and events.default_route is not set")])
        dedup_ix = self.cipher.index(route.name + "\x1e" + events.dedup_key(self.config, event))
        lock = self._lock(dedup_ix)
        answer: dict[str, Any] = {"success": True, "route": route.name, "channel": event.channel or route.name}
        async with lock:
            now = self.clock()
            open_storm = self._storms.get(dedup_ix)
            if open_storm is None:
                open_storm = await self.store.read(lambda c: _open_storm(c, dedup_ix))
            elif open_storm.alert_ref is not None:  # cached: its alert may have been cancelled since
                ref = open_storm.alert_ref
                if await self.store.read(lambda c: _alert_cancelled(c, ref)):
                    open_storm = dataclasses.replace(open_storm, cancelled=True)
            decision = events.decide_storm(open_storm, now, self.config.dedup_window_s)
            if decision.action is not events.StormAction.COALESCE:
                self._storms.pop(dedup_ix, None)
                storm_id = (decision.storm.storm_id if decision.action is events.StormAction.RETRY_PENDING
                            and decision.storm is not None else str(uuid.uuid4()))
                # with a cap, alerts for different keys are opened one at a time: each must see the contacts
                # the one before it recorded, or two concurrent events could both pass the cap
                async with self._cap_lock if self.config.cap_per_contact > 0 else contextlib.nullcontext():
                    answer.update(await self._new_alert(route, event, originator, dedup_ix, storm_id, now))
                return answer
            storm = decision.storm
            assert storm is not None and storm.alert_ref is not None
            # the count is decided here, under the lock; the increments of concurrent events are written
            # outside it, so they share the store's group commits instead of queuing one by one
            count = storm.coalesced + 1
            self._storms[dedup_ix] = dataclasses.replace(storm, coalesced=count)
        alert_ref = storm.alert_ref
        await self.store.write(lambda c: _coalesce(c, storm.storm_id, alert_ref, originator, now))
        answer.update(alertRef=alert_ref, coalesced=True, numCoalesced=count, warnings=[])
        return answer

    async def _target(self, route: RouteConfig, now: float) -> tuple[events.Target, str]:
        inline = self.config.contact_groups.get(route.contact_group)
        ref: dict[str, Any]
        if inline is not None:
            group, ref, group_key = inline, {"inlineContactGroup": inline.model_dump(exclude_none=True)}, \
                route.contact_group
        else:
            uid = route.contact_group
            found = await self.store.read(lambda c: repo.get_stored(c, self.cipher, [uid], now))
            kind, value = found.get(uid, (None, None))
            if kind != "contactGroup":
                raise ApiError("the route's contact-group is not stored", [Problem(
                    f"events.routes.{route.name}.contact_group",
                    "no stored contact-group with this uuid (expired or never stored)")], 409)
            group, ref, group_key = ContactGroup.model_validate(value), {"storedContactGroup": uid}, uid
        contacts, missing = events.contacts_of(group, route.contact_sets)
        if missing:
            raise ApiError("the route names contact sets its group does not have", [Problem(
                f"events.routes.{route.name}.contact_sets", f"not in the group: {', '.join(missing)}")], 409)
        return events.Target(ref, tuple(contacts)), group_key

    async def _new_alert(self, route: RouteConfig, event: events.Event, originator: str, dedup_ix: str,
                         storm_id: str, now: float) -> dict[str, Any]:
        target, group_key = await self._target(route, now)
        contacts, warnings = events.reachable(target.contacts, route.alert_types)
        if not contacts:
            raise ApiError("no contact of the route can be reached", [Problem(
                f"events.routes.{route.name}", "no contact has an address for any of its alert types")], 409)
        keys = {c.id: f"{group_key}/{c.id}" for c in contacts}
        window_s = self.config.cap_window_min * 60.0
        history: dict[str, list[float]] = {}
        if self.config.cap_per_contact > 0:
            by_key = await self.store.read(lambda c: _contact_history(c, list(keys.values()), now - window_s))
            history = {cid: by_key.get(key, []) for cid, key in keys.items()}
        caps = events.apply_caps([c.id for c in contacts], history, now, self.config.cap_per_contact, window_s)
        allowed = [c for c in contacts if c.id in set(caps.allowed)]
        if caps.suppressed:
            warnings.append(f"{len(caps.suppressed)} contact(s) suppressed by the per-contact cap "
                            f"({self.config.cap_per_contact} per {self.config.cap_window_min:g} min)")
        reason = f"cap {self.config.cap_per_contact} per {self.config.cap_window_min:g} min"
        if not allowed:
            suppressed_keys = [keys[cid] for cid in caps.suppressed]
            await self.store.write(lambda c: self._audit(c, suppressed_keys, route.name, event.event, None, reason,
                                                         now))
            log.info("event %r on route %s: every contact suppressed by the cap", event.event, route.name)
            return {"coalesced": False, "numCoalesced": 0, "warnings": warnings,
                    "suppressedContacts": list(caps.suppressed)}
        escalation = route.escalation
        link_ref = f"ev-{storm_id}" if escalation is not None else None
        plan = events.plan_alert(route, event, events.Target(target.group_ref, tuple(allowed)), unique_id=storm_id,
                                 link_ref=link_ref, link_lifetime=self.config.link_lifetime)
        assert plan is not None  # every allowed contact has an address for one of the route's types
        follow_up = None
        if escalation is not None and link_ref is not None:
            follow_up = events.plan_escalation(route, escalation, event, allowed, unique_id=f"{storm_id}-esc",
                                               link_ref=link_ref)
        req = self._request(plan.request)
        await self.store.write(lambda c: c.execute(
            "INSERT OR IGNORE INTO event_storms (storm_id, dedup_ix, route, opened_at, last_at) VALUES (?, ?, ?, ?, ?)",
            (storm_id, dedup_ix, route.name, now, now)))
        try:
            result = await self.intake.send_alert(req)
        except ApiError as exc:
            await self.store.write(lambda c: c.execute("DELETE FROM event_storms WHERE storm_id = ?", (storm_id,)))
            raise ApiError(f"the routed alert was refused: {exc.reason}", exc.problems, exc.http_status) from None
        alert_ref = str(result["alertRef"])
        for item in result.get("alerts", []):
            if not item.get("success", True):
                warnings.append(f"{item.get('alertType')}: {item.get('failureReason')}")
        suppressed_keys = [keys[cid] for cid in caps.suppressed]
        contacted = [keys[c.id] for c in allowed]
        due = now + escalation.after_min * 60.0 if escalation is not None else 0.0
        escalation_blob = self.cipher.encrypt_json(follow_up.request) if follow_up is not None else None

        def record(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE event_storms SET alert_ref = ? WHERE storm_id = ?", (alert_ref, storm_id))
            _add_originator(conn, alert_ref, originator, now)
            conn.executemany("INSERT INTO event_contacted (contact, at, alert_ref) VALUES (?, ?, ?)",
                             [(k, now, alert_ref) for k in contacted])
            self._audit(conn, suppressed_keys, route.name, event.event, alert_ref, reason, now)
            if escalation_blob is not None:
                conn.execute("INSERT INTO event_escalations (alert_ref, due_at, request) VALUES (?, ?, ?)",
                             (alert_ref, due, escalation_blob))

        await self.store.write(record)
        self._storms[dedup_ix] = events.OpenStorm(storm_id, alert_ref, now, 0)
        log.info("event %r routed by %s: alert %s to %d contact(s)", event.event, route.name, alert_ref, len(allowed))
        out: dict[str, Any] = {"alertRef": alert_ref, "coalesced": False, "numCoalesced": 0, "warnings": warnings}
        if caps.suppressed:
            out["suppressedContacts"] = list(caps.suppressed)
        if escalation is not None:
            out["escalationAt"] = repo._iso(due)
        return out

    @staticmethod
    def _audit(conn: sqlite3.Connection, contact_keys: Sequence[str], route: str, event_key: str,
               alert_ref: str | None, reason: str, now: float) -> None:
        conn.executemany("INSERT INTO event_suppressed (at, contact, route, event, alert_ref, reason)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                         [(now, k, route, event_key, alert_ref, reason) for k in contact_keys])

    @staticmethod
    def _request(body: dict[str, Any]) -> SendAlertRequest:
        try:
            return SendAlertRequest.model_validate_json(json.dumps(body))
        except ValidationError as exc:
            # the route's configuration produced something sendalert refuses (e.g. a bad sms_sender)
            raise ApiError("the route's alert is not valid", validation_problems(exc), 409) from None

    # -- escalations and housekeeping -----------------------------------------------------------
    async def _loop(self) -> None:
        last_housekeeping = 0.0
        while True:
            now = self.clock()
            try:
                await self.fire_due(now)
                if now - last_housekeeping >= HOUSEKEEPING_EVERY_S:
                    last_housekeeping = now
                    window_s = self.config.cap_window_min * 60.0
                    await self.store.write(functools.partial(_housekeeping, now=now, cap_window_s=window_s))
                    horizon = now - self.config.dedup_window_s
                    for ix in [ix for ix, st in self._storms.items() if st.opened_at < horizon]:
                        self._storms.pop(ix, None)
            except Exception:
                log.exception("events: escalation or housekeeping round failed")
            await asyncio.sleep(ESCALATION_POLL_S)

    async def fire_due(self, now: float) -> int:
        due = await self.store.read(lambda c: c.execute(
            "SELECT id, alert_ref, request FROM event_escalations WHERE done_at IS NULL AND due_at <= ?"
            " ORDER BY due_at LIMIT 100", (now,)).fetchall())
        for row_id, first_ref, blob in due:
            body = self.cipher.decrypt_json(blob)
            link_ref = str(body["linkedAlerts"]["linkRef"])
            responded = await self.store.read(functools.partial(repo.responded_in_link, link_ref=link_ref))
            if not events.escalation_needed(body, responded):
                log.info("escalation of %s not needed: every contact has responded", first_ref)
                await self.store.write(functools.partial(_escalation_done, row_id=row_id, now=now,
                                                         outcome="not sent: every contact has responded"))
                continue
            try:
                result = await self.intake.send_alert(self._request(body))
                outcome = f"alert {result['alertRef']}"
                log.info("escalation of %s sent as %s", first_ref, result["alertRef"])
            except ApiError as exc:
                outcome = f"not sent: {exc.reason}" + "".join(f"; {p.path}: {p.message}" for p in exc.problems)
                log.info("escalation of %s not sent: %s", first_ref, exc.reason)
            await self.store.write(functools.partial(_escalation_done, row_id=row_id, outcome=outcome, now=now))
        return len(due)


async def attach(node: Node) -> None:
    runtime = EventsRuntime(node)
    node.control_hooks.append(runtime.routes)
    cfg = node.config.events
    info = {"enabled": cfg.enabled, "routes": [r.name for r in cfg.routes], "defaultRoute": cfg.default_route,
            "dedupWindowSeconds": cfg.dedup_window_s, "capPerContact": cfg.cap_per_contact}
    if node.services is not None:
        node.services.extra_info["events"] = lambda: info
    runtime.start()
    node._events_runtime = runtime  # type: ignore[attr-defined]


async def detach(node: Node) -> None:
    runtime: EventsRuntime | None = getattr(node, "_events_runtime", None)
    if runtime is not None:
        await runtime.stop()
