"""What a user does to an alert through the API (publish, hold, resume, cancel), as one write each.

Which command is allowed in which stored status is the domain's table (``domain.ALERT_COMMANDS``); these
functions read the alert, ask it, and write the change with its event (``scheduled``, ``held``,
``resumed``, ``cancelled``) in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alertnode.domain import AlertCommand, AlertStatus, ChannelEvent, DeliveryState, alert_command
from alertnode.store import eventlog, repo
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher

_EVENT_KIND = {AlertCommand.PUBLISH: "scheduled", AlertCommand.HOLD: "held", AlertCommand.RESUME: "resumed",
               AlertCommand.CANCEL: "cancelled"}


@dataclass(frozen=True)
class CommandResult:
    """``done`` False: the command is not allowed while the alert is ``status`` (nothing was written)."""

    done: bool
    status: AlertStatus
    """The stored status after the command (or the one that refused it)."""
    cancelled_deliveries: list[int] = field(default_factory=list)
    """CANCEL: the deliveries not yet sent, failed with reason ``cancelled``."""


def apply(conn: Conn, cipher: Cipher, alert_ref: str, command: AlertCommand, now: float, *,
          publish_at: float | None = None) -> CommandResult | None:
    """Run ``command`` on the alert; None when there is no such alert. PUBLISH needs ``publish_at``: the
    alert's queued deliveries become due then at the earliest."""
    alert = repo.get_alert(conn, alert_ref)
    if alert is None:
        return None
    after = alert_command(alert.stored_status, command)
    if after is None:
        return CommandResult(False, alert.stored_status)
    conn.execute("UPDATE alerts SET status = ? WHERE alert_ref = ?", (after.value, alert_ref))
    detail: dict[str, object] = {}
    cancelled: list[int] = []
    if command is AlertCommand.PUBLISH:
        assert publish_at is not None
        conn.execute("UPDATE alerts SET publish_at = ? WHERE alert_ref = ?", (publish_at, alert_ref))
        conn.execute(f"UPDATE deliveries SET due_at = {conn.dialect.greatest}(due_at, ?), updated_at = ?"
                     " WHERE alert_ref = ? AND state = 'queued'", (publish_at, now, alert_ref))
        detail = {"publishAt": publish_at}
    elif command is AlertCommand.CANCEL:
        # deliveries not sent yet, and calls still up (answered, no final event yet): the channel drops or
        # hangs those up; what already went out (a message handed to the SMSC or smarthost) stays
        cancelled = [r[0] for r in conn.execute(
            "SELECT id FROM deliveries WHERE alert_ref = ? AND (state IN ('queued', 'in_progress')"
            " OR (state = 'answered' AND final_at IS NULL))", (alert_ref,))]
        eventlog.apply_events(conn, cipher, [ChannelEvent(delivery_id, "cancelled", now, DeliveryState.FAILED,
                                                      {"reason": "cancelled"}, final=True)
                                         for delivery_id in cancelled])
        detail = {"deliveries": len(cancelled)}
    eventlog.insert_event(conn, cipher, alert_ref, None, _EVENT_KIND[command], None, now, detail, final=False)
    return CommandResult(True, after, cancelled)
