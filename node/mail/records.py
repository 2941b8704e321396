"""The mail channel's own rows in the store (migrations 0020_mail.sql, 0062_mail_dsn_wait.sql,
0070_mail_sent.sql): functions on a connection, run by node/mail/channel.py and node/mail/inbound.py through
the store's writer and readers.

- ``mail_sent``: per accepted message, the blind index of its recipient's mailbox key, to tell the
  recipient's reply from a forwarded one; removed when the alert's lifetime ends.
- ``mail_dsn_wait``: messages sent with a success DSN asked for, until their DSN comes or their time-out
  (then the delivery ends unconfirmed); removed without a report when the alert's lifetime ends first.
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


def await_dsn(conn: Conn, delivery_id: int, due_at: float, expires_at: float | None) -> None:
    conn.execute(
        "INSERT INTO mail_dsn_wait (delivery_id, due_at, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (delivery_id) DO UPDATE SET due_at = excluded.due_at, expires_at = excluded.expires_at",
        (delivery_id, due_at, expires_at),
    )


def dsn_came(conn: Conn, delivery_id: int) -> None:
    """A DSN with an outcome (delivered or failed) came: no time-out for this message any more."""
    conn.execute("DELETE FROM mail_dsn_wait WHERE delivery_id = ?", (delivery_id,))


def next_dsn_due(conn: Conn) -> float | None:
    row = conn.execute("SELECT MIN(due_at) FROM mail_dsn_wait").fetchone()
    return float(row[0]) if row is not None and row[0] is not None else None


def take_due_dsn(conn: Conn, now: float, limit: int = 1000) -> list[int]:
    """The deliveries whose DSN time-out has come (their rows removed). Rows whose alert's lifetime ended
    first are removed too, but not returned: the store expires those deliveries."""
    rows = conn.execute(
        "SELECT w.delivery_id, w.expires_at FROM mail_dsn_wait w WHERE w.due_at <= ? ORDER BY w.due_at LIMIT ?"
        + conn.dialect.skip_locked("w"), (now, limit)
    ).fetchall()
    conn.executemany("DELETE FROM mail_dsn_wait WHERE delivery_id = ?", [(r[0],) for r in rows])
    return [int(r[0]) for r in rows if r[1] is None or r[1] > now]


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
    gone += conn.execute("DELETE FROM mail_dsn_wait WHERE expires_at IS NOT NULL AND expires_at <= ?",
                         (now,)).rowcount
    gone += conn.execute("DELETE FROM mail_inbound_seen WHERE received_at <= ?", (now - SEEN_KEEP_S,)).rowcount
    return gone
