"""The alert lifecycle through the store (both backends): the events a channel reports move a delivery, and
the alert's status read by the resource, /metrics and the status page follows ``domain.alert_status`` alike; purge never
deletes an alert with an open delivery (it expires the delivery first, with its final event)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alertnode.domain import AlertCommand, AlertStatus, ChannelEvent, DeliveryState
from alertnode.store import commands, eventlog, repo, views
from alertnode.store.backend import Conn, Store
from alertnode.store.crypto import Cipher

S = DeliveryState
CIPHER = Cipher(b"k" * 32)
NOW = 1_000.0


def _alert(conn: Conn, ref: str, alert_type: str = "call", *, n: int = 1, expires_at: float | None = None,
           publish_at: float | None = 0.0) -> list[int]:
    alert = repo.NewAlert(ref, "client", None, 0.0, publish_at, "running", expires_at, None, None, None, True, "all",
                          None, None, None, {}, {"success": True, "alertRef": ref})
    item = repo.NewItem(0, alert_type, "t", {}, b"hi", n, n)
    deliveries = [repo.NewDelivery(0, alert_type, None, f"+4477009000{i:02d}", {}, f"tok-{ref}-{i}") for i in range(n)]
    repo.insert_alert(conn, CIPHER, alert, [item], deliveries, 0.0)
    return [r[0] for r in conn.execute("SELECT id FROM deliveries WHERE alert_ref = ? ORDER BY id", (ref,))]


class Rig:
    def __init__(self, store: Store) -> None:
        self.store = store

    def alert(self, ref: str, alert_type: str = "call", **kw: object) -> list[int]:
        return self.store.write_sync(lambda c: _alert(c, ref, alert_type, **kw))  # type: ignore[arg-type]

    def claim(self, alert_type: str = "call", now: float = NOW) -> list[int]:
        return [d.id for d in self.store.write_sync(lambda c: repo.claim_due(c, CIPHER, alert_type, now, 100))]

    def report(self, *events: ChannelEvent) -> None:
        self.store.write_sync(lambda c: eventlog.apply_events(c, CIPHER, list(events)))

    def state(self, delivery_id: int) -> str:
        return str(self.store.read_sync(
            lambda c: c.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()[0]))

    def status(self, ref: str, now: float = NOW) -> AlertStatus:
        """The status as the resource, /metrics and the status page read it: they must agree."""
        view = self.store.read_sync(lambda c: views.alert_view(c, CIPHER, ref, 100, 0))
        assert view is not None
        by_resource = view.status(now)
        [by_status_page] = [a.status for a in self.store.read_sync(lambda c: views.latest_alerts(c, 100, now))
                            if a.alert_ref == ref]
        counts = self.store.read_sync(lambda c: views.store_counts(c, now))
        assert counts.alerts == {by_resource.value: 1}, "one alert in the store: /metrics counts it so"
        assert by_resource is by_status_page
        return by_resource


@pytest.fixture
def rig(store: Store) -> Rig:
    return Rig(store)


def ev(delivery_id: int, kind: str, state: DeliveryState | None = None, *, final: bool = False,
       retry_after: float | None = None, at: float = NOW) -> ChannelEvent:
    return ChannelEvent(delivery_id, kind, at, state, {}, retry_after, final)


def test_a_call_through_every_state(rig: Rig) -> None:
    [d] = rig.alert("A")
    assert rig.status("A") is AlertStatus.RUNNING                      # queued
    assert rig.claim() == [d] and rig.state(d) == "in_progress"
    rig.report(ev(d, "calling"), ev(d, "ringing"))
    assert rig.state(d) == "in_progress" and rig.status("A") is AlertStatus.RUNNING
    rig.report(ev(d, "answered", S.ANSWERED), ev(d, "prompt_played"))
    assert rig.state(d) == "answered"
    assert rig.status("A") is AlertStatus.RUNNING                      # the call is up, waiting for a key
    rig.report(ev(d, "key_timeout"), ev(d, "attempt_ended"))
    assert rig.status("A") is AlertStatus.RUNNING                      # no final event yet
    rig.report(ev(d, "completed", S.FAILED, final=True))
    assert rig.state(d) == "failed" and rig.status("A") is AlertStatus.COMPLETED


def test_an_answered_call_completed_as_answered(rig: Rig) -> None:
    [d] = rig.alert("A")
    rig.claim()
    rig.report(ev(d, "answered", S.ANSWERED))
    assert rig.status("A") is AlertStatus.RUNNING
    rig.report(ev(d, "completed", S.ANSWERED, final=True))
    assert rig.state(d) == "answered" and rig.status("A") is AlertStatus.COMPLETED


def test_a_key_that_responds_closes_the_delivery(rig: Rig) -> None:
    [d] = rig.alert("A")
    rig.claim()
    rig.report(ev(d, "answered", S.ANSWERED), ev(d, "recipientOk", S.RESPONDED))
    assert rig.status("A") is AlertStatus.COMPLETED
    rig.report(ev(d, "completed", S.RESPONDED, final=True))
    assert rig.status("A") is AlertStatus.COMPLETED


def test_an_answered_attempt_without_a_key_is_retried(rig: Rig) -> None:
    """replay IVR, ivrAttempts 2: the callee answered and hung up without a key; the channel hands the
    delivery back with retry_after and the dispatcher calls again."""
    [d] = rig.alert("A")
    rig.claim()
    rig.report(ev(d, "answered", S.ANSWERED), ev(d, "hung_up"), ev(d, "attempt_ended", retry_after=60.0))
    assert rig.state(d) == "queued"                                    # retry pending
    assert rig.status("A") is AlertStatus.RUNNING
    assert rig.claim(now=NOW + 59) == []
    assert rig.claim(now=NOW + 60) == [d]
    rig.report(ev(d, "answered", S.ANSWERED, at=NOW + 61), ev(d, "recipientOk", S.RESPONDED, at=NOW + 62),
               ev(d, "completed", S.RESPONDED, final=True, at=NOW + 63))
    assert rig.state(d) == "responded" and rig.status("A", NOW + 63) is AlertStatus.COMPLETED


def test_a_retry_after_the_final_event_changes_nothing(rig: Rig) -> None:
    [d] = rig.alert("A")
    rig.claim()
    rig.report(ev(d, "answered", S.ANSWERED), ev(d, "completed", S.ANSWERED, final=True))
    assert rig.status("A") is AlertStatus.COMPLETED
    rig.report(ev(d, "handed_back", retry_after=0.0))                 # not after a final event: nothing moves
    assert rig.state(d) == "answered" and rig.status("A") is AlertStatus.COMPLETED


@pytest.mark.parametrize(("events", "state"), [
    ([ev(1, "sent", S.SENT, final=True)], "sent"),  # no receipt awaited (an awaited one: test_sent_awaiting.py)
    ([ev(1, "sent", S.SENT), ev(1, "delivered", S.DELIVERED)], "delivered"),
    ([ev(1, "sent", S.SENT), ev(1, "replied", S.RESPONDED)], "responded"),
    ([ev(1, "failed", S.FAILED, final=True)], "failed"),
    ([ev(1, "expired", S.EXPIRED, final=True)], "expired"),
])
def test_sms_deliveries_close_as_they_do_today(rig: Rig, events: list[ChannelEvent], state: str) -> None:
    [d] = rig.alert("A", "sms")
    assert d == 1
    rig.claim("sms")
    rig.report(*events)
    assert rig.state(d) == state and rig.status("A") is AlertStatus.COMPLETED


def test_sms_retry_pending_is_running(rig: Rig) -> None:
    [d] = rig.alert("A", "sms")
    rig.claim("sms")
    rig.report(ev(d, "retry", retry_after=30.0))
    assert rig.state(d) == "queued" and rig.status("A") is AlertStatus.RUNNING


def test_alert_level_states(rig: Rig) -> None:
    rig.alert("A", publish_at=None)
    assert rig.status("A") is AlertStatus.SCHEDULED
    rig.store.write_sync(lambda c: commands.apply(c, CIPHER, "A", AlertCommand.PUBLISH, NOW, publish_at=NOW + 10))
    assert rig.status("A") is AlertStatus.SCHEDULED and rig.status("A", NOW + 10) is AlertStatus.RUNNING
    rig.store.write_sync(lambda c: commands.apply(c, CIPHER, "A", AlertCommand.HOLD, NOW))
    assert rig.status("A", NOW + 10) is AlertStatus.ON_HOLD
    refused = rig.store.write_sync(lambda c: commands.apply(c, CIPHER, "A", AlertCommand.HOLD, NOW))
    assert refused == commands.CommandResult(False, AlertStatus.ON_HOLD)
    rig.store.write_sync(lambda c: commands.apply(c, CIPHER, "A", AlertCommand.RESUME, NOW))
    assert rig.status("A", NOW + 10) is AlertStatus.RUNNING
    done = rig.store.write_sync(lambda c: commands.apply(c, CIPHER, "A", AlertCommand.CANCEL, NOW))
    assert done is not None and done.status is AlertStatus.CANCELLED and len(done.cancelled_deliveries) == 1
    assert rig.status("A", NOW + 10) is AlertStatus.CANCELLED
    assert rig.store.write_sync(lambda c: commands.apply(c, CIPHER, "nope", AlertCommand.CANCEL, NOW)) is None


def test_purge_never_deletes_an_alert_with_an_open_delivery(rig: Rig) -> None:
    [up, done] = rig.alert("A", n=2, expires_at=NOW + 100)
    rig.claim()
    rig.report(ev(up, "answered", S.ANSWERED), ev(done, "completed", S.FAILED, final=True))
    later = NOW + 101
    assert rig.store.write_sync(lambda c: repo.purge_expired(c, later)) == 0   # a call is still up
    assert rig.store.write_sync(lambda c: repo.expire_open(c, CIPHER, later)) == 1
    assert rig.state(up) == "expired"
    final = rig.store.read_sync(lambda c: [(e.kind, e.state, e.final) for e in eventlog.events_since(c, CIPHER, 0, 100)
                                           if e.delivery_id == up][-1])
    assert final == ("expired", "expired", True)
    assert rig.status("A", later) is AlertStatus.COMPLETED
    assert rig.store.write_sync(lambda c: repo.purge_expired(c, later)) == 1
    assert rig.store.read_sync(lambda c: repo.get_alert(c, "A")) is None


def test_the_migration_keeps_the_final_events_already_reported(tmp_path: Path) -> None:
    from alertnode.store.db import _split_sql, migrate, migrations
    from alertnode.store.sqlite import SqliteConn

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None, factory=SqliteConn)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
    for number, name, sql in migrations():
        if number < 50:
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, name))
    [over, up] = _alert(conn, "A", n=2)
    conn.execute("UPDATE deliveries SET state = 'answered'")
    conn.execute("INSERT INTO events (alert_ref, delivery_id, kind, state, at, final) VALUES"
                 " ('A', ?, 'completed', 'answered', 7.0, 1)", (over,))
    assert "0050_delivery_final.sql" in migrate(conn)
    finals = dict(conn.execute("SELECT id, final_at FROM deliveries").fetchall())
    assert finals == {over: 7.0, up: None}
