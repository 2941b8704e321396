"""The store, on both backends: group commit isolates failing writes, migrations are recorded, contact
details are encrypted at rest."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from alertnode.errors import StoreError
from alertnode.store import migrations as migration_files
from alertnode.store import transfer
from alertnode.store.backend import Conn, Store
from alertnode.store.crypto import Cipher, RandomPool, load_or_create_key
from alertnode.store.db import SqliteStore


async def test_a_failing_write_rolls_back_only_itself(store: Store) -> None:
    await store.write(lambda c: c.execute("CREATE TABLE t (x INTEGER UNIQUE)"))

    def insert(x: int):  # type: ignore[no-untyped-def]
        return lambda c: c.execute("INSERT INTO t VALUES (?)", (x,)).rowcount

    results = await asyncio.gather(*(store.write(insert(x)) for x in (1, 2, 2, 3)), return_exceptions=True)
    # the database's own error reaches the caller as the node's (errors.py: one tree), its cause kept
    assert [type(r).__name__ for r in results] == ["int", "int", "StoreError", "int"]
    assert "unique" in str(results[2]).lower()
    rows = await store.read(lambda c: [r[0] for r in c.execute("SELECT x FROM t ORDER BY x")])
    assert rows == [1, 2, 3]
    store.close()
    with pytest.raises(StoreError):
        await store.write(lambda c: None)


def test_migrations_recorded_once(open_store: Callable[[], Store], backend: str) -> None:
    for _ in range(2):
        open_store().close()
    store = open_store()
    versions = store.read_sync(lambda c: [r[0] for r in c.execute("SELECT version FROM schema_migrations"
                                                                  " ORDER BY version")])
    assert versions == [n for n, _, _ in migration_files.files(backend)]
    if isinstance(store, SqliteStore):
        assert store.read_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"


def test_both_backends_have_the_same_migrations() -> None:
    """Each schema change is one number with a file for each database."""
    assert [n for n, _, _ in migration_files.files("sqlite")] == [n for n, _, _ in migration_files.files("postgresql")]


def test_the_copy_knows_every_table_of_the_schema(store: Store) -> None:
    """``store copy`` refuses a store with a table it would leave behind: its list is the schema's."""
    tables = store.read_sync(transfer.tables_of)
    assert tables - transfer.NOT_COPIED == set(transfer.TABLES)


def test_cipher_round_trip_and_tamper(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k")
    cipher = Cipher(key)
    blob = cipher.encrypt_str("+447700900123")
    assert b"447700900123" not in blob
    assert cipher.decrypt_str(blob) == "+447700900123"
    assert cipher.encrypt_str("x") != cipher.encrypt_str("x")  # random nonces
    assert cipher.index("A@Example.com ") == cipher.index("a@example.com")
    with pytest.raises(StoreError):
        cipher.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]))
    with pytest.raises(StoreError):
        Cipher(load_or_create_key(tmp_path / "other")).decrypt(blob)


def test_random_pool_hands_out_each_byte_once_across_refills_and_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[bytes] = []
    counter = iter(range(1, 2**31))

    def urandom(n: int) -> bytes:  # distinct, recognisable blocks: a byte handed out twice would show
        block = b"".join(next(counter).to_bytes(4, "big") for _ in range(n // 4))
        drawn.append(block)
        return block

    monkeypatch.setattr("alertnode.store.crypto.os.urandom", urandom)
    pool = RandomPool(size=64)
    taken: list[bytes] = []

    def take_many() -> None:
        for _ in range(200):
            taken.append(pool.take(4))

    threads = [threading.Thread(target=take_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 800 and len(set(taken)) == 800  # every 4-byte value once: nothing reused
    assert len(drawn) == 800 * 4 // 64  # drawn a pool at a time, nothing thrown away
    assert pool.take(100) == drawn[-1] and len(drawn[-1]) == 100  # larger than the pool: straight from the OS
    mixed = [pool.take(n) for n in (12, 16, 12, 30)]  # sizes that straddle a refill
    assert [len(b) for b in mixed] == [12, 16, 12, 30]


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(StoreError, match="chmod 600"):
        load_or_create_key(path)


def test_contact_details_encrypted_in_the_database_file(run_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.api.test_jobs import dead_links

    node = run_node(dead_links(), data_dir=tmp_path / "n")
    body = {"version": "latest", "clientRef": "enc",
            "contactGroup": {"inlineContactGroup": {"name": "g", "contacts": [
                {"id": "c1", "sms": "+447700900777", "lookups": {"firstname": "Zebediah"}}]}},
            "alert": [{"alertType": "sms", "tag": "t", "content": "hi", "sender": "ALERTS",
                       "recipients": ["+447700900555"], "contacts": ["c1"]}]}
    assert node.post("/api/json/sendalert", body).status_code == 200
    node.stop()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "n" / "data").glob("alertnode.db*"))
    for secret in (b"447700900777", b"447700900555", b"Zebediah", "Zebediah".encode("utf-16-le")):
        assert secret not in raw
    assert b"c1" in raw  # the identifier is not secret (the reference keeps it in clear)


def _alert(conn: Conn, cipher: Cipher, ref: str, n: int, callback: str | None) -> list[int]:
    from alertnode.store import repo

    alert = repo.NewAlert(ref, "c", None, 1.0, 1.0, "running", None, None, None, callback, True, "all", None, None,
                          None, {}, {})
    item = repo.NewItem(0, "sms", "t", {}, b"hi", n, n)
    deliveries = [repo.NewDelivery(0, "sms", None, f"+4477009000{i:02d}", {}, f"tok-{ref}-{i}") for i in range(n)]
    repo.insert_alert(conn, cipher, alert, [item], deliveries, 1.0)
    return [r[0] for r in conn.execute("SELECT id FROM deliveries WHERE alert_ref = ? ORDER BY id", (ref,))]


def test_a_batch_of_events_is_applied_in_order_as_one_by_one_would(store: Store) -> None:
    from alertnode.domain import ChannelEvent, DeliveryState
    from alertnode.store import eventlog

    cipher = Cipher(b"k" * 32)
    def batch(conn: Conn) -> tuple[list[int | None], list[tuple[object, ...]], list[int]]:
        a = _alert(conn, cipher, "A", 2, "http://127.0.0.1:9/cb")
        b = _alert(conn, cipher, "B", 1, None)
        # the newest events are purged: their seqs must never be handed out again
        top = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
        conn.execute("DELETE FROM events WHERE seq = ?", (top,))
        seqs = eventlog.apply_events(conn, cipher, [
            ChannelEvent(a[0], "sent", 2.0, DeliveryState.SENT, {"parts": 1}),
            ChannelEvent(999, "sent", 2.0, DeliveryState.SENT),                        # unknown delivery
            ChannelEvent(a[0], "delivered", 3.0, DeliveryState.DELIVERED, final=True),
            ChannelEvent(a[1], "sent", 3.0, DeliveryState.SENT),
            ChannelEvent(a[1], "retry", 3.0, None, {"reason": "throttled"}, retry_after=5.0),
            ChannelEvent(b[0], "replied", 4.0, DeliveryState.RESPONDED, {"text": "OK"}, final=True),
            ChannelEvent(a[0], "sent", 5.0, DeliveryState.SENT),                        # late: no step back
        ])
        assert seqs[0] is not None and seqs[0] > top
        rows = [tuple(r) for r in conn.execute("SELECT id, state, due_at, responded_via FROM deliveries"
                                               " ORDER BY id")]
        outbox = [r[0] for r in conn.execute("SELECT event_seq FROM outbox WHERE event_seq > ? ORDER BY event_seq",
                                             (top,))]
        return seqs, rows, outbox

    seqs, rows, outbox = store.write_sync(batch)
    first = seqs[0]
    assert first is not None
    assert seqs == [first, None, first + 1, first + 2, first + 3, first + 4, first + 5]
    assert rows[0][1] == "delivered" and rows[1][1:3] == ("queued", 8.0) and rows[2][1] == "responded"
    assert rows[2][3] == ",sms,"
    assert outbox == [first, first + 1, first + 2, first + 3, first + 5]  # alert B has no callbackURL

    def events(conn: Conn) -> list[tuple[object, ...]]:
        return [(r.seq, r.kind, r.state, r.detail) for r in eventlog.events_since(conn, cipher, first - 1, 100)]

    got = store.read_sync(events)
    assert [(g[1], g[2]) for g in got] == [("sent", "sent"), ("delivered", "delivered"), ("sent", "sent"),
                                           ("retry", "queued"), ("replied", "responded"), ("sent", None)]
    assert got[0][3] == {"parts": 1} and got[4][3] == {"text": "OK"}


def test_a_declined_answer_is_not_counted_as_having_responded(store: Store) -> None:
    """An SMS or e-mail "no" and a replay IVR's not-OK key reach the recipient but acknowledge nothing: they
    must not make previouslySeen skip the contact nor stop an event's escalation (responded_in_link)."""
    from alertnode.domain import ChannelEvent, DeliveryState
    from alertnode.store import eventlog, repo

    cipher = Cipher(b"k" * 32)
    def run(conn: Conn) -> dict[str, frozenset[str]]:
        alert = repo.NewAlert("L1", "c", None, 1.0, 1.0, "running", None, None, None, None, True, "all", "link-1",
                              None, None, {}, {})
        item = repo.NewItem(0, "sms", "t", {}, b"hi", 4, 4)
        deliveries = [repo.NewDelivery(0, "sms", f"c{i}", f"+4477009000{i:02d}", {}, f"tok-L1-{i}")
                      for i in range(4)]
        repo.insert_alert(conn, cipher, alert, [item], deliveries, 1.0)
        ids = [r[0] for r in conn.execute("SELECT id FROM deliveries ORDER BY id")]
        eventlog.apply_events(conn, cipher, [
            ChannelEvent(ids[0], "replied", 2.0, DeliveryState.RESPONDED, {"ack": True, "declined": False},
                         final=True),
            ChannelEvent(ids[1], "replied", 2.0, DeliveryState.RESPONDED, {"ack": False, "declined": True},
                         final=True),
            ChannelEvent(ids[2], "recipientNotOk", 2.0, DeliveryState.RESPONDED, {"digit": "*"}, final=True),
            ChannelEvent(ids[3], "replied", 2.0, DeliveryState.RESPONDED, {"text": "who is this"}, final=True),
        ])
        return repo.responded_in_link(conn, "link-1")

    assert store.write_sync(run) == {"c0": frozenset({"sms"}), "c3": frozenset({"sms"})}


def test_a_forked_child_never_hands_out_its_parents_random_bytes() -> None:
    from alertnode.store.crypto import RANDOM

    RANDOM.take(16)  # the parent's pool holds bytes not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what would it hand out next?
        os.write(write, RANDOM.take(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.waitpid(pid, 0)
    os.close(read)
    assert RANDOM.take(16) != child
