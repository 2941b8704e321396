"""The alert collection, groups, originators, timelines and activity, read from a real SQLite store: the status
filter agrees with ``domain.alert_status`` for every combination, the cursor pages newest first and alerts accepted
meanwhile never shift a page, each filter, read per reader, the body sent per locale, escalation steps, and the
activity per minute counting each delivery's first state once."""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

import pytest

from alertnode.domain import AlertCommand, AlertStatus, ChannelEvent, DeliveryState
from alertnode.store import commands, eventlog, listing, marks, repo, storms, timeline, views
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

S = DeliveryState
CIPHER = Cipher(b"k" * 32)
NOW = 10_000.0


def add_alert(conn: sqlite3.Connection, ref: str, *, created: float = 1_000.0, client_ref: str = "client",
              items: tuple[tuple[str, str], ...] = (("sms", "t"),), n: int = 1, publish_at: float | None = 0.0,
              category: str = "user", app_data: str | None = None, groups: tuple[str, ...] = (),
              link_ref: str | None = None, params: dict[str, Any] | None = None, content: bytes | None = b"hi",
              lookups: list[dict[str, str]] | None = None) -> list[int]:
    alert = repo.NewAlert(ref, client_ref, None, created, publish_at, "running", None, None, None, None, True, "all",
                          link_ref, None, None, {}, {"success": True, "alertRef": ref})
    new_items = [repo.NewItem(i, t, tag, params or {}, content, n, n) for i, (t, tag) in enumerate(items)]
    deliveries = [repo.NewDelivery(i, t, f"c{k}", f"+4477009{k:05d}", (lookups or [{}] * n)[k], f"tok-{ref}-{i}-{k}")
                  for i, (t, _) in enumerate(items) for k in range(n)]
    repo.insert_alert(conn, CIPHER, alert, new_items, deliveries, created)
    marks.record_info(conn, CIPHER, ref, marks.AlertInfo(category, app_data, groups))
    return [int(r[0]) for r in conn.execute("SELECT id FROM deliveries WHERE alert_ref = ? ORDER BY id", (ref,))]


class Rig:
    def __init__(self, store: Store) -> None:
        self.store = store

    def alert(self, ref: str, **kw: Any) -> list[int]:
        return self.store.write_sync(lambda c: add_alert(c, ref, **kw))

    def report(self, *events: ChannelEvent) -> None:
        self.store.write_sync(lambda c: eventlog.apply_events(c, CIPHER, list(events)))

    def write(self, fn: Any) -> Any:
        return self.store.write_sync(fn)

    def page(self, f: listing.AlertFilter | None = None, limit: int = 100, reader: str | None = None,
             now: float = NOW) -> listing.Page:
        return self.store.read_sync(lambda c: listing.list_alerts(c, f or listing.AlertFilter(), now, limit, reader))

    def refs(self, f: listing.AlertFilter | None = None, **kw: Any) -> list[str]:
        return [a.alert.alert_ref for a in self.page(f, **kw).alerts]


@pytest.fixture
def rig(store: Store) -> Rig:
    return Rig(store)  # both backends (tests/store/conftest.py)


def ev(delivery_id: int, kind: str, state: DeliveryState | None = None, *, at: float = 1_010.0,
       final: bool = False, **detail: Any) -> ChannelEvent:
    return ChannelEvent(delivery_id, kind, at, state, detail, None, final)


def test_the_status_filter_is_the_domains_rule_for_every_combination(rig: Rig) -> None:
    # every (stored status, published, a delivery open) combination, each as one alert
    expected: dict[str, AlertStatus] = {}
    # (publish_at: never given, due later, past)
    for i, (stored, publish_at, is_open) in enumerate(itertools.product(
            ["running", "on_hold", "cancelled", "scheduled"], [None, NOW + 60, 0.0], [False, True])):
        ref = f"a{i:02d}"
        [d] = rig.alert(ref, publish_at=publish_at, created=1_000.0 + i)
        if not is_open:
            rig.report(ev(d, "delivered", S.DELIVERED, final=True))
        rig.write(lambda c, ref=ref, stored=stored: c.execute("UPDATE alerts SET status = ? WHERE alert_ref = ?",
                                                               (stored, ref)))
        view = rig.store.read_sync(lambda c, ref=ref: views.alert_view(c, CIPHER, ref, 10, 0))
        assert view is not None
        expected[ref] = view.status(NOW)
    for status in AlertStatus:
        got = set(rig.refs(listing.AlertFilter(statuses=frozenset({status}))))
        assert got == {r for r, s in expected.items() if s is status}, status
        assert {a.status for a in rig.page(listing.AlertFilter(statuses=frozenset({status}))).alerts} <= {status}
    both = frozenset({AlertStatus.RUNNING, AlertStatus.ON_HOLD})
    assert set(rig.refs(listing.AlertFilter(statuses=both))) == {r for r, s in expected.items() if s in both}


def test_pages_run_newest_first_and_inserts_never_shift_them(rig: Rig) -> None:
    for i in range(7):
        rig.alert(f"r{i}", created=1_000.0 + i // 2)  # pairs share a creation time: alertRef breaks the tie
    first = rig.page(limit=3)
    assert [a.alert.alert_ref for a in first.alerts] == ["r6", "r5", "r4"] and first.more
    assert first.cursor == listing.Cursor(1_002.0, "r4")
    rig.alert("r9", created=2_000.0)  # accepted while the operator pages
    second = rig.page(listing.AlertFilter(after=first.cursor), limit=3)
    assert [a.alert.alert_ref for a in second.alerts] == ["r3", "r2", "r1"] and second.more
    third = rig.page(listing.AlertFilter(after=second.cursor), limit=3)
    assert [a.alert.alert_ref for a in third.alerts] == ["r0"] and not third.more
    assert rig.page(listing.AlertFilter(after=listing.Cursor(0.0, "")), limit=3).alerts == []
    assert rig.refs(limit=1) == ["r9"]


def test_filters(rig: Rig) -> None:
    rig.alert("sms-a", client_ref="boiler", items=(("sms", "oncall"),), created=1_000.0, groups=("set:wardens",))
    rig.alert("mail-b", client_ref="boiler", items=(("email", "mail"), ("sms", "oncall")), created=1_100.0,
              category="admin")
    rig.alert("later", client_ref="other", items=(("call", "x"),), created=1_200.0, publish_at=None)
    rig.alert("future", client_ref="other", created=1_300.0, publish_at=NOW + 60)
    rig.write(lambda c: commands.apply(c, CIPHER, "future", AlertCommand.CANCEL, NOW))
    F = listing.AlertFilter
    assert rig.refs(F(client_ref="boiler")) == ["mail-b", "sms-a"]
    assert rig.refs(F(tag="oncall")) == ["mail-b", "sms-a"]
    assert rig.refs(F(tag="onc")) == []  # exact, not a prefix
    assert rig.refs(F(alert_type="email")) == ["mail-b"]
    assert rig.refs(F(category="admin")) == ["mail-b"]
    assert rig.refs(F(group="set:wardens")) == ["sms-a"]
    assert rig.refs(F(created_from=1_100.0, created_to=1_300.0)) == ["later", "mail-b"]
    # LiveLike: pending = not published yet (and not cancelled), history = the rest
    assert rig.refs(F(view="pending")) == ["later"]
    assert rig.refs(F(view="history")) == ["future", "mail-b", "sms-a"]
    summary = {a.alert.alert_ref: a for a in rig.page().alerts}
    assert summary["mail-b"].items == [("email", "mail"), ("sms", "oncall")]
    assert summary["mail-b"].category == "admin" and summary["sms-a"].groups == ["set:wardens"]
    assert summary["later"].status is AlertStatus.SCHEDULED and summary["future"].status is AlertStatus.CANCELLED


def test_read_is_per_reader_and_recorded_once(rig: Rig) -> None:
    rig.alert("a")
    rig.alert("b", created=1_001.0)
    assert rig.write(lambda c: marks.mark_read(c, CIPHER, "a", "key-1", True, NOW)) is True
    assert rig.write(lambda c: marks.mark_read(c, CIPHER, "a", "key-1", True, NOW)) is False
    assert rig.write(lambda c: marks.mark_read(c, CIPHER, "nope", "key-1", True, NOW)) is None
    assert {a.alert.alert_ref: a.read for a in rig.page(reader="key-1").alerts} == {"a": True, "b": False}
    assert {a.alert.alert_ref: a.read for a in rig.page(reader="key-2").alerts} == {"a": False, "b": False}
    assert rig.refs(listing.AlertFilter(unread_by="key-1")) == ["b"]
    assert rig.refs(listing.AlertFilter(unread_by="key-2")) == ["b", "a"]
    assert rig.write(lambda c: marks.mark_read(c, CIPHER, "a", "key-1", False, NOW)) is True
    kinds = [(e.kind, e.detail) for e in rig.store.read_sync(lambda c: timeline.alert_events(c, CIPHER, "a", 0, 10))]
    assert kinds == [("accepted", {"deliveries": 1}), ("read", {"reader": "key-1"}), ("unread", {"reader": "key-1"})]


def test_the_body_reported_is_each_locale_actually_sent(rig: Rig) -> None:
    bodies = {"de": "Hallo", "fr-FR": "Bonjour", "es": "Hola"}
    ids = rig.alert("loc", n=4, params={"body": bodies}, content=b"Hello",
                    lookups=[{"locale": "de-AT"}, {"locale": "fr-FR"}, {}, {"locale": "es"}])
    def body() -> dict[str, str]:
        view = rig.store.read_sync(lambda c: views.alert_view(c, CIPHER, "loc", 10, 0))
        assert view is not None
        return dict(view.items[0].bodies)
    assert body() == {}  # nothing went out yet
    rig.report(ev(ids[0], "sent", S.SENT), ev(ids[2], "sent", S.SENT), ev(ids[3], "failed", S.FAILED))
    # de-AT got the de body (same language), the contact without a locale the content; es failed before sending
    assert body() == {"de": "Hallo", "und": "Hello"}
    rig.report(ev(ids[1], "delivered", S.DELIVERED))
    assert body() == {"de": "Hallo", "fr-FR": "Bonjour", "und": "Hello"}
    audio = rig.alert("audio", items=(("call", "c"),), params={"voiceFormat": "wav"}, content=b"RIFF....")
    rig.report(ev(audio[0], "answered", S.ANSWERED))
    view = rig.store.read_sync(lambda c: views.alert_view(c, CIPHER, "audio", 10, 0))
    assert view is not None and view.items[0].bodies == {}


def test_groups_and_originators_of_event_alerts(rig: Rig) -> None:
    rig.alert("first", link_ref="L", groups=("set:b", "set:a"))
    rig.alert("follow", link_ref="L", created=1_500.0)
    rig.alert("plain", created=1_600.0)

    def storm(c: sqlite3.Connection) -> None:
        storms.begin_storm(c, "st1", "ix", "db", 1_000.0)
        storms.record_alert(c, "st1", "first", "key-aaa", [], 1_000.0, None, storms.Audit([], "db", "db.x", ""))
        storms.coalesce(c, "st1", "first", "key-bbb", 1_001.0)
        storms.coalesce(c, "st1", "first", "key-aaa", 1_002.0)

    rig.write(storm)
    groups = rig.store.read_sync(lambda c: listing.groups_of(c, "first", "L"))
    assert groups == ["route:db", "set:a", "set:b"]
    assert rig.store.read_sync(lambda c: listing.groups_of(c, "follow", "L")) == ["route:db"]
    assert rig.refs(listing.AlertFilter(group="route:db")) == ["follow", "first"]
    summary = rig.store.read_sync(lambda c: listing.group_summary(c, "route:db"))
    assert (summary.alerts, summary.last_alert_at) == (2, 1_500.0)
    assert rig.store.read_sync(listing.known_groups) == ["route:db", "set:a", "set:b"]
    assert rig.refs(listing.AlertFilter(originator="key-bbb")) == ["first"]
    found = rig.store.read_sync(lambda c: listing.originators(c))
    assert [(o.originator, o.alerts, o.events) for o in found] == [("key-aaa", 1, 2), ("key-bbb", 1, 1)]
    first = {a.alert.alert_ref: a for a in rig.page().alerts}["first"]
    assert (first.originators, first.coalesced) == (2, 2)


def test_escalation_steps_are_the_alerts_of_the_link_and_the_planned_follow_ups(rig: Rig) -> None:
    [d] = rig.alert("one", link_ref="L", created=1_000.0)
    rig.alert("two", link_ref="L", created=1_300.0, items=(("call", "c"),))
    rig.report(ev(d, "replied", S.RESPONDED))
    rig.write(lambda c: c.execute("INSERT INTO event_escalations (alert_ref, due_at, request) VALUES (?, ?, ?)",
                                  ("one", 1_600.0, CIPHER.encrypt_json({"alert": [{"alertType": "email"}]}))))
    esc = rig.store.read_sync(lambda c: timeline.escalation(c, CIPHER, "two", NOW))
    assert esc is not None and esc.link_ref == "L"
    assert [(s.alert_ref, s.alert_types, s.status, s.state_counts) for s in esc.steps] == [
        ("one", ["sms"], "completed", {"responded": 1}), ("two", ["call"], "running", {"queued": 1})]
    assert [(p.due_at, p.done_at, p.alert_types) for p in esc.planned] == [(1_600.0, None, ["email"])]
    alone = rig.store.read_sync(lambda c: timeline.escalation(c, CIPHER, "nope", NOW))
    assert alone is None


def test_activity_counts_sends_and_each_deliverys_first_state_once(rig: Rig) -> None:
    start = 6_000.0
    sms = rig.alert("s", n=2)
    [call] = rig.alert("c", items=(("call", "c"),), created=1_001.0)
    rig.report(
        ev(sms[0], "sent", S.SENT, at=start + 5), ev(sms[1], "sent", S.SENT, at=start + 10),
        ev(sms[0], "delivered", S.DELIVERED, at=start + 65), ev(sms[1], "failed", S.FAILED, at=start + 70, final=True),
        ev(sms[0], "replied", S.RESPONDED, at=start + 130),
        ev(call, "calling", at=start + 1), ev(call, "answered", S.ANSWERED, at=start + 20),
        ev(call, "recipientOk", S.RESPONDED, at=start + 30),
        # the closing event repeats the state the call already reached: not counted again
        ev(call, "completed", S.RESPONDED, at=start + 40, final=True),
        ev(call, "calling", at=start + 200),  # outside the 3 minutes asked
    )
    # an operator's cancel is no failure of the channel
    rig.alert("x", created=1_002.0)
    rig.write(lambda c: commands.apply(c, CIPHER, "x", AlertCommand.CANCEL, start + 50))
    act = rig.store.read_sync(lambda c: timeline.activity(c, start, 3, ["sms", "email", "call"]))
    assert act.counts["email"] == {"sent": [0, 0, 0], "delivered": [0, 0, 0], "answered": [0, 0, 0],
                                   "failed": [0, 0, 0]}
    assert act.counts["sms"] == {"sent": [2, 0, 0], "delivered": [0, 1, 0], "answered": [0, 0, 1],
                                 "failed": [0, 1, 0]}
    assert act.counts["call"] == {"sent": [1, 0, 0], "delivered": [1, 0, 0], "answered": [1, 0, 0],
                                  "failed": [0, 0, 0]}


def test_acknowledgement_candidates(rig: Rig) -> None:
    ids = rig.alert("a", n=3)
    rig.report(ev(ids[0], "replied", S.RESPONDED, text="no", declined=True),
               ev(ids[1], "replied", S.RESPONDED, text="ok"))
    claimed = rig.write(lambda c: repo.claim_due(c, CIPHER, "sms", NOW, 10))
    assert [d.id for d in claimed] == [ids[2]]
    found = rig.store.read_sync(lambda c: marks.ack_candidates(c, CIPHER, "a"))
    assert found is not None
    # a decline is no acknowledgement; the channel still holds the one it was handed
    assert [(c.delivery_id, c.acknowledged, c.channel_owned) for c in found] == [
        (ids[0], False, False), (ids[1], True, False), (ids[2], False, True)]
    by_address = rig.store.read_sync(lambda c: marks.ack_candidates(c, CIPHER, "a", recipient=" +447700900002 "))
    assert by_address is not None and [c.delivery_id for c in by_address] == [ids[2]]
    by_contact = rig.store.read_sync(lambda c: marks.ack_candidates(c, CIPHER, "a", contact="c1"))
    assert by_contact is not None and [c.delivery_id for c in by_contact] == [ids[1]]
    assert rig.store.read_sync(lambda c: marks.ack_candidates(c, CIPHER, "other")) is None
