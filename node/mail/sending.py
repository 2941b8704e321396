"""What happens after one attempt to hand a message to the smarthost. Pure: an outcome in, the next
step out (wait and try again, or report).

RFC 5321 §4.2.1: a 2yz reply means the smarthost took responsibility for the message; 4yz is
transient (try again later); 5yz is permanent. A connection that fails or times out has no reply
and counts as transient. An accepted e-mail is only ever "sent": e-mail has no delivery receipt
(a later DSN may still fail it, see node/mail/inbound.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertnode.domain import DeliveryState


@dataclass(frozen=True)
class Accepted:
    reply: str
    message_id: str
    awaiting_dsn: bool = False
    """A success DSN was asked for: the delivery's final event is its DSN, or the DSN time-out."""


@dataclass(frozen=True)
class Refused:
    reply: str
    """The server's reply (``550 5.1.1 ...``), empty when there was none (connection failure)."""
    error: str
    permanent: bool


Outcome = Accepted | Refused


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Report:
    kind: str
    state: DeliveryState | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    final: bool = False


Step = Wait | Report


def next_step(
    outcome: Outcome, tries: int, backoff: Sequence[float], requeue_after: float, *, stopping: bool = False
) -> Step:
    """``tries`` attempts were made, the last ending in ``outcome``; ``backoff`` lists the waits
    before each further try inside this delivery attempt; after them (or when the channel is
    stopping) a transient failure goes back to the dispatcher with ``retry_after=requeue_after``."""
    if isinstance(outcome, Accepted):
        sent: dict[str, Any] = {"smtp_reply": outcome.reply, "messageId": outcome.message_id, "tries": tries}
        if outcome.awaiting_dsn:
            sent["dsnRequested"] = True
        return Report("sent", DeliveryState.SENT, sent, final=not outcome.awaiting_dsn)
    detail = {"smtp_reply": outcome.reply, "error": outcome.error, "tries": tries}
    if outcome.permanent:
        return Report("failed", DeliveryState.FAILED, detail, final=True)
    if not stopping and tries <= len(backoff):
        return Wait(backoff[tries - 1])
    return Report("retry", None, detail, retry_after=requeue_after)
