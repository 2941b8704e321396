"""A second SQLite writer in a process of its own, for the batched writes of new alerts (sendalert).

Why: the node's event loop and its store writer thread share one GIL. Under load the writer, which gives the GIL
up for every SQLite step and commit, gets it back only when the busy event loop lets go: at 32 clients a group of
16 small alerts took ~4.7 ms of the writer's wall time for ~1.3 ms of its CPU, and the node as a whole stayed at
one core on a two-core machine (tools/bench/api.py). A process has its own GIL: it inserts and commits while the
event loop goes on with the next requests.

What goes there: a :meth:`Store.write_batched` whose batch function is a module-level function (the child
imports it by name) and whose argument is plain data, such as :func:`alertnode.store.accept.accept_prepared`
with the rows :func:`~alertnode.store.accept.prepare_alert` made (already encrypted: the child holds no key).
Everything else stays with the writer thread. The child runs the waiting writes in one transaction (group
commit, each batch function's writes as one call, each alone if that call fails), commits with
``synchronous = FULL``, and only then answers: a caller that got its answer knows its alert is durable, as
with the thread.

Two writers, one file: SQLite lets one write transaction run at a time, and a second writer that finds the file
locked sleeps in its busy handler (1, 2, 5, 10 ms...). So both take an exclusive ``flock`` on
``<database>-writer.lock`` around each transaction: the other one waits in the kernel and is woken at once.
Event numbers stay in commit order (``next_seqs`` reads the counter inside the locked transaction).

If the child dies, the writes it had not answered fail with :class:`StoreUnavailable` (the client is answered
503 and tries again: nothing it was told was accepted is lost) and the next write starts a new child.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

from alertnode.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")

CLOSE_TIMEOUT_S = 30.0
"""How long closing the store waits for the writer process to answer what it holds and stop."""

MAX_GROUP = 512
"""Writes the child takes into one transaction at most."""

_HEADER = struct.Struct("!I")


class WriteLock:
    """An exclusive ``flock`` on a file beside the database, held by a writer for each transaction (both
    processes' writers take it; within a process only one thread writes)."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + "-writer.lock")
        self._fd: int | None = None

    def __enter__(self) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def runs_in_process(batch: Callable[..., Any]) -> bool:
    """Whether the child can import ``batch`` by name (a module-level function of the node)."""
    module = getattr(batch, "__module__", "") or ""
    qualname = getattr(batch, "__qualname__", "") or ""
    return module.startswith("alertnode.") and "<" not in qualname and "." not in qualname


class WriterProcess:
    """The parent's side: starts the child (at :meth:`start` or with the first write), sends it writes from the
    event loop without ever blocking it, and settles their futures from its answers, read by the event loop (no
    thread of ours touches the GIL for them)."""

    def __init__(self, db_path: Path, on_commit: Callable[[], None]) -> None:
        self.db_path = db_path
        self._on_commit = on_commit
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_child: IO[bytes] | None = None
        self._from_child: IO[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next = 0
        self._buffer = bytearray()
        self._outgoing: list[bytes] = []
        self._unsent = bytearray()
        self._waiting_to_write = False
        self._closed = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the child now (else the first write does), its answers read by ``loop``."""
        if self._proc is None and not self._closed:
            self._start(loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        # the child gets a clean interpreter (no fork of a process with threads); its module path is ours
        # the node's own settings (secrets among them) are not the child's business: it is given the file only
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ALERTNODE")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "alertnode.store.writer_process", str(self.db_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._to_child = self._proc.stdin
        self._from_child = self._proc.stdout
        with contextlib.suppress(OSError):  # room for the writes that wait while the child commits
            fcntl.fcntl(self._to_child.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        os.set_blocking(self._from_child.fileno(), False)
        os.set_blocking(self._to_child.fileno(), False)
        self._loop = loop
        self._buffer.clear()
        self._unsent.clear()
        self._waiting_to_write = False
        loop.add_reader(self._from_child.fileno(), self._readable)
        log.info("store: writer process %d started for new alerts", self._proc.pid)

    async def write(self, batch: Callable[[Any, list[A]], list[T]], arg: A) -> T:
        if self._closed:
            raise StoreError("store is closed")
        loop = asyncio.get_running_loop()
        if self._proc is None:
            self._start(loop)
        assert self._to_child is not None
        self._next += 1
        number = self._next
        future: asyncio.Future[T] = loop.create_future()
        self._pending[number] = future
        data = pickle.dumps((number, batch, arg), protocol=pickle.HIGHEST_PROTOCOL)
        self._outgoing.append(_HEADER.pack(len(data)) + data)
        if len(self._outgoing) == 1:  # the writes of this turn of the event loop go in one system call
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        """Write what waits to the child's pipe without blocking the event loop: what the pipe cannot take now
        (the child is busy, or waits for the file's lock) goes when it can."""
        outgoing, self._outgoing = self._outgoing, []
        if self._to_child is None:
            return
        self._unsent += b"".join(outgoing)
        fd = self._to_child.fileno()
        try:
            while self._unsent:
                written = os.write(fd, self._unsent)
                del self._unsent[:written]
        except BlockingIOError:
            if not self._waiting_to_write and self._loop is not None:
                self._waiting_to_write = True
                self._loop.add_writer(fd, self._writable)
            return
        except OSError as exc:
            self._lost(f"the writer process is gone ({exc})")
            return
        if self._waiting_to_write and self._loop is not None:
            self._waiting_to_write = False
            self._loop.remove_writer(fd)

    def _writable(self) -> None:
        self._flush()

    def _readable(self) -> None:
        assert self._from_child is not None
        try:
            chunk = os.read(self._from_child.fileno(), 1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(f"reading from the writer process failed: {exc}")
            return
        if not chunk:
            self._lost("the writer process stopped")
            return
        self._buffer += chunk
        if self._answers():
            self._on_commit()

    def _answers(self) -> bool:
        """Settle the writes whose answers are complete in the buffer; True if any of them was committed."""
        committed = False
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if len(self._buffer) < _HEADER.size + size:
                break
            data = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
            del self._buffer[: _HEADER.size + size]
            results, notify = pickle.loads(data)  # noqa: S301 (our own child, over a pipe only it and we hold)
            committed |= notify
            for number, ok, value in results:
                future = self._pending.pop(number, None)
                if future is not None:
                    _deliver(future, value if ok else StoreError(value), ok=ok)
        return committed

    def _lost(self, why: str) -> None:
        """The child is gone: every write it had not answered fails (503 for a client); the next starts anew."""
        if self._loop is not None and self._from_child is not None:
            self._loop.remove_reader(self._from_child.fileno())
        if self._loop is not None and self._to_child is not None and self._waiting_to_write:
            self._loop.remove_writer(self._to_child.fileno())
        self._waiting_to_write = False
        self._unsent.clear()
        proc, self._proc = self._proc, None
        self._outgoing = []
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        if not self._closed:
            log.error("store: %s; %d write(s) it had not answered fail", why, len(self._pending))
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(StoreUnavailable(f"store writer: {why}"))

    def close(self) -> None:
        """Let the child finish what it has, then stop it."""
        self._closed = True
        proc = self._proc
        if proc is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            if self._from_child is not None:
                self._loop.remove_reader(self._from_child.fileno())
            if self._to_child is not None and self._waiting_to_write:
                self._loop.remove_writer(self._to_child.fileno())
        assert proc.stdin is not None and proc.stdout is not None
        # what was handed over and not yet written still goes (blocking now: the store is closing)
        self._unsent += b"".join(self._outgoing)
        self._outgoing = []
        with contextlib.suppress(OSError):
            os.set_blocking(proc.stdin.fileno(), True)
            while self._unsent:
                del self._unsent[: os.write(proc.stdin.fileno(), self._unsent)]
        with contextlib.suppress(OSError):
            proc.stdin.close()  # EOF: the child commits what it holds, answers, and exits
        # its last answers, read until it closes its end: a write it committed is answered as committed
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        fd = proc.stdout.fileno()
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                continue
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not chunk:
                break
            self._buffer += chunk
        self._answers()
        if proc.poll() is None:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("store: the writer process did not stop within %.0f s: killed", CLOSE_TIMEOUT_S)
                proc.kill()
                proc.wait()
        proc.stdout.close()
        self._proc = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            _deliver(future, StoreError("store is closed"), ok=False)


def _deliver(future: asyncio.Future[Any], value: Any, *, ok: bool) -> None:
    """Settle ``future`` from whichever thread: at once on its event loop's thread, else through the loop."""
    loop = future.get_loop()
    if loop.is_closed() or future.done():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _settle(future, value, ok)
    else:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_settle, future, value, ok)


def _settle(future: asyncio.Future[Any], value: Any, ok: bool) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


# -- the child ----------------------------------------------------------------------------------------------


def _child(db_path: Path, inbox: int, outbox: int) -> int:
    from alertnode.store.backend import BatchCall
    from alertnode.store.sqlite_conn import _connect, transaction

    conn = _connect(db_path)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # the parent's checkpoint thread does it (store/sqlite.py)
    lock = WriteLock(db_path)
    reader = _Reader(inbox)
    while True:
        first = reader.next(block=True)
        if first is None:
            return 0
        group = [first]
        while len(group) < MAX_GROUP:
            more = reader.next(block=False)
            if more is None:
                break
            group.append(more)
        with lock:
            done = transaction(conn, [(m[0], BatchCall(m[1], m[2])) for m in group], _call)
        results = [(job[0], ok, value if ok else _reason(value)) for job, ok, value in done]
        data = pickle.dumps((results, any(ok for _, ok, _ in results)), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(_HEADER.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(outbox, view):]
        except BrokenPipeError:  # the parent is gone (what was committed stays: nobody is left to answer)
            return 0


def _call(job: tuple[int, Any]) -> Any:
    return job[1]


def _reason(exc: Any) -> str:
    return str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"


class _Reader:
    """Messages from the parent: blocking for the first of a group, then only those that have arrived."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.eof = False

    def _complete(self) -> bool:
        if len(self.buffer) < _HEADER.size:
            return False
        return len(self.buffer) >= _HEADER.size + int(_HEADER.unpack_from(self.buffer)[0])

    def next(self, *, block: bool) -> Any:
        while not self._complete():
            if self.eof:
                return None
            # a message begun is finished (the parent is writing the rest); a new one is waited for only if asked
            if not block and not self.buffer and not select.select([self.fd], [], [], 0)[0]:
                return None
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.eof = True
                return None
            self.buffer += chunk
        (size,) = _HEADER.unpack_from(self.buffer)
        data = bytes(self.buffer[_HEADER.size : _HEADER.size + size])
        del self.buffer[: _HEADER.size + size]
        return pickle.loads(data)  # noqa: S301 (our parent, over a pipe only it and we hold)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m alertnode.store.writer_process DATABASE", file=sys.stderr)
        return 2
    importlib.import_module("alertnode.store.accept")  # the batch functions the parent names
    # a Ctrl-C or a SIGTERM meant for the node must not cut a commit short: the child ends when its parent
    # closes the pipe (at the node's shutdown, once the writes sent are answered) or dies
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    outbox = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing else may write into the answers' pipe
    return _child(Path(argv[0]), 0, outbox)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
