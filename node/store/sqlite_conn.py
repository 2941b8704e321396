"""The SQLite connection as the store's writers (the writer thread, store/sqlite.py, and the writer process,
store/writer_process.py) and readers open it, and a write run in its own savepoint."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alertnode.errors import StoreError
from alertnode.store.backend import SQLITE, Conn, Dialect, run_batch, units

log = logging.getLogger(__name__)

J = TypeVar("J")
WriteFn = Callable[[Conn], Any]


class SqliteConn(sqlite3.Connection):
    """A connection as repository functions see it (:class:`alertnode.store.backend.Conn`)."""

    dialect: Dialect = SQLITE

    def next_seqs(self, count: int) -> int:
        # one writer: numbers are taken in commit order by construction. AUTOINCREMENT's counter keeps the
        # number of a purged newest event from being handed out again; the caller's inserts move it on.
        row = self.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return (int(row[0]) if row is not None else 0) + 1


def _connect(path: Path, *, readonly: bool = False) -> SqliteConn:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False,
                           factory=SqliteConn, cached_statements=512)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _attempt(conn: SqliteConn, fn: WriteFn) -> tuple[bool, Any]:
    """Run ``fn`` in its own savepoint: (True, its result), or (False, its error) with what it wrote undone."""
    conn.execute("SAVEPOINT job")
    try:
        value = fn(conn)
    except Exception as exc:  # noqa: BLE001 (one job's failure must not sink the group)
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return False, _translated(exc)
    conn.execute("RELEASE job")
    return True, value


def _translated(exc: Exception) -> Exception:
    """The database's own errors become the node's (a constraint a write broke, a locked file)."""
    if isinstance(exc, sqlite3.Error):
        err = StoreError(f"{type(exc).__name__}: {exc}")
        err.__cause__ = exc
        return err
    return exc


def transaction(conn: SqliteConn, jobs: Sequence[J], fn: Callable[[J], WriteFn]) -> list[tuple[J, bool, Any]]:
    """One write transaction for ``jobs`` (group commit), each job's function ``fn(job)`` in its own savepoint and
    the jobs of one batched write as one call (each alone if that call fails): (job, True, its result) or (job,
    False, its error) for each. If the commit fails, every job fails with a :class:`StoreError`."""
    results: list[tuple[J, bool, Any]] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for unit in units(jobs, fn):
            if isinstance(unit, list):  # the jobs of one batched write: one call for all
                fns = [fn(job) for job in unit]
                ok, values = _attempt(conn, lambda c: run_batch(c, fns))  # noqa: B023 (called at once)
                if ok:
                    results.extend((job, True, value) for job, value in zip(unit, values, strict=True))
                    continue
                log.debug("a batched write of %d failed (%s): each one alone", len(unit), values)
            for job in unit if isinstance(unit, list) else [unit]:
                ok, value = _attempt(conn, fn(job))
                results.append((job, ok, value))
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        log.exception("store commit failed")
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.debug("rollback after failed commit also failed", exc_info=True)
        err = StoreError(f"commit failed: {exc}")
        results = [(job, False, err) for job in jobs]
    return results
