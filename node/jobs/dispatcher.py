"""The dispatcher: takes due deliveries per channel and hands them over.

For each channel it claims as many due deliveries as the channel has free capacity (state
queued → in_progress, recorded), renders each recipient's text (lookups, localized body), honours
quiet hours, and submits. Expiry of deliveries past their alert's lifetime or end time, and the purge
of alerts past their lifetime, run here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from alertnode.contract.bodies import chosen_body
from alertnode.domain import Channel, ChannelEvent, DeliveryState, DeliveryWork, RichParts
from alertnode.jobs import lookups, quiet, rich
from alertnode.jobs.cluster import ClusterLock, Leases
from alertnode.jobs.config import DispatcherSection
from alertnode.jobs.content_config import ContentSection
from alertnode.logs import log_ids
from alertnode.store import repo
from alertnode.store import rich as rich_store
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

WATCHED = ("inboundCall",)  # answered by whichever node the PBX routes the call to (Channel.watch)
WATCH_S = 2.0
HOUSEKEEPING_LEASE_S = 10.0  # the node doing expiry and purge renews this every second; another takes over after


@dataclass(frozen=True)
class Addresses:
    """What rendering a recipient's text needs from other sections of the configuration."""

    public_base_url: str
    """short links are ``{public_base_url}/s/{token}`` (public.base_url)"""
    mail_domain: str
    """``{sender}`` of an e-mail is its local part ``@`` this domain (mail.domain)"""
    mail_default_sender: str
    """the local part when the item names none (mail.default_sender)"""


class Dispatcher:
    def __init__(self, config: DispatcherSection, addresses: Addresses, store: Store, cipher: Cipher,
                 channels: Mapping[str, Channel], report: Callable[[ChannelEvent], Any],
                 clock: Callable[[], float] = time.time, content: ContentSection | None = None,
                 leases: Leases | None = None) -> None:
        self.config = config
        self.content = content if content is not None else ContentSection()
        self._images: OrderedDict[int, rich_store.StoredImage | None] = OrderedDict()
        self.addresses = addresses
        self.store = store
        self.cipher = cipher
        self.channels = channels
        self.report = report
        self.clock = clock
        self.leases = leases or Leases("", 30.0)
        self._locks = ClusterLock(store, HOUSEKEEPING_LEASE_S, clock=clock)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._items: OrderedDict[int, repo.ItemRow] = OrderedDict()
        self._watched: dict[int, str] = {}  # delivery id -> alert type, held by another node, watched here
        self._running = False

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        now = self.clock()
        owner = self.leases.node_id
        requeued = await self.store.write(lambda c: repo.requeue_in_progress(c, self.cipher, now, owner))
        if requeued:
            log.info("re-queued %d deliveries that were in progress at the last stop", requeued)
        self._running = True
        for alert_type, channel in self.channels.items():
            self._tasks.append(asyncio.create_task(self._run(alert_type, channel), name=f"dispatch-{alert_type}"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        if self.store.dialect.shared and any(t in self.channels for t in WATCHED):
            self._tasks.append(asyncio.create_task(self._watch_loop(), name="dispatch-watch"))

    async def stop(self) -> None:
        self._running = False
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, alert_type: str, channel: Channel) -> None:
        poll = self.config.poll_interval_s
        while self._running:
            try:
                handed = await self._round(alert_type, channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatch round for %s failed", alert_type)
                handed = 0
            if handed == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=poll if channel.free_capacity() else poll * 4)

    async def _round(self, alert_type: str, channel: Channel) -> int:
        free = channel.free_capacity()
        if free <= 0:
            return 0
        now = self.clock()
        if not await self.store.read(lambda c: repo.has_due(c, alert_type, now)):
            return 0
        limit = min(free, self.config.batch)
        owner, lease_s = self.leases.node_id, self.leases.lease_s
        due = await self.store.write(lambda c: repo.claim_due(c, self.cipher, alert_type, now, limit, owner, lease_s),
                                     notify=False)
        for d in due:
            self.leases.hold(d.id, d.claim, d.alert_type)
        deferred: dict[float, list[int]] = {}
        for d in due:
            later = self._quiet_until(d, now)
            if later is not None:
                deferred.setdefault(later, []).append(d.id)
                continue
            with log_ids(alert_ref=d.alert_ref, delivery_id=d.id):
                work = await self._work(d, now)
                try:
                    await channel.submit(work)
                except Exception as exc:
                    log.exception("channel %s refused delivery %d", channel.name, d.id)
                    await self.report(ChannelEvent(d.id, "failed", self.clock(), DeliveryState.FAILED,
                                                   {"reason": f"channel error: {exc}"}, final=True))
        for at, ids in deferred.items():
            await self.store.write(partial(repo.defer, ids=ids, due_at=at, now=now), notify=False)
            self.leases.forget(ids)
        return len(due) - sum(len(v) for v in deferred.values())

    async def _watch_loop(self) -> None:
        while self._running:
            try:
                await self.watch_round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watching other nodes' deliveries failed")
            await asyncio.sleep(WATCH_S)

    async def watch_round(self) -> None:
        """Hand this node's channels the deliveries other nodes hold and wait for an answer to (an inboundCall
        the PBX may route to this node), and take back those no longer waiting."""
        now = self.clock()
        owner = self.leases.node_id
        current: dict[int, tuple[str, repo.DueDelivery]] = {}
        for alert_type in WATCHED:
            if alert_type not in self.channels:
                continue
            rows = await self.store.read(partial(repo.waiting_elsewhere, cipher=self.cipher, alert_type=alert_type,
                                                 owner=owner, now=now))
            current.update({d.id: (alert_type, d) for d in rows})
        gone: dict[str, list[int]] = {}
        for delivery_id, alert_type in list(self._watched.items()):
            if delivery_id not in current:
                del self._watched[delivery_id]
                if not self.leases.claims([delivery_id]):  # taken over by this node meanwhile: its own now
                    gone.setdefault(alert_type, []).append(delivery_id)
        for alert_type, ids in gone.items():
            await self.channels[alert_type].cancel(ids)
        for delivery_id, (alert_type, d) in current.items():
            if delivery_id not in self._watched:
                self._watched[delivery_id] = alert_type
                await self.channels[alert_type].watch(await self._work(d, now))

    def _quiet_until(self, d: repo.DueDelivery, now: float) -> float | None:
        if not d.quiet:
            return None
        zone = d.lookups.get("timezone") or d.quiet.get("tz") or "UTC"
        try:
            allowed = quiet.next_allowed(now, d.quiet["cease"], d.quiet["resume"], zone)
        except (KeyError, ValueError):
            allowed = quiet.next_allowed(now, d.quiet["cease"], d.quiet["resume"], d.quiet.get("tz") or "UTC")
        return allowed if allowed > now else None

    async def _item(self, item_id: int) -> repo.ItemRow:
        item = self._items.get(item_id)
        if item is None:
            item = await self.store.read(lambda c: repo.get_item(c, self.cipher, item_id))
            self._items[item_id] = item
            if len(self._items) > 256:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(item_id)
        return item

    async def _work(self, d: repo.DueDelivery, now: float) -> DeliveryWork:
        item = await self._item(d.item_id)
        params = item.params
        content = item.content or b""
        text: str | None = None
        is_audio = item.alert_type in ("call", "inboundCall") and params.get("voiceFormat") not in (None, "tts")
        if not is_audio:
            text = self._body(params, content, d.lookups)
            lk = params.get("lookups") or {}
            # a shortlink section implies performLookups (the reference), even an empty one: test its presence
            if lk.get("performLookups") or "shortlink" in lk:
                ctx = self._context(d, item, now)
                if text is not None:
                    text = lookups.render(text, ctx)
                if "subject" in params:
                    params = {**params, "subject": lookups.render(str(params["subject"]), ctx)}
        rich_parts: RichParts | None = None
        if item.alert_type == "sms" and rich.has_rich(params):
            text = rich.sms_text(text, rich.page_url(self.addresses.public_base_url, d.token))
        elif item.alert_type == "email":
            rich_parts = await self._rich_parts(item, d.token)
        return DeliveryWork(
            delivery_id=d.id, alert_ref=d.alert_ref, client_ref=d.client_ref, item_index=item.idx, tag=item.tag,
            alert_type=item.alert_type, address=d.address, contact_id=d.contact_id, token=d.token,
            content=content, text=text, params=params, lookups=d.lookups, attempt=d.attempts,
            created_at=d.created_at, expires_at=d.expires_at, email_subject_ref=d.email_subject_ref, rich=rich_parts,
        )

    async def _rich_parts(self, item: repo.ItemRow, token: str) -> RichParts | None:
        """An e-mail's image, link and tracking image (jobs/rich.py); None for a plain message."""
        params = item.params
        track = rich.tracks_opens(params, self.content.track_opens)
        if not rich.has_rich(params) and not track:
            return None
        image = await self._image(item) if params.get("image_url") else None
        link = params.get("link_url")
        return RichParts(
            image=image.data if image is not None else None, image_type=image.mime if image is not None else None,
            link_url=str(link) if link else None, link_label=rich.link_label(params) if link else None,
            open_pixel_url=rich.pixel_url(self.addresses.public_base_url, token) if track else None,
        )

    async def _image(self, item: repo.ItemRow) -> rich_store.StoredImage | None:
        if item.id not in self._images:
            found = await self.store.read(lambda c: rich_store.get_image(c, self.cipher, item.alert_ref, item.idx))
            self._images[item.id] = found
            if len(self._images) > 16:  # images are up to content.image_max_bytes each
                self._images.popitem(last=False)
        return self._images[item.id]

    def _context(self, d: repo.DueDelivery, item: repo.ItemRow, now: float) -> lookups.LookupContext:
        lk = item.params.get("lookups") or {}
        shortlink = lk.get("shortlink") or {}
        sender = str(item.params.get("sender") or "")
        if item.alert_type == "email":  # the item names only the local part; {sender} is the whole address
            sender = f"{sender or self.addresses.mail_default_sender}@{self.addresses.mail_domain}"
        return lookups.LookupContext(
            now=now, recipient=d.address, sender=sender, alert_ref=d.alert_ref,
            reference=str(shortlink.get("reference") or d.client_ref), alert_type=item.alert_type,
            shortlink=f"{self.addresses.public_base_url}/s/{d.token}", contact=d.lookups,
        )

    @staticmethod
    def _body(params: Mapping[str, Any], content: bytes, contact: Mapping[str, str]) -> str | None:
        return choose_body(params, content, contact)

    async def _housekeeping(self) -> None:
        last_purge = 0.0
        while self._running:
            now = self.clock()
            try:
                # one node of a cluster at a time (each expired delivery gets one final event)
                if not await self._locks.try_acquire("housekeeping"):
                    await asyncio.sleep(1.0)
                    continue
                if await self.store.read(partial(repo.has_expired, now=now)):
                    expired = await self.store.write(partial(repo.expire_due, cipher=self.cipher, now=now))
                    log.info("%d deliveries expired", expired)
                if now - last_purge > 60:
                    last_purge = now
                    purged = await self.store.write(partial(repo.purge_expired, now=now), notify=False)
                    if purged:
                        log.info("purged %d alerts past their lifetime", purged)
                    # after the purge: their final events get a round to reach collectevents and callbacks
                    closed = await self.store.write(partial(repo.expire_open, cipher=self.cipher, now=now))
                    if closed:
                        log.info("%d deliveries still open past their alert's lifetime expired", closed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed")
            await asyncio.sleep(1.0)


def choose_body(params: Mapping[str, Any], content: bytes, contact: Mapping[str, str]) -> str | None:
    """The text of an item for one recipient before lookups: the body of the contact's ``locale`` (its language
    when the exact locale is not there), else the content, else the default (or first) body. The rule is
    shared with the alert resource, which reports the locales sent (:func:`alertnode.contract.bodies.chosen_body`)."""
    bodies = params.get("body") or {}
    key = chosen_body(bodies, contact.get("locale"), bool(content))
    if key is not None:
        return str(bodies[key])
    return content.decode("utf-8", "replace") if content else None
