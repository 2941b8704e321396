"""Accepting work: ``sendalert`` and ``storecontent`` from validated request to durable rows.

Accepted means durable: the alert, its items and every delivery are committed in one transaction
before the answer is returned. A repeated ``uniqueId`` returns the first answer and creates nothing.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from alertnode.contract.alerts import contact_sets, set_group
from alertnode.contract.lifetime import parse_lifetime
from alertnode.contract.sendalert import ContactGroup, SendAlertRequest, StoreContentRequest
from alertnode.domain import Channel
from alertnode.errors import ApiError, LifetimeError, Problem
from alertnode.jobs import expand, rich
from alertnode.jobs.config import LimitsSection
from alertnode.jobs.content_config import ContentSection
from alertnode.jobs.image_fetch import ImageFetcher
from alertnode.jobs.images import Image, ImageError
from alertnode.store import marks, repo
from alertnode.store import rich as rich_store
from alertnode.store.crypto import RANDOM, Cipher
from alertnode.store.db import Store

_SUBJECT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: read aloud and retyped

log = logging.getLogger(__name__)


def new_subject_ref() -> str:
    return "AN" + "".join(secrets.choice(_SUBJECT_ALPHABET) for _ in range(8))


def new_alert_ref(now: float) -> str:
    """A UUID of version 7 (RFC 9562): the millisecond of ``now`` in its first 48 bits, then 74 random bits. New
    alerts' refs thus sort by time, so the indexes keyed by ``alert_ref`` (the alerts, their items, deliveries,
    events and info) grow at their right edge: a group commit of new alerts touches a few index pages instead
    of a page per alert and index (tools/bench/api.py)."""
    raw = bytearray(int(now * 1000).to_bytes(6, "big") + RANDOM.take(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)  # version 7
    raw[8] = 0x80 | (raw[8] & 0x3F)  # the RFC's variant
    return str(uuid.UUID(bytes=bytes(raw)))


def new_tokens(count: int) -> list[str]:
    """Per-recipient tokens: 96 random bits each (unguessable short links and reply references)."""
    raw = RANDOM.take(12 * count)
    return [base64.urlsafe_b64encode(raw[i : i + 12]).decode("ascii") for i in range(0, 12 * count, 12)]


INLINE_PLAN_ENTRIES = 64
"""requests of at most this many entries (recipients, contacts, stored list entries) are planned in place"""


ACCEPTED_LOG_INTERVAL_S = 1.0
"""at most one INFO line a second for accepted alerts (see Intake._log_accepted)"""


def _size(req: SendAlertRequest, resolved: expand.Resolved) -> int:
    """How much planning ``req`` takes, in entries: what its items name directly, its contact-group's contacts
    and the entries of the stored lists it uses."""
    count = len(resolved.contact_group.contacts) if resolved.contact_group is not None else 0
    for item in req.alert:
        count += len(item.recipients or ()) + len(item.contacts or ()) + len(item.contactSets or ())
        for text in (item.recipientList, item.contactList, item.contactSetList):
            if text:
                count += text.count(",") + 1
    for stored in resolved.stored.values():
        count += len(stored.value) if isinstance(stored.value, list) else 1
    return count


class Intake:
    def __init__(self, limits: LimitsSection, store: Store, cipher: Cipher, channels: Mapping[str, Channel],
                 clock: Callable[[], float] = time.time, *, sms_default_sender: str = "",
                 images: ImageFetcher | None = None) -> None:
        self.limits = limits
        self.sms_default_sender = sms_default_sender
        """``[sms] default_sender``: the sender of sms items that give none (empty: they must give one)"""
        self.store = store
        self.cipher = cipher
        self.channels = channels
        self.clock = clock
        self.images = images if images is not None else ImageFetcher(ContentSection())
        self._queued: dict[str, int] = {}
        self._queued_at = float("-inf")
        self._counting: asyncio.Future[None] | None = None
        self._counted = False
        self._accepted = 0
        self._accepted_logged_at = float("-inf")

    async def queued(self) -> dict[str, int]:
        """Deliveries waiting per alert type, counted at most once a second (a count over the queue
        per request would grow with the queue); accepted work is added in between. One count at a time, in
        the background: requests meanwhile use the last count (only the very first request waits for one),
        so that a second's worth of concurrent requests does not each run the count and wait for it."""
        now = self.clock()
        if now - self._queued_at > 1.0 and self._counting is None:
            self._queued_at = now
            self._counting = asyncio.ensure_future(self._count())
        if not self._counted and self._counting is not None:
            await asyncio.shield(self._counting)
        return self._queued

    async def _count(self) -> None:
        try:
            self._queued = await self.store.read(repo.queued_counts)
            self._counted = True
        except Exception:  # in the background: the last count stands, the next second retries
            log.exception("counting the queued deliveries failed")
        finally:
            self._counting = None

    # -- sendalert ---------------------------------------------------------------------------
    async def send_alert(self, req: SendAlertRequest) -> dict[str, Any]:
        now = self.clock()
        if req.uniqueId is not None:
            unique_id = req.uniqueId
            first = await self.store.read(lambda c: repo.response_for_unique_id(c, unique_id))
            if first is not None:
                return first
        resolved, link = await self._resolve(req, now)
        limits = self.limits
        planner = functools.partial(
            expand.plan, req, resolved, now=now, max_recipients=limits.max_recipients_per_item,
            unique_limit=limits.unique_lookup_recipients, default_lifetime=limits.default_lifetime,
            sms_default_sender=bool(self.sms_default_sender),
        )
        # a large request is planned off the event loop (10,000 recipients take a while); a small one in place,
        # where the hop to a thread and back would cost more than the planning (tools/bench/api.py)
        plan, problems = planner() if _size(req, resolved) <= INLINE_PLAN_ENTRIES else await asyncio.to_thread(planner)
        if problems:
            raise ApiError("the request is not valid", problems)
        queued = await self.queued()
        results: list[dict[str, Any]] = []
        accepted_items: list[expand.PlannedItem] = []
        refused: list[Problem] = []
        channel_problems: list[Problem] = []
        taken: dict[str, int] = {}
        for item in plan.items:
            path = f"alert[{item.index}]"
            channel = self.channels.get(item.alert_type)
            capacity = limits.queue_capacity.get(item.alert_type, 0) - queued.get(item.alert_type, 0)
            capacity -= taken.get(item.alert_type, 0)
            result = {"alertType": item.alert_type, "tag": item.tag, "requestedCount": item.requested,
                      "sentCount": 0, "remainingCapacity": max(capacity, 0)}
            reason = None
            if channel is None:
                reason = f"alertType {item.alert_type} is not configured on this node"
            else:
                channel_problems.extend(channel.validate_item(item.params, item.content, path))
                channel_problems.extend(_refused_recipients(channel, item, path))
                if len(item.recipients) > capacity:
                    reason = (f"{len(item.recipients)} recipients exceed the remaining capacity of "
                              f"{max(capacity, 0)} for {item.alert_type}")
            if reason is not None:
                refused.append(Problem(f"{path}.alertType", reason))
                result.update(success=False, failureReason=reason)
            else:
                taken[item.alert_type] = taken.get(item.alert_type, 0) + len(item.recipients)
                result.update(success=True, sentCount=len(item.recipients),
                              remainingCapacity=max(capacity - len(item.recipients), 0))
                accepted_items.append(item)
            results.append(result)
        if channel_problems:
            raise ApiError("the request is not valid", channel_problems)
        if not accepted_items:
            raise ApiError("no alert item could be accepted", refused)
        images = await self._fetch_images(accepted_items)
        answer = await self._commit(req, plan, accepted_items, results, link, resolved, now, images)
        for alert_type, count in taken.items():
            self._queued[alert_type] = self._queued.get(alert_type, 0) + count
        return answer

    async def _resolve(self, req: SendAlertRequest, now: float) -> tuple[expand.Resolved, dict[str, Any] | None]:
        uuids: set[str] = set()
        for item in req.alert:
            for name in ("storedRecipients", "storedContactList", "storedContactSetList", "storedContent"):
                value = getattr(item, name)
                if value is not None:
                    uuids.add(value)
            uuids.update(a.storedContent for a in item.additionalContent or [] if a.storedContent)
        if req.contactGroup and req.contactGroup.storedContactGroup:
            uuids.add(req.contactGroup.storedContactGroup)
        stored_raw = await self.store.read(lambda c: repo.get_stored(c, self.cipher, uuids, now)) if uuids else {}
        stored = {k: expand.StoredItem(kind, value) for k, (kind, value) in stored_raw.items()}
        problems: list[Problem] = []
        group: ContactGroup | None = None
        group_path = "contactGroup"
        if req.contactGroup is not None:
            cg = req.contactGroup
            if (cg.inlineContactGroup is None) == (cg.storedContactGroup is None):
                problems.append(Problem("contactGroup", "give inlineContactGroup or storedContactGroup (one)"))
            elif cg.inlineContactGroup is not None:
                group = cg.inlineContactGroup
                group_path = "contactGroup.inlineContactGroup"
            else:
                assert cg.storedContactGroup is not None
                found = stored.get(cg.storedContactGroup)
                if found is None or found.kind != "contactGroup":
                    problems.append(Problem("contactGroup.storedContactGroup",
                                            "no stored contact group with this uuid (expired or never stored)"))
                else:
                    group = ContactGroup.model_validate(found.value)
                    group_path = "contactGroup.storedContactGroup"
        link: dict[str, Any] | None = None
        responded: dict[str, frozenset[str]] = {}
        if req.linkedAlerts is not None:
            ref = req.linkedAlerts.linkRef
            link = await self.store.read(lambda c: repo.get_link(c, self.cipher, ref, now))
            if link is None:
                if req.linkedAlerts.linkOnlyIfRefAlreadyExists:
                    problems.append(Problem("linkedAlerts.linkRef", f"link {ref!r} does not exist (or expired)"))
                elif group is None:
                    problems.append(Problem("contactGroup", "the first alert of a link must carry a contact-group"))
            else:
                if req.contactGroup is not None:
                    problems.append(Problem("contactGroup", f"link {ref!r} uses the contact-group of its first "
                                                            "alert; do not send another"))
                group = ContactGroup.model_validate(link["contact_group"])
                group_path = "linkedAlerts"
                responded = await self.store.read(lambda c: repo.responded_in_link(c, ref))
        if problems:
            raise ApiError("the request is not valid", problems)
        return expand.Resolved(stored, group, group_path, responded, linked=link is not None), link

    async def _fetch_images(self, items: list[expand.PlannedItem]) -> list[rich_store.NewImage]:
        """The image of each item with an ``image_url``, fetched once per URL before the alert is accepted (an
        accepted alert has everything it sends); any that cannot be used refuses the request at its path."""
        wanted = {i.index: str(i.params["image_url"]) for i in items
                  if i.params.get("image_url") and i.alert_type in rich.IMAGE_ONLY_TYPES}  # a call reads text only
        if not wanted:
            return []
        fetched = await self.images.fetch_all(wanted.values())
        images: list[rich_store.NewImage] = []
        problems: list[Problem] = []
        for index, url in wanted.items():
            found = fetched[url]
            if isinstance(found, ImageError):
                problems.append(Problem(f"alert[{index}].image_url", found.message))
            else:
                assert isinstance(found, Image)
                images.append(rich_store.NewImage(index, found.mime, found.data, found.sha256))
        if problems:
            raise ApiError("an image cannot be used", problems)
        return images

    async def _commit(self, req: SendAlertRequest, plan: expand.Plan, items: list[expand.PlannedItem],
                      results: list[dict[str, Any]], link: dict[str, Any] | None, resolved: expand.Resolved,
                      now: float, images: list[rich_store.NewImage] | None = None) -> dict[str, Any]:
        alert_ref = new_alert_ref(now)
        has_email = any(i.alert_type == "email" for i in items)
        subject_ref = new_subject_ref() if has_email else None
        scheduled = req.schedule is not None
        publish_at = now + (plan.publish_delay or 0.0) if plan.publish else None
        expires_at = now + plan.expires_in if plan.expires_in is not None else None
        response: dict[str, Any] = {"success": True, "clientRef": req.clientRef, "alertRef": alert_ref}
        schedule_id = None
        if scheduled:
            schedule_id = "sch-" + secrets.token_hex(8)
            response.update(
                scheduleId=schedule_id, storeId=alert_ref,
                expirationInDays=round(plan.expires_in / 86400, 3) if plan.expires_in is not None else 0,
                schedule_url=f"/api/json/alerts/{alert_ref}/schedule",
            )
        if subject_ref:
            response["emailSubjectRef"] = subject_ref
        response["alerts"] = results
        if plan.warnings:
            response["warnings"] = [w.as_dict() for w in plan.warnings]
        request_json = req.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"apiKey"})
        sched = req.schedule
        quiet = None
        if sched is not None and sched.ceaseAt and sched.resumeAt:
            quiet = {"cease": sched.ceaseAt, "resume": sched.resumeAt, "tz": sched.timezone or "UTC"}
        alert = repo.NewAlert(
            alert_ref=alert_ref, client_ref=req.clientRef, unique_id=req.uniqueId, created_at=now,
            publish_at=publish_at, status="running", expires_at=expires_at,
            end_at=sched.endAt.timestamp() if sched is not None and sched.endAt is not None else None,
            quiet=quiet, callback_url=req.callbackURL, notification=req.notification,
            notification_type=req.notificationType, link_ref=req.linkedAlerts.linkRef if req.linkedAlerts else None,
            email_subject_ref=subject_ref, schedule_id=schedule_id, request=request_json, response=response,
        )
        new_items = [repo.NewItem(i.index, i.alert_type, i.tag, {**i.params, "voiceFormat": i.voice_format}
                                  if i.voice_format else i.params, i.content, i.requested, len(i.recipients))
                     for i in items]
        deliveries: list[repo.NewDelivery] = []
        for i in items:
            recipients = i.recipients
            if i.alert_type == "inboundCall" and not recipients:
                # no expected callers named: one delivery stands for "whoever calls the number"
                number = expand.normalize_phone(str(i.params.get("telephoneNumber", ""))) or ""
                recipients = [expand.Recipient(number, None, {})]
            tokens = new_tokens(len(recipients))
            deliveries.extend(repo.NewDelivery(i.index, i.alert_type, r.contact_id, r.address, dict(r.lookups), t)
                              for r, t in zip(recipients, tokens, strict=True))
        link_expires = None
        if req.linkedAlerts is not None and link is None:
            lt = req.linkedAlerts.lifetime or self.limits.default_lifetime
            seconds = parse_lifetime(lt)
            link_expires = now + seconds if seconds is not None else None
        group = resolved.contact_group
        new_link = None
        if req.linkedAlerts is not None and link is None and group is not None:
            new_link = repo.NewLink(req.linkedAlerts.linkRef, group.model_dump(mode="json"), link_expires)
        stored_lists = {u: s.value for u, s in resolved.stored.items() if s.kind == "contactSetList"}
        info = marks.AlertInfo(req.category, req.appData, [set_group(n) for n in contact_sets(req, stored_lists)])

        after = None
        if new_link is not None or images:
            def after(c: Any, link: repo.NewLink | None = new_link) -> None:
                if link is not None:
                    repo.insert_link(c, self.cipher, link.link_ref, alert_ref, link.contact_group, now, link.expires_at)
                if images:
                    rich_store.put_images(c, self.cipher, alert_ref, images)

        # the rows are made here, beside the request; the store's writer inserts those of every alert
        # waiting with this one together (one statement per table), and answers once they are committed
        prepared = repo.prepare_alert(self.cipher, alert, new_items, deliveries, publish_at or now, info=info,
                                      after=after)
        answer = await self.store.write_batched(repo.accept_prepared, prepared)
        if answer.get("alertRef") == alert_ref:  # stored now, not the first answer again for a repeated uniqueId
            answer = response  # the same answer (the writer process sends back a copy)
            pending = "" if publish_at is not None and publish_at <= now else " (not yet published)"
            self._log_accepted(alert_ref, len(new_items), len(deliveries), pending, now)
        return answer

    def _log_accepted(self, alert_ref: str, items: int, deliveries: int, pending: str, now: float) -> None:
        """At most one INFO line per second: a line per alert at a few alerts a minute, as an operator reads them;
        at hundreds a second, one line for all of them (journald drops a service's lines past its rate limit,
        10,000 per 30 s by default, warnings included). Every alert is also an ``accepted`` event."""
        self._accepted += 1
        if now - self._accepted_logged_at < ACCEPTED_LOG_INTERVAL_S:
            log.debug("alert accepted: %d item(s), %d deliveries%s", items, deliveries, pending,
                      extra={"alert_ref": alert_ref})
            return
        more = f" ({self._accepted - 1} more accepted since the last line)" if self._accepted > 1 else ""
        log.info("alert accepted: %d item(s), %d deliveries%s%s", items, deliveries, pending, more,
                 extra={"alert_ref": alert_ref})
        self._accepted = 0
        self._accepted_logged_at = now

    # -- storecontent ------------------------------------------------------------------------
    async def store_content(self, req: StoreContentRequest) -> dict[str, Any]:
        now = self.clock()
        problems: list[Problem] = []
        value: Any = None
        kind = req.contentType
        given = {name for name in ("content", "recipientList", "contactList", "contactSetList", "contactGroup")
                 if getattr(req, name) is not None}
        for name in sorted(given - {kind}):
            problems.append(Problem(name, f"not used with contentType {kind}"))
        if kind not in given:
            problems.append(Problem(kind, f"mandatory with contentType {kind}"))
        elif kind == "content":
            assert req.content is not None
            data = expand.decode_content(req.content, req.contentEncoding, "content", problems)
            if data is not None:
                if len(data) > self.limits.max_content_bytes:
                    problems.append(Problem("content", "content is larger than limits.max_content_bytes"))
                value = {"data": base64.b64encode(data).decode("ascii"), "voiceFormat": req.voiceFormat}
        elif kind == "contactGroup":
            assert req.contactGroup is not None
            problems.extend(expand.check_contact_group(req.contactGroup, "contactGroup"))
            value = req.contactGroup.model_dump(mode="json")
        else:
            raw = getattr(req, kind)
            entries = expand.split_list(raw) if isinstance(raw, str) else list(raw)
            if not entries or any(not e.strip() for e in entries):
                problems.append(Problem(kind, "entries must not be empty"))
            if kind == "recipientList":
                for i, e in enumerate(entries):
                    if expand.normalize_phone(e) is None and expand.normalize_email(e) is None:
                        problems.append(Problem(f"{kind}[{i}]", "neither an E.164 number nor an e-mail address"))
            value = [e.strip() for e in entries]
        lifetime = req.lifetime or self.limits.stored_content_lifetime
        seconds: float | None = None
        try:
            seconds = parse_lifetime(lifetime)
        except LifetimeError as exc:
            problems.append(Problem("lifetime", str(exc)))
        if problems:
            raise ApiError("the request is not valid", problems)
        item_uuid = str(uuid.uuid4())
        expires_at = now + seconds if seconds is not None else None
        await self.store.write(lambda c: repo.put_stored(c, self.cipher, item_uuid, kind, value, now, expires_at))
        return {"success": True, "uuid": item_uuid, "contentType": kind,
                "expirationInDays": round(seconds / 86400, 3) if seconds is not None else 0}


def _refused_recipients(channel: Channel, item: expand.PlannedItem, path: str, limit: int = 20) -> list[Problem]:
    """The recipients ``channel`` will not send to (e.g. ``mail.refuse_domains``), at most ``limit`` of them
    named; the address is the requester's own data, so it is named in the answer."""
    problems: list[Problem] = []
    for recipient in item.recipients:
        why = channel.refuses(recipient.address)
        if why is not None:
            where = f"{path}.contacts[{recipient.contact_id}]" if recipient.contact_id else f"{path}.recipients"
            problems.append(Problem(where, f"{recipient.address}: {why}"))
            if len(problems) >= limit:
                break
    return problems
