"""The callback outbox: events owed to an alert's ``callbackURL``. Rows are written with their event (in
``eventlog.insert_event``/``apply_events``); the callback sender claims what is due and records each outcome.

An alert's events are posted in order, by one node at a time: a claim takes, per alert, the rows from the
alert's first pending one on (never a later row while an earlier one is claimed by another node, waits
for its retry, or is being claimed at this moment), leased to the claiming node. A node that dies with a
claim leaves it to lapse; the rows are claimed again after ``lease_s`` (posted twice at most: what that
node had in flight)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alertnode.store.backend import Conn


@dataclass(frozen=True)
class OutboxRow:
    event_seq: int
    url: str
    attempts: int


@dataclass(frozen=True)
class OutboxBatch:
    """The next events of one alert, to post in one request, in order."""

    alert_ref: str
    url: str
    rows: list[OutboxRow]


def claim_due(conn: Conn, owner: str, now: float, lease_s: float, batch_size: int,
              limit: int = 1000) -> list[OutboxBatch]:
    """Claim for ``owner`` (until ``now + lease_s``) up to ``batch_size`` due events of each alert whose first
    pending event is due and free, at most ``limit`` rows in all."""
    rows = conn.execute(
        "SELECT o.event_seq, o.alert_ref, o.url, o.attempts FROM outbox o"
        " WHERE o.dead = 0 AND o.next_at <= ? AND (o.owner IS NULL OR o.lease_until < ?)"
        f" ORDER BY o.event_seq LIMIT ?{conn.dialect.skip_locked('o')}",
        (now, now, limit),
    ).fetchall()
    by_alert: dict[str, list[OutboxRow]] = {}
    urls: dict[str, str] = {}
    for seq, alert_ref, url, attempts in rows:
        by_alert.setdefault(alert_ref, []).append(OutboxRow(int(seq), url, int(attempts)))
        urls[alert_ref] = url
    batches: list[OutboxBatch] = []
    for alert_ref, candidates in by_alert.items():
        pending = [int(r[0]) for r in conn.execute(
            "SELECT event_seq FROM outbox WHERE alert_ref = ? AND dead = 0 ORDER BY event_seq LIMIT ?",
            (alert_ref, batch_size))]
        # from the alert's first pending event on, as long as this claim holds each next one
        taken: list[OutboxRow] = []
        for seq, row in zip(pending, candidates, strict=False):
            if row.event_seq != seq:
                break
            taken.append(row)
        if taken:
            batches.append(OutboxBatch(alert_ref, urls[alert_ref], taken))
    claimed = [(owner, now + lease_s, r.event_seq) for b in batches for r in b.rows]
    if claimed:
        conn.executemany("UPDATE outbox SET owner = ?, lease_until = ? WHERE event_seq = ?", claimed)
    return batches


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
        "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ?, owner = NULL, lease_until = NULL,"
        " dead = CASE WHEN attempts + 1 >= ? THEN 1 ELSE 0 END WHERE event_seq = ?",
        [(next_at, error[:500], max_attempts, s) for s in seqs],
    )


def outbox_depth(conn: Conn) -> tuple[int, int]:
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE dead = 0), count(*) FILTER (WHERE dead = 1) FROM outbox").fetchone()
    return int(row[0]), int(row[1])
