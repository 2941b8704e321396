"""The ``sms`` channel: the I/O shell around this package's pure machines.

A delivery is encoded and framed here (:mod:`gsm`, :mod:`pdu`), tracked by :class:`tracker.Tracker`
(parts, acks, retries, receipts) and sent by one or two :class:`SmppThread` per link (transceiver, or
transmitter + receiver), each driving a :class:`session.Session`. What the link threads produce
comes back in batches onto the event loop; each batch goes through the tracker, whose actions are
carried out here in the order its docstring gives (store, then report, then answer the SMSC).
Replies are reassembled and ranked by :mod:`replies`; this module only fetches the candidates.
Ordering that makes restarts safe:

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
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from alertnode.domain import (
    Channel,
    ChannelEvent,
    ChannelInfo,
    DeliveryState,
    DeliveryWork,
    EventSink,
    InboundMessage,
)
from alertnode.errors import Problem
from alertnode.sms import gsm, pdu, receipts, replies, repo, sender
from alertnode.sms import session as s
from alertnode.sms import tracker as tr
from alertnode.sms.config import SmsConfig
from alertnode.sms.links import Link, Router, describe, make_links
from alertnode.sms.smpplib_adapter import Inbound, LinkOutput
from alertnode.sms.status import ESME_ROK, ESME_RX_T_APPN, status_name
from alertnode.store.crypto import Cipher
from alertnode.store.db import Conn, Store

log = logging.getLogger(__name__)

REASSEMBLY_SWEEP_S = 10.0
LATE_RECEIPT_S = 10.0  # how long a receipt no node has stored an ack for yet is looked for (shared store)
LATE_RECEIPT_POLL_S = 0.2
LATE_RECEIPT_TRIES = 3  # times a receipt still unknown after LATE_RECEIPT_S is handed back to the SMSC


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


def _tracker_config(config: SmsConfig) -> tr.TrackerConfig:
    return tr.TrackerConfig(
        retry_after_s=config.temporary_retry_s,
        links={
            cfg.name: tr.LinkRules(cfg.receipt_id_format, cfg.response_timeout_s, cfg.registered_delivery,
                                   cfg.receipt_timeout_s)
            for cfg in config.links
        },
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
        self._links: dict[str, Link] = {}
        self._router = Router(config, self._links)
        self._tracker = tr.Tracker(_tracker_config(config))
        self._replies = replies.Replies(
            {cfg.name: gsm.Charset(cfg.dcs0_charset) for cfg in config.links},
            config.mo_reassembly_timeout_s,
            config.ack_keywords,
            config.nack_keywords,
        )
        self._consumer: asyncio.Task[None] | None = None
        self._stopping = False
        self._outbox: collections.deque[list[LinkOutput]] = collections.deque()  # filled by link threads
        self._wake_pending = False
        self._to_enqueue: dict[str, list[tuple[int, int]]] = {}
        self._late: set[asyncio.Task[None]] = set()
        self._late_tries: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        state = await self.store.read(repo.load_open)
        if self._tracker.restore(state.messages, state.parts, state.refs, time.time()):
            log.info("sms: %d message(s) still open from before the restart", self._tracker.open_messages)
        self._links = make_links(self.config, self._body, self._emit)
        self._router = Router(self.config, self._links)
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
        for task in list(self._late):
            task.cancel()
        await asyncio.gather(*self._late, return_exceptions=True)
        # everything the threads said before they ended is stored and reported before we return
        self._drain_outbox()
        await self._inbox.put([])
        await self._inbox.join()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
            self._consumer = None

    # -- the Channel interface -------------------------------------------------------------
    def free_capacity(self) -> int:
        if self._stopping or not self.ready():
            return 0  # while no link is bound, work waits in the store (durable), not in memory
        return max(0, self.config.max_queue - self._tracker.busy)

    def ready(self) -> bool:
        return any(link.bound for link in self._links.values())

    def set_link_shares(self, shares: Mapping[str, float], peers: int) -> None:
        """The part of each link's throughput this node may use (nodes sharing a carrier account), and how
        many other live nodes share the store: while there are any, a part sent and not yet recorded counts
        against the window, so that what another node sends again after this one dies stays within it (alone,
        the node resubmits them itself after a restart, as on SQLite, and sends at full speed)."""
        for name, link in self._links.items():
            link.set_share(shares.get(name, 1.0), hold_acks=peers > 0)

    def accounts(self) -> list[dict[str, Any]]:
        """Each link's carrier account and whether it is bound, for the node's heartbeat."""
        return [{"link": name, "account": f"{link.cfg.system_id}@{link.cfg.host}:{link.cfg.port}",
                 "bound": link.bound, "share": link.share} for name, link in self._links.items()]

    def info(self) -> ChannelInfo:
        state, typed = describe(self._links)
        return ChannelInfo(self.name, self.alert_types, state, self.config.max_queue, self._tracker.busy, typed=typed)

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
        if work.attempt > 1 and not self._tracker.knows(did):
            await self._adopt(did)
        text = work.text if work.text is not None else work.content.decode("utf-8", errors="replace")
        try:
            src = sender.parse_sender(str(work.params.get("sender") or self.config.default_sender))
        except ValueError as exc:
            await self._fail(did, now, f"invalid sender: {exc}")
            return
        link = self._router.route(work.address)
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
        payload = concat is gsm.Concat.PAYLOAD  # one part, which the SMSC sends as plan.segments
        dest_index = self.cipher.index(dst.addr)
        modulus = 0 if payload else gsm.ref_modulus(concat)
        ref = self._tracker.reference(did, dest_index, 1 if payload else plan.segments, modulus)
        head = pdu.source_part(cfg.service_type, src.ton, src.npi, src.addr) + pdu.dest_part(dst.ton, dst.npi, dst.addr)
        validity = validity_period(work.expires_at, now, cfg.validity_max_s)
        rd = 1 if cfg.registered_delivery else 0
        parts = tuple(
            (
                head
                + pdu.content_part(
                    seg.esm_class, validity, rd, plan.data_coding, seg.short_message, *(seg.sar or (None, None, None)),
                    seg.payload or b"",
                ),
                plan.segments if seg.payload is not None else 1,
            )
            for seg in gsm.frame(plan, concat, ref or 0)
        )
        submit = tr.Submit(did, cfg.name, dest_index, src.addr, ref, parts, work.expires_at)
        await self._carry_out(self._tracker.handle(submit, now))

    async def _adopt(self, delivery_id: int) -> None:
        """A later attempt of a delivery the tracker does not know: its message may be in the store, fully
        acknowledged or settled, with its report lost to a restart (the tracker restores only open ones)."""
        found = await self.store.read(lambda c: repo.load_message(c, delivery_id))
        if found is not None:
            self._tracker.adopt(found[0], found[1], time.time())

    # -- helpers ---------------------------------------------------------------------------
    def _enqueue(self, link: str, parts: tuple[tuple[int, int], ...]) -> None:
        # parts of all submissions of this event-loop turn go to the link thread in one hand-over
        if not self._to_enqueue:
            asyncio.get_running_loop().call_soon(self._hand_over)
        self._to_enqueue.setdefault(link, []).extend(parts)

    def _hand_over(self) -> None:
        pending, self._to_enqueue = self._to_enqueue, {}
        for name, parts in pending.items():
            self._links[name].tx.enqueue(parts)

    def _body(self, part_id: int) -> bytes | None:
        """Called on a link thread: the submit_sm body of a part; None if it was dropped or its alert
        expired while it waited (a stale alert is never sent)."""
        return self._tracker.body(part_id, time.time())

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
            timeout = REASSEMBLY_SWEEP_S
            due = self._tracker.deadline()
            if due is not None:
                timeout = max(0.0, min(timeout, due - time.time()))
            try:
                first = await asyncio.wait_for(self._inbox.get(), timeout)
            except TimeoutError:
                await self._on_time()
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

    async def _on_time(self) -> None:
        """Time-driven work: the tracker's deadlines, and replies whose missing parts never came."""
        try:
            await self._carry_out(self._tracker.handle(tr.Tick(), time.time()))
        except Exception:
            log.exception("sms: timed tracker work failed")
        for reply in self._replies.expire(time.time()):
            try:
                await self._on_reply(reply)
            except Exception:  # the next sweep must still run
                log.exception("sms: handling an incomplete reply failed")

    async def _process(self, outputs: list[LinkOutput]) -> None:
        acked: dict[str, int] = {}
        try:
            await self._process_outputs(outputs, acked)
        finally:
            for name, count in acked.items():  # recorded (or never to be: either way no longer in flight here)
                link = self._links.get(name)
                if link is not None and link.hold:
                    link.tx.recorded(count)

    async def _process_outputs(self, outputs: list[LinkOutput], acked: dict[str, int]) -> None:
        tracker = self._tracker
        actions: list[tr.Action] = []
        items: list[Inbound] = []
        for out in outputs:
            action = out.action
            if isinstance(action, s.Acked):
                acked[out.link] = acked.get(out.link, 0) + 1
                actions += tracker.handle(tr.Acked(action.part, action.message_id, out.link, out.at), out.at)
            elif isinstance(action, s.Failed):
                failed = tr.SubmitFailed(action.part, action.smpp_status, action.permanent, action.reason, out.link,
                                         out.at)
                actions += tracker.handle(failed, out.at)
            elif isinstance(action, s.Requeued):
                log.info("sms link %s: %d part(s) will be submitted again: %s", out.link, len(action.parts),
                         action.reason)
            elif isinstance(action, Inbound):
                items.append(action)
        replied: list[Inbound] = []
        for item in items:
            if receipts.is_receipt(item.deliver_sm.esm_class):
                try:
                    actions += await self._receipt(item)
                except Exception:  # ask the SMSC to send it again rather than lose it
                    log.exception("sms: handling a receipt from link %s failed", item.link)
                    actions.append(tr.Answer(item.link, item.link_role, item.sequence, ESME_RX_T_APPN, item.connection))
            else:
                replied.append(item)
        actions += tracker.handle(tr.Tick(), time.time())
        await self._carry_out(actions)
        for item in replied:  # replies (rare) one by one, each answered once handled
            status = ESME_ROK
            try:
                for reply in self._replies.feed(item.link, item.at, item.deliver_sm):
                    await self._on_reply(reply)
            except Exception:
                log.exception("sms: handling a reply from link %s failed", item.link)
                status = ESME_RX_T_APPN
            self._answer(tr.Answer(item.link, item.link_role, item.sequence, status, item.connection))

    async def _receipt(self, item: Inbound) -> list[tr.Action]:
        dsm = item.deliver_sm
        rc = receipts.parse(dsm.short_message or dsm.message_payload or b"", dsm.receipted_message_id,
                            dsm.message_state)
        ids = self._tracker.lookup_ids(item.link, rc)
        shared = self.store.dialect.shared
        known, late = False, None
        if ids:
            # with several nodes, only the id exactly as written first: its other readings ('auto' receipt id
            # format) may name an older message, while the one it means is not stored yet by the node that sent it
            found, late = await self._find(ids[:1] if shared else ids)
            if found is None and shared:
                # another node sharing the store may have submitted it and not yet stored its ack (the SMSC
                # hands a receipt to any bind of the account): look again for a while, off the batch
                task = asyncio.create_task(self._late_receipt(item, rc))
                self._late.add(task)
                task.add_done_callback(self._late.discard)
                return []
            known = found is not None
        receipt = tr.ReceiptIn(item.link, item.link_role, item.sequence, item.at, rc, known, item.connection, late)
        return self._tracker.handle(receipt, time.time())

    async def _find(self, ids: tuple[str, ...]) -> tuple[tuple[int, int] | None, tr.Unconfirmed | None]:
        """The part a receipt names, when the store knows it, and whether its message ended unconfirmed (the
        tracker's late-receipt rule settles it). With several nodes, a message this tracker does not hold
        (submitted by another node sharing the store) is taken over so that this node settles it."""

        def look(conn: Conn) -> tuple[tuple[int, int] | None, tuple[int, int, int] | None]:
            part = repo.find_part(conn, ids)
            return part, repo.find_unconfirmed(conn, *part) if part is not None else None

        found, unconfirmed = await self.store.read(look)
        if unconfirmed is not None:
            return found, tr.Unconfirmed(*unconfirmed)
        if found is not None and self.store.dialect.shared:
            await self._adopt(found[0])
        return found, None

    async def _late_receipt(self, item: Inbound, rc: receipts.Receipt | None) -> None:
        deadline = time.monotonic() + LATE_RECEIPT_S
        found: tuple[int, int] | None = None
        late: tr.Unconfirmed | None = None
        try:
            while True:
                await asyncio.sleep(LATE_RECEIPT_POLL_S)
                ids = self._tracker.lookup_ids(item.link, rc)
                if not ids:
                    break  # this node's own ack came meanwhile
                last = self._stopping or time.monotonic() >= deadline
                found, late = await self._find(ids if last else ids[:1])  # the other readings only at the end
                if found is not None:
                    self._late_tries.pop(ids[0], None)
                    break
                if last:
                    # still unknown: perhaps its node cannot reach the database to record its ack. Ask the SMSC
                    # to send it again later (it does, for hours), a few times, before taking it as unmatched
                    key = ids[0]
                    self._late_tries[key] = self._late_tries.get(key, 0) + 1
                    if self._late_tries[key] <= LATE_RECEIPT_TRIES:
                        self._answer(tr.Answer(item.link, item.link_role, item.sequence, ESME_RX_T_APPN,
                                               item.connection))
                        return
                    self._late_tries.pop(key, None)
                    break
            receipt = tr.ReceiptIn(item.link, item.link_role, item.sequence, item.at, rc, found is not None,
                                   item.connection, late)
            await self._carry_out(self._tracker.handle(receipt, time.time()))
        except Exception:
            log.exception("sms: handling a receipt from link %s failed", item.link)
            self._answer(tr.Answer(item.link, item.link_role, item.sequence, ESME_RX_T_APPN, item.connection))

    async def _carry_out(self, actions: list[tr.Action]) -> None:
        """Store, then report, then answer (the order the tracker's rules rely on)."""
        acks: list[tr.StoreAck] = []
        updates: list[tr.ReceiptUpdate] = []
        states: list[tuple[int, str]] = []
        events: list[ChannelEvent] = []
        answers: list[tr.Answer] = []
        for a in actions:
            if isinstance(a, tr.StoreAck):
                acks.append(a)
            elif isinstance(a, tr.Report):
                events.append(a.event)
            elif isinstance(a, tr.Answer):
                answers.append(a)
            elif isinstance(a, tr.Enqueue):
                self._enqueue(a.link, a.parts)
            elif isinstance(a, tr.StoreReceipt):
                updates.append(a.update)
            elif isinstance(a, tr.StoreState):
                states.append((a.delivery_id, a.state))
            elif isinstance(a, tr.Refused):
                log.warning("sms: delivery %d %s; ignored", a.delivery_id, a.reason)
            elif a.message_id is None:
                log.warning("sms: receipt without a message id on link %s", a.link)
            else:
                log.warning("sms: receipt for unknown message id %s on link %s", a.message_id, a.link,
                            extra={"message_id": a.message_id, "link": a.link})
        if acks or updates or states:
            try:
                await self.store.write_when_back(functools.partial(_save, acks, updates, states))
            except Exception:
                if not updates:
                    raise
                log.exception("sms: storing receipts failed; asking the SMSC to resend them")
                answers = [replace(a, status=ESME_RX_T_APPN) for a in answers]
                events = []
        if events and self._sink is not None:
            if len(events) == 1:
                await self._sink.report(events[0])
            else:
                await self._sink.report_many(events)
        for answer in answers:
            self._answer(answer)

    def _answer(self, answer: tr.Answer) -> None:
        link = self._links.get(answer.link)
        if link is not None:
            link.respond(answer.role, answer.sequence, answer.status, answer.connection)

    # -- replies ---------------------------------------------------------------------------
    async def _on_reply(self, reply: replies.Reply) -> None:
        message = reply.message
        detail = reply.detail()
        delivery_id = await self._correlate(message.source, message.destination, message.at)
        if self._sink is None:
            return
        if delivery_id is None:
            await self._sink.unsolicited(
                InboundMessage("sms", message.source, message.destination, message.text, message.at, detail=detail)
            )
            log.info("sms: reply from %s matched no alert; kept as unsolicited", sender.mask(message.source))
            return
        # a reply is a result of its own (notificationType "final" reports it), as an e-mail reply is
        event = ChannelEvent(delivery_id, "replied", message.at, DeliveryState.RESPONDED, detail=detail, final=True)
        await self._sink.report(event)

    async def _correlate(self, source: str, replied_to: str, at: float) -> int | None:
        """Fetch the candidates :func:`replies.rank` chooses from."""
        found: int | None = None
        if self._sink is not None:
            for number in replies.numbers(source):
                found = await self._sink.find_recent("sms", number, at)
                if found is not None:
                    break
        dest_index = self.cipher.index(source.lstrip("+"))
        recent = found

        def read(conn: Conn) -> tuple[int | None, str | None]:
            sent_from = repo.sender_of(conn, recent) if recent is not None else None
            return repo.latest_from(conn, dest_index, replied_to, at), sent_from

        own, sent_from = await self.store.read(read)
        return replies.rank(replied_to, None if found is None else replies.Recent(found, sent_from), own)


def _save(acks: list[tr.StoreAck], updates: list[tr.ReceiptUpdate], states: list[tuple[int, str]],
          conn: Conn) -> None:
    """One transaction: acknowledged parts with their messages and reference counters, then receipts, then
    messages settled by their receipt time-out."""
    if acks:
        messages = {a.message.delivery_id: a.message for a in acks}  # the last row of a message wins
        repo.save_acks(conn, messages.values(), [a.part for a in acks])
        refs = dict(a.next_ref for a in acks if a.next_ref is not None)
        for dest_index, next_ref in refs.items():
            repo.save_ref(conn, dest_index, next_ref)
    if updates:
        repo.save_receipts(conn, updates)
    if states:
        repo.save_states(conn, states)
