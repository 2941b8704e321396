"""The values of the message tracker (node/sms/tracker.py): what the store keeps of a message, the
tracker's configuration, the events it is fed and the actions it returns. All frozen dataclasses; no
logic beyond small derived values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from alertnode.domain import ChannelEvent
from alertnode.sms import receipts

DEFAULT_RECEIPT_TIMEOUT_S = 48 * 3600.0
"""How long a receipt is awaited by default: SMSCs keep retrying a phone that is off for their validity
period, commonly 24 to 72 hours, and send an EXPIRED receipt at its end (SMPP 3.4 §5.2.28)."""


class MessageState(enum.StrEnum):
    SUBMITTING = "submitting"  # some part has no ack yet
    SENT = "sent"  # every part acknowledged, receipts awaited
    DONE = "done"  # every part acknowledged, no receipt asked for (registered_delivery 0)
    DELIVERED = "delivered"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"  # receipts awaited, none (or not all) came before the receipt time-out


# -- what the store keeps (migrations 0010_sms.sql, 0060_sms_receipts.sql) ------------------------
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
    receipt_due_at: float | None = None  # when the receipts stop being awaited (state sent)


@dataclass(frozen=True)
class PartRow:
    delivery_id: int
    part_no: int
    message_id: str  # normalized (receipts.normalize_id), for matching receipts
    state: str  # acked | delivered | failed
    acked_at: float = 0.0
    gateway_id: str = ""  # as the SMSC wrote it in submit_sm_resp (what events report); "" = as message_id

    @property
    def written(self) -> str:
        return self.gateway_id or self.message_id


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
    receipts: bool = True  # the link asks for receipts (registered_delivery): they are awaited
    receipt_timeout_s: float = DEFAULT_RECEIPT_TIMEOUT_S


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
    """submit_sm_resp ESME_ROK for a queued part; ``message_id`` as the SMSC wrote it."""

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
class Unconfirmed:
    """What the store has of a part whose message ended unconfirmed (its receipt came too late)."""

    delivery_id: int
    part_no: int
    parts: int


@dataclass(frozen=True)
class ReceiptIn:
    """A delivery receipt (deliver_sm) on ``link``'s ``role`` bind, to answer under ``sequence`` on the
    same ``connection``. ``receipt`` is None when it names no message; ``known``: the store has a part
    under its id; ``late``: that part's message ended unconfirmed."""

    link: str
    role: str
    sequence: int
    at: float
    receipt: receipts.Receipt | None
    known: bool = False
    connection: int = 0
    late: Unconfirmed | None = None


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
class StoreState:
    """A message settled without a receipt (the receipt time-out): its new state."""

    delivery_id: int
    state: str


@dataclass(frozen=True)
class Answer:
    """deliver_sm_resp with ``status`` for the deliver_sm ``sequence`` on ``link``'s ``role`` bind; only on
    the ``connection`` the deliver_sm came on (a sequence number means nothing on another one)."""

    link: str
    role: str
    sequence: int
    status: int
    connection: int = 0


@dataclass(frozen=True)
class Unmatched:
    """A receipt that settled nothing (for the log): no message id, or an id of no message."""

    link: str
    message_id: str | None


Action = Enqueue | Report | Refused | StoreAck | StoreReceipt | StoreState | Answer | Unmatched
