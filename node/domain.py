"""Domain types below jobs and store: delivery states, the alert lifecycle (when a delivery holds its alert
open, the alert's status, what a user may do to it), channel events, and the channel interface (what the
dispatcher hands to sms, email, call and inboundCall, and what channels report back).

A channel receives :class:`DeliveryWork` through :meth:`Channel.submit` and reports everything that
happens to it as :class:`ChannelEvent` through the :class:`EventSink` it was started with. Inbound
messages that match no delivery are reported with :meth:`EventSink.unsolicited`. Channels never touch
the alert tables themselves; they may keep their own tables (their own numbered migrations) through
the :class:`alertnode.store.db.Store` they are given.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alertnode.domain_info import ChannelDetails
from alertnode.errors import Problem


class DeliveryState(enum.StrEnum):
    """Where one recipient's delivery stands. Terminal: RESPONDED, FAILED, EXPIRED, UNCONFIRMED (and SENT,
    DELIVERED or ANSWERED once nothing more is awaited)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"
    """Handed over (the SMSC or smarthost accepted it), but the delivery receipt or DSN it was sent with
    never came within its time-out: nobody knows whether it arrived."""
    DELIVERED = "delivered"
    ANSWERED = "answered"
    RESPONDED = "responded"
    FAILED = "failed"
    EXPIRED = "expired"


# A report never moves a delivery to a lower rank (a late receipt after a reply changes nothing);
# RESPONDED outranks everything because a response proves the recipient was reached.
STATE_RANK: Mapping[DeliveryState, int] = {
    DeliveryState.QUEUED: 0,
    DeliveryState.IN_PROGRESS: 1,
    DeliveryState.SENT: 2,
    # a receipt that comes after its time-out still tells (delivered: same rank, the later report wins)
    DeliveryState.UNCONFIRMED: 3,
    DeliveryState.DELIVERED: 3,
    DeliveryState.ANSWERED: 3,
    DeliveryState.FAILED: 4,
    DeliveryState.EXPIRED: 4,
    DeliveryState.RESPONDED: 5,
}



# -- the alert lifecycle ---------------------------------------------------------------------------


class Closure(enum.Enum):
    """When a delivery in a given state stops holding its alert open."""

    OPEN = "open"
    """Always open: the delivery still has to go out (or is going out)."""
    UNTIL_FINAL = "until_final"
    """Open until its channel has reported its final event (``ChannelEvent.final``)."""
    CLOSED = "closed"
    """Closed as soon as the state is reached, whether or not a final event follows."""


# The open/closed rule as data, one entry per state.
DELIVERY_CLOSURE: Mapping[DeliveryState, Closure] = {
    DeliveryState.QUEUED: Closure.OPEN,
    DeliveryState.IN_PROGRESS: Closure.OPEN,
    # an SMS or e-mail handed over is open while its delivery receipt (or DSN) is awaited: its channel
    # reports ``sent`` as final when none was asked for, else the receipt's outcome or, when none comes
    # within the channel's time-out, ``unconfirmed`` (final); the lifetime's end expires it otherwise
    DeliveryState.SENT: Closure.UNTIL_FINAL,
    DeliveryState.UNCONFIRMED: Closure.CLOSED,
    DeliveryState.DELIVERED: Closure.CLOSED,
    # a call answered is open while it is up (waiting for a key, playing the done prompt): its channel
    # reports the final ``completed`` when the call is over
    DeliveryState.ANSWERED: Closure.UNTIL_FINAL,
    # a response proves the recipient was reached; SMS and e-mail replies have no final event after them
    DeliveryState.RESPONDED: Closure.CLOSED,
    DeliveryState.FAILED: Closure.CLOSED,
    DeliveryState.EXPIRED: Closure.CLOSED,
}


def delivery_open(state: DeliveryState, final_reported: bool) -> bool:
    """Whether a delivery in ``state`` still holds its alert open (see :data:`DELIVERY_CLOSURE`);
    ``final_reported``: its channel has reported the delivery's final event."""
    closure = DELIVERY_CLOSURE[state]
    return closure is Closure.OPEN or (closure is Closure.UNTIL_FINAL and not final_reported)


class AlertStatus(enum.StrEnum):
    """An alert's status (the campaign lifecycle of sendbird-announcements). The store keeps the part a
    user controls (RUNNING, ON_HOLD, CANCELLED; SCHEDULED in old rows); SCHEDULED (not published yet)
    and COMPLETED are derived by :func:`alert_status`."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


def is_published(publish_at: float | None, now: float) -> bool:
    """Whether an alert is published by ``now`` (``publish_at`` None: stored unpublished, waiting for its
    schedule_url)."""
    return publish_at is not None and publish_at <= now


def alert_status(stored: AlertStatus, published: bool, open_deliveries: bool) -> AlertStatus:
    """The status of an alert, from its own row (``stored`` status; ``published``, see :func:`is_published`)
    and whether any of its deliveries is still open (:func:`delivery_open`). Rules, in order:

    1. cancelled or on hold (by the user): that, whatever the deliveries;
    2. not published yet: SCHEDULED;
    3. any delivery open: RUNNING;
    4. else: COMPLETED.
    """
    if stored in (AlertStatus.CANCELLED, AlertStatus.ON_HOLD):
        return stored
    if not published:
        return AlertStatus.SCHEDULED
    return AlertStatus.RUNNING if open_deliveries else AlertStatus.COMPLETED


class AlertCommand(enum.StrEnum):
    """What a user can do to an alert through the API."""

    PUBLISH = "publish"
    HOLD = "hold"
    RESUME = "resume"
    CANCEL = "cancel"


# (stored status, command) -> the stored status after it; a pair not listed is refused (HTTP 409).
ALERT_COMMANDS: Mapping[tuple[AlertStatus, AlertCommand], AlertStatus] = {
    (AlertStatus.SCHEDULED, AlertCommand.PUBLISH): AlertStatus.RUNNING,
    (AlertStatus.RUNNING, AlertCommand.PUBLISH): AlertStatus.RUNNING,
    (AlertStatus.ON_HOLD, AlertCommand.PUBLISH): AlertStatus.RUNNING,
    (AlertStatus.RUNNING, AlertCommand.HOLD): AlertStatus.ON_HOLD,
    (AlertStatus.ON_HOLD, AlertCommand.RESUME): AlertStatus.RUNNING,
    (AlertStatus.SCHEDULED, AlertCommand.CANCEL): AlertStatus.CANCELLED,
    (AlertStatus.RUNNING, AlertCommand.CANCEL): AlertStatus.CANCELLED,
    (AlertStatus.ON_HOLD, AlertCommand.CANCEL): AlertStatus.CANCELLED,
    (AlertStatus.CANCELLED, AlertCommand.CANCEL): AlertStatus.CANCELLED,
}


def alert_command(stored: AlertStatus, command: AlertCommand) -> AlertStatus | None:
    """The stored status after ``command``, or None when the command is not allowed in ``stored``."""
    return ALERT_COMMANDS.get((stored, command))


@dataclass(frozen=True)
class RichParts:
    """What a rich alert item (an image, a link with its label; livelike-alerts.txt) adds to one e-mail, and its
    tracking image (opt-in). An SMS carries none of it: its text links to a page showing them."""

    image: bytes | None = None
    image_type: str | None = None
    """the image's MIME type, found by its magic bytes when the alert was accepted"""
    link_url: str | None = None
    link_label: str | None = None
    open_pixel_url: str | None = None
    """the recipient's tracking image (``/o/{token}.gif`` on the public listener), when opens are tracked"""


@dataclass(frozen=True)
class DeliveryWork:
    """One recipient of one alert item, as a channel needs it (contact details decrypted)."""

    delivery_id: int
    alert_ref: str
    client_ref: str
    item_index: int
    tag: str
    alert_type: str
    address: str
    contact_id: str | None
    token: str
    """Per-recipient unguessable token: e-mail subject reference part, short-link path."""
    content: bytes
    """The item's decoded content (UTF-8 text, or audio bytes for calls)."""
    text: str | None
    """The text after lookups for this recipient (sms, email body, TTS); None for audio content."""
    params: Mapping[str, Any]
    """The item's per-type fields exactly as validated (sender, subject, ivrControl, ...)."""
    lookups: Mapping[str, str] = field(default_factory=dict)
    attempt: int = 1
    created_at: float = 0.0
    expires_at: float | None = None
    email_subject_ref: str | None = None
    rich: RichParts | None = None
    """e-mail: the item's image and link, and the tracking image (None: a plain message)"""

SANDBOX_MARK = "sandbox"
"""The key (true) in the ``detail`` of every event a node in sandbox mode reports to the outside: its sandbox
channels put it on theirs, and collectevents, the callbacks and the timeline on the store's own (accepted,
cancelled, ...) as they write them out."""


@dataclass(frozen=True)
class ChannelEvent:
    """Something that happened to a delivery, stamped with the time it happened.

    ``state`` is the delivery's new state, or None when the event changes no state (ringing, a key
    press that is not the answer yet). ``retry_after`` (seconds) puts the delivery back in the queue
    for another attempt; ``final`` marks the event that closes this recipient's result.
    """

    delivery_id: int
    kind: str
    at: float
    state: DeliveryState | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    final: bool = False

    @property
    def declines(self) -> bool:
        """A response that says no (an SMS or e-mail "no", a replay IVR's not-OK key). It proves the
        recipient was reached, but acknowledges nothing: it stops no escalation, and previouslySeen does
        not skip the recipient for it."""
        return self.kind == "recipientNotOk" or self.detail.get("declined") is True


@dataclass(frozen=True)
class InboundMessage:
    """A message that reached the node and matched no delivery (kept, never dropped)."""

    channel: str
    sender: str
    recipient: str
    text: str
    at: float
    detail: Mapping[str, Any] = field(default_factory=dict)


class EventSink(Protocol):
    async def report(self, event: ChannelEvent) -> None:
        """Store the event (durably) before returning."""

    async def report_many(self, events: Sequence[ChannelEvent]) -> None:
        """Store several events (durably, in one transaction) before returning; in their order."""

    async def unsolicited(self, message: InboundMessage) -> None:
        """Store an inbound message that matched no delivery."""

    async def find_recent(self, alert_type: str, address: str, at: float) -> int | None:
        """The most recent live delivery of ``alert_type`` to ``address`` (reply correlation)."""

    async def find_by_token(self, token: str) -> int | None:
        """The delivery with this per-recipient token, if its alert is still alive."""


@dataclass(frozen=True)
class ChannelInfo:
    """A channel's state and capacity, and what it reports of itself: ``typed`` (one of
    :data:`~alertnode.domain_info.ChannelDetails`, read by metrics and the status JSON by field) and
    ``details``, its JSON for getinfo, ``/readyz`` and the status page. Given ``typed``, ``details`` is
    always ``typed.as_json()``; a channel without a typed report (a test fake) gives ``details`` alone."""

    name: str
    alert_types: tuple[str, ...]
    state: str
    capacity: int
    in_flight: int
    details: Mapping[str, Any] = field(default_factory=dict)
    typed: ChannelDetails | None = None

    def __post_init__(self) -> None:
        if self.typed is not None:
            # frozen: the JSON is derived once, here, so the two can never disagree
            object.__setattr__(self, "details", self.typed.as_json())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alertTypes": list(self.alert_types),
            "state": self.state,
            "capacity": self.capacity,
            "inFlight": self.in_flight,
            "details": dict(self.details),
        }


class Channel(ABC):
    """A way to reach people. Implementations live in node/sms, node/mail, node/voice."""

    name: str
    alert_types: tuple[str, ...]

    @abstractmethod
    async def start(self, sink: EventSink) -> None:
        """Connect (or begin connecting) and keep ``sink`` for reports. Must not block for long."""

    @abstractmethod
    async def stop(self, grace: float) -> None:
        """Finish or hand back in-flight work within ``grace`` seconds, then release everything."""

    @abstractmethod
    def free_capacity(self) -> int:
        """How many more deliveries :meth:`submit` can take right now (0 = not now)."""

    @abstractmethod
    async def submit(self, work: DeliveryWork) -> None:
        """Take ownership of one delivery. Results come later through the sink."""

    @abstractmethod
    def info(self) -> ChannelInfo:
        """State and capacity for getinfo, /readyz and the status page."""

    async def cancel(self, delivery_ids: list[int]) -> None:  # noqa: B027 (optional hook, no-op by default)
        """The alert was cancelled: drop these deliveries if they are still waiting inside the channel.
        What already went out (a submit_sm answered, a call ringing) cannot be recalled."""

    async def watch(self, work: DeliveryWork) -> None:  # noqa: B027 (optional hook, no-op by default)
        """Another node sharing the store holds this delivery and waits for an answer that may reach this
        node instead (an ``inboundCall``: the PBX may route the call to either): take it if it comes,
        without reporting anything before. :meth:`cancel` ends the watch. Answers of the other channels
        are matched through the store and need nothing here."""

    def ready(self) -> bool:
        """Whether the channel can deliver now (link bound, registered, ...)."""
        return True

    def validate_item(self, item: Mapping[str, Any], content: bytes | None, path: str) -> list[Problem]:
        """Channel-specific checks at request time (e.g. audio that must decode). ``path`` is the
        item's JSON path, e.g. ``alert[0]``."""
        return []

    def refuses(self, address: str) -> str | None:
        """Why this channel will not send to ``address`` (already normalized by the expansion), or None;
        checked for every recipient at request time so a refusal is a 400, not a failure later."""
        return None
