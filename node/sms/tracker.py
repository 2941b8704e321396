"""The SMS messages in the channel's hands, as a pure machine: fed events with the current time, it
returns actions (events to report, rows to store, parts to queue on a link, answers to the SMSC).

Rules every transition follows:

* A delivery is one message of ``parts`` parts (a text sent as one message_payload is one part). A
  part counts as sent only once its submit_sm_resp says ESME_ROK (:class:`Acked`); the delivery is
  reported ``sent`` with the ack of its last part, and every ack is stored (:class:`StoreAck`). Events
  give the message ids as the SMSC wrote them; receipts are matched on the normalized form (both kept).
* ``sent`` is final when the link asks for no receipts (registered_delivery off): the message is
  forgotten at once. Otherwise the receipts are awaited until the link's receipt time-out after the last
  ack, and ``sent`` is not final: the receipt's outcome or the time-out is.
* A delivery submitted again (the dispatcher's retry, or after a restart) keeps its message: only the
  parts without an ack are queued again, framed with the same concatenation reference; when every part
  has one, its outcome so far is reported again (``resumed``): ``sent`` while receipts are awaited (they
  still are), else the final event it had (:meth:`Tracker.adopt` takes a settled message back from the
  store for this). A submission while parts of the same delivery are still queued on a link is refused
  (:class:`Refused`).
* The concatenation reference counts per destination (modulo what the concatenation allows, from
  :meth:`Tracker.reference`) and is stored with the acks.
* A part whose alert expired while it waited on a link is never sent: :meth:`Tracker.body` gives
  nothing, the link answers it ESME_RINVEXPIRY, and the delivery is reported ``expired`` (final).
* A permanent submit error fails the delivery (final) and drops its other queued parts. A temporary
  one (a temporary status, too many throttling answers, no submit_sm_resp) is reported once as
  ``retry`` (``retry_after``), when no part of the message is left on a link; parts acknowledged
  meanwhile stay acknowledged.
* A receipt settles the part it names (its id is matched in the link's ``receipt_id_format``):
  DELIVRD for every part makes the delivery ``delivered``; any failure makes it ``failed`` (final,
  reported once); both are final. Intermediate states (ENROUTE, ACCEPTD) change nothing. A settled
  message is forgotten.
* Receipt time-out: a message whose receipts are still awaited at its time-out ends ``unconfirmed``
  (final, stored as such, forgotten), whatever parts were delivered. If the alert's lifetime ends first,
  the message is forgotten at that moment and nothing is reported: the store expires the delivery, and
  that expiry is its final event. The time-out is stored with the message, so after a restart a message
  past it ends at the first :class:`Tick`.
* A receipt that matches no open message is answered at once when the store knows its id (a message
  settled earlier, or before a restart). One for a message that ended unconfirmed still tells (the
  store says so, :class:`Unconfirmed`): a failure makes the delivery ``failed``, a one-part message's
  delivery ``delivered`` (final; the later report wins). Otherwise, while some part still waits for its
  submit_sm_resp, it is held unanswered: it may have overtaken that answer (it came on the receiver
  bind, or was read first). It settles its part as soon as the ack with its id is handled; it is
  released, answered and reported :class:`Unmatched` once the link's response time-out has passed
  since it came, or no part waits for an answer any more (at the next :class:`Tick`).
* Every receipt is answered (:class:`Answer`) ESME_ROK once handled (a held one when its ack settles it
  or it is released), on the connection it came on (an answer for a connection that is gone is dropped
  by the link; the SMSC sends the receipt again). The shell answers ESME_RX_T_APPN instead when storing
  its effect fails, so the SMSC sends it again.
* Open messages (some part unacknowledged, or receipts awaited) survive a restart
  (:meth:`Tracker.restore`), except those whose alert has expired.

How the shell carries out the actions of one batch of events: first every store write (in one
transaction, acks before receipts), then the reports (in their order), then the answers and the
hand-overs to the links. So a ``sent`` report follows the write of its acks, and an SMSC gets its
deliver_sm_resp only once the receipt's effect is stored and reported; if the node dies in between,
the SMSC sends the receipt again. Time-driven rules (the release of held receipts, the receipt
time-out) run on :class:`Tick`, due at :meth:`Tracker.deadline`.

Pure: no socket, thread, store or clock. :meth:`Tracker.body` alone may be called from a link thread
(one dict read). Its values (rows, configuration, events, actions) are in :mod:`tracking`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.domain import ChannelEvent, DeliveryState
from alertnode.sms import receipts
from alertnode.sms.status import ESME_RINVEXPIRY, ESME_ROK, status_name
from alertnode.sms.tracking import (
    Acked,
    Action,
    Answer,
    Enqueue,
    Event,
    LinkRules,
    MessageRow,
    MessageState,
    PartRow,
    ReceiptIn,
    ReceiptUpdate,
    Refused,
    Report,
    StoreAck,
    StoreReceipt,
    StoreState,
    Submit,
    SubmitFailed,
    Tick,
    TrackerConfig,
    Unconfirmed,
    Unmatched,
)

__all__ = [
    "Acked", "Action", "Answer", "Enqueue", "Event", "LinkRules", "MessageRow", "MessageState", "PartRow",
    "ReceiptIn", "ReceiptUpdate", "Refused", "Report", "StoreAck", "StoreReceipt", "StoreState", "Submit",
    "SubmitFailed", "Tick", "Tracker", "TrackerConfig", "Unconfirmed", "Unmatched",
]


# -- the machine -----------------------------------------------------------------------------------
@dataclass(slots=True)
class _Message:
    delivery_id: int
    link: str
    dest_index: str
    sender: str
    parts: int
    ref: int | None
    expires_at: float | None
    submitted_at: float
    state: MessageState = MessageState.SUBMITTING
    acked: dict[int, str] = field(default_factory=dict)  # part_no -> normalized message id
    written: dict[int, str] = field(default_factory=dict)  # part_no -> message id as the SMSC wrote it
    delivered: set[int] = field(default_factory=set)
    waiting: set[int] = field(default_factory=set)  # ids of parts queued on a link
    retry: dict[str, Any] | None = None  # why a part failed for now, reported once no part is waiting
    receipt_due: float | None = None  # state SENT: when the receipts stop being awaited

    def row(self) -> MessageRow:
        state = self.state if self.state in (MessageState.SENT, MessageState.DONE) else MessageState.SUBMITTING
        return MessageRow(
            self.delivery_id,
            self.link,
            self.dest_index,
            self.sender,
            self.parts,
            self.ref,
            state.value,
            self.submitted_at,
            self.expires_at,
            self.receipt_due,
        )

    def ids(self) -> list[str]:
        """The message ids of the acknowledged parts, in part order, as the SMSC wrote them."""
        return [self.written.get(k) or self.acked[k] for k in sorted(self.acked)]


@dataclass(frozen=True, slots=True)
class _Part:
    delivery_id: int
    part_no: int
    body: bytes
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class _Held:
    receipt: ReceiptIn
    ids: tuple[str, ...]
    until: float


_NO_RULES = LinkRules()
# what a message settled before a restart reports when its delivery is submitted again
_SETTLED: Mapping[MessageState, tuple[str, DeliveryState]] = {
    MessageState.DONE: ("sent", DeliveryState.SENT),
    MessageState.DELIVERED: ("delivered", DeliveryState.DELIVERED),
    MessageState.FAILED: ("failed", DeliveryState.FAILED),
    MessageState.UNCONFIRMED: ("unconfirmed", DeliveryState.UNCONFIRMED),
}


class Tracker:
    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self._messages: dict[int, _Message] = {}
        self._parts: dict[int, _Part] = {}
        self._by_id: dict[str, tuple[int, int]] = {}  # normalized message id -> (delivery, part_no)
        self._refs: dict[str, int] = {}  # destination index -> next concatenation reference
        self._last_part = 0
        self._held: dict[int, _Held] = {}
        self._held_by_id: dict[str, list[int]] = {}
        self._last_hold = 0
        # (when, delivery id) of messages awaiting receipts: the receipt time-out, or the alert's end if
        # sooner; entries of messages settled meanwhile stay until they come up (or a compaction)
        self._due: list[tuple[float, int]] = []
        self._awaited: set[int] = set()  # messages whose receipts are awaited (state SENT)
        self.busy = 0  # messages with parts queued on a link
        self.resubmitted = 0  # submissions that sent only the parts still missing
        self.timed_out = 0  # messages ended unconfirmed by the receipt time-out

    # -- queries ---------------------------------------------------------------------------------
    @property
    def held(self) -> int:
        """Receipts held unanswered for their submit_sm_resp."""
        return len(self._held)

    @property
    def open_messages(self) -> int:
        return len(self._messages)

    @property
    def awaiting(self) -> int:
        """Messages whose receipts are awaited."""
        return len(self._awaited)

    def deadline(self) -> float | None:
        """The latest time the next :class:`Tick` must come (None: only events can change anything)."""
        while self._due and self._due[0][1] not in self._awaited:
            heapq.heappop(self._due)  # settled before its time-out
        due = self._due[0][0] if self._due else None
        if self._held:
            held = min(h.until for h in self._held.values())
            due = held if due is None else min(due, held)
        return due

    def body(self, part_id: int, now: float) -> bytes | None:
        """The submit_sm body of a queued part; None if it was dropped or its alert has expired."""
        part = self._parts.get(part_id)
        if part is None or (part.expires_at is not None and part.expires_at <= now):
            return None
        return part.body

    def knows(self, delivery_id: int) -> bool:
        return delivery_id in self._messages

    def reference(self, delivery_id: int, dest_index: str, parts: int, modulus: int) -> int | None:
        """The concatenation reference to frame a submission of ``parts`` parts with (None: one part)."""
        msg = self._messages.get(delivery_id)
        if msg is not None and msg.parts == parts:
            return msg.ref
        if parts <= 1 or modulus <= 0:
            return None
        return self._refs.get(dest_index, 0) % modulus

    def lookup_ids(self, link: str, receipt: receipts.Receipt | None) -> tuple[str, ...]:
        """The ids to look up in the store for a receipt that matches no open message (empty: no need)."""
        if receipt is None or receipt.outcome is receipts.Outcome.PENDING:
            return ()
        ids = self._ids(link, receipt.message_id)
        if any(i in self._by_id for i in ids):
            return ()
        return ids

    # -- restart ---------------------------------------------------------------------------------
    def restore(
        self, messages: Iterable[MessageRow], parts: Iterable[PartRow], refs: Mapping[str, int], now: float
    ) -> int:
        """Take back the messages still open before a restart; returns how many. Receipts awaited past
        their time-out end at the first :class:`Tick`."""
        self._take(messages, parts, now)
        self._refs = dict(refs)
        return len(self._messages)

    def adopt(self, message: MessageRow, parts: Iterable[PartRow], now: float) -> None:
        """Take back one message of the store that is not open (settled, or sent without receipts), for
        a delivery submitted again: the shell looks it up when a later attempt names a delivery this
        tracker does not know (after a restart that came between the store's write and a report)."""
        if message.delivery_id not in self._messages:
            self._take([message], parts, now)

    def _take(self, messages: Iterable[MessageRow], parts: Iterable[PartRow], now: float) -> None:
        taken = []
        for r in messages:
            if r.expires_at is not None and r.expires_at < now:
                continue
            msg = _Message(r.delivery_id, r.link, r.dest_index, r.sender, r.parts, r.ref, r.expires_at,
                           r.submitted_at, state=MessageState(r.state), receipt_due=r.receipt_due_at)
            self._messages[r.delivery_id] = msg
            taken.append(msg)
        for p in parts:
            m = self._messages.get(p.delivery_id)
            if m is None:
                continue
            m.acked[p.part_no] = p.message_id
            if p.gateway_id:
                m.written[p.part_no] = p.gateway_id
            if p.state == "delivered":
                m.delivered.add(p.part_no)
            self._by_id[p.message_id] = (m.delivery_id, p.part_no)
        for m in taken:
            if m.state is MessageState.SENT:
                # a row written before receipt time-outs existed has none: it starts at the restart
                due = m.receipt_due
                self._await(m, due if due is not None else now + self._rules(m.link).receipt_timeout_s)

    # -- events ----------------------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[Action]:
        if isinstance(event, Acked):
            return self._on_ack(event)
        if isinstance(event, Submit):
            return self._on_submit(event, now)
        if isinstance(event, ReceiptIn):
            return self._on_receipt(event, now)
        if isinstance(event, SubmitFailed):
            return self._on_failure(event)
        return self._on_tick(now)

    def _on_submit(self, ev: Submit, now: float) -> list[Action]:
        did = ev.delivery_id
        msg = self._messages.get(did)
        if msg is not None and msg.waiting:
            return [Refused(did, "submitted while still queued on a link")]
        count = len(ev.parts)
        if msg is not None and msg.parts == count and len(msg.acked) >= count:
            return [self._resumed(msg, now)]
        if msg is None or msg.parts != count:
            if ev.ref is not None:
                self._refs[ev.dest_index] = ev.ref + 1
            if msg is not None:
                self._forget(msg)
            msg = _Message(did, ev.link, ev.dest_index, ev.sender, count, ev.ref, ev.expires_at, now)
            self._messages[did] = msg
        else:
            msg.link = ev.link
            msg.state = MessageState.SUBMITTING
            self._awaited.discard(did)
        queue = []
        for part_no, (body, cost) in enumerate(ev.parts, start=1):
            if part_no in msg.acked:
                continue
            self._last_part += 1
            pid = self._last_part
            self._parts[pid] = _Part(did, part_no, body, ev.expires_at)
            if not msg.waiting:
                self.busy += 1
            msg.waiting.add(pid)
            queue.append((pid, cost))
        if msg.acked:
            self.resubmitted += 1
        return [Enqueue(ev.link, tuple(queue))]

    def _resumed(self, msg: _Message, now: float) -> Report:
        """Every part of a message submitted again has its ack: its outcome is reported again."""
        detail: dict[str, Any] = {"parts": msg.parts, "link": msg.link, "resumed": True,
                                  "message_ids": msg.ids()}
        if msg.state in (MessageState.SENT, MessageState.SUBMITTING):
            return Report(ChannelEvent(msg.delivery_id, "sent", now, DeliveryState.SENT, detail=detail))
        kind, state = _SETTLED[msg.state]
        self._forget(msg)
        return Report(ChannelEvent(msg.delivery_id, kind, now, state, detail=detail, final=True))

    def _on_ack(self, ev: Acked) -> list[Action]:
        part = self._parts.pop(ev.part_id, None)
        if part is None:
            return []
        msg = self._messages.get(part.delivery_id)
        if msg is None:
            return []
        self._settle(msg, ev.part_id)
        mid = receipts.normalize_id(ev.message_id)
        written = ev.message_id.strip()
        msg.acked[part.part_no] = mid
        if written != mid:
            msg.written[part.part_no] = written
        self._by_id[mid] = (msg.delivery_id, part.part_no)
        reports: list[Action] = []
        if not msg.waiting and msg.retry is not None and len(msg.acked) < msg.parts:
            reports.append(self._retry(msg, ev.at))  # an earlier part failed for now
        if len(msg.acked) >= msg.parts and msg.state is MessageState.SUBMITTING:
            rules = self._rules(ev.link)
            detail = {"parts": msg.parts, "link": ev.link, "message_ids": msg.ids()}
            if rules.receipts:
                msg.state = MessageState.SENT
                self._await(msg, ev.at + rules.receipt_timeout_s)
            else:
                msg.state = MessageState.DONE
            event = ChannelEvent(msg.delivery_id, "sent", ev.at, DeliveryState.SENT, detail=detail,
                                 final=msg.state is MessageState.DONE)
            reports.append(Report(event))
        next_ref = None
        if msg.ref is not None:
            next_ref = (msg.dest_index, self._refs.get(msg.dest_index, msg.ref + 1))
        row = PartRow(msg.delivery_id, part.part_no, mid, "acked", ev.at, msg.written.get(part.part_no, ""))
        out: list[Action] = [StoreAck(msg.row(), row, next_ref)]
        out += reports
        if self._held_by_id:
            for key in self._held_by_id.pop(mid, ()):
                held = self._held.get(key)
                if held is not None:
                    self._release(key)
                    out += self._settle_receipt(held.receipt, msg.delivery_id, part.part_no)
        if msg.state is MessageState.DONE:
            self._forget(msg)  # nothing is awaited: a receipt sent anyway is found in the store
        return out

    def _on_failure(self, ev: SubmitFailed) -> list[Action]:
        part = self._parts.pop(ev.part_id, None)
        if part is None:
            return []
        msg = self._messages.get(part.delivery_id)
        if msg is None or msg.state in (MessageState.FAILED, MessageState.DELIVERED):
            return []
        self._settle(msg, ev.part_id)
        detail = {
            "smpp_status": ev.smpp_status,
            "smpp_status_name": status_name(ev.smpp_status),
            "reason": ev.reason,
            "link": ev.link,
            "part": part.part_no,
        }
        if not ev.permanent:
            # the delivery goes back to the dispatcher once no part of it is left on a link
            msg.retry = detail
            return [] if msg.waiting else [self._retry(msg, ev.at)]
        msg.state = MessageState.FAILED
        for pid in msg.waiting:  # the other parts are pointless now
            self._parts.pop(pid, None)
        self._settle(msg, None)
        did = msg.delivery_id
        if ev.smpp_status == ESME_RINVEXPIRY and msg.expires_at is not None and msg.expires_at <= ev.at:
            return [Report(ChannelEvent(did, "expired", ev.at, DeliveryState.EXPIRED, final=True))]
        return [Report(ChannelEvent(did, "failed", ev.at, DeliveryState.FAILED, detail=detail, final=True))]

    def _on_receipt(self, ev: ReceiptIn, now: float) -> list[Action]:
        answer = Answer(ev.link, ev.role, ev.sequence, ESME_ROK, ev.connection)
        rc = ev.receipt
        if rc is None:
            return [Unmatched(ev.link, None), answer]
        if rc.outcome is receipts.Outcome.PENDING:
            return [answer]
        ids = self._ids(ev.link, rc.message_id)
        for i in ids:
            found = self._by_id.get(i)
            if found is not None:
                return self._settle_receipt(ev, *found)
        if ev.late is not None:
            return self._late_receipt(ev, ev.late)
        if ev.known:
            return [answer]
        until = ev.at + self._rules(ev.link).hold_s
        if self._parts and now < until:
            self._last_hold += 1
            self._held[self._last_hold] = _Held(ev, ids, until)
            for i in ids:
                self._held_by_id.setdefault(i, []).append(self._last_hold)
            return []
        return [Unmatched(ev.link, rc.message_id), answer]

    def _on_tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        while self._due and self._due[0][0] <= now:
            _, did = heapq.heappop(self._due)
            msg = self._messages.get(did)
            if msg is None or msg.state is not MessageState.SENT:
                continue  # settled meanwhile
            if msg.expires_at is not None and msg.expires_at <= now:
                # the alert's lifetime ended first: the store expires the delivery (its final event)
                self._forget(msg)
                continue
            if msg.receipt_due is not None and msg.receipt_due <= now:
                out += self._time_out(msg, now)
            else:  # restored or re-awaited with a later time: not due yet
                heapq.heappush(self._due, (self._due_at(msg), did))
        if not self._held:
            return out
        for key, held in list(self._held.items()):
            if now >= held.until or not self._parts:
                self._release(key)
                ev = held.receipt
                out += [Unmatched(ev.link, ev.receipt.message_id if ev.receipt else None)]
                out.append(Answer(ev.link, ev.role, ev.sequence, ESME_ROK, ev.connection))
        return out

    # -- internals -------------------------------------------------------------------------------
    def _rules(self, link: str) -> LinkRules:
        return self.config.links.get(link, _NO_RULES)

    def _ids(self, link: str, message_id: str) -> tuple[str, ...]:
        return tuple(receipts.id_candidates(message_id, self._rules(link).receipt_id_format))

    @staticmethod
    def _due_at(msg: _Message) -> float:
        due = msg.receipt_due if msg.receipt_due is not None else float("inf")
        return due if msg.expires_at is None else min(due, msg.expires_at)

    def _await(self, msg: _Message, due: float) -> None:
        """``msg`` (state SENT) awaits its receipts until ``due``."""
        msg.receipt_due = due
        self._awaited.add(msg.delivery_id)
        heapq.heappush(self._due, (self._due_at(msg), msg.delivery_id))
        if len(self._due) > 1024 and len(self._due) > 4 * len(self._awaited):
            # mostly entries of messages settled long before their time-out: keep the live ones
            self._due = [(self._due_at(self._messages[d]), d) for d in self._awaited]
            heapq.heapify(self._due)

    def _time_out(self, msg: _Message, now: float) -> list[Action]:
        """No receipt (or not one for every part) came in time: the delivery ends unconfirmed."""
        msg.state = MessageState.UNCONFIRMED
        self._forget(msg)
        self.timed_out += 1
        detail: dict[str, Any] = {
            "reason": "no delivery receipt before the receipt time-out",
            "receipt_timeout_s": self._rules(msg.link).receipt_timeout_s,
            "link": msg.link,
            "parts": msg.parts,
            "message_ids": msg.ids(),
        }
        if msg.delivered:
            detail["delivered_parts"] = len(msg.delivered)
        event = ChannelEvent(msg.delivery_id, "unconfirmed", now, DeliveryState.UNCONFIRMED, detail=detail,
                             final=True)
        return [StoreState(msg.delivery_id, MessageState.UNCONFIRMED.value), Report(event)]

    def _settle(self, msg: _Message, part_id: int | None) -> None:
        """A queued part of ``msg`` is done (acknowledged or failed); None: all of them are."""
        if not msg.waiting:
            return
        if part_id is None:
            msg.waiting.clear()
        else:
            msg.waiting.discard(part_id)
        if not msg.waiting:
            self.busy -= 1

    def _retry(self, msg: _Message, at: float) -> Report:
        detail, msg.retry = msg.retry or {}, None
        return Report(
            ChannelEvent(msg.delivery_id, "retry", at, None, detail=detail, retry_after=self.config.retry_after_s)
        )

    def _release(self, key: int) -> None:
        held = self._held.pop(key)
        for i in held.ids:
            keys = self._held_by_id.get(i)
            if keys is not None and key in keys:
                keys.remove(key)
                if not keys:
                    del self._held_by_id[i]

    def _settle_receipt(self, ev: ReceiptIn, delivery_id: int, part_no: int) -> list[Action]:
        answer = Answer(ev.link, ev.role, ev.sequence, ESME_ROK, ev.connection)
        msg = self._messages.get(delivery_id)
        rc = ev.receipt
        if msg is None or rc is None:
            return [answer]
        written = msg.written.get(part_no) or msg.acked.get(part_no, rc.message_id)
        detail = {"stat": rc.stat, "err": rc.err, "link": ev.link, "part": part_no, "message_id": written}
        if rc.outcome is receipts.Outcome.DELIVERED:
            msg.delivered.add(part_no)
            done = len(msg.delivered) >= msg.parts
            update = ReceiptUpdate(delivery_id, part_no, "delivered", rc.stat, rc.err, "delivered" if done else None)
            if not done:
                return [StoreReceipt(update), answer]
            msg.state = MessageState.DELIVERED
            self._forget(msg)
            event = ChannelEvent(delivery_id, "delivered", ev.at, DeliveryState.DELIVERED, detail=detail, final=True)
            return [StoreReceipt(update), Report(event), answer]
        update = ReceiptUpdate(delivery_id, part_no, "failed", rc.stat, rc.err, "failed")
        was_failed = msg.state is MessageState.FAILED
        msg.state = MessageState.FAILED
        self._forget(msg)
        if was_failed:
            return [StoreReceipt(update), answer]
        event = ChannelEvent(delivery_id, "failed", ev.at, DeliveryState.FAILED, detail=detail, final=True)
        return [StoreReceipt(update), Report(event), answer]

    def _late_receipt(self, ev: ReceiptIn, late: Unconfirmed) -> list[Action]:
        """A receipt for a message that ended unconfirmed still tells: a failure fails the delivery, the
        delivery of a one-part message delivers it (both final, the later report wins)."""
        answer = Answer(ev.link, ev.role, ev.sequence, ESME_ROK, ev.connection)
        rc = ev.receipt
        assert rc is not None
        did, part_no = late.delivery_id, late.part_no
        detail = {"stat": rc.stat, "err": rc.err, "link": ev.link, "part": part_no, "message_id": rc.message_id,
                  "late": True}
        if rc.outcome is receipts.Outcome.DELIVERED:
            if late.parts > 1:  # the other parts' receipts were missing too: still unconfirmed
                return [StoreReceipt(ReceiptUpdate(did, part_no, "delivered", rc.stat, rc.err, None)), answer]
            update = ReceiptUpdate(did, part_no, "delivered", rc.stat, rc.err, MessageState.DELIVERED.value)
            event = ChannelEvent(did, "delivered", ev.at, DeliveryState.DELIVERED, detail=detail, final=True)
        else:
            update = ReceiptUpdate(did, part_no, "failed", rc.stat, rc.err, MessageState.FAILED.value)
            event = ChannelEvent(did, "failed", ev.at, DeliveryState.FAILED, detail=detail, final=True)
        return [StoreReceipt(update), Report(event), answer]

    def _forget(self, msg: _Message) -> None:
        for mid in msg.acked.values():
            self._by_id.pop(mid, None)
        self._messages.pop(msg.delivery_id, None)
        self._awaited.discard(msg.delivery_id)
