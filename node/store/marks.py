"""What the alert resource keeps beside an alert (alert-resource.txt): the sender's ``category`` and ``appData``,
the contact sets it went to, and ``read`` per API key; and the deliveries an operator may acknowledge for a
recipient.

``read`` belongs to a reader, the fingerprint of an API key (the node's "logged in user"), never the key. Marking
read or unread is recorded as an alert event (``read``, ``unread``, detail ``reader``) in the same transaction,
and only when it changes something. The acknowledgement itself is a channel event (``acknowledged``, state
RESPONDED) the caller reports through the node's event sink, so that it is folded, counted and escalation reads
it like a recipient's own answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alertnode.domain import DeliveryState
from alertnode.store import eventlog
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher


@dataclass(frozen=True)
class AlertInfo:
    """What the sender gave with the alert."""

    category: str
    app_data: str | None
    groups: Sequence[str]
    """group ids (``set:<name>``) of the contact sets the items named"""


def record_info(conn: Conn, cipher: Cipher, alert_ref: str, info: AlertInfo) -> None:
    """Store ``info`` for an alert just inserted (in the transaction that inserted it)."""
    conn.execute("INSERT INTO alert_info (alert_ref, category, app_data) VALUES (?, ?, ?)",
                 (alert_ref, info.category, cipher.encrypt_json(info.app_data) if info.app_data is not None else None))
    if info.groups:
        conn.executemany("INSERT INTO alert_groups (alert_ref, group_id) VALUES (?, ?)",
                         [(alert_ref, g) for g in dict.fromkeys(info.groups)])


def _exists(conn: Conn, alert_ref: str) -> bool:
    return conn.execute("SELECT 1 FROM alerts WHERE alert_ref = ?", (alert_ref,)).fetchone() is not None


def mark_read(conn: Conn, cipher: Cipher, alert_ref: str, reader: str, read: bool,
              now: float) -> bool | None:
    """Mark the alert read (``read``) or unread for ``reader``: True when that changed something (and was
    recorded as an event), False when it already was so, None when there is no such alert."""
    if not _exists(conn, alert_ref):
        return None
    was = conn.execute("SELECT 1 FROM alert_reads WHERE alert_ref = ? AND reader = ?",
                       (alert_ref, reader)).fetchone() is not None
    if was == read:
        return False
    if read:
        conn.execute("INSERT INTO alert_reads (alert_ref, reader, read_at) VALUES (?, ?, ?)", (alert_ref, reader, now))
    else:
        conn.execute("DELETE FROM alert_reads WHERE alert_ref = ? AND reader = ?", (alert_ref, reader))
    eventlog.insert_event(conn, cipher, alert_ref, None, "read" if read else "unread", None, now,
                          {"reader": reader}, final=False)
    return True


@dataclass(frozen=True)
class AckCandidate:
    """A delivery of the alert that an acknowledgement names."""

    delivery_id: int
    state: DeliveryState
    acknowledged: bool
    """the recipient has already answered with an acknowledgement (not a decline): nothing to add"""
    channel_owned: bool
    """the channel still holds it (handed over, or a call still up) and will report its own final event"""


def ack_candidates(conn: Conn, cipher: Cipher, alert_ref: str, *, delivery_id: int | None = None,
                   contact: str | None = None, recipient: str | None = None) -> list[AckCandidate] | None:
    """The alert's deliveries with this id, to this contact id, or to this address (blind index: the address is
    compared as the store compares it, trimmed and lower-cased); None when there is no such alert."""
    if not _exists(conn, alert_ref):
        return None
    sql = "SELECT id, state, responded_via, final_at IS NOT NULL FROM deliveries WHERE alert_ref = ?"
    args: list[object] = [alert_ref]
    if delivery_id is not None:
        sql += " AND id = ?"
        args.append(delivery_id)
    if contact is not None:
        sql += " AND contact_id = ?"
        args.append(contact)
    if recipient is not None:
        sql += " AND address_ix = ?"
        args.append(cipher.index(recipient))
    out = []
    for row in conn.execute(sql + " ORDER BY id", args):
        state = DeliveryState(row[1])
        owned = state is DeliveryState.IN_PROGRESS or (state is DeliveryState.ANSWERED and not row[3])
        out.append(AckCandidate(int(row[0]), state, bool(row[2]), owned))
    return out


def is_read(conn: Conn, alert_ref: str, reader: str | None) -> bool:
    if reader is None:
        return False
    return conn.execute("SELECT 1 FROM alert_reads WHERE alert_ref = ? AND reader = ?",
                        (alert_ref, reader)).fetchone() is not None
