"""The mail channel's own rows in the store (migrations 0020_mail.sql, 0070_mail_sent.sql): functions on a
connection, run by node/mail/channel.py and node/mail/inbound.py through the store's writer and readers.

- ``mail_sent``: per accepted message, the blind index of its recipient's mailbox key, to tell the
  recipient's reply from a forwarded one; removed when the alert's lifetime ends.
- ``mail_inbound_seen``: Message-IDs of inbound mail already recorded (a resent message is recorded
  once); kept SEEN_KEEP_S, far longer than any MTA keeps retrying (Postfix gives up after 5 days).
"""

from __future__ import annotations

from alertnode.store.backend import Conn

SEEN_KEEP_S = 30 * 86400.0


def remember_sent(
    conn: Conn, delivery_id: int, rcpt_index: str, sent_at: float, expires_at: float | None
) -> None:
    conn.execute(
        "INSERT INTO mail_sent (delivery_id, rcpt_index, sent_at, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (delivery_id) DO UPDATE SET rcpt_index = excluded.rcpt_index, sent_at = excluded.sent_at, "
        "expires_at = excluded.expires_at",
        (delivery_id, rcpt_index, sent_at, expires_at),
    )


def recipient_index(conn: Conn, delivery_id: int) -> str | None:
    row = conn.execute("SELECT rcpt_index FROM mail_sent WHERE delivery_id = ?", (delivery_id,)).fetchone()
    return str(row[0]) if row is not None else None


def claim_inbound(conn: Conn, key: str, at: float) -> bool:
    """Record an inbound message's Message-ID key as received; False when it already was (a resent
    message, at this node's listener or another's)."""
    row = conn.execute(
        "INSERT INTO mail_inbound_seen (message_id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING "
        "RETURNING message_id",
        (key, at),
    ).fetchone()
    return row is not None


def forget_inbound(conn: Conn, key: str) -> None:
    conn.execute("DELETE FROM mail_inbound_seen WHERE message_id = ?", (key,))


def purge(conn: Conn, now: float) -> int:
    """Drop rows whose time is over; the number dropped."""
    gone = conn.execute("DELETE FROM mail_sent WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)).rowcount
    gone += conn.execute("DELETE FROM mail_inbound_seen WHERE received_at <= ?", (now - SEEN_KEEP_S,)).rowcount
    return gone
