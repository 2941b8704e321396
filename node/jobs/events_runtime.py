"""Events at run time: storm state in the store, alerts through the intake, due escalations.

Routing, templates, dedup and caps are decided in ``alertnode.jobs.events`` (pure); this module reads and
writes the state those decisions need (``alertnode.store.storms``), creates alerts through the intake exactly
like ``sendalert`` does, and fires due escalations. Events with one dedup key are serialized by a lock so that
a storm arriving all at once opens one alert. ``POST /api/events`` itself is ``alertnode.api.events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from alertnode.contract.lifetime import iso_time
from alertnode.contract.problems import validation_problems
from alertnode.contract.sendalert import ContactGroup, SendAlertRequest
from alertnode.domain import AlertStatus
from alertnode.errors import ApiError, Problem
from alertnode.jobs import escalation_steps, events
from alertnode.jobs.cluster import ClusterLock
from alertnode.jobs.events_config import EventsConfig, RouteConfig
from alertnode.jobs.intake import Intake
from alertnode.store import escalations, repo, storms
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

ESCALATION_POLL_S = 1.0      # resolution of escalation due times (they are minutes apart)
HOUSEKEEPING_EVERY_S = 60.0
CLUSTER_LOCK_WAIT_S = 30.0   # how long an event waits for another node opening its key's alert (then 503)



def _open_storm(row: storms.StormRow | None) -> events.OpenStorm | None:
    if row is None:
        return None
    return events.OpenStorm(row.storm_id, row.alert_ref, row.opened_at, row.coalesced,
                            cancelled=row.alert_status is AlertStatus.CANCELLED)


def _alert_cancelled(alert: repo.AlertRow | None) -> bool:
    return alert is not None and alert.stored_status is AlertStatus.CANCELLED


class EventsRuntime:
    def __init__(self, config: EventsConfig, store: Store, cipher: Cipher, intake: Intake,
                 clock: Callable[[], float] = time.time, *, claim_s: float = 30.0) -> None:
        self.config = config
        self.claim_s = claim_s
        """an escalation claimed by a node that died is fired by another this long after (the cluster lease)"""
        self.store = store
        self.cipher = cipher
        self.intake = intake
        self.clock = clock
        # open storms by dedup index: exact while this process is the only writer of event_storms (SQLite)
        self._storms: dict[str, events.OpenStorm] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._task: asyncio.Task[None] | None = None
        self._cap_lock = asyncio.Lock()
        self._cluster = ClusterLock(store, CLUSTER_LOCK_WAIT_S * 2, clock=clock)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="events-escalations")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def info(self) -> dict[str, Any]:
        """The events part of getinfo."""
        cfg = self.config
        return {"enabled": cfg.enabled, "routes": [r.name for r in cfg.routes], "defaultRoute": cfg.default_route,
                "dedupWindowSeconds": cfg.dedup_window_s, "capPerContact": cfg.cap_per_contact}

    async def suppressed(self, limit: int) -> list[storms.Suppressed]:
        """The audit of contacts the per-contact cap kept from being alerted (newest first)."""
        since = self.clock() - storms.AUDIT_KEEP_S
        return await self.store.read(lambda c: storms.suppressed(c, limit, since))

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
        shared = self.store.dialect.shared
        async with lock:
            now = self.clock()
            decision = await self._decide(dedup_ix, now, trust_cache=not shared)
            if decision.action is not events.StormAction.COALESCE:
                if not shared:
                    answer.update(await self._open(route, event, originator, dedup_ix, decision, now))
                    return answer
                # several nodes: one opens the key's alert; the others wait for it and then join it
                async with self._cluster.hold(f"storm:{dedup_ix}", CLUSTER_LOCK_WAIT_S):
                    now = self.clock()
                    decision = await self._decide(dedup_ix, now, trust_cache=False)
                    if decision.action is not events.StormAction.COALESCE:
                        answer.update(await self._open(route, event, originator, dedup_ix, decision, now))
                        return answer
            storm = decision.storm
            assert storm is not None and storm.alert_ref is not None
            # the count is decided here, under the lock; the increments of concurrent events are written
            # outside it, so they share the store's group commits instead of queuing one by one
            count = storm.coalesced + 1
            self._storms[dedup_ix] = dataclasses.replace(storm, coalesced=count)
        alert_ref = storm.alert_ref
        stored = await self.store.write(lambda c: storms.coalesce(c, storm.storm_id, alert_ref, originator, now))
        if shared:  # other nodes fold events into the same storm: the store's count is the true one
            count = stored
        answer.update(alertRef=alert_ref, coalesced=True, numCoalesced=count, warnings=[])
        return answer

    async def _decide(self, dedup_ix: str, now: float, *, trust_cache: bool) -> events.StormDecision:
        """What to do with an event of this key. The cache of open storms is exact only while this node is
        the store's one writer (SQLite); nodes sharing a store read the storm each time."""
        open_storm = self._storms.get(dedup_ix) if trust_cache else None
        if open_storm is None:
            open_storm = _open_storm(await self.store.read(lambda c: storms.open_storm(c, dedup_ix)))
        elif open_storm.alert_ref is not None:  # cached: its alert may have been cancelled since
            ref = open_storm.alert_ref
            if _alert_cancelled(await self.store.read(lambda c: repo.get_alert(c, ref))):
                open_storm = dataclasses.replace(open_storm, cancelled=True)
        return events.decide_storm(open_storm, now, self.config.dedup_window_s)

    async def _open(self, route: RouteConfig, event: events.Event, originator: str, dedup_ix: str,
                    decision: events.StormDecision, now: float) -> dict[str, Any]:
        self._storms.pop(dedup_ix, None)
        storm_id = (decision.storm.storm_id if decision.action is events.StormAction.RETRY_PENDING
                    and decision.storm is not None else str(uuid.uuid4()))
        if self.config.cap_per_contact <= 0:
            return await self._new_alert(route, event, originator, dedup_ix, storm_id, now)
        # with a cap, alerts for different keys are opened one at a time (on every node: a cluster lock):
        # each must see the contacts the one before it recorded, or two concurrent events could both pass it
        async with self._cap_lock, self._cluster.hold("caps", CLUSTER_LOCK_WAIT_S):
            return await self._new_alert(route, event, originator, dedup_ix, storm_id, now)

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
        return events.Target(ref, tuple(contacts), group), group_key

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
            by_key = await self.store.read(lambda c: storms.contact_history(c, list(keys.values()), now - window_s))
            history = {cid: by_key.get(key, []) for cid, key in keys.items()}
        caps = events.apply_caps([c.id for c in contacts], history, now, self.config.cap_per_contact, window_s)
        allowed = [c for c in contacts if c.id in set(caps.allowed)]
        if caps.suppressed:
            warnings.append(f"{len(caps.suppressed)} contact(s) suppressed by the per-contact cap "
                            f"({self.config.cap_per_contact} per {self.config.cap_window_min:g} min)")
        reason = f"cap {self.config.cap_per_contact} per {self.config.cap_window_min:g} min"
        if not allowed:
            suppressed_keys = [keys[cid] for cid in caps.suppressed]
            await self.store.write(lambda c: storms.audit_suppressed(c, suppressed_keys, route.name, event.event,
                                                                     None, reason, now))
            log.info("event %r on route %s: every contact suppressed by the cap", event.event, route.name)
            return {"coalesced": False, "numCoalesced": 0, "warnings": warnings,
                    "suppressedContacts": list(caps.suppressed)}
        link_ref = f"ev-{storm_id}" if route.escalation_steps else None
        plan = events.plan_alert(route, event, events.Target(target.group_ref, tuple(allowed)), unique_id=storm_id,
                                 link_ref=link_ref, link_lifetime=self.config.link_lifetime)
        assert plan is not None  # every allowed contact has an address for one of the route's types
        chain = None
        if link_ref is not None:
            chain = escalation_steps.plan(route, event, target, allowed, storm_id=storm_id, link_ref=link_ref)
        req = self._request(plan.request)
        await self.store.write(lambda c: storms.begin_storm(c, storm_id, dedup_ix, route.name, now))
        try:
            result = await self.intake.send_alert(req)
        except ApiError as exc:
            await self.store.write(lambda c: storms.drop_storm(c, storm_id))
            raise ApiError(f"the routed alert was refused: {exc.reason}", exc.problems, exc.http_status) from None
        alert_ref = str(result["alertRef"])
        for item in result.get("alerts", []):
            if not item.get("success", True):
                warnings.append(f"{item.get('alertType')}: {item.get('failureReason')}")
        suppressed_keys = [keys[cid] for cid in caps.suppressed]
        contacted = [keys[c.id] for c in allowed]
        due = escalation_steps.first_due(chain, now) if chain is not None else 0.0
        chain_blob = self.cipher.encrypt_json(chain.as_json()) if chain is not None else b""

        def record(c: Any) -> None:
            storms.record_alert(c, storm_id, alert_ref, originator, contacted, now, None,
                                storms.Audit(suppressed_keys, route.name, event.event, reason))
            if chain is not None:  # the first step's row; each step writes the next one's when it is done
                escalations.add_step(c, alert_ref, 1, due, chain_blob)

        await self.store.write(record)
        self._storms[dedup_ix] = events.OpenStorm(storm_id, alert_ref, now, 0)
        log.info("event %r routed by %s: alert %s to %d contact(s)", event.event, route.name, alert_ref, len(allowed))
        out: dict[str, Any] = {"alertRef": alert_ref, "coalesced": False, "numCoalesced": 0, "warnings": warnings}
        if caps.suppressed:
            out["suppressedContacts"] = list(caps.suppressed)
        if chain is not None:
            out["escalationAt"] = iso_time(due)
            out["escalationSteps"] = len(chain.steps)
        return out

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
                    await self.store.write(functools.partial(storms.housekeeping, now=now, cap_window_s=window_s))
                    horizon = now - self.config.dedup_window_s
                    for ix in [ix for ix, st in self._storms.items() if st.opened_at < horizon]:
                        self._storms.pop(ix, None)
            except Exception:
                log.exception("events: escalation or housekeeping round failed")
            await asyncio.sleep(ESCALATION_POLL_S)

    async def fire_due(self, now: float) -> int:
        if not await self.store.read(lambda c: storms.due_escalations(c, now, 1)):
            return 0
        owner = self._cluster.owner
        due = await self.store.write(lambda c: storms.claim_escalations(c, owner, now, self.claim_s), notify=False)
        for row in due:
            await self._fire_step(row, now)
        return len(due)

    async def _fire_step(self, row: storms.DueEscalation, now: float) -> None:
        """One due escalation step (the rules of ``alertnode.jobs.escalation_steps``): sent, skipped, waiting or
        stopped; when it is done, the next step's row is written in the same transaction."""
        row_id, first_ref = row.id, row.alert_ref
        chain = escalation_steps.Chain.from_json(self.cipher.decrypt_json(row.request))
        step = chain.steps[0]
        responded: dict[str, frozenset[str]] = {}
        if step.request is not None:
            link_ref = str(step.request["linkedAlerts"]["linkRef"])
            responded = await self.store.read(functools.partial(repo.responded_in_link, link_ref=link_ref))
        alert = await self.store.read(lambda c: repo.get_alert(c, first_ref))
        decision = escalation_steps.decide(step, alert.stored_status if alert is not None else None, responded, now)
        if decision.action is escalation_steps.Action.WAIT:
            await self.store.write(functools.partial(escalations.wait, row_id=row_id, until=decision.until))
            return
        outcome = decision.reason
        if decision.action is escalation_steps.Action.SEND:
            assert step.request is not None
            try:
                result = await self.intake.send_alert(self._request(dict(step.request)))
                outcome = f"alert {result['alertRef']}"
            except ApiError as exc:
                outcome = f"not sent: {exc.reason}" + "".join(f"; {p.path}: {p.message}" for p in exc.problems)
        log.info("escalation step %d of %s: %s", step.number, first_ref, outcome)
        rest = chain.rest if decision.action is not escalation_steps.Action.STOP else None
        follow = None
        if rest is not None:
            next_at = escalation_steps.next_due(chain, now)
            assert next_at is not None
            follow = (rest.steps[0].number, next_at, self.cipher.encrypt_json(rest.as_json()))

        def done(c: Any) -> None:
            storms.escalation_done(c, row_id=row_id, outcome=outcome, now=now)
            if follow is not None:
                escalations.add_step(c, first_ref, *follow)

        await self.store.write(done)

