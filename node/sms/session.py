"""The SMPP 3.4 session as a pure state machine: fed events with the current time, it returns actions.

Rules every transition follows:

* Only a ``submit_sm_resp`` with status 0 acknowledges a part (``Acked``). A part whose response is
  lost (connection dropped, response time-out, link-level error) goes back to the front of the queue
  and is submitted again (``Requeued``): a message may be sent twice, never lost.
* At most ``window`` submit_sm are outstanding; segments leave at most at ``rate`` per second (token
  bucket, ``burst`` tokens, a part costs one token per segment it makes on the air). With
  ``hold_acks`` an acknowledged part still counts against the window until the node says it has
  recorded it (``Recorded``): what a node that dies has sent and not recorded (and another node then
  sends again) stays within its window.
* ``ESME_RTHROTTLED``/``ESME_RMSGQFUL`` pause the whole link, doubling the pause on each consecutive
  throttle, and retry the part; after ``max_throttle_retries`` the part fails temporarily.
* Permanent errors fail the part (``Failed(permanent=True)``); temporary ones fail it for a later retry.
* enquire_link is sent every ``enquire_interval`` while bound; no answer within ``enquire_timeout``
  means the link is dead (as does no bind_resp within ``response_timeout``).
* A dead or refused link is dropped and reconnected after a back-off that doubles up to
  ``reconnect_max``; a successful bind resets it.

The session allocates every sequence number (SMPP 3.4 §5.1.4: 0x00000001–0x7FFFFFFF).
The adapter asks :meth:`Session.deadline` when it next has to feed a :class:`Tick`.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from alertnode.sms.status import ESME_ROK, SmppLinkFailure, SmppRejected, SmppThrottled, error_for

MAX_SEQUENCE = 0x7FFFFFFF
JITTER_CREDIT_S = 0.010


class LinkState(enum.StrEnum):
    UNBOUND = "unbound"
    BINDING = "binding"
    BOUND = "bound"
    BACKING_OFF = "backing_off"
    UNBINDING = "unbinding"
    STOPPED = "stopped"


@dataclass(frozen=True)
class SessionConfig:
    window: int = 50
    rate: float = 0.0  # segments per second; 0 = unlimited
    burst: float = 1.0
    response_timeout: float = 10.0
    enquire_interval: float = 30.0
    enquire_timeout: float = 10.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    throttle_initial: float = 1.0
    throttle_max: float = 30.0
    max_throttle_retries: int = 8
    max_timeouts: int = 5
    can_submit: bool = True  # False for the receiver half of a transmitter+receiver pair
    hold_acks: bool = False  # acknowledged parts count against the window until Recorded (several nodes)


# -- events ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class ConnectFailed:
    reason: str


@dataclass(frozen=True)
class ConnectionLost:
    reason: str


@dataclass(frozen=True)
class BindResp:
    sequence: int
    status: int


@dataclass(frozen=True)
class SubmitResp:
    sequence: int
    status: int
    message_id: str


@dataclass(frozen=True)
class GenericNack:
    sequence: int
    status: int


@dataclass(frozen=True)
class EnquireLinkResp:
    sequence: int


@dataclass(frozen=True)
class PeerEnquireLink:
    sequence: int


@dataclass(frozen=True)
class PeerUnbind:
    sequence: int


@dataclass(frozen=True)
class UnbindResp:
    sequence: int


@dataclass(frozen=True)
class PduReceived:
    """Any other PDU from the SMSC (deliver_sm...): proves the link is alive."""


@dataclass(frozen=True)
class Enqueue:
    """Parts to submit: (part id, segments it costs)."""

    parts: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Reconfigure:
    """A new configuration (the rate share, ``hold_acks``) from the node; unrecorded acks are forgotten when
    ``hold_acks`` goes off."""

    config: SessionConfig


@dataclass(frozen=True)
class Recorded:
    """The node has recorded this many acknowledged parts (``hold_acks``)."""

    count: int


Event = (
    Start
    | Stop
    | Tick
    | Connected
    | ConnectFailed
    | ConnectionLost
    | BindResp
    | SubmitResp
    | GenericNack
    | EnquireLinkResp
    | PeerEnquireLink
    | PeerUnbind
    | UnbindResp
    | PduReceived
    | Enqueue
    | Recorded
    | Reconfigure
)


# -- actions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Connect:
    pass


@dataclass(frozen=True)
class Disconnect:
    reason: str


@dataclass(frozen=True)
class SendBind:
    sequence: int


@dataclass(frozen=True)
class SendSubmit:
    sequence: int
    part: int
    attempt: int


@dataclass(frozen=True)
class SendEnquireLink:
    sequence: int


@dataclass(frozen=True)
class SendEnquireLinkResp:
    sequence: int


@dataclass(frozen=True)
class SendUnbind:
    sequence: int


@dataclass(frozen=True)
class SendUnbindResp:
    sequence: int


@dataclass(frozen=True)
class Acked:
    part: int
    message_id: str


@dataclass(frozen=True)
class Failed:
    part: int
    smpp_status: int
    permanent: bool
    reason: str


@dataclass(frozen=True)
class Requeued:
    """Parts sent but never acknowledged that will be submitted again."""

    parts: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class StateChanged:
    state: LinkState
    reason: str


Action = (
    Connect
    | Disconnect
    | SendBind
    | SendSubmit
    | SendEnquireLink
    | SendEnquireLinkResp
    | SendUnbind
    | SendUnbindResp
    | Acked
    | Failed
    | Requeued
    | StateChanged
)


@dataclass
class _Part:
    part: int
    segments: int
    attempt: int = 0
    throttled: int = 0
    timeouts: int = 0


class Session:
    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.state = LinkState.UNBOUND
        self._seq = 0
        self._queue: deque[_Part] = deque()
        self._inflight: dict[int, tuple[_Part, float]] = {}
        self._tokens = config.burst
        self._refilled_at: float | None = None
        self._pause_until = 0.0
        self._throttle_strikes = 0
        self._backoff = config.reconnect_initial
        self._reconnect_at = 0.0
        self._bind_seq: int | None = None
        self._bind_deadline = 0.0
        self._enquire_seq: int | None = None
        self._enquire_deadline = 0.0
        self._next_enquire = 0.0
        self._unbind_seq: int | None = None
        self._unbind_deadline = 0.0
        self._stopping = False
        self.requeued_total = 0
        self.throttled_total = 0  # ESME_RTHROTTLED / ESME_RMSGQFUL answers
        self._unrecorded = 0  # acknowledged parts the node has not said it recorded (hold_acks)
        self.latency_count = 0  # submit_sm answered by a submit_sm_resp, and the seconds they took in all
        self.latency_sum = 0.0

    # -- queries ---------------------------------------------------------------------------
    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def deadline(self) -> float | None:
        """The latest time the next :class:`Tick` must come (None: only events can change anything)."""
        times: list[float] = []
        st = self.state
        if st is LinkState.BACKING_OFF:
            times.append(self._reconnect_at)
        elif st is LinkState.BINDING and self._bind_seq is not None:
            times.append(self._bind_deadline)
        elif st in (LinkState.BOUND, LinkState.UNBINDING):
            if self._enquire_seq is not None:
                times.append(self._enquire_deadline)
            elif st is LinkState.BOUND:
                times.append(self._next_enquire)
            if self._inflight:
                _, sent_at = next(iter(self._inflight.values()))
                times.append(sent_at + self.config.response_timeout)
            if st is LinkState.UNBINDING and self._unbind_seq is not None:
                times.append(self._unbind_deadline)
            if st is LinkState.BOUND and self._queue and len(self._inflight) + self._unrecorded < self.config.window:
                times.append(self._next_send_time())
        return min(times) if times else None

    def _next_send_time(self) -> float:
        t = self._pause_until
        if self.config.rate > 0 and self._tokens < 1 and self._refilled_at is not None:
            t = max(t, self._refilled_at + (1 - self._tokens) / self.config.rate)
        return t

    # -- the machine -----------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[Action]:
        out: list[Action] = []
        match event:
            case Start():
                self._stopping = False
                if self.state in (LinkState.UNBOUND, LinkState.STOPPED):
                    self._connect(out, "start")
            case Stop():
                self._stopping = True
                if self.state is LinkState.BOUND:
                    self._set(out, LinkState.UNBINDING, "stopping")
                elif self.state is not LinkState.UNBINDING:
                    if self.state is LinkState.BINDING:
                        out.append(Disconnect("stopping"))
                    self._requeue_inflight(out, "stopping")
                    self._set(out, LinkState.STOPPED, "stopped")
            case Connected():
                if self.state is LinkState.BINDING:
                    self._bind_seq = self._next_seq()
                    self._bind_deadline = now + self.config.response_timeout
                    out.append(SendBind(self._bind_seq))
            case ConnectFailed(reason=reason):
                if self.state is LinkState.BINDING:
                    self._back_off(out, now, f"connect failed: {reason}", disconnect=False)
            case BindResp(sequence=seq, status=status):
                if self.state is LinkState.BINDING and seq == self._bind_seq:
                    self._bind_seq = None
                    if status == ESME_ROK:
                        self._backoff = self.config.reconnect_initial
                        self._next_enquire = now + self.config.enquire_interval
                        self._refilled_at = now
                        self._tokens = self.config.burst
                        self._set(out, LinkState.BOUND, "bound")
                    else:
                        self._back_off(out, now, f"bind refused: {error_for(status)}")
            case SubmitResp(sequence=seq, status=status, message_id=mid):
                self._on_submit_resp(out, now, seq, status, mid)
            case GenericNack(sequence=seq, status=status):
                if seq in self._inflight:
                    self._on_submit_resp(out, now, seq, status or 0xFF, "")
                elif seq == self._bind_seq:
                    self._back_off(out, now, f"bind answered with generic_nack {status:#x}")
            case EnquireLinkResp(sequence=seq):
                if seq == self._enquire_seq:
                    self._enquire_seq = None
            case PeerEnquireLink(sequence=seq):
                out.append(SendEnquireLinkResp(seq))
            case PeerUnbind(sequence=seq):
                out.append(SendUnbindResp(seq))
                if self._stopping:
                    out.append(Disconnect("unbound by the SMSC"))
                    self._requeue_inflight(out, "unbound by the SMSC")
                    self._set(out, LinkState.STOPPED, "unbound by the SMSC")
                else:
                    self._back_off(out, now, "unbound by the SMSC")
            case UnbindResp(sequence=seq):
                if self.state is LinkState.UNBINDING and seq == self._unbind_seq:
                    out.append(Disconnect("unbound"))
                    self._requeue_inflight(out, "unbound")
                    self._set(out, LinkState.STOPPED, "unbound")
            case ConnectionLost(reason=reason):
                if self.state in (LinkState.BINDING, LinkState.BOUND):
                    self._back_off(out, now, f"connection lost: {reason}", disconnect=True)
                elif self.state is LinkState.UNBINDING:
                    self._requeue_inflight(out, reason)
                    out.append(Disconnect(reason))
                    self._set(out, LinkState.STOPPED, f"connection lost while unbinding: {reason}")
            case Enqueue(parts=parts):
                for part, segments in parts:
                    self._queue.append(_Part(part, max(1, segments)))
            case Recorded(count=count):
                self._unrecorded = max(0, self._unrecorded - count)
            case Reconfigure(config=config):
                self.config = config
                if not config.hold_acks:
                    self._unrecorded = 0
            case Tick() | PduReceived():
                pass
        self._timers(out, now)
        self._pump(out, now)
        return out

    # -- internals -------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = self._seq + 1 if self._seq < MAX_SEQUENCE else 1
        return self._seq

    def _set(self, out: list[Action], state: LinkState, reason: str) -> None:
        if state is not self.state:
            self.state = state
            out.append(StateChanged(state, reason))

    def _connect(self, out: list[Action], reason: str) -> None:
        self._bind_seq = None
        self._set(out, LinkState.BINDING, reason)
        out.append(Connect())

    def _requeue_inflight(self, out: list[Action], reason: str) -> None:
        if not self._inflight:
            return
        parts = [p for p, _ in self._inflight.values()]
        self._inflight.clear()
        self._queue.extendleft(reversed(parts))
        self.requeued_total += len(parts)
        out.append(Requeued(tuple(p.part for p in parts), reason))

    def _back_off(self, out: list[Action], now: float, reason: str, disconnect: bool = True) -> None:
        if disconnect:
            out.append(Disconnect(reason))
        self._requeue_inflight(out, reason)
        self._bind_seq = None
        self._enquire_seq = None
        if self._stopping:
            self._set(out, LinkState.STOPPED, reason)
            return
        self._reconnect_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.config.reconnect_max)
        self._set(out, LinkState.BACKING_OFF, reason)

    def _on_submit_resp(self, out: list[Action], now: float, seq: int, status: int, mid: str) -> None:
        entry = self._inflight.pop(seq, None)
        if entry is None:
            return  # late answer to a part that timed out and was requeued: the resubmission decides
        part, sent_at = entry
        self.latency_count += 1
        self.latency_sum += max(0.0, now - sent_at)
        if status == ESME_ROK:
            self._throttle_strikes = 0
            out.append(Acked(part.part, mid))
            if self.config.hold_acks:
                self._unrecorded += 1
            return
        err = error_for(status)
        if isinstance(err, SmppThrottled):
            self.throttled_total += 1
            self._throttle_strikes += 1
            part.throttled += 1
            if part.throttled > self.config.max_throttle_retries:
                out.append(Failed(part.part, status, False, str(err)))
            else:
                self._queue.appendleft(part)
            pause = min(self.config.throttle_initial * 2 ** (self._throttle_strikes - 1), self.config.throttle_max)
            self._pause_until = max(self._pause_until, now + pause)
        elif isinstance(err, SmppLinkFailure):
            self._queue.appendleft(part)
            self.requeued_total += 1
            out.append(Requeued((part.part,), str(err)))
            self._back_off(out, now, str(err))
        else:
            out.append(Failed(part.part, status, isinstance(err, SmppRejected), str(err)))

    def _timers(self, out: list[Action], now: float) -> None:
        st = self.state
        if st is LinkState.BACKING_OFF and now >= self._reconnect_at:
            self._connect(out, "reconnecting")
            return
        if st is LinkState.BINDING and self._bind_seq is not None and now >= self._bind_deadline:
            self._back_off(out, now, "no bind_resp")
            return
        if st not in (LinkState.BOUND, LinkState.UNBINDING):
            return
        if self._enquire_seq is not None and now >= self._enquire_deadline:
            self._back_off(out, now, "enquire_link unanswered")
            return
        if st is LinkState.BOUND and self._enquire_seq is None and now >= self._next_enquire:
            self._enquire_seq = self._next_seq()
            self._enquire_deadline = now + self.config.enquire_timeout
            self._next_enquire = now + self.config.enquire_interval
            out.append(SendEnquireLink(self._enquire_seq))
        expired: list[_Part] = []
        while self._inflight:
            seq, (part, sent_at) = next(iter(self._inflight.items()))
            if now < sent_at + self.config.response_timeout:
                break
            del self._inflight[seq]
            part.timeouts += 1
            if part.timeouts > self.config.max_timeouts:
                out.append(Failed(part.part, 0, False, "no submit_sm_resp"))
            else:
                expired.append(part)
        if expired:
            self._queue.extendleft(reversed(expired))
            self.requeued_total += len(expired)
            out.append(Requeued(tuple(p.part for p in expired), "no submit_sm_resp"))
        if st is LinkState.UNBINDING:
            if self._unbind_seq is None and not self._inflight:
                self._unbind_seq = self._next_seq()
                self._unbind_deadline = now + self.config.response_timeout
                out.append(SendUnbind(self._unbind_seq))
            elif self._unbind_seq is not None and now >= self._unbind_deadline:
                out.append(Disconnect("no unbind_resp"))
                self._requeue_inflight(out, "no unbind_resp")
                self._set(out, LinkState.STOPPED, "no unbind_resp")

    def _pump(self, out: list[Action], now: float) -> None:
        if self.state is not LinkState.BOUND or not self.config.can_submit or now < self._pause_until:
            return
        rate = self.config.rate
        if rate > 0 and self._refilled_at is not None:
            # the bucket holds ``burst`` plus up to 10 ms of credit (at most one segment), so a tick that comes a
            # little late (scheduling jitter) does not lose sending time and the average rate stays the
            # configured one
            cap = self.config.burst + min(1.0, rate * JITTER_CREDIT_S)
            self._tokens = min(cap, self._tokens + (now - self._refilled_at) * rate)
            self._refilled_at = now
        window = self.config.window - self._unrecorded
        while self._queue and len(self._inflight) < window:
            part = self._queue[0]
            if rate > 0:
                if self._tokens < 1 - 1e-9:  # float slack: the deadline computed for a whole token
                    break
                # a part costing more than the bucket holds goes when the bucket is full and leaves a debt
                self._tokens -= part.segments
            self._queue.popleft()
            part.attempt += 1
            seq = self._next_seq()
            self._inflight[seq] = (part, now)
            out.append(SendSubmit(seq, part.part, part.attempt))
