"""A sent SMS or e-mail whose receipt (or DSN) is awaited, through the store: it holds its alert open until
its final event; notificationType "final" shows that event and not the sent; at the end of the lifetime it
is expired with a final event before the alert is purged; deliveries sent before migration 0061 stay done."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alertnode.domain import AlertStatus
from alertnode.domain import DeliveryState as S
from alertnode.store import eventlog, repo
from alertnode.store.db import _split_sql, migrate, migrations
from alertnode.store.sqlite import SqliteConn
from tests.store.test_lifecycle import CIPHER, NOW, Rig, _alert, ev
from tests.store.test_lifecycle import rig as rig  # the fixture


def visible(r: Rig) -> list[tuple[int | None, str, str | None, bool]]:
    rows = r.store.read_sync(lambda c: eventlog.events_since(c, CIPHER, 0, 100))
    return [(e.delivery_id, e.kind, e.state, e.final) for e in rows if e.delivery_id is not None]


def test_a_sent_delivery_awaiting_its_receipt_holds_the_alert_open_until_its_final_event(rig: Rig) -> None:
    awaited, done, timed_out = rig.alert("A", "sms", n=3)
    rig.claim("sms")
    rig.report(ev(awaited, "sent", S.SENT), ev(done, "sent", S.SENT, final=True), ev(timed_out, "sent", S.SENT))
    assert rig.status("A") is AlertStatus.RUNNING
    rig.report(ev(awaited, "delivered", S.DELIVERED, final=True))
    assert rig.status("A") is AlertStatus.RUNNING
    rig.report(ev(timed_out, "unconfirmed", S.UNCONFIRMED, final=True))
    assert rig.status("A") is AlertStatus.COMPLETED
    # a receipt after the time-out still tells: unconfirmed becomes delivered
    rig.report(ev(timed_out, "delivered", S.DELIVERED, final=True, at=NOW + 5))
    assert rig.state(timed_out) == "delivered"


def test_final_notifications_show_final_events_only(rig: Rig) -> None:
    def alert(conn: sqlite3.Connection) -> list[int]:
        ids = _alert(conn, "F", "sms", n=2)
        conn.execute("UPDATE alerts SET notification_type = 'final' WHERE alert_ref = 'F'")
        return ids

    a, b = rig.store.write_sync(alert)
    rig.claim("sms")
    rig.report(ev(a, "sent", S.SENT), ev(b, "sent", S.SENT, final=True), ev(a, "unconfirmed", S.UNCONFIRMED,
                                                                                final=True))
    assert visible(rig) == [(b, "sent", "sent", True), (a, "unconfirmed", "unconfirmed", True)]


def test_at_the_lifetimes_end_an_awaited_delivery_expires_with_its_final_event_before_the_purge(rig: Rig) -> None:
    [d] = rig.alert("A", "sms", expires_at=NOW + 100)
    rig.claim("sms")
    rig.report(ev(d, "sent", S.SENT))
    later = NOW + 101
    assert rig.store.write_sync(lambda c: repo.purge_expired(c, later)) == 0
    assert rig.store.write_sync(lambda c: repo.expire_open(c, CIPHER, later)) == 1
    assert visible(rig)[-1] == (d, "expired", "expired", True)
    assert rig.status("A", later) is AlertStatus.COMPLETED
    assert rig.store.write_sync(lambda c: repo.purge_expired(c, later)) == 1


def test_deliveries_sent_before_the_migration_stay_done(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None, factory=SqliteConn)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
    for number, name, sql in migrations():
        if number < 61:
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, name))
    sent, queued = _alert(conn, "A", "sms", n=2)
    conn.execute("UPDATE deliveries SET state = 'sent', updated_at = 7.0 WHERE id = ?", (sent,))
    assert "0061_sent_final.sql" in migrate(conn)
    assert dict(conn.execute("SELECT id, final_at FROM deliveries").fetchall()) == {sent: 7.0, queued: None}
