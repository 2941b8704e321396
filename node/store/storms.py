"""The tables of ``POST /api/events`` (migration 0040): storms (one per alert opened for a dedup key),
originators, per-contact history for the caps, the suppression audit and due escalations.

The decisions are made in ``alertnode.jobs.events`` (pure); these functions only read and write what
those decisions need, in the caller's transaction, and return dataclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alertnode.domain import AlertStatus
from alertnode.store.backend import Conn

AUDIT_KEEP_S = 30 * 86400.0  # suppression audit rows and finished escalations are kept 30 days
STORM_KEEP_S = 86400.0       # closed storm rows of alerts already purged are dropped after a day


@dataclass(frozen=True)
class StormRow:
    storm_id: str
    alert_ref: str | None
    """None between "begun" and "recorded" (the intake accepted the alert, its ref is not written yet)"""
    opened_at: float
    coalesced: int
    alert_status: AlertStatus | None
    """the stored status of its alert (None: no alert, or purged)"""


def open_storm(conn: Conn, dedup_ix: str) -> StormRow | None:
    """The newest storm of this dedup key, with its alert's stored status."""
    row = conn.execute("SELECT s.storm_id, s.alert_ref, s.opened_at, s.coalesced, a.status FROM event_storms s"
                       " LEFT JOIN alerts a ON a.alert_ref = s.alert_ref WHERE s.dedup_ix = ?"
                       " ORDER BY s.opened_at DESC LIMIT 1", (dedup_ix,)).fetchone()
    if row is None:
        return None
    return StormRow(row[0], row[1], row[2], row[3], AlertStatus(row[4]) if row[4] is not None else None)


def begin_storm(conn: Conn, storm_id: str, dedup_ix: str, route: str, now: float) -> None:
    conn.execute("INSERT INTO event_storms (storm_id, dedup_ix, route, opened_at, last_at)"
                 " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", (storm_id, dedup_ix, route, now, now))


def drop_storm(conn: Conn, storm_id: str) -> None:
    """A storm whose alert the intake refused."""
    conn.execute("DELETE FROM event_storms WHERE storm_id = ?", (storm_id,))


def coalesce(conn: Conn, storm_id: str, alert_ref: str, originator: str, now: float) -> int:
    """Fold one more event into the storm; the storm's count of folded events after it."""
    row = conn.execute(f"UPDATE event_storms SET coalesced = coalesced + 1,"
                       f" last_at = {conn.dialect.greatest}(last_at, ?) WHERE storm_id = ? RETURNING coalesced",
                       (now, storm_id)).fetchone()
    _add_originator(conn, alert_ref, originator, now)
    return int(row[0]) if row is not None else 0


def _add_originator(conn: Conn, alert_ref: str, originator: str, now: float) -> None:
    conn.execute("INSERT INTO event_originators (alert_ref, originator, first_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (alert_ref, originator) DO UPDATE SET events = event_originators.events + 1",
                 (alert_ref, originator, now))


@dataclass(frozen=True)
class Audit:
    """Contacts the cap kept from being alerted by one event, and why."""

    contacts: Sequence[str]
    route: str
    event: str
    reason: str


def record_alert(conn: Conn, storm_id: str, alert_ref: str, originator: str, contacted: Sequence[str],
                 now: float, escalation: tuple[float, bytes] | None, audit: Audit) -> None:
    """The storm's alert was accepted: its ref, who sent the event, the contacts alerted (for the cap), those
    suppressed, and the escalation due later (``(due_at, encrypted request)``)."""
    conn.execute("UPDATE event_storms SET alert_ref = ? WHERE storm_id = ?", (alert_ref, storm_id))
    _add_originator(conn, alert_ref, originator, now)
    conn.executemany("INSERT INTO event_contacted (contact, at, alert_ref) VALUES (?, ?, ?)",
                     [(k, now, alert_ref) for k in contacted])
    audit_suppressed(conn, audit.contacts, audit.route, audit.event, alert_ref, audit.reason, now)
    if escalation is not None:
        conn.execute("INSERT INTO event_escalations (alert_ref, due_at, request) VALUES (?, ?, ?)",
                     (alert_ref, *escalation))


def contact_history(conn: Conn, keys: Sequence[str], since: float) -> dict[str, list[float]]:
    """When each contact (``<contact-group>/<contact id>``) was alerted after ``since``."""
    out: dict[str, list[float]] = {}
    for key in keys:
        out[key] = [r[0] for r in conn.execute("SELECT at FROM event_contacted WHERE contact = ? AND at > ?",
                                               (key, since))]
    return out


@dataclass(frozen=True)
class Suppressed:
    at: float
    contact: str
    route: str
    event: str
    alert_ref: str | None
    reason: str


def audit_suppressed(conn: Conn, contact_keys: Sequence[str], route: str, event_key: str,
                     alert_ref: str | None, reason: str, now: float) -> None:
    conn.executemany("INSERT INTO event_suppressed (at, contact, route, event, alert_ref, reason)"
                     " VALUES (?, ?, ?, ?, ?, ?)",
                     [(now, k, route, event_key, alert_ref, reason) for k in contact_keys])


def suppressed(conn: Conn, limit: int, since: float) -> list[Suppressed]:
    """The suppression audit after ``since``, newest first."""
    rows = conn.execute("SELECT at, contact, route, event, alert_ref, reason FROM event_suppressed WHERE at >= ?"
                        " ORDER BY id DESC LIMIT ?", (since, limit)).fetchall()
    return [Suppressed(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


@dataclass(frozen=True)
class DueEscalation:
    id: int
    alert_ref: str
    request: bytes
    """the encrypted sendalert body of the follow-up"""


def due_escalations(conn: Conn, now: float, limit: int = 100) -> list[DueEscalation]:
    rows = conn.execute("SELECT id, alert_ref, request FROM event_escalations WHERE done_at IS NULL AND due_at <= ?"
                        " ORDER BY due_at LIMIT ?", (now, limit)).fetchall()
    return [DueEscalation(r[0], r[1], r[2]) for r in rows]


def claim_escalations(conn: Conn, owner: str, now: float, lease_s: float, limit: int = 100) -> list[DueEscalation]:
    """Due escalations, claimed for ``owner`` until ``now + lease_s`` (another node fires one only once that
    lapses: its node died before recording the outcome; the follow-up's uniqueId makes a second firing
    answer the first alert)."""
    rows = conn.execute(
        "SELECT e.id, e.alert_ref, e.request FROM event_escalations e WHERE e.done_at IS NULL AND e.due_at <= ?"
        f" AND (e.owner IS NULL OR e.lease_until < ?) ORDER BY e.due_at LIMIT ?{conn.dialect.skip_locked('e')}",
        (now, now, limit)).fetchall()
    conn.executemany("UPDATE event_escalations SET owner = ?, lease_until = ? WHERE id = ?",
                     [(owner, now + lease_s, r[0]) for r in rows])
    return [DueEscalation(r[0], r[1], bytes(r[2])) for r in rows]


def escalation_done(conn: Conn, row_id: int, outcome: str, now: float) -> None:
    conn.execute("UPDATE event_escalations SET done_at = ?, result = ? WHERE id = ?", (now, outcome[:1000], row_id))


def housekeeping(conn: Conn, now: float, cap_window_s: float) -> None:
    """Drop what no decision needs any more: contacts outside the cap window, old audit rows, storms and
    originators of purged alerts, long finished escalations."""
    conn.execute("DELETE FROM event_contacted WHERE at < ?", (now - cap_window_s,))
    conn.execute("DELETE FROM event_suppressed WHERE at < ?", (now - AUDIT_KEEP_S,))
    conn.execute("DELETE FROM event_storms WHERE last_at < ? AND (alert_ref IS NULL OR alert_ref NOT IN"
                 " (SELECT alert_ref FROM alerts))", (now - STORM_KEEP_S,))
    conn.execute("DELETE FROM event_originators WHERE alert_ref NOT IN (SELECT alert_ref FROM alerts)")
    conn.execute("DELETE FROM event_escalations WHERE done_at IS NOT NULL AND done_at < ?", (now - AUDIT_KEEP_S,))


def coalesced(conn: Conn, alert_ref: str) -> int:
    """Events folded into the alert after the one that opened it."""
    return int(conn.execute("SELECT COALESCE(SUM(coalesced), 0) FROM event_storms WHERE alert_ref = ?",
                            (alert_ref,)).fetchone()[0])


def originators(conn: Conn, alert_ref: str) -> list[str]:
    """Who sent the events of the alert (fingerprints of their API keys), first first."""
    return [str(r[0]) for r in conn.execute(
        "SELECT originator FROM event_originators WHERE alert_ref = ? ORDER BY first_at, originator", (alert_ref,))]
