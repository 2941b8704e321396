"""The SQLite backend (the embedded default: one node, one file): WAL mode, numbered migrations, one writer
thread with group commit, pooled readers.

Writes are functions ``fn(conn) -> T`` queued to the single writer. The writer runs as many queued
functions as are waiting inside one transaction, each in its own SAVEPOINT (one failing function
rolls back only itself), commits once, and only then resolves their futures: a caller that got its
result knows the write is durable. This is how thousands of small writes per second stay cheap.

Reads run on a small thread pool, each thread with its own read-only connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alertnode.errors import StoreError
from alertnode.store import migrations as migration_files
from alertnode.store.backend import SQLITE, Conn, Store
from alertnode.store.sqlite_conn import SqliteConn as SqliteConn
from alertnode.store.sqlite_conn import _connect, transaction
from alertnode.store.writer_process import WriteLock, WriterProcess, runs_in_process

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")
WriteFn = Callable[[Conn], Any]

_STOP = object()
CHECKPOINT_INTERVAL_S = 0.25
_MAX_GROUP = 2000


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every SQLite migration file, in order. Files are ``NNNN_name.sql``."""
    return migration_files.files("sqlite")


def migrate(conn: sqlite3.Connection) -> list[str]:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = []
    for number, name, sql in migrations():
        if number in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (number, name))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"migration {name} failed: {exc}") from exc
        applied.append(name)
    return applied


def inspect(path: Path) -> tuple[str, int]:
    """``PRAGMA quick_check``'s verdict (``ok`` when intact) and the number of alerts of the database file at
    ``path``, opened read-only (the node may be running). StoreError when it cannot be read."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    except sqlite3.Error as exc:
        raise StoreError(str(exc)) from exc
    return str(verdict), int(alerts)


def _split_sql(sql: str) -> list[str]:
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


class _Job:
    __slots__ = ("fn", "future", "loop", "notify")

    def __init__(self, fn: WriteFn, future: Any, loop: asyncio.AbstractEventLoop | None, notify: bool) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.notify = notify


class SqliteStore(Store):
    """The store in one SQLite file (see :class:`alertnode.store.backend.Store`)."""

    dialect = SQLITE

    def __init__(self, path: Path, *, synchronous: str = "FULL", readers: int = 4,
                 writer_process: bool = True) -> None:
        self.path = path
        self.synchronous = synchronous
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers = concurrent.futures.ThreadPoolExecutor(readers, thread_name_prefix="store-read")
        self._local = threading.local()
        self._read_conns: list[SqliteConn] = []
        self._read_lock = threading.Lock()
        self._commit_hooks: list[Callable[[], None]] = []
        self._closed = False
        self._lock = WriteLock(path)
        self._stopping = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._process = WriterProcess(path, self._wake) if writer_process else None

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"could not put {self.path} in WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        applied = migrate(conn)
        if applied:
            log.info("store migrated: %s", ", ".join(applied))
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpoint thread's work, not a commit's
        self._writer = threading.Thread(target=self._write_loop, args=(conn,), name="store-writer", daemon=True)
        self._writer.start()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="store-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Copy the WAL's committed pages into the database file every :data:`CHECKPOINT_INTERVAL_S`, beside the
        writers (a PASSIVE checkpoint waits for nobody and nobody waits for it). SQLite's own automatic
        checkpoint would do it inside the commit that crosses 1,000 pages: that commit, and every write waiting
        for it, would wait for the copy and the database file's fsync too."""
        conn = _connect(self.path)
        try:
            while not self._stopping.wait(CHECKPOINT_INTERVAL_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    log.warning("store: checkpoint failed: %s", exc)
        finally:
            conn.close()

    def warm(self) -> None:
        if self._process is not None:
            self._process.start(asyncio.get_running_loop())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._process is not None:
            self._process.close()
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join(timeout=30)
        self._lock.close()
        self._stopping.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=30)
        self._readers.shutdown(wait=True)
        with self._read_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()

    def on_commit(self, hook: Callable[[], None]) -> None:
        self._commit_hooks.append(hook)

    def _wake(self) -> None:
        """The commit hooks, after a commit that brought new work (the writer thread's or the process's)."""
        for hook in self._commit_hooks:
            try:
                hook()
            except Exception:
                log.exception("commit hook failed")

    def describe(self) -> str:
        return str(self.path)

    # -- writing -----------------------------------------------------------------------------
    async def write(self, fn: Callable[[Conn], T], *, notify: bool = True) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop, notify))
        return await future

    async def write_batched(self, batch: Callable[[Conn, list[A]], list[T]], arg: A, *, notify: bool = True) -> T:
        """New alerts (``arg`` plain data, ``batch`` a module-level function) go to the writer process
        (:mod:`alertnode.store.writer_process`: its own GIL); the rest to the writer thread."""
        if self._process is not None and getattr(arg, "portable", False) and runs_in_process(batch):
            if self._closed:
                raise StoreError("store is closed")
            return await self._process.write(batch, arg)
        return await super().write_batched(batch, arg, notify=notify)

    def write_sync(self, fn: Callable[[Conn], T], timeout: float | None = 60.0, *, notify: bool = True) -> T:
        if self._closed:
            raise StoreError("store is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Job(fn, future, None, notify))
        return future.result(timeout)

    def _write_loop(self, conn: SqliteConn) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                jobs = [first]
                stop = False
                while len(jobs) < _MAX_GROUP:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    jobs.append(nxt)
                self._run_group(conn, jobs)
                if stop:
                    return
        finally:
            conn.close()

    def _run_group(self, conn: SqliteConn, jobs: list[_Job]) -> None:
        with self._lock:  # the writer process takes its turns too (store/writer_process.py)
            results = transaction(conn, jobs, _fn)
        if any(job.notify for job in jobs):
            self._wake()
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
        for result in results:
            loop = result[0].loop
            if loop is None:
                _settle(*result)
            else:
                by_loop.setdefault(loop, []).append(result)
        for loop, settled in by_loop.items():  # one wake-up per event loop for the whole group
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:
                log.debug("event loop closed before %d write results could be delivered", len(settled))

    # -- reading -----------------------------------------------------------------------------
    def _reader(self) -> SqliteConn:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            with self._read_lock:
                self._read_conns.append(conn)
        return conn

    async def read(self, fn: Callable[[Conn], T]) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    def read_sync(self, fn: Callable[[Conn], T]) -> T:
        return self._readers.submit(self._run_read, fn).result()

    def _run_read(self, fn: Callable[[Conn], T]) -> T:
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    def backup(self, target: Path) -> None:
        # SQLite's online backup API: a consistent copy while the writer goes on
        src = _connect(self.path, readonly=True)
        try:
            dst = sqlite3.connect(str(target))
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()


def _fn(job: _Job) -> WriteFn:
    return job.fn


def _settle(job: _Job, ok: bool, value: Any) -> None:
    fut = job.future
    if fut.done():  # an awaiting task was cancelled
        return
    # a future cancelled between the check and here (write_sync's from another thread) must never
    # raise into the writer thread
    with contextlib.suppress(asyncio.InvalidStateError, concurrent.futures.InvalidStateError):
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _settle_all(results: list[tuple[_Job, bool, Any]]) -> None:
    for result in results:
        _settle(*result)
