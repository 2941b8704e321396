"""The store's interface: what jobs, channels and operations use, whichever database holds the data.

Two implementations sit side by side: :mod:`alertnode.store.sqlite` (the embedded default, one node) and
:mod:`alertnode.store.postgres` (several nodes sharing one PostgreSQL). Both run the same repository
functions, which are written once against :class:`Conn`:

* a write is a function ``fn(conn) -> T`` given to :meth:`Store.write` (or :meth:`Store.write_sync` from a
  thread that is not the event loop). Each node has one writer that runs the functions waiting in one
  transaction (group commit), each in its own savepoint, and answers only once the commit is durable;
* a read is a function given to :meth:`Store.read` / :meth:`Store.read_sync`, run on a pooled read-only
  connection inside one snapshot;
* :meth:`Store.on_commit` hooks are woken after a commit that brought new work, on this node and (with
  PostgreSQL, through LISTEN/NOTIFY) on every other node.

What differs between the databases, and only that, is visible here and in the two backend modules:
:class:`Dialect` (the few SQL spellings that differ), :meth:`Conn.next_seqs` (event numbers that readers
can never see out of order) and the claim of due work (:meth:`Dialect.skip_locked`).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from alertnode.errors import StoreUnavailable

T = TypeVar("T")
A = TypeVar("A")
J = TypeVar("J")
log = logging.getLogger(__name__)

OUTAGE_WAIT_S = 300.0
"""How long a write that records what already happened (a channel's report) waits out a database outage."""


@dataclass(frozen=True)
class Dialect:
    """The SQL spellings the two databases do not share."""

    name: str
    greatest: str
    """the scalar maximum of two values: ``MAX(a, b)`` in SQLite, ``GREATEST(a, b)`` in PostgreSQL"""
    shared: bool
    """several nodes may use the database at once (PostgreSQL); SQLite belongs to one node, whose one
    writer makes every claim alone"""

    def skip_locked(self, alias: str) -> str:
        """What ends a claim's ``SELECT`` of the rows of ``alias``: nothing in SQLite (one writer); ``FOR
        UPDATE OF alias SKIP LOCKED`` in PostgreSQL, so that nodes claiming at the same moment take
        different rows without waiting for each other."""
        return f" FOR UPDATE OF {alias} SKIP LOCKED" if self.shared else ""


SQLITE = Dialect("sqlite", "MAX", shared=False)
POSTGRESQL = Dialect("postgresql", "GREATEST", shared=True)


class Cursor(Protocol):
    """What a statement answers: rows as sequences (index them, never name them)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ...) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """The connection a repository function is given (a writer's or a reader's).

    SQL is written once, with ``?`` placeholders; the PostgreSQL connection turns them into its own
    (a literal ``%`` is fine too). Write only what both databases understand: ``ON CONFLICT ... DO
    NOTHING / DO UPDATE`` (not ``INSERT OR ...``), ``RETURNING id`` (not ``lastrowid``), ``CASE`` or
    ``count(*) FILTER (WHERE ...)`` over booleans (PostgreSQL has no ``SUM(a = b)``), ``LIKE`` (not
    ``instr``), integers 0/1 for flags; ``conn.dialect.greatest`` for a scalar maximum.
    """

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...

    def next_seqs(self, count: int) -> int:
        """The first of ``count`` new event numbers for rows the caller inserts now, in this transaction.
        Numbers are handed out in the order their transactions commit, so a reader that has seen number N
        never later finds a smaller one (``collectevents`` never skips an event)."""
        ...


class BatchCall(Generic[A, T]):
    """The function of a write made with :meth:`Store.write_batched`: ``batch(conn, [arg])[0]`` when it runs
    alone; the writer runs the calls of one ``batch`` function waiting in its group as one call."""

    __slots__ = ("arg", "batch")

    def __init__(self, batch: Callable[[Conn, list[A]], list[T]], arg: A) -> None:
        self.batch = batch
        self.arg = arg

    def __call__(self, conn: Conn) -> T:
        return self.batch(conn, [self.arg])[0]


def units(jobs: Sequence[J], fn: Callable[[J], Any]) -> list[J | list[J]]:
    """``jobs`` in their order, except that the jobs of one batched write (a :class:`BatchCall` of the same
    ``batch`` function) stand together, as a list, where the first of them was."""
    out: list[J | list[J]] = []
    together: dict[Any, list[J]] = {}
    for job in jobs:
        call = fn(job)
        if isinstance(call, BatchCall):
            same = together.get(call.batch)
            if same is None:
                same = together[call.batch] = []
                out.append(same)
            same.append(job)
        else:
            out.append(job)
    return out


def run_batch(conn: Conn, fns: Sequence[Callable[[Conn], Any]]) -> list[Any]:
    """The results of a batched write's calls (the functions of the jobs :func:`units` put together), from one
    call of their ``batch`` function."""
    calls = [fn for fn in fns if isinstance(fn, BatchCall)]
    if len(calls) != len(fns):
        raise TypeError("run_batch: every function must be a BatchCall")
    results = calls[0].batch(conn, [c.arg for c in calls])
    if len(results) != len(calls):
        raise RuntimeError(f"a batched write answered {len(results)} results for {len(calls)} calls")
    return results


class Store(abc.ABC):
    """The one handle on the database. ``open()`` before use, ``close()`` at shutdown."""

    dialect: Dialect

    @abc.abstractmethod
    def open(self) -> None:
        """Connect, apply the migrations not applied yet, start the writer."""

    def warm(self) -> None:
        """Start now what would otherwise start with the first write that needs it (called by the node from its
        event loop, once the store is open): the first alert then waits for nothing more than its commit.
        Nothing to start by default."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the writes queued so far, then release every connection."""

    @abc.abstractmethod
    def on_commit(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` (from a store thread) after a commit that holds a write made with ``notify=True``
        (new work, new events), by this node or, where the database is shared, by another. It must be
        cheap and thread-safe."""

    @abc.abstractmethod
    async def write(self, fn: Callable[[Conn], T], *, notify: bool = True) -> T:
        """Run ``fn`` in the writer's transaction; returns once it is committed. ``notify=False`` for
        bookkeeping writes that give nobody new work."""

    async def write_batched(self, batch: Callable[[Conn, list[A]], list[T]], arg: A, *, notify: bool = True) -> T:
        """:meth:`write` of ``batch(conn, [arg])[0]``, where the writer runs the batched writes of one ``batch``
        function that wait together as one call, ``batch(conn, [arg1, arg2, ...])`` (its results in the same
        order): one statement per table for a group's new alerts instead of one per alert and table. When
        that call fails, each write runs alone, so that only the faulty one fails."""
        return await self.write(BatchCall(batch, arg), notify=notify)

    @abc.abstractmethod
    def write_sync(self, fn: Callable[[Conn], T], timeout: float | None = 60.0, *, notify: bool = True) -> T:
        """:meth:`write` for threads that are not the event loop (e.g. an SMPP link thread)."""

    @abc.abstractmethod
    async def read(self, fn: Callable[[Conn], T]) -> T:
        """Run ``fn`` on a read-only connection, in one snapshot."""

    @abc.abstractmethod
    def read_sync(self, fn: Callable[[Conn], T]) -> T:
        """:meth:`read` for threads that are not the event loop."""

    async def ping(self) -> None:
        """Raises unless the writer can run a statement (readiness: the store is writable)."""
        await self.write(lambda c: c.execute("SELECT 1").fetchone(), notify=False)

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the data is, for logs (a file, or a database URL without its password)."""

    async def write_when_back(self, fn: Callable[[Conn], T], *, notify: bool = True,
                              for_s: float = OUTAGE_WAIT_S) -> T:
        """:meth:`write` for what has happened already and must be recorded (an SMSC's answer, a channel's
        report): while the database is away (:class:`StoreUnavailable`: a restart, a fail-over) it is tried
        again every second, up to ``for_s``. A request from a client fails at once instead (503)."""
        deadline = time.monotonic() + for_s
        delay = 0.2
        while True:
            try:
                return await self.write(fn, notify=notify)
            except StoreUnavailable:
                if time.monotonic() > deadline:
                    raise
                log.warning("store unavailable: a write waits for the database (again in %.1f s)", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    @abc.abstractmethod
    def backup(self, target: Path) -> None:
        """A consistent copy of the whole store, taken while the node runs, as an SQLite file at ``target``
        (a new file; ``alertnode store copy`` moves such a file to any backend)."""
