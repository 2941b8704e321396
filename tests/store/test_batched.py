"""Batched writes (``Store.write_batched``), on both backends: the writes of one batch function waiting in a
group run as one call, one faulty write fails alone; the sendalert batch stores each new alert whole and
answers a repeated ``uniqueId`` with the first alert's response, within one batch too."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from alertnode.errors import StoreError
from alertnode.store import marks, repo
from alertnode.store.backend import Conn, Store
from alertnode.store.crypto import Cipher

CIPHER = Cipher(b"b" * 32)


async def _held(store: Store, writes: list[Any]) -> list[Any]:
    """Run ``writes`` (coroutines of store writes) so that they reach the writer in one group: the writer is held
    by a write that waits until they are all queued."""
    gate = threading.Event()
    hold = asyncio.ensure_future(store.write(lambda c: gate.wait(10)))
    await asyncio.sleep(0.2)  # the writer is now inside the holding write
    tasks = [asyncio.ensure_future(w) for w in writes]
    await asyncio.sleep(0.2)  # every write queued behind it
    gate.set()
    await hold
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_writes_of_one_batch_function_run_as_one_call(store: Store) -> None:
    await store.write(lambda c: c.execute("CREATE TABLE t (x INTEGER UNIQUE)"))
    calls: list[list[int]] = []

    def insert_all(conn: Conn, xs: list[int]) -> list[int]:
        calls.append(list(xs))
        for x in xs:
            conn.execute("INSERT INTO t VALUES (?)", (x,))
        return [x * 10 for x in xs]

    other = store.write(lambda c: c.execute("INSERT INTO t VALUES (100)").rowcount)
    results = await _held(store, [store.write_batched(insert_all, 1), other, store.write_batched(insert_all, 2),
                                  store.write_batched(insert_all, 3)])
    assert results == [10, 1, 20, 30]
    assert calls == [[1, 2, 3]]  # one call for the three, the plain write beside them
    rows = await store.read(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
    assert rows == [1, 2, 3, 100]


async def test_a_faulty_write_of_a_batch_fails_alone(store: Store) -> None:
    await store.write(lambda c: c.execute("CREATE TABLE t (x INTEGER UNIQUE)"))
    await store.write(lambda c: c.execute("INSERT INTO t VALUES (2)"))
    calls: list[list[int]] = []

    def insert_all(conn: Conn, xs: list[int]) -> list[int]:
        calls.append(list(xs))
        for x in xs:
            conn.execute("INSERT INTO t VALUES (?)", (x,))
        return xs

    results = await _held(store, [store.write_batched(insert_all, x) for x in (1, 2, 3)])
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], StoreError) and "unique" in str(results[1]).lower()
    assert calls == [[1, 2, 3], [1], [2], [3]]  # together first, then each alone
    rows = await store.read(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
    assert rows == [1, 2, 3]  # nothing of the failed batch call left twice, the faulty one not written


def _prepared(ref: str, unique_id: str | None, recipients: int, groups: tuple[str, ...] = ()) -> repo.PreparedAlert:
    answer = {"success": True, "alertRef": ref}
    alert = repo.NewAlert(ref, "client", unique_id, 1.0, 1.0, "running", None, None, None, "http://127.0.0.1:9/cb",
                          True, "all", None, None, None, {"clientRef": "client"}, answer)
    items = [repo.NewItem(0, "sms", "a", {}, b"one", recipients, recipients),
             repo.NewItem(1, "email", "b", {}, b"two", 1, 1)]
    deliveries = [repo.NewDelivery(0, "sms", None, f"+44770090{n:04d}", {}, f"t-{ref}-{n}") for n in range(recipients)]
    deliveries.append(repo.NewDelivery(1, "email", "c1", "ops@plant.local", {"firstname": "Ann"}, f"t-{ref}-m"))
    return repo.prepare_alert(CIPHER, alert, items, deliveries, 1.0, info=marks.AlertInfo("user", "x", list(groups)))


@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "one-by-one"])
async def test_the_sendalert_batch_stores_each_alert_whole_and_answers_a_repeated_unique_id(
        store: Store, together: bool) -> None:
    await store.write_batched(repo.accept_prepared, _prepared("A0", "u-old", 1))
    batch = [_prepared("A1", "u-new", 2, ("set:a",)), _prepared("A2", "u-new", 3), _prepared("A3", None, 1),
             _prepared("A4", "u-old", 1), _prepared("A5", None, 40, ("set:a", "set:b"))]
    if together:
        answers = await _held(store, [store.write_batched(repo.accept_prepared, p) for p in batch])
    else:
        answers = [await store.write_batched(repo.accept_prepared, p) for p in batch]
    assert [a["alertRef"] for a in answers] == ["A1", "A1", "A3", "A0", "A5"]

    def read(c: Conn) -> dict[str, Any]:
        alerts = [r[0] for r in c.execute("SELECT alert_ref FROM alerts ORDER BY alert_ref")]
        per_alert = {ref: [r[0] for r in c.execute(
            "SELECT i.idx FROM deliveries d JOIN items i ON i.id = d.item_id AND i.alert_ref = d.alert_ref"
            " WHERE d.alert_ref = ? ORDER BY d.id", (ref,))] for ref in alerts}
        events = [tuple(r) for r in c.execute(
            "SELECT e.alert_ref, e.kind, o.url IS NOT NULL FROM events e LEFT JOIN outbox o ON o.event_seq = e.seq"
            " ORDER BY e.seq")]
        seqs = [r[0] for r in c.execute("SELECT seq FROM events ORDER BY seq")]
        groups = [tuple(r) for r in c.execute("SELECT alert_ref, group_id FROM alert_groups ORDER BY 1, 2")]
        info = [r[0] for r in c.execute("SELECT alert_ref FROM alert_info ORDER BY 1")]
        return {"alerts": alerts, "per_alert": per_alert, "events": events, "seqs": seqs, "groups": groups,
                "info": info}

    got = await store.read(read)
    assert got["alerts"] == ["A0", "A1", "A3", "A5"]  # A2 and A4 repeated a uniqueId: nothing written for them
    assert got["per_alert"] == {"A0": [0, 1], "A1": [0, 0, 1], "A3": [0, 1], "A5": [0] * 40 + [1]}
    assert got["events"] == [("A0", "accepted", 1), ("A1", "accepted", 1), ("A3", "accepted", 1),
                             ("A5", "accepted", 1)]
    assert got["seqs"] == sorted(set(got["seqs"]))
    assert got["groups"] == [("A1", "set:a"), ("A5", "set:a"), ("A5", "set:b")]
    assert got["info"] == ["A0", "A1", "A3", "A5"]
    # the stored rows read back as the one-alert path wrote them (addresses and lookups encrypted, then read)
    row = await store.read(lambda c: c.execute(
        "SELECT address, lookups FROM deliveries WHERE alert_ref = 'A5' AND contact_id = 'c1'").fetchone())
    assert CIPHER.decrypt_str(row[0]) == "ops@plant.local"
    assert CIPHER.decrypt_json(row[1]) == {"firstname": "Ann"}
