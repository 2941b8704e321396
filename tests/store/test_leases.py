"""Leases and fencing (store/cluster.py), on both backends: a call in progress on a node that dies is taken
over when its lease lapses, without using up an attempt; the dead node's late reports change nothing; a
renewed lease is kept; named locks exclude each other until they lapse."""

from __future__ import annotations

from alertnode.domain import ChannelEvent, DeliveryState
from alertnode.store import cluster, eventlog, repo
from alertnode.store.backend import Conn, Store
from alertnode.store.crypto import Cipher

CIPHER = Cipher(b"k" * 32)
NOW = 1_000.0


def _call(conn: Conn, n: int = 2) -> list[int]:
    alert = repo.NewAlert("A", "c", None, 0.0, 0.0, "running", None, None, None, None, True, "all", None, None,
                          None, {}, {})
    deliveries = [repo.NewDelivery(0, "call", None, f"+4477009000{i:02d}", {}, f"tok-{i}") for i in range(n)]
    repo.insert_alert(conn, CIPHER, alert, [repo.NewItem(0, "call", "t", {}, b"hi", n, n)], deliveries, 0.0)
    return [int(r[0]) for r in conn.execute("SELECT id FROM deliveries ORDER BY id")]


def _state(store: Store, delivery_id: int) -> tuple[str, int, int, str | None]:
    row = store.read_sync(lambda c: c.execute(
        "SELECT state, attempts, claim, lease_owner FROM deliveries WHERE id = ?", (delivery_id,)).fetchone())
    return str(row[0]), int(row[1]), int(row[2]), row[3]


def test_a_call_lost_with_its_node_is_taken_over_without_using_an_attempt(store: Store) -> None:
    up, other = store.write_sync(_call)
    claimed = store.write_sync(lambda c: repo.claim_due(c, CIPHER, "call", NOW, 10, "node-a", 30.0))
    assert {d.id: d.claim for d in claimed} == {up: 1, other: 1}
    claims = {up: 1, other: 1}
    store.write_sync(lambda c: eventlog.apply_events(c, CIPHER, [
        ChannelEvent(up, "answered", NOW + 1, DeliveryState.ANSWERED)], claims))
    assert _state(store, up) == ("answered", 1, 1, "node-a")  # the call is up: still node A's
    # node A renews while it lives, then dies: nothing is taken over before its lease runs out
    assert store.write_sync(lambda c: cluster.renew(c, "node-a", NOW + 40)) == {up: 1, other: 1}
    assert store.write_sync(lambda c: cluster.take_over_expired(c, CIPHER, NOW + 39, "node-b")) == []
    taken = store.write_sync(lambda c: cluster.take_over_expired(c, CIPHER, NOW + 41, "node-b"))
    assert {t.delivery_id for t in taken} == {up, other} and {t.owner for t in taken} == {"node-a"}
    assert _state(store, up) == ("queued", 0, 2, None)  # the lost attempt is not counted
    again = store.write_sync(lambda c: repo.claim_due(c, CIPHER, "call", NOW + 41, 10, "node-b", 30.0))
    assert {d.id: (d.attempts, d.claim) for d in again} == {up: (1, 3), other: (1, 3)}
    # node A was only slow: its late report about its old claim changes nothing and reaches no client
    store.write_sync(lambda c: eventlog.apply_events(c, CIPHER, [
        ChannelEvent(up, "completed", NOW + 42, DeliveryState.FAILED, {"outcome": "no_key"}, final=True)], claims))
    assert _state(store, up) == ("in_progress", 1, 3, "node-b")
    events = store.read_sync(lambda c: [(e.kind, e.detail.get("node")) for e in eventlog.events_since(c, CIPHER, 0, 100)
                                        if e.delivery_id == up])
    assert events == [("answered", None), ("requeued", "node-a")]  # the stale report is kept, unseen
    # node B's own report under its claim counts, and releases the lease
    store.write_sync(lambda c: eventlog.apply_events(c, CIPHER, [
        ChannelEvent(up, "completed", NOW + 43, DeliveryState.FAILED, final=True)], {up: 3}))
    assert _state(store, up) == ("failed", 1, 3, None)
    assert store.write_sync(lambda c: cluster.renew(c, "node-b", NOW + 80)) == {other: 3}


def test_named_locks_exclude_each_other_until_they_lapse(store: Store) -> None:
    assert store.write_sync(lambda c: cluster.try_lock(c, "housekeeping", "a", NOW, NOW + 10))
    assert not store.write_sync(lambda c: cluster.try_lock(c, "housekeeping", "b", NOW + 5, NOW + 15))
    assert store.write_sync(lambda c: cluster.try_lock(c, "housekeeping", "a", NOW + 5, NOW + 15))  # renewed
    assert store.write_sync(lambda c: cluster.try_lock(c, "housekeeping", "b", NOW + 16, NOW + 26))  # lapsed
    store.write_sync(lambda c: cluster.unlock(c, "housekeeping", "b"))
    assert store.write_sync(lambda c: cluster.try_lock(c, "housekeeping", "a", NOW + 17, NOW + 27))
