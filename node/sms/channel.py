"""The ``sms`` channel: deliveries to SMPP submit_sm, receipts to DELIVERED/FAILED, replies to responses.

Each configured link runs one or two :class:`SmppThread` (transceiver, or transmitter + receiver);
their outputs come back in batches onto the event loop, where this module persists them through the
store and reports them to the sink. Ordering that makes restarts safe:

* a part counts as sent only once its submit_sm_resp (status 0) is written to ``sms_part``; the SENT
  report follows that write. After a crash the app resubmits the delivery and :meth:`SmsChannel.submit`
  sends only the parts that have no row (same concatenation reference), or reports SENT again when
  every part has one;
* a deliver_sm (receipt or last part of a reply) is answered with deliver_sm_resp only after its
  effect is stored and reported, so the SMSC redelivers it if the node dies in between.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.domain import (
    Channel,
    ChannelEvent,
    ChannelInfo,
    DeliveryState,
    DeliveryWork,
    EventSink,
)
from alertnode.errors import Problem
from alertnode.sms import gsm, pdu, receipts, repo, sender
from alertnode.sms import session as s
from alertnode.sms.config import SmppLinkConfig, SmsConfig
from alertnode.sms.replies import Replies
from alertnode.sms.smpplib_adapter import BindParams, Inbound, LinkOutput, SmppThread
from alertnode.sms.status import ESME_RINVEXPIRY, ESME_ROK, status_name
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

REASSEMBLY_SWEEP_S = 10.0
ESME_RX_T_APPN = 0x64  # SMPP 3.4 §5.1.3: ESME receiver temporary error (ask the SMSC to redeliver)


def validity_period(expires_at: float | None, now: float, cap: float) -> str:
    """SMPP 3.4 §7.1.1 absolute time in UTC (``YYMMDDhhmmsstnnp``, t=0 tenths, nn=00, p='+')."""
    if expires_at is None and cap <= 0:
        return ""
    end = expires_at if expires_at is not None else now + cap
    if cap > 0:
        end = min(end, now + cap)
    return _smpp_time(int(end))


@functools.lru_cache(maxsize=256)  # every recipient of an alert shares its expiry
def _smpp_time(epoch: int) -> str:
    return time.strftime("%y%m%d%H%M%S", time.gmtime(epoch)) + "000+"


class _NotYetAcknowledged(Exception):
    """A receipt that overtook its submit_sm_resp (it came on the receiver bind, or was read first)."""

    def __init__(self, hold_until: float) -> None:
        super().__init__(hold_until)
        self.hold_until = hold_until


@dataclass
class _Message:
    delivery_id: int
    link: str
    dest_index: str
    sender: str
    parts: int
    ref: int | None
    expires_at: float | None
    submitted_at: float
    acked: dict[int, str] = field(default_factory=dict)  # part_no -> normalized message id
    delivered: set[int] = field(default_factory=set)
    state: str = "submitting"
    waiting: set[int] = field(default_factory=set)  # part ids queued on a link
    retry: dict[str, Any] | None = None  # why a part failed for now, reported once no part is waiting

    def row(self) -> repo.MessageRow:
        state = "sent" if self.state == "sent" else "submitting"
        return repo.MessageRow(
            self.delivery_id,
            self.link,
            self.dest_index,
            self.sender,
            self.parts,
            self.ref,
            state,
            self.submitted_at,
            self.expires_at,
        )


@dataclass(frozen=True)
class _Part:
    delivery_id: int
    part_no: int
    body: bytes  # the submit_sm body, encoded once
    expires_at: float | None


class _Link:
    def __init__(self, cfg: SmppLinkConfig, tx: SmppThread, rx: SmppThread | None) -> None:
        self.cfg = cfg
        self.tx = tx
        self.rx = rx

    def threads(self) -> list[SmppThread]:
        return [self.tx] if self.rx is None else [self.tx, self.rx]

    @property
    def bound(self) -> bool:
        return self.tx.state is s.LinkState.BOUND


def _session_config(cfg: SmppLinkConfig, can_submit: bool) -> s.SessionConfig:
    return s.SessionConfig(
        window=cfg.window,
        rate=cfg.throughput,
        burst=cfg.throughput_burst,
        response_timeout=cfg.response_timeout_s,
        enquire_interval=cfg.enquire_link_interval_s,
        enquire_timeout=cfg.enquire_link_timeout_s,
        reconnect_initial=cfg.reconnect_initial_s,
        reconnect_max=cfg.reconnect_max_s,
        throttle_initial=cfg.throttle_backoff_initial_s,
        throttle_max=cfg.throttle_backoff_max_s,
        max_throttle_retries=cfg.max_throttle_retries,
        max_timeouts=cfg.submit_timeout_retries,
        can_submit=can_submit,
    )


class SmsChannel(Channel):
    name = "sms"
    alert_types = ("sms",)

    def __init__(self, config: SmsConfig, store: Store, cipher: Cipher, **_: object) -> None:
        self.config = config
        self.store = store
        self.cipher = cipher
        self._sink: EventSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[list[LinkOutput]] = asyncio.Queue()
        self._links: dict[str, _Link] = {}
        self._parts: dict[int, _Part] = {}
        self._messages: dict[int, _Message] = {}
        self._by_msgid: dict[str, tuple[int, int]] = {}
        self._refs: dict[str, int] = {}
        self._part_ids = itertools.count(1)
        self._consumer: asyncio.Task[None] | None = None
        self._replies: Replies | None = None
        self._routes = sorted(config.routes, key=lambda r: len(r.prefix.lstrip("+")), reverse=True)
        self.resubmitted = 0
        self._stopping = False
        self._busy = 0  # messages with parts queued on a link
        self._outbox: collections.deque[list[LinkOutput]] = collections.deque()  # filled by link threads
        self._wake_pending = False
        self._to_enqueue: dict[str, list[tuple[int, int]]] = {}
        # receipts that matched no acknowledged part yet, unanswered until their submit_sm_resp is
        # read or the link's response time-out has passed: (hold until, deliver_sm)
        self._early: list[tuple[float, Inbound]] = []

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._replies = Replies(self.config, self.store, self.cipher, sink)
        self._loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        await self._load()
        for cfg in self.config.links:
            bind = BindParams(
                cfg.host,
                cfg.port,
                cfg.system_id,
                cfg.password,
                cfg.system_type,
                cfg.addr_ton,
                cfg.addr_npi,
                cfg.address_range,
                cfg.connect_timeout_s,
            )
            if cfg.bind_mode == "transceiver":
                tx = SmppThread(cfg.name, "transceiver", bind, _session_config(cfg, True), self._body, self._emit,
                                coalesce_s=cfg.io_coalesce_ms / 1000)
                rx = None
            else:
                tx = SmppThread(cfg.name, "transmitter", bind, _session_config(cfg, True), self._body, self._emit,
                                coalesce_s=cfg.io_coalesce_ms / 1000)
                rx = SmppThread(cfg.name, "receiver", bind, _session_config(cfg, False), self._body, self._emit)
            self._links[cfg.name] = _Link(cfg, tx, rx)
        self._consumer = asyncio.create_task(self._consume(), name="sms-consumer")
        for link in self._links.values():
            for thread in link.threads():
                thread.start()

    async def stop(self, grace: float) -> None:
        self._stopping = True
        threads = [t for link in self._links.values() for t in link.threads()]
        for t in threads:
            t.stop()
        deadline = time.monotonic() + grace
        for t in threads:
            if not await asyncio.to_thread(t.join, max(0.0, deadline - time.monotonic())):
                t.kill()
                await asyncio.to_thread(t.join, 5.0)
        # everything the threads said before they ended is stored and reported before we return
        self._drain_outbox()
        await self._inbox.put([])
        await self._inbox.join()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None

    async def _load(self) -> None:
        """Messages still open from before a restart, and the reference counters."""
        state = await self.store.read(repo.load_open)
        now = time.time()
        for r in state.messages:
            if r.expires_at is not None and r.expires_at < now:
                continue
            self._messages[r.delivery_id] = _Message(
                r.delivery_id,
                r.link,
                r.dest_index,
                r.sender,
                r.parts,
                r.ref,
                r.expires_at,
                r.submitted_at,
                state=r.state,
            )
        for p in state.parts:
            m = self._messages.get(p.delivery_id)
            if m is None:
                continue
            m.acked[p.part_no] = p.message_id
            if p.state == "delivered":
                m.delivered.add(p.part_no)
            self._by_msgid[p.message_id] = (m.delivery_id, p.part_no)
        self._refs = state.refs
        if self._messages:
            log.info("sms: %d message(s) still open from before the restart", len(self._messages))

    # -- the Channel interface -------------------------------------------------------------
    def free_capacity(self) -> int:
        if self._stopping or not self.ready():
            return 0  # while no link is bound, work waits in the store (durable), not in memory
        return max(0, self.config.max_queue - self._busy)

    def ready(self) -> bool:
        return any(link.bound for link in self._links.values())

    def info(self) -> ChannelInfo:
        details: dict[str, Any] = {}
        states = []
        for name, link in self._links.items():
            threads = {}
            for t in link.threads():
                threads[t.role] = {
                    "state": t.state.value,
                    "reason": t.state_reason,
                    "since": t.state_since,
                    "submitted": t.submitted,
                    "acked": t.acked,
                    "queued": t.queued,
                    "requeued": t.session.requeued_total,
                    "inFlight": t.session.in_flight,
                    "window": t.session.config.window,
                    "throttled": t.session.throttled_total,
                    "submitLatency": {"count": t.session.latency_count, "sum": round(t.session.latency_sum, 6)},
                }
                states.append(t.state)
            details[name] = {
                "host": link.cfg.host,
                "port": link.cfg.port,
                "bindMode": link.cfg.bind_mode,
                **threads,
            }
        if not states:
            state = "unconfigured"
        elif any(st is s.LinkState.BOUND for st in states):
            state = s.LinkState.BOUND.value
        else:
            state = states[0].value
        in_flight = self._busy
        return ChannelInfo(self.name, self.alert_types, state, self.config.max_queue, in_flight, details)

    def validate_item(self, item: Mapping[str, Any], content: bytes | None, path: str) -> list[Problem]:
        problems = []
        value = item.get("sender")
        if value is None or value == "":
            if not self.config.default_sender:
                problems.append(Problem(f"{path}.sender", "sender is mandatory for sms"))
        elif not isinstance(value, str):
            problems.append(Problem(f"{path}.sender", "sender must be a string"))
        else:
            try:
                sender.parse_sender(value)
            except ValueError as exc:
                problems.append(Problem(f"{path}.sender", str(exc)))
        return problems

    async def submit(self, work: DeliveryWork) -> None:
        now = time.time()
        did = work.delivery_id
        if work.expires_at is not None and work.expires_at <= now:
            await self._report(ChannelEvent(did, "expired", now, DeliveryState.EXPIRED, final=True))
            return
        text = work.text if work.text is not None else work.content.decode("utf-8", errors="replace")
        try:
            src = sender.parse_sender(str(work.params.get("sender") or self.config.default_sender))
        except ValueError as exc:
            await self._fail(did, now, f"invalid sender: {exc}")
            return
        link = self._route(work.address)
        if link is None:
            await self._fail(did, now, "no SMPP link configured")
            return
        cfg = link.cfg
        try:
            dst = sender.parse_recipient(work.address, cfg.dest_addr_ton, cfg.dest_addr_npi)
        except ValueError as exc:
            await self._fail(did, now, f"invalid recipient: {exc}")
            return
        concat = gsm.Concat(cfg.concatenation)
        try:
            plan = gsm.plan(
                text,
                charset=gsm.Charset.LATIN1 if cfg.data_coding == "latin1" else gsm.Charset(cfg.dcs0_charset),
                dcs=gsm.DCS_LATIN1 if cfg.data_coding == "latin1" else gsm.DCS_DEFAULT,
                concat=concat,
                force_ucs2=cfg.data_coding == "ucs2",
            )
        except ValueError as exc:
            await self._fail(did, now, str(exc))
            return
        msg = self._messages.get(did)
        if msg is not None and msg.waiting:
            log.warning("sms: delivery %d submitted while still queued; ignored", did)
            return
        segments_needed = 1 if concat is gsm.Concat.PAYLOAD else plan.segments
        if msg is not None and msg.parts == segments_needed and len(msg.acked) >= msg.parts:
            # acknowledged before a restart: report it again (idempotent) and keep tracking receipts
            await self._report(
                ChannelEvent(
                    did,
                    "sent",
                    now,
                    DeliveryState.SENT,
                    detail={"parts": msg.parts, "link": msg.link, "resumed": True},
                )
            )
            return
        dest_index = self.cipher.index(dst.addr)
        if msg is None or msg.parts != segments_needed:
            ref = None
            if plan.segments > 1 and concat is not gsm.Concat.PAYLOAD:
                ref = self._refs.get(dest_index, 0) % gsm.ref_modulus(concat)
                self._refs[dest_index] = ref + 1
            msg = _Message(did, cfg.name, dest_index, src.addr, segments_needed, ref, work.expires_at, now)
            self._messages[did] = msg
        else:
            msg.link = cfg.name
        head = pdu.source_part(cfg.service_type, src.ton, src.npi, src.addr) + pdu.dest_part(dst.ton, dst.npi, dst.addr)
        validity = validity_period(work.expires_at, now, cfg.validity_max_s)
        rd = 1 if cfg.registered_delivery else 0
        queue: list[tuple[int, int]] = []
        for part_no, seg in enumerate(gsm.frame(plan, concat, msg.ref or 0), start=1):
            if part_no in msg.acked:
                continue
            sar = seg.sar or (None, None, None)
            body = head + pdu.content_part(
                seg.esm_class, validity, rd, plan.data_coding, seg.short_message, *sar, seg.payload or b""
            )
            cost = plan.segments if seg.payload is not None else 1  # the SMSC sends a payload as that many
            pid = next(self._part_ids)
            self._parts[pid] = _Part(did, part_no, body, work.expires_at)
            if not msg.waiting:
                self._busy += 1
            msg.waiting.add(pid)
            queue.append((pid, cost))
        if msg.acked:
            self.resubmitted += 1
        # parts of all submissions of this event-loop turn go to the link thread in one hand-over
        if not self._to_enqueue:
            asyncio.get_running_loop().call_soon(self._hand_over)
        self._to_enqueue.setdefault(cfg.name, []).extend(queue)

    # -- helpers ---------------------------------------------------------------------------
    def _route(self, address: str) -> _Link | None:
        digits = address.strip().lstrip("+")
        names: list[str] = [link.name for link in self.config.links]
        for route in self._routes:
            if digits.startswith(route.prefix.lstrip("+")):
                names = route.links
                break
        candidates = [self._links[n] for n in names if n in self._links]
        for link in candidates:
            if link.bound:
                return link
        return candidates[0] if candidates else None

    def _hand_over(self) -> None:
        pending, self._to_enqueue = self._to_enqueue, {}
        for name, parts in pending.items():
            self._links[name].tx.enqueue(parts)

    def _settle(self, msg: _Message, part_id: int | None) -> None:
        """A queued part of ``msg`` is done (acknowledged or failed); None: all of them are."""
        if not msg.waiting:
            return
        if part_id is None:
            msg.waiting.clear()
        else:
            msg.waiting.discard(part_id)
        if not msg.waiting:
            self._busy -= 1

    def _body(self, part_id: int) -> bytes | None:
        """Called on a link thread: the submit_sm body of a part; None if it was dropped or its alert
        expired while it waited (a stale alert is never sent)."""
        part = self._parts.get(part_id)
        if part is None or (part.expires_at is not None and part.expires_at <= time.time()):
            return None
        return part.body

    def _emit(self, batch: list[LinkOutput]) -> None:
        """Called on a link thread. Wakes the event loop only when no wake-up is pending already: at high
        rates one wake-up carries the outputs of many link-thread rounds."""
        loop = self._loop
        if loop is None:
            return
        self._outbox.append(batch)
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._drain_outbox)
        except RuntimeError:
            log.warning("sms: event loop closed; link outputs lost")

    def _drain_outbox(self) -> None:
        self._wake_pending = False  # first: a batch appended from now on schedules its own wake-up
        while self._outbox:
            self._inbox.put_nowait(self._outbox.popleft())

    async def _report(self, event: ChannelEvent) -> None:
        if self._sink is not None:
            await self._sink.report(event)

    async def _fail(self, delivery_id: int, now: float, reason: str, status: int | None = None) -> None:
        detail: dict[str, Any] = {"reason": reason}
        if status is not None:
            detail["smpp_status"] = status
            detail["smpp_status_name"] = status_name(status)
        await self._report(ChannelEvent(delivery_id, "failed", now, DeliveryState.FAILED, detail=detail, final=True))

    # -- link outputs ----------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self._inbox.get(), REASSEMBLY_SWEEP_S)
            except TimeoutError:
                if self._replies is not None:
                    await self._replies.sweep()
                if self._early:
                    await self._retry_early()
                continue
            batches = [first]
            while not self._inbox.empty():
                batches.append(self._inbox.get_nowait())
            try:
                await self._process([o for b in batches for o in b])
            except Exception:  # one bad batch must not stop receipts and acks for good
                log.exception("sms: processing link outputs failed")
            finally:
                for _ in batches:
                    self._inbox.task_done()

    async def _process(self, outputs: list[LinkOutput]) -> None:
        acked_rows: list[tuple[_Message, int, str, float]] = []
        events: list[ChannelEvent] = []
        inbound: list[Inbound] = []
        for out in outputs:
            action = out.action
            if isinstance(action, s.Acked):
                part = self._parts.pop(action.part, None)
                if part is None:
                    continue
                msg = self._messages.get(part.delivery_id)
                if msg is None:
                    continue
                self._settle(msg, action.part)
                mid = receipts.normalize_id(action.message_id)
                msg.acked[part.part_no] = mid
                self._by_msgid[mid] = (msg.delivery_id, part.part_no)
                acked_rows.append((msg, part.part_no, mid, out.at))
                if not msg.waiting and msg.retry is not None and len(msg.acked) < msg.parts:
                    events.append(self._retry_event(msg, out.at))  # an earlier part failed for now
                if len(msg.acked) >= msg.parts and msg.state == "submitting":
                    msg.state = "sent"
                    events.append(
                        ChannelEvent(
                            msg.delivery_id,
                            "sent",
                            out.at,
                            DeliveryState.SENT,
                            detail={
                                "parts": msg.parts,
                                "link": out.link,
                                "message_ids": [msg.acked[k] for k in sorted(msg.acked)],
                            },
                        )
                    )
            elif isinstance(action, s.Failed):
                part = self._parts.pop(action.part, None)
                if part is None:
                    continue
                msg = self._messages.get(part.delivery_id)
                if msg is None or msg.state in ("failed", "delivered"):
                    continue
                self._settle(msg, action.part)
                detail = {
                    "smpp_status": action.smpp_status,
                    "smpp_status_name": status_name(action.smpp_status),
                    "reason": action.reason,
                    "link": out.link,
                    "part": part.part_no,
                }
                expired = (
                    action.smpp_status == ESME_RINVEXPIRY and msg.expires_at is not None and msg.expires_at <= out.at
                )
                if action.permanent:
                    msg.state = "failed"
                    for pid in list(msg.waiting):  # the other parts are pointless now
                        self._parts.pop(pid, None)
                    self._settle(msg, None)
                    if expired:
                        events.append(
                            ChannelEvent(msg.delivery_id, "expired", out.at, DeliveryState.EXPIRED, final=True)
                        )
                    else:
                        events.append(
                            ChannelEvent(
                                msg.delivery_id, "failed", out.at, DeliveryState.FAILED, detail=detail, final=True
                            )
                        )
                else:
                    # the delivery goes back to the dispatcher once no part of it is left on a link; the
                    # next submit sends only the parts not acknowledged
                    msg.retry = detail
                    if not msg.waiting:
                        events.append(self._retry_event(msg, out.at))
            elif isinstance(action, s.Requeued):
                log.info(
                    "sms link %s: %d part(s) will be submitted again: %s",
                    out.link,
                    len(action.parts),
                    action.reason,
                )
            elif isinstance(action, Inbound):
                inbound.append(action)
        if acked_rows:
            messages = {m.delivery_id: m.row() for m, _, _, _ in acked_rows}
            parts = [repo.PartRow(m.delivery_id, no, mid, "acked", at) for m, no, mid, at in acked_rows]
            # reference counters go with the acks: no extra commit per multi-part submission
            refs = {m.dest_index: self._refs[m.dest_index] for m, _, _, _ in acked_rows if m.ref is not None}

            def save(conn: sqlite3.Connection) -> None:
                repo.save_acks(conn, messages.values(), parts)
                for dest_index, next_ref in refs.items():
                    repo.save_ref(conn, dest_index, next_ref)

            await self.store.write(save)
        if events and self._sink is not None:
            await self._sink.report_many(events)
        if inbound:
            await self._on_inbound(inbound)
        if self._early and (acked_rows or any(until <= time.time() for until, _ in self._early)):
            await self._retry_early()

    async def _retry_early(self) -> None:
        """Match the receipts that came before their submit_sm_resp again (new acks are known now)."""
        parked, self._early = self._early, []
        await self._on_inbound([item for _, item in parked])

    def _retry_event(self, msg: _Message, at: float) -> ChannelEvent:
        detail, msg.retry = msg.retry or {}, None
        return ChannelEvent(
            msg.delivery_id, "retry", at, None, detail=detail, retry_after=self.config.temporary_retry_s
        )

    async def _on_inbound(self, items: list[Inbound]) -> None:
        """Receipts of a batch are stored in one write and reported together; each deliver_sm is
        answered only after that. Replies (rare) go one by one."""
        updates: list[repo.ReceiptUpdate] = []
        events: list[ChannelEvent] = []
        answers: list[tuple[Inbound, int]] = []
        replies: list[Inbound] = []
        for item in items:
            if not receipts.is_receipt(item.deliver_sm.esm_class):
                replies.append(item)
                continue
            try:
                event = await self._on_receipt(item, updates)
            except _NotYetAcknowledged as early:  # answered once its submit_sm_resp is read
                self._early.append((early.hold_until, item))
                continue
            except Exception:  # ask the SMSC to send it again rather than lose it
                log.exception("sms: handling a receipt from link %s failed", item.link)
                answers.append((item, ESME_RX_T_APPN))
                continue
            if event is not None:
                events.append(event)
            answers.append((item, ESME_ROK))
        if updates:
            try:
                await self.store.write(lambda c: repo.save_receipts(c, updates))
            except Exception:
                log.exception("sms: storing receipts failed; asking the SMSC to resend them")
                answers = [(item, ESME_RX_T_APPN) for item, _ in answers]
                events = []
        if events and self._sink is not None:
            await self._sink.report_many(events)
        for item, status in answers:
            self._answer(item, status)
        for item in replies:
            status = ESME_ROK
            try:
                if self._replies is not None:
                    await self._replies.feed(item)
            except Exception:
                log.exception("sms: handling a reply from link %s failed", item.link)
                status = ESME_RX_T_APPN
            self._answer(item, status)

    def _answer(self, item: Inbound, status: int) -> None:
        link = self._links.get(item.link)
        if link is not None:
            thread = link.rx if link.rx is not None and item.link_role == "receiver" else link.tx
            thread.respond(item.sequence, status)

    async def _on_receipt(self, item: Inbound, updates: list[repo.ReceiptUpdate]) -> ChannelEvent | None:
        dsm = item.deliver_sm
        body = dsm.short_message or dsm.message_payload or b""
        rc = receipts.parse(body, dsm.receipted_message_id, dsm.message_state)
        if rc is None:
            log.warning("sms: receipt without a message id on link %s", item.link)
            return None
        if rc.outcome is receipts.Outcome.PENDING:
            return None
        link = self._links.get(item.link)
        mode = link.cfg.receipt_id_format if link is not None else "auto"
        found = None
        for cand in receipts.id_candidates(rc.message_id, mode):
            found = self._by_msgid.get(cand)
            if found is not None:
                break
        if found is None:
            cands = receipts.id_candidates(rc.message_id, mode)
            found = await self.store.read(lambda c: repo.find_part(c, cands))
        if found is None:
            # an SMSC may send the receipt before (or on another bind than) the submit_sm_resp: while a
            # submit's answer is still to be processed, hold it unanswered as long as that may take
            hold_until = item.at + (link.cfg.response_timeout_s if link is not None else 0.0)
            if self._parts and time.time() < hold_until:
                raise _NotYetAcknowledged(hold_until)
            log.warning("sms: receipt for unknown message id %s on link %s", rc.message_id, item.link,
                        extra={"message_id": rc.message_id, "link": item.link})
            return None
        delivery_id, part_no = found
        msg = self._messages.get(delivery_id)
        if msg is None:
            return None
        detail = {"stat": rc.stat, "err": rc.err, "link": item.link, "part": part_no}
        if rc.outcome is receipts.Outcome.DELIVERED:
            msg.delivered.add(part_no)
            done = len(msg.delivered) >= msg.parts
            updates.append(
                repo.ReceiptUpdate(delivery_id, part_no, "delivered", rc.stat, rc.err, "delivered" if done else None)
            )
            if not done:
                return None
            msg.state = "delivered"
            self._forget(msg)
            return ChannelEvent(delivery_id, "delivered", item.at, DeliveryState.DELIVERED, detail=detail)
        updates.append(repo.ReceiptUpdate(delivery_id, part_no, "failed", rc.stat, rc.err, "failed"))
        was_failed = msg.state == "failed"
        msg.state = "failed"
        self._forget(msg)
        if was_failed:
            return None
        return ChannelEvent(delivery_id, "failed", item.at, DeliveryState.FAILED, detail=detail, final=True)

    def _forget(self, msg: _Message) -> None:
        for mid in msg.acked.values():
            self._by_msgid.pop(mid, None)
        self._messages.pop(msg.delivery_id, None)
