"""Escalation steps of events routes in ``event_escalations`` (migrations 0040, 0141): the row of the next step,
a step that waits, and the steps of an alert as they stand. The rows are read when due by
:func:`alertnode.store.storms.due_escalations` and closed by :func:`alertnode.store.storms.escalation_done`.
Portable SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass

from alertnode.store.backend import Conn


def add_step(conn: Conn, alert_ref: str, step: int, due_at: float, request: bytes) -> None:
    """A step due at ``due_at``; ``request`` is the encrypted chain (jobs/escalation_steps.py)."""
    conn.execute("INSERT INTO event_escalations (alert_ref, due_at, request, step) VALUES (?, ?, ?, ?)",
                 (alert_ref, due_at, request, step))


def wait(conn: Conn, row_id: int, until: float) -> None:
    """The step is not done: due again at ``until`` (its alert is on hold)."""
    # its claim is released: whichever node finds it due then fires it
    conn.execute("UPDATE event_escalations SET due_at = ?, owner = NULL, lease_until = NULL"
                 " WHERE id = ? AND done_at IS NULL", (until, row_id))


@dataclass(frozen=True)
class StepRow:
    step: int
    due_at: float
    done_at: float | None
    result: str | None


def steps_of(conn: Conn, alert_ref: str) -> list[StepRow]:
    """The escalation rows of the route's alert ``alert_ref``, in step order."""
    rows = conn.execute("SELECT step, due_at, done_at, result FROM event_escalations WHERE alert_ref = ?"
                        " ORDER BY step, id", (alert_ref,)).fetchall()
    return [StepRow(int(r[0]), float(r[1]), r[2], r[3]) for r in rows]
