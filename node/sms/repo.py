"""The SMS channel's tables (migrations 0010_sms.sql, 0060_sms_receipts.sql): typed repository functions.

Each function takes a store connection (:class:`alertnode.store.backend.Conn`) and is run by the store
(``store.write(fn)`` on its one writer, ``store.read(fn)`` on a reader); none opens a connection or commits
itself. The rows are the
tracker's (node/sms/tracker.py), which decides what is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alertnode.sms.tracking import MessageRow, PartRow, ReceiptUpdate
from alertnode.store.backend import Conn


@dataclass(frozen=True)
class OpenState:
    messages: list[MessageRow]
    parts: list[PartRow]
    refs: dict[str, int]


_MESSAGE = "delivery_id, link, dest_index, sender, parts, ref, state, submitted_at, expires_at, receipt_due_at"
_PART = "p.delivery_id, p.part_no, p.message_id, p.state, p.acked_at, COALESCE(p.gateway_id, '')"


def load_open(conn: Conn) -> OpenState:
    """Messages not settled yet (resubmission after a restart, receipts still to come) with their
    acknowledged parts, and the per-destination concatenation reference counters."""
    messages = [
        MessageRow(*row)
        for row in conn.execute(f"SELECT {_MESSAGE} FROM sms_message WHERE state IN ('submitting', 'sent')")
    ]
    parts = [
        PartRow(*row)
        for row in conn.execute(
            f"SELECT {_PART} FROM sms_part p "
            "JOIN sms_message m USING (delivery_id) WHERE m.state IN ('submitting', 'sent')"
        )
    ]
    refs = {str(r[0]): int(r[1]) for r in conn.execute("SELECT dest_index, next_ref FROM sms_udh_ref")}
    return OpenState(messages, parts, refs)


def load_message(conn: Conn, delivery_id: int) -> tuple[MessageRow, list[PartRow]] | None:
    """One delivery's message and its acknowledged parts, whatever its state (None: never acknowledged)."""
    row = conn.execute(f"SELECT {_MESSAGE} FROM sms_message WHERE delivery_id = ?", (delivery_id,)).fetchone()
    if row is None:
        return None
    parts = [PartRow(*r) for r in conn.execute(f"SELECT {_PART} FROM sms_part p WHERE p.delivery_id = ?",
                                               (delivery_id,))]
    return MessageRow(*row), parts


def save_ref(conn: Conn, dest_index: str, next_ref: int) -> None:
    conn.execute(
        "INSERT INTO sms_udh_ref (dest_index, next_ref) VALUES (?, ?) "
        "ON CONFLICT (dest_index) DO UPDATE SET next_ref = excluded.next_ref",
        (dest_index, next_ref),
    )


def save_acks(conn: Conn, messages: Iterable[MessageRow], parts: Iterable[PartRow]) -> None:
    """Acknowledged parts (submit_sm_resp status 0) and their messages, in one go."""
    conn.executemany(
        f"INSERT INTO sms_message ({_MESSAGE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (delivery_id) DO UPDATE SET state = excluded.state, link = excluded.link, "
        "receipt_due_at = excluded.receipt_due_at",
        [
            (m.delivery_id, m.link, m.dest_index, m.sender, m.parts, m.ref, m.state, m.submitted_at, m.expires_at,
             m.receipt_due_at)
            for m in messages
        ],
    )
    conn.executemany(
        "INSERT INTO sms_part (delivery_id, part_no, message_id, state, acked_at, gateway_id) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id, part_no) DO UPDATE SET message_id = excluded.message_id, "
        "state = excluded.state, acked_at = excluded.acked_at, gateway_id = excluded.gateway_id, "
        "receipt_stat = NULL, receipt_err = NULL",
        [(p.delivery_id, p.part_no, p.message_id, p.state, p.acked_at, p.gateway_id or None) for p in parts],
    )


def save_receipts(conn: Conn, updates: Iterable[ReceiptUpdate]) -> None:
    updates = list(updates)
    conn.executemany(
        "UPDATE sms_part SET state = ?, receipt_stat = ?, receipt_err = ? WHERE delivery_id = ? AND part_no = ?",
        [(u.state, u.stat, u.err, u.delivery_id, u.part_no) for u in updates],
    )
    conn.executemany(
        "UPDATE sms_message SET state = ? WHERE delivery_id = ?",
        [(u.message_state, u.delivery_id) for u in updates if u.message_state is not None],
    )


def save_states(conn: Conn, states: Iterable[tuple[int, str]]) -> None:
    """(delivery_id, state) of messages settled without a receipt."""
    conn.executemany("UPDATE sms_message SET state = ? WHERE delivery_id = ?", [(st, d) for d, st in states])


def find_part(conn: Conn, message_ids: Iterable[str]) -> tuple[int, int] | None:
    """(delivery_id, part_no) of the most recent part acknowledged under the first id that matches."""
    for mid in message_ids:
        row = conn.execute(
            "SELECT delivery_id, part_no FROM sms_part WHERE message_id = ? ORDER BY acked_at DESC LIMIT 1", (mid,)
        ).fetchone()
        if row is not None:
            return int(row[0]), int(row[1])
    return None


def find_unconfirmed(conn: Conn, delivery_id: int, part_no: int) -> tuple[int, int, int] | None:
    """(delivery_id, part_no, parts) when that part's message ended unconfirmed."""
    row = conn.execute("SELECT parts FROM sms_message WHERE delivery_id = ? AND state = 'unconfirmed'",
                       (delivery_id,)).fetchone()
    return (delivery_id, part_no, int(row[0])) if row is not None else None


def latest_from(conn: Conn, dest_index: str, sender: str, at: float) -> int | None:
    """The most recent live message to this destination sent from ``sender`` (reply correlation)."""
    row = conn.execute(
        "SELECT delivery_id FROM sms_message WHERE dest_index = ? AND ltrim(sender, '+') = ? "
        "AND (expires_at IS NULL OR expires_at > ?) ORDER BY submitted_at DESC LIMIT 1",
        (dest_index, sender.lstrip("+"), at),
    ).fetchone()
    return int(row[0]) if row is not None else None


def sender_of(conn: Conn, delivery_id: int) -> str | None:
    row = conn.execute("SELECT sender FROM sms_message WHERE delivery_id = ?", (delivery_id,)).fetchone()
    return str(row[0]) if row is not None else None
