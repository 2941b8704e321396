"""SQLite's second writer, in a process of its own (store/writer_process.py): new alerts go there and are
durable when answered, the writer thread's writes and the process's take turns on the one file with event
numbers in commit order, and a writer process that dies fails only the writes it had not answered (503 for a
client), after which a new one takes the next."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from alertnode.errors import StoreUnavailable
from alertnode.store import marks, repo
from alertnode.store.crypto import Cipher
from alertnode.store.db import SqliteStore
from tests.nodeproc import free_port

CIPHER = Cipher(b"w" * 32)


def _prepared(ref: str, recipients: int = 1) -> repo.PreparedAlert:
    alert = repo.NewAlert(ref, "client", None, 1.0, 1.0, "running", None, None, None, None, True, "all", None, None,
                          None, {"clientRef": "client"}, {"success": True, "alertRef": ref})
    items = [repo.NewItem(0, "sms", "a", {}, b"hello", recipients, recipients)]
    deliveries = [repo.NewDelivery(0, "sms", None, f"+4477009{n:05d}", {}, f"t-{ref}-{n}") for n in range(recipients)]
    return repo.prepare_alert(CIPHER, alert, items, deliveries, 1.0, info=marks.AlertInfo("user", None, []))


def _child_pid(store: SqliteStore) -> int:
    proc = store._process._proc if store._process is not None else None
    assert proc is not None, "no writer process"
    return proc.pid


async def test_new_alerts_are_written_by_another_process_and_durable_when_answered(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db")
    store.open()
    try:
        answers = await asyncio.gather(*(store.write_batched(repo.accept_prepared, _prepared(f"A{n}"))
                                         for n in range(50)))
        assert [a["alertRef"] for a in answers] == [f"A{n}" for n in range(50)]
        pid = _child_pid(store)
        assert pid != os.getpid()
        # answered means committed: a separate connection sees every row at once
        with sqlite3.connect(tmp_path / "a.db") as raw:
            assert raw.execute("SELECT count(*) FROM alerts").fetchone()[0] == 50
            assert raw.execute("SELECT count(*) FROM events WHERE kind = 'accepted'").fetchone()[0] == 50
        # a big alert stays with the writer thread (its rows would fill the pipe), the answer is the same
        big = await store.write_batched(repo.accept_prepared, _prepared("BIG", repo.PORTABLE_DELIVERIES + 1))
        assert big["alertRef"] == "BIG"
    finally:
        store.close()
    assert _gone(pid)


async def test_both_writers_take_turns_and_events_keep_commit_order(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "b.db")
    store.open()
    try:
        # the thread's writes (events of a read mark) and the process's (accepted alerts) at once
        await store.write_batched(repo.accept_prepared, _prepared("FIRST"))
        writes = []
        for n in range(200):
            writes.append(store.write_batched(repo.accept_prepared, _prepared(f"P{n}")))
            writes.append(store.write(lambda c, n=n: marks.mark_read(c, CIPHER, "FIRST", f"r{n}", True, 2.0)))
        results = await asyncio.gather(*writes)
        assert all(r is True for r in results[1::2])
        seqs = await store.read(lambda c: [r[0] for r in c.execute("SELECT seq FROM events ORDER BY rowid")])
        assert len(seqs) == 1 + 200 + 200
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # numbered in the order they committed
    finally:
        store.close()


async def test_a_writer_process_that_dies_fails_only_what_it_had_not_answered(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "c.db")
    store.open()
    try:
        await store.write_batched(repo.accept_prepared, _prepared("BEFORE"))
        pid = _child_pid(store)
        # hold the file's write lock, so that the next writes wait in the child, unanswered, then kill it
        gate = asyncio.Event()
        loop = asyncio.get_running_loop()
        held = asyncio.ensure_future(store.write(
            lambda c: asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(10)))
        await asyncio.sleep(0.2)
        waiting = [asyncio.ensure_future(store.write_batched(repo.accept_prepared, _prepared(f"W{n}")))
                   for n in range(5)]
        await asyncio.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results), results
        gate.set()
        await held
        # a new writer process takes the next write; what was answered before is there, the failed ones are not
        after = await store.write_batched(repo.accept_prepared, _prepared("AFTER"))
        assert after["alertRef"] == "AFTER" and _child_pid(store) != pid
        refs = await store.read(lambda c: [r[0] for r in c.execute("SELECT alert_ref FROM alerts ORDER BY 1")])
        assert refs == ["AFTER", "BEFORE"]
    finally:
        store.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie until reaped counts as gone: it runs nothing
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1].startswith("Z")



def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _writer_of(pid: int) -> int:
    for child in _children(pid):
        if b"alertnode.store.writer_process" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise AssertionError(f"node {pid} has no writer process")


def _small(n: int) -> dict[str, object]:
    return {"version": "latest", "clientRef": f"w{n}", "alert": [
        {"alertType": "sms", "tag": "t", "content": "Pressure high", "sender": "ALERTS",
         "recipients": [f"+4477009{n:05d}"]}]}


def test_the_node_survives_its_writer_process_and_leaves_none_behind(run_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # the node's own SQLite store (also when the suite runs its nodes on PostgreSQL), an SMS link (no sandbox)
    node = run_node({"store": {"url": ""}, "sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(),
                                                            "system_id": "x", "password": "y"}]}},
                    data_dir=tmp_path / "n")
    assert node.post("/api/json/sendalert", _small(1)).status_code == 200
    assert node.proc is not None
    first = _writer_of(node.proc.pid)
    os.kill(first, signal.SIGKILL)
    # the next alerts go to a new writer process; each one answered is stored
    refs = []
    for n in range(2, 12):
        answer = node.post("/api/json/sendalert", _small(n))
        assert answer.status_code in (200, 503), answer.text
        if answer.status_code == 200:
            refs.append(answer.json()["alertRef"])
    assert len(refs) >= 9
    second = _writer_of(node.proc.pid)
    assert second != first
    # a node killed outright takes its writer process with it (it reads the end of its input and stops)
    node.kill()
    for _ in range(100):
        if _gone(second):
            break
        time.sleep(0.05)
    assert _gone(second)
    with sqlite3.connect(tmp_path / "n" / "data" / "alertnode.db") as raw:
        stored = {r[0] for r in raw.execute("SELECT alert_ref FROM alerts")}
    assert set(refs) <= stored and len(stored) == len(refs) + 1


async def test_checkpoints_run_beside_the_writers(tmp_path: Path) -> None:
    # no commit checkpoints (wal_autocheckpoint = 0): the checkpoint thread copies the WAL into the file
    store = SqliteStore(tmp_path / "d.db")
    store.open()
    try:
        size = (tmp_path / "d.db").stat().st_size
        await asyncio.gather(*(store.write_batched(repo.accept_prepared, _prepared(f"K{n}", 5)) for n in range(300)))
        for _ in range(40):
            await asyncio.sleep(0.1)
            if (tmp_path / "d.db").stat().st_size > size + 100_000:
                break
        assert (tmp_path / "d.db").stat().st_size > size + 100_000  # the alerts' pages reached the file
    finally:
        store.close()


async def test_the_writer_process_gets_none_of_the_nodes_settings(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTNODE__sms__links__0__password", "s3cret")
    store = SqliteStore(tmp_path / "e.db")
    store.open()
    try:
        store.warm()  # as the node does: the writer process starts with it
        environ = Path(f"/proc/{_child_pid(store)}/environ").read_bytes()
    finally:
        store.close()
    assert b"s3cret" not in environ and b"ALERTNODE" not in environ


async def test_closing_the_store_answers_what_the_writer_process_committed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "f.db")
    store.open()
    store.warm()
    tasks = [asyncio.ensure_future(store.write_batched(repo.accept_prepared, _prepared(f"C{n}"))) for n in range(40)]
    await asyncio.sleep(0)  # each write handed over, none answered yet
    store.close()  # at once: the writer process still commits what it was given, and its answers arrive
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [r["alertRef"] if isinstance(r, dict) else r for r in results] == [f"C{n}" for n in range(40)]
    with sqlite3.connect(tmp_path / "f.db") as raw:
        assert raw.execute("SELECT count(*) FROM alerts").fetchone()[0] == 40


async def test_a_busy_writer_process_never_blocks_the_event_loop(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "g.db")
    store.open()
    store.warm()
    try:
        loop = asyncio.get_running_loop()
        gate = threading.Event()
        held = asyncio.ensure_future(store.write(lambda c: gate.wait(10)))  # the writer thread holds the file
        await asyncio.sleep(0.2)
        # more than the pipe holds (1 MiB) while the writer process waits for the file's lock
        tasks = [asyncio.ensure_future(store.write_batched(repo.accept_prepared, _prepared(f"B{n}", 3)))
                 for n in range(3000)]
        started = loop.time()
        await asyncio.sleep(0.3)
        assert loop.time() - started < 1.0  # the event loop went on meanwhile
        gate.set()
        await held
        results = await asyncio.gather(*tasks)
        assert [r["alertRef"] for r in results] == [f"B{n}" for n in range(3000)]
    finally:
        store.close()
