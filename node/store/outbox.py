"""The callback outbox: events owed to an alert's ``callbackURL``. Rows are written with their event (in
``eventlog.insert_event``/``apply_events``); the callback sender reads what is due and records each outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alertnode.store.backend import Conn


@dataclass(frozen=True)
class OutboxRow:
    event_seq: int
    url: str
    attempts: int


def outbox_due(conn: Conn, now: float, limit: int) -> list[OutboxRow]:
    rows = conn.execute(
        "SELECT event_seq, url, attempts FROM outbox WHERE dead = 0 AND next_at <= ? ORDER BY event_seq LIMIT ?",
        (now, limit),
    ).fetchall()
    return [OutboxRow(r[0], r[1], r[2]) for r in rows]


def outbox_next_at(conn: Conn) -> float | None:
    row = conn.execute("SELECT MIN(next_at) FROM outbox WHERE dead = 0").fetchone()
    return float(row[0]) if row and row[0] is not None else None


def outbox_done(conn: Conn, seqs: Sequence[int]) -> None:
    conn.executemany("DELETE FROM outbox WHERE event_seq = ?", [(s,) for s in seqs])


def outbox_failed(conn: Conn, seqs: Sequence[int], next_at: float, error: str,
                  max_attempts: int) -> None:
    conn.executemany(
        "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ?,"
        " dead = CASE WHEN attempts + 1 >= ? THEN 1 ELSE 0 END WHERE event_seq = ?",
        [(next_at, error[:500], max_attempts, s) for s in seqs],
    )


def outbox_depth(conn: Conn) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE dead = 0), count(*) FILTER (WHERE dead = 1) FROM outbox").fetchone()
    return int(row[0]), int(row[1])
