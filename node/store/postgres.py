"""The PostgreSQL backend: several nodes share one database (psycopg 3 and its pool).

Each node keeps the shape of the SQLite store: one writer thread on one connection runs the queued write
functions in one transaction (group commit, a savepoint each), a pool of read-only connections serves the
reads (each in one REPEATABLE READ snapshot), and a listener connection turns other nodes' commits into
commit hooks (LISTEN/NOTIFY on the channel ``alertnode``), so a node wakes for work another accepted.

What only PostgreSQL needs:

* ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``) once per statement text (cached);
* event numbers come from the one-row table ``event_counter``, updated in the transaction that inserts the
  events: its row lock makes transactions that write events take numbers in the order they commit, so a
  ``collectevents`` reader that saw number N never later finds a smaller one. The lock is held from the
  moment a transaction takes numbers until it commits, so ``eventlog`` takes them as late as it can;
* a write that loses a deadlock or waits past ``lock_timeout`` for a row another node holds is run again
  in the writer's next transaction (at most ``_RETRIES`` times) before its caller sees an error;
* the database being unreachable (a restart, a fail-over) fails the writes and reads of that moment with
  :class:`StoreUnavailable` within ``connect_timeout_s`` (the API answers 503), and the next ones connect
  again: accepted work is in the database, nothing is kept only in memory.

The password is never part of a logged URL (:meth:`PostgresStore.describe`); it comes from the URL, the
``password`` argument (``[store] password``, e.g. ``ALERTNODE__store__password``) or libpq's own
``PGPASSWORD`` / ``~/.pgpass``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from alertnode.errors import StoreError, StoreUnavailable
from alertnode.store import migrations as migration_files
from alertnode.store.backend import POSTGRESQL, Conn, Cursor, Dialect, Store, run_batch, units

log = logging.getLogger(__name__)

T = TypeVar("T")

_STOP = object()
_MAX_GROUP = 2000
_RETRIES = 3
_NOTIFY_CHANNEL = "alertnode"
_MIGRATION_LOCK = 0x616C6E64  # pg_advisory_xact_lock key: "alnd"; nodes starting together migrate one by one


@functools.lru_cache(maxsize=2048)
def _pg_sql(sql: str) -> str:
    # the seam's one rewrite: SQL is written with ``?`` (both databases); psycopg wants ``%s`` and ``%%``
    return sql.replace("%", "%%").replace("?", "%s")


class PgConn:
    """A psycopg connection as repository functions see it (:class:`alertnode.store.backend.Conn`)."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return self.raw.execute(_pg_sql(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        cur = self.raw.cursor()
        rows = [tuple(p) for p in parameters]
        if rows:
            cur.executemany(_pg_sql(sql), rows)
        return cur

    def next_seqs(self, count: int) -> int:
        row = self.raw.execute("UPDATE event_counter SET last_seq = last_seq + %s RETURNING last_seq",
                               (count,)).fetchone()
        assert row is not None
        return int(row[0]) - count + 1


def _fn(job: _Job) -> Callable[[Conn], Any]:
    return job.fn


def _transient(exc: BaseException) -> bool:
    """An error that running the same write again (in a new transaction) can cure."""
    return isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure | pg_errors.LockNotAvailable)


def _lost(conn: psycopg.Connection[Any]) -> bool:
    """The connection is gone (server restarted, network cut): nothing ran, or the outcome is unknown."""
    return conn.closed or conn.broken


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the PostgreSQL migrations not applied yet, each in its own transaction; nodes that start at
    the same moment take turns (an advisory lock)."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text)")
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for number, name, sql in migration_files.files("postgresql"):
            if number in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(sql.encode("utf-8"))  # several statements: simple query protocol, no parameters
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (number, name))
            except psycopg.Error as exc:
                raise StoreError(f"migration {name} failed: {exc}") from exc
            applied.append(name)
    return applied


class _Job:
    __slots__ = ("fn", "future", "loop", "notify", "tries")

    def __init__(self, fn: Callable[[Conn], Any], future: Any, loop: asyncio.AbstractEventLoop | None,
                 notify: bool) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.notify = notify
        self.tries = 0


class PostgresStore(Store):
    """The store in a PostgreSQL database shared by every node (see :class:`alertnode.store.backend.Store`)."""

    dialect = POSTGRESQL

    def __init__(self, url: str, *, password: str = "", readers: int = 4, connect_timeout_s: float = 5.0,
                 statement_timeout_s: float = 30.0, lock_timeout_s: float = 5.0,
                 application_name: str = "alertnode") -> None:
        params: dict[str, Any] = {
            "connect_timeout": max(1, int(connect_timeout_s)),
            "application_name": application_name,
            # a server that vanished without a word (a fail-over, a cut cable) is noticed in seconds
            "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
            "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}"
                       f" -c lock_timeout={int(lock_timeout_s * 1000)}"
                       " -c idle_in_transaction_session_timeout=60000",
        }
        if password:
            params["password"] = password
        self._conninfo = make_conninfo(url, **params)
        self._url = url
        self._readers_n = readers
        self._connect_timeout_s = connect_timeout_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._readers = concurrent.futures.ThreadPoolExecutor(readers, thread_name_prefix="store-read")
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._commit_hooks: list[Callable[[], None]] = []
        self._closed = False
        self._stopping = threading.Event()
        self._writer_pid = 0
        self._retry: list[_Job] = []

    def describe(self) -> str:
        info = conninfo_to_dict(self._conninfo)
        host = info.get("host") or "local socket"
        return f"postgresql://{info.get('user') or ''}@{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"

    # -- lifecycle ---------------------------------------------------------------------------
    def _connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._conninfo, autocommit=autocommit)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to {self.describe()}: {_reason(exc)}") from exc

    def open(self) -> None:
        conn = self._connect()
        try:
            applied = migrate(conn)
        except BaseException:
            conn.close()
            raise
        if applied:
            log.info("store migrated: %s", ", ".join(applied))
        self._writer_pid = conn.info.backend_pid
        self._pool = psycopg_pool.ConnectionPool(
            self._conninfo, min_size=1, max_size=self._readers_n, open=False, timeout=self._connect_timeout_s,
            configure=_configure_reader, name="alertnode-read")
        self._pool.open(wait=False)
        self._writer = threading.Thread(target=self._write_loop, args=(conn,), name="store-writer", daemon=True)
        self._writer.start()
        self._listener = threading.Thread(target=self._listen_loop, name="store-listen", daemon=True)
        self._listener.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join(timeout=30)
        self._readers.shutdown(wait=True)
        if self._pool is not None:
            self._pool.close(timeout=5)
        if self._listener is not None:
            self._listener.join(timeout=5)

    def on_commit(self, hook: Callable[[], None]) -> None:
        self._commit_hooks.append(hook)

    def _wake(self) -> None:
        for hook in self._commit_hooks:
            try:
                hook()
            except Exception:
                log.exception("commit hook failed")

    # -- writing -----------------------------------------------------------------------------
    async def write(self, fn: Callable[[Conn], T], *, notify: bool = True) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop, notify))
        return await future

    def write_sync(self, fn: Callable[[Conn], T], timeout: float | None = 60.0, *, notify: bool = True) -> T:
        if self._closed:
            raise StoreError("store is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put(_Job(fn, future, None, notify))
        return future.result(timeout)

    def _write_loop(self, conn: psycopg.Connection[Any] | None) -> None:
        try:
            while True:
                jobs, self._retry = self._retry, []
                stop = False
                if not jobs:
                    first = self._queue.get()
                    if first is _STOP:
                        return
                    jobs.append(first)
                while len(jobs) < _MAX_GROUP:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    jobs.append(nxt)
                if conn is None or conn.closed:
                    try:
                        conn = self._connect()
                        self._writer_pid = conn.info.backend_pid
                        log.info("store: writer connected again to %s", self.describe())
                    except StoreUnavailable as exc:
                        conn = None
                        self._settle([(job, False, exc) for job in jobs])
                        continue
                if not self._run_group(conn, jobs):
                    conn.close()
                    conn = None
                if stop:
                    for job in self._retry:
                        _settle(job, False, StoreError("store is closed"))
                    return
        finally:
            if conn is not None:
                conn.close()

    def _run_group(self, conn: psycopg.Connection[Any], jobs: list[_Job]) -> bool:
        """One transaction for ``jobs``; False when the connection was lost (it is then dropped)."""
        results: list[tuple[_Job, bool, Any]] = []
        pg = PgConn(conn)
        plan = units(jobs, _fn)
        single = len(plan) == 1 and not isinstance(plan[0], list)
        try:
            for unit in plan:
                if isinstance(unit, list):  # the jobs of one batched write: one call for all
                    conn.execute("SAVEPOINT job")
                    try:
                        values = run_batch(pg, [j.fn for j in unit])
                    except Exception as exc:
                        if _lost(conn):
                            raise
                        conn.execute("ROLLBACK TO SAVEPOINT job")
                        conn.execute("RELEASE SAVEPOINT job")
                        log.debug("a batched write of %d failed (%s): each one alone", len(unit), exc)
                    else:
                        conn.execute("RELEASE SAVEPOINT job")
                        results.extend((job, True, value) for job, value in zip(unit, values, strict=True))
                        continue
                for job in unit if isinstance(unit, list) else [unit]:
                    if not single:
                        conn.execute("SAVEPOINT job")
                    try:
                        value = job.fn(pg)
                    except Exception as exc:
                        if _lost(conn):
                            raise
                        if single:
                            conn.rollback()
                        else:
                            conn.execute("ROLLBACK TO SAVEPOINT job")
                            conn.execute("RELEASE SAVEPOINT job")
                        if _transient(exc) and job.tries < _RETRIES:
                            job.tries += 1
                            self._retry.append(job)  # in the next transaction, once the other node has gone on
                        else:
                            results.append((job, False, _translated(exc)))
                    else:
                        if not single:
                            conn.execute("RELEASE SAVEPOINT job")
                        results.append((job, True, value))
            notify = any(job.notify for job, ok, _ in results if ok)
            if notify:
                conn.execute("SELECT pg_notify(%s, '')", (_NOTIFY_CHANNEL,))
            conn.commit()
        except Exception as exc:
            lost = _lost(conn)
            if lost:
                log.warning("store: the database connection was lost: %s", _reason(exc))
                err: StoreError = StoreUnavailable(f"database unavailable: {_reason(exc)}")
                self._retry = [job for job in self._retry if job not in jobs]
                failed = jobs
            else:
                log.exception("store commit failed")
                err = StoreError(f"commit failed: {exc}")
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                failed = [job for job in jobs if job not in self._retry]
            self._settle([(job, False, err) for job in failed])
            return not lost
        if notify:
            self._wake()
        self._settle(results)
        return True

    @staticmethod
    def _settle(results: list[tuple[_Job, bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, bool, Any]]] = {}
        for result in results:
            loop = result[0].loop
            if loop is None:
                _settle(*result)
            else:
                by_loop.setdefault(loop, []).append(result)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle_all, settled)
            except RuntimeError:
                log.debug("event loop closed before %d write results could be delivered", len(settled))

    # -- other nodes' commits ------------------------------------------------------------------
    def _listen_loop(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {_NOTIFY_CHANNEL}")
                    backoff = 0.5
                    self._wake()  # what was committed while we were not listening
                    while not self._stopping.is_set():
                        woken = False
                        for note in conn.notifies(timeout=1.0):
                            if note.pid != self._writer_pid:
                                woken = True
                        if woken:
                            self._wake()
            except psycopg.Error as exc:
                log.debug("store: listener connection failed: %s", _reason(exc))
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- reading -----------------------------------------------------------------------------
    async def read(self, fn: Callable[[Conn], T]) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    def read_sync(self, fn: Callable[[Conn], T]) -> T:
        return self._readers.submit(self._run_read, fn).result()

    def _run_read(self, fn: Callable[[Conn], T]) -> T:
        assert self._pool is not None
        try:
            with self._pool.connection() as raw, raw.transaction():
                return fn(PgConn(raw))
        except psycopg_pool.PoolTimeout as exc:
            raise StoreUnavailable(f"database unavailable: no connection within {self._connect_timeout_s:g} s") \
                from exc
        except psycopg.OperationalError as exc:
            if _transient(exc) or isinstance(exc, pg_errors.QueryCanceled):
                raise
            raise StoreUnavailable(f"database unavailable: {_reason(exc)}") from exc

    def backup(self, target: Path) -> None:
        from alertnode.store import transfer
        from alertnode.store.sqlite import SqliteStore

        if target.exists():
            raise StoreError(f"{target} exists; a backup is written to a new file")
        copy = SqliteStore(target, synchronous="NORMAL")
        copy.open()
        try:
            transfer.copy(self, copy)
        finally:
            copy.close()


def _translated(exc: Exception) -> Exception:
    """The database's own errors become the node's (a constraint a write broke, a time-out)."""
    if isinstance(exc, psycopg.Error):
        err = StoreError(f"{type(exc).__name__}: {_reason(exc)}")
        err.__cause__ = exc
        return err
    return exc


def _configure_reader(conn: psycopg.Connection[Any]) -> None:
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.autocommit = False


def _reason(exc: BaseException) -> str:
    """An error's text for logs and answers, first line only (libpq adds context lines)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _settle(job: _Job, ok: bool, value: Any) -> None:
    fut = job.future
    if fut.done():
        return
    with contextlib.suppress(asyncio.InvalidStateError, concurrent.futures.InvalidStateError):
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _settle_all(results: list[tuple[_Job, bool, Any]]) -> None:
    for result in results:
        _settle(*result)
