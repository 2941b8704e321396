"""What the console draws: an alert's whole event log (per recipient), its escalation steps, and the node's
activity per minute. Portable SQL only; bucketing by minute is done here in Python (SQLite and PostgreSQL
round and truncate differently when casting a float to an integer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.domain import alert_status
from alertnode.store import repo
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher
from alertnode.store.eventlog import EventRow


def alert_events(conn: Conn, cipher: Cipher, alert_ref: str, after: int, limit: int,
                 delivery_id: int | None = None) -> list[EventRow]:
    """The alert's events after ``after`` (seq), in order, including those its notification settings keep from
    callbacks and collectevents (an operator sees everything); of one delivery when ``delivery_id`` is given
    (its own events only, not the alert's)."""
    sql = ("SELECT e.seq, e.alert_ref, a.client_ref, e.delivery_id, d.alert_type, i.tag, d.address, d.contact_id,"
           " e.kind, e.state, e.at, e.final, e.data"
           " FROM events e JOIN alerts a ON a.alert_ref = e.alert_ref"
           " LEFT JOIN deliveries d ON d.id = e.delivery_id LEFT JOIN items i ON i.id = d.item_id"
           " WHERE e.alert_ref = ? AND e.seq > ?")
    args: list[Any] = [alert_ref, after]
    if delivery_id is not None:
        sql += " AND e.delivery_id = ?"
        args.append(delivery_id)
    sql += " ORDER BY e.seq LIMIT ?"
    args.append(limit)
    return [EventRow(seq=r[0], alert_ref=r[1], client_ref=r[2], delivery_id=r[3], alert_type=r[4], tag=r[5],
                     recipient=cipher.decrypt_str(r[6]) if r[6] is not None else None, contact_id=r[7], kind=r[8],
                     state=r[9], at=r[10], final=bool(r[11]), detail=cipher.decrypt_json(r[12]) if r[12] else {})
            for r in conn.execute(sql, args)]


@dataclass(frozen=True)
class Step:
    """One alert of a link (the first alert and its follow-ups), in the order they were created."""

    alert_ref: str
    created_at: float
    publish_at: float | None
    status: str
    alert_types: list[str]
    state_counts: Mapping[str, int]


@dataclass(frozen=True)
class PlannedEscalation:
    """A follow-up the events runtime keeps for later (``event_escalations``)."""

    due_at: float
    done_at: float | None
    outcome: str | None
    alert_types: list[str]


@dataclass(frozen=True)
class Escalation:
    link_ref: str | None
    steps: list[Step]
    planned: list[PlannedEscalation] = field(default_factory=list)


def escalation(conn: Conn, cipher: Cipher, alert_ref: str, now: float) -> Escalation | None:
    """The steps of the alert's escalation: the alerts of its link (just itself without one) and the follow-ups
    planned by events routes for the first of them. None when there is no such alert."""
    alert = repo.get_alert(conn, alert_ref)
    if alert is None:
        return None
    if alert.link_ref is None:
        refs = [alert_ref]
    else:
        refs = [str(r[0]) for r in conn.execute(
            "SELECT alert_ref FROM alerts WHERE link_ref = ? ORDER BY created_at, alert_ref", (alert.link_ref,))]
    steps = []
    for ref in refs:
        row = repo.get_alert(conn, ref)
        if row is None:
            continue
        counts = {str(s): int(n) for s, n in conn.execute(
            "SELECT state, COUNT(*) FROM deliveries WHERE alert_ref = ? GROUP BY state", (ref,))}
        any_open = conn.execute(f"SELECT 1 FROM deliveries d WHERE d.alert_ref = ? AND {repo.open_delivery_sql('d')}"
                                " LIMIT 1", (ref,)).fetchone() is not None
        published = row.publish_at is not None and row.publish_at <= now
        types = [str(r[0]) for r in conn.execute("SELECT alert_type FROM items WHERE alert_ref = ? ORDER BY idx",
                                                 (ref,))]
        status = alert_status(row.stored_status, published, any_open)
        steps.append(Step(ref, row.created_at, row.publish_at, status.value, types, counts))
    planned = []
    for due_at, done_at, result, request in conn.execute(
            "SELECT due_at, done_at, result, request FROM event_escalations WHERE alert_ref = ? ORDER BY due_at, id",
            (refs[0],)):
        body = cipher.decrypt_json(request)
        types = [str(i.get("alertType")) for i in body.get("alert", []) if isinstance(i, Mapping)]
        planned.append(PlannedEscalation(float(due_at), float(done_at) if done_at is not None else None,
                                         str(result) if result is not None else None, types))
    return Escalation(alert.link_ref, steps, planned)


# What the activity chart counts, per channel and minute. A send is each event of these kinds (every SMS or
# e-mail handed over, every call attempt placed); the other series count the first event that put a delivery in
# one of their states (a call reports its answered state again in its closing ``completed``: counted once). A
# delivery an operator cancelled is no failure of the channel.
SEND_KINDS = ("sent", "calling")
NOT_COUNTED = ("cancelled",)
SERIES_STATES: Mapping[str, tuple[str, ...]] = {"delivered": ("delivered", "answered"), "answered": ("responded",),
                                                "failed": ("failed", "expired")}
SERIES = ("sent", "delivered", "answered", "failed")


@dataclass(frozen=True)
class Activity:
    start: float
    """the first minute (Unix time, a multiple of 60)"""
    minutes: int
    counts: Mapping[str, Mapping[str, list[int]]]
    """alert type -> series (``SERIES``) -> one count per minute"""


def activity(conn: Conn, start: float, minutes: int, alert_types: list[str]) -> Activity:
    """Per channel and minute from ``start`` (a whole minute): messages sent or calls placed (``sent``), delivered
    or answered by the phone (``delivered``), answered by the person (``answered``: a reply, key or click, a
    decline included) and failed or expired (``failed``). Channels in ``alert_types`` are always there, others
    when they had events."""
    end = start + minutes * 60.0
    counts: dict[str, dict[str, list[int]]] = {t: {s: [0] * minutes for s in SERIES} for t in alert_types}
    firsts = []
    args: list[Any] = [start, end, *NOT_COUNTED, *SEND_KINDS]
    for states in SERIES_STATES.values():
        marks = ",".join("?" * len(states))
        firsts.append(f"(e.state IN ({marks}) AND NOT EXISTS (SELECT 1 FROM events p WHERE p.delivery_id ="
                      f" e.delivery_id AND p.seq < e.seq AND p.state IN ({marks})))")
        args.extend([*states, *states])
    rows = conn.execute(
        "SELECT e.at, e.kind, e.state, d.alert_type FROM events e JOIN deliveries d ON d.id = e.delivery_id"
        f" WHERE e.at >= ? AND e.at < ? AND e.kind NOT IN ({','.join('?' * len(NOT_COUNTED))})"
        f" AND (e.kind IN ({','.join('?' * len(SEND_KINDS))}) OR {' OR '.join(firsts)})",
        args)
    series_of = {state: name for name, states in SERIES_STATES.items() for state in states}
    for at, kind, state, alert_type in rows:
        minute = int((at - start) // 60)
        if not 0 <= minute < minutes:
            continue
        series = counts.setdefault(alert_type, {s: [0] * minutes for s in SERIES})
        if kind in SEND_KINDS:
            series["sent"][minute] += 1
        if state in series_of:
            series[series_of[state]][minute] += 1
    return Activity(start, minutes, counts)
