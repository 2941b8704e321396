"""The SMS messages in the channel's hands, as a pure machine: fed events with the current time, it
returns actions (events to report, rows to store, parts to queue on a link, answers to the SMSC).

Rules every transition follows:

* A delivery is one message of ``parts`` parts (a text sent as one message_payload is one part). A
  part counts as sent only once its submit_sm_resp says ESME_ROK (:class:`Acked`); the delivery is
  reported ``sent`` with the ack of its last part, and every ack is stored (:class:`StoreAck`).
* A delivery submitted again (the dispatcher's retry, or after a restart) keeps its message: only the
  parts without an ack are queued again, framed with the same concatenation reference; when every part
  has one, ``sent`` is reported again (``resumed``) and its receipts are still awaited. A submission
  while parts of the same delivery are still queued on a link is refused (:class:`Refused`).
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
  reported once). Intermediate states (ENROUTE, ACCEPTD) change nothing. A settled message is
  forgotten.
* A receipt that matches no open message is answered at once when the store knows its id (a message
  settled earlier, or before a restart). Otherwise, while some part still waits for its
  submit_sm_resp, it is held unanswered: it may have overtaken that answer (it came on the receiver
  bind, or was read first). It settles its part as soon as the ack with its id is handled; it is
  released, answered and reported :class:`Unmatched` once the link's response time-out has passed
  since it came, or no part waits for an answer any more (at the next :class:`Tick`).
* Every receipt is answered (:class:`Answer`) ESME_ROK once handled (a held one when its ack settles it
  or it is released). The shell answers ESME_RX_T_APPN instead when storing its effect fails, so the
  SMSC sends it again.
* Open messages survive a restart (:meth:`Tracker.restore`), except those whose alert has expired.

How the shell carries out the actions of one batch of events: first every store write (in one
transaction, acks before receipts), then the reports (in their order), then the answers and the
hand-overs to the links. So a ``sent`` report follows the write of its acks, and an SMSC gets its
deliver_sm_resp only once the receipt's effect is stored and reported; if the node dies in between,
the SMSC sends the receipt again. Time-driven rules (the release of held receipts; a receipt
time-out would be one more) run on :class:`Tick`, due at :meth:`Tracker.deadline`.

Pure: no socket, thread, store or clock. :meth:`Tracker.body` alone may be called from a link thread
(one dict read).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.domain import ChannelEvent, DeliveryState
from alertnode.sms import receipts
from alertnode.sms.status import ESME_RINVEXPIRY, ESME_ROK, status_name


class MessageState(enum.StrEnum):
    SUBMITTING = "submitting"  # some part has no ack yet
    SENT = "sent"  # every part acknowledged, receipts awaited
    DELIVERED = "delivered"
    FAILED = "failed"


# -- what the store keeps (migration 0010_sms.sql) -------------------------------------------------
@dataclass(frozen=True)
class MessageRow:
    delivery_id: int
    link: str
    dest_index: str
    sender: str
    parts: int
    ref: int | None
    state: str  # a MessageState value
    submitted_at: float
    expires_at: float | None


@dataclass(frozen=True)
class PartRow:
    delivery_id: int
    part_no: int
    message_id: str  # normalized (receipts.normalize_id)
    state: str  # acked | delivered | failed
    acked_at: float = 0.0


@dataclass(frozen=True)
class ReceiptUpdate:
    delivery_id: int
    part_no: int
    state: str  # delivered | failed
    stat: str
    err: str
    message_state: str | None  # the message's new state, when this receipt settles it


# -- configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkRules:
    receipt_id_format: str = "auto"  # receipts.id_candidates mode
    hold_s: float = 0.0  # how long a receipt may wait for its submit_sm_resp (the link's response time-out)


@dataclass(frozen=True)
class TrackerConfig:
    retry_after_s: float = 60.0  # retry_after of a temporary failure
    links: Mapping[str, LinkRules] = field(default_factory=dict)


# -- events ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Submit:
    """A delivery to send: its parts framed with ``ref`` (from :meth:`Tracker.reference`), in order,
    each as (submit_sm body, segments it costs on the air)."""

    delivery_id: int
    link: str
    dest_index: str
    sender: str
    ref: int | None
    parts: tuple[tuple[bytes, int], ...]
    expires_at: float | None


@dataclass(frozen=True)
class Acked:
    """submit_sm_resp ESME_ROK for a queued part."""

    part_id: int
    message_id: str
    link: str
    at: float


@dataclass(frozen=True)
class SubmitFailed:
    """A queued part failed: an error status, too many throttling answers, or no submit_sm_resp."""

    part_id: int
    smpp_status: int
    permanent: bool
    reason: str
    link: str
    at: float


@dataclass(frozen=True)
class ReceiptIn:
    """A delivery receipt (deliver_sm) on ``link``'s ``role`` bind, to answer under ``sequence``.
    ``receipt`` is None when it names no message; ``known``: the store has a part under its id."""

    link: str
    role: str
    sequence: int
    at: float
    receipt: receipts.Receipt | None
    known: bool = False


@dataclass(frozen=True)
class Tick:
    """Time passed (due at :meth:`Tracker.deadline`, and after each batch of events)."""


Event = Submit | Acked | SubmitFailed | ReceiptIn | Tick


# -- actions ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Enqueue:
    """Hand these parts (part id, segments) to the link's sending bind."""

    link: str
    parts: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Report:
    event: ChannelEvent


@dataclass(frozen=True)
class Refused:
    delivery_id: int
    reason: str


@dataclass(frozen=True)
class StoreAck:
    """An acknowledged part, its message's row, and the destination's next reference when it has one."""

    message: MessageRow
    part: PartRow
    next_ref: tuple[str, int] | None


@dataclass(frozen=True)
class StoreReceipt:
    update: ReceiptUpdate


@dataclass(frozen=True)
class Answer:
    """deliver_sm_resp with ``status`` for the deliver_sm ``sequence`` on ``link``'s ``role`` bind."""

    link: str
    role: str
    sequence: int
    status: int


@dataclass(frozen=True)
class Unmatched:
    """A receipt that settled nothing (for the log): no message id, or an id of no message."""

    link: str
    message_id: str | None


Action = Enqueue | Report | Refused | StoreAck | StoreReceipt | Answer | Unmatched


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
    delivered: set[int] = field(default_factory=set)
    waiting: set[int] = field(default_factory=set)  # ids of parts queued on a link
    retry: dict[str, Any] | None = None  # why a part failed for now, reported once no part is waiting

    def row(self) -> MessageRow:
        state = MessageState.SENT if self.state is MessageState.SENT else MessageState.SUBMITTING
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
        )


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
        self.busy = 0  # messages with parts queued on a link
        self.resubmitted = 0  # submissions that sent only the parts still missing

    # -- queries ---------------------------------------------------------------------------------
    @property
    def held(self) -> int:
        """Receipts held unanswered for their submit_sm_resp."""
        return len(self._held)

    @property
    def open_messages(self) -> int:
        return len(self._messages)

    def deadline(self) -> float | None:
        """The latest time the next :class:`Tick` must come (None: only events can change anything)."""
        if not self._held:
            return None
        return min(h.until for h in self._held.values())

    def body(self, part_id: int, now: float) -> bytes | None:
        """The submit_sm body of a queued part; None if it was dropped or its alert has expired."""
        part = self._parts.get(part_id)
        if part is None or (part.expires_at is not None and part.expires_at <= now):
            return None
        return part.body

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
        """Take back the messages still open before a restart; returns how many."""
        self.adopt(messages, parts, now)
        self._refs = dict(refs)
        return len(self._messages)

    def adopt(self, messages: Iterable[MessageRow], parts: Iterable[PartRow], now: float) -> None:
        """Take open messages from the store that this tracker does not hold: submitted by another node
        sharing the store, whose receipt came to this one (the reference counters stay as they are)."""
        for r in messages:
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
                state=MessageState(r.state),
            )
        for p in parts:
            m = self._messages.get(p.delivery_id)
            if m is None:
                continue
            m.acked[p.part_no] = p.message_id
            if p.state == "delivered":
                m.delivered.add(p.part_no)
            self._by_id[p.message_id] = (m.delivery_id, p.part_no)

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
            detail = {"parts": msg.parts, "link": msg.link, "resumed": True}
            return [Report(ChannelEvent(did, "sent", now, DeliveryState.SENT, detail=detail))]
        if msg is None or msg.parts != count:
            if ev.ref is not None:
                self._refs[ev.dest_index] = ev.ref + 1
            msg = _Message(did, ev.link, ev.dest_index, ev.sender, count, ev.ref, ev.expires_at, now)
            self._messages[did] = msg
        else:
            msg.link = ev.link
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

    def _on_ack(self, ev: Acked) -> list[Action]:
        part = self._parts.pop(ev.part_id, None)
        if part is None:
            return []
        msg = self._messages.get(part.delivery_id)
        if msg is None:
            return []
        self._settle(msg, ev.part_id)
        mid = receipts.normalize_id(ev.message_id)
        msg.acked[part.part_no] = mid
        self._by_id[mid] = (msg.delivery_id, part.part_no)
        reports: list[Action] = []
        if not msg.waiting and msg.retry is not None and len(msg.acked) < msg.parts:
            reports.append(self._retry(msg, ev.at))  # an earlier part failed for now
        if len(msg.acked) >= msg.parts and msg.state is MessageState.SUBMITTING:
            msg.state = MessageState.SENT
            detail = {"parts": msg.parts, "link": ev.link, "message_ids": [msg.acked[k] for k in sorted(msg.acked)]}
            reports.append(Report(ChannelEvent(msg.delivery_id, "sent", ev.at, DeliveryState.SENT, detail=detail)))
        next_ref = None
        if msg.ref is not None:
            next_ref = (msg.dest_index, self._refs.get(msg.dest_index, msg.ref + 1))
        out: list[Action] = [StoreAck(msg.row(), PartRow(msg.delivery_id, part.part_no, mid, "acked", ev.at), next_ref)]
        out += reports
        if self._held_by_id:
            for key in self._held_by_id.pop(mid, ()):
                held = self._held.get(key)
                if held is not None:
                    self._release(key)
                    out += self._settle_receipt(held.receipt, msg.delivery_id, part.part_no)
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
        answer = Answer(ev.link, ev.role, ev.sequence, ESME_ROK)
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
        if ev.known:
            return [answer]
        until = ev.at + self.config.links.get(ev.link, _NO_RULES).hold_s
        if self._parts and now < until:
            self._last_hold += 1
            self._held[self._last_hold] = _Held(ev, ids, until)
            for i in ids:
                self._held_by_id.setdefault(i, []).append(self._last_hold)
            return []
        return [Unmatched(ev.link, rc.message_id), answer]

    def _on_tick(self, now: float) -> list[Action]:
        if not self._held:
            return []
        out: list[Action] = []
        for key, held in list(self._held.items()):
            if now >= held.until or not self._parts:
                self._release(key)
                ev = held.receipt
                out += [Unmatched(ev.link, ev.receipt.message_id if ev.receipt else None)]
                out.append(Answer(ev.link, ev.role, ev.sequence, ESME_ROK))
        return out

    # -- internals -------------------------------------------------------------------------------
    def _ids(self, link: str, message_id: str) -> tuple[str, ...]:
        return tuple(receipts.id_candidates(message_id, self.config.links.get(link, _NO_RULES).receipt_id_format))

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
        answer = Answer(ev.link, ev.role, ev.sequence, ESME_ROK)
        msg = self._messages.get(delivery_id)
        rc = ev.receipt
        if msg is None or rc is None:
            return [answer]
        detail = {"stat": rc.stat, "err": rc.err, "link": ev.link, "part": part_no}
        if rc.outcome is receipts.Outcome.DELIVERED:
            msg.delivered.add(part_no)
            done = len(msg.delivered) >= msg.parts
            update = ReceiptUpdate(delivery_id, part_no, "delivered", rc.stat, rc.err, "delivered" if done else None)
            if not done:
                return [StoreReceipt(update), answer]
            msg.state = MessageState.DELIVERED
            self._forget(msg)
            event = ChannelEvent(delivery_id, "delivered", ev.at, DeliveryState.DELIVERED, detail=detail)
            return [StoreReceipt(update), Report(event), answer]
        update = ReceiptUpdate(delivery_id, part_no, "failed", rc.stat, rc.err, "failed")
        was_failed = msg.state is MessageState.FAILED
        msg.state = MessageState.FAILED
        self._forget(msg)
        if was_failed:
            return [StoreReceipt(update), answer]
        event = ChannelEvent(delivery_id, "failed", ev.at, DeliveryState.FAILED, detail=detail, final=True)
        return [StoreReceipt(update), Report(event), answer]

    def _forget(self, msg: _Message) -> None:
        for mid in msg.acked.values():
            self._by_id.pop(mid, None)
        self._messages.pop(msg.delivery_id, None)
