"""Callbacks: the outbox of events owed to each alert's ``callbackURL``.

Rows are written in the same transaction as their event, so nothing is lost while the client is
down. Each POST carries ``{"events": [...]}`` (up to ``callbacks.batch_size`` events for one URL)
and two headers:

    X-Alertnode-Timestamp: <unix seconds>
    X-Alertnode-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

Any 2xx answer acknowledges the batch; anything else (or no answer) is retried with exponential
back-off (``initial_backoff_s`` doubling up to ``max_backoff_s``), at most ``max_attempts`` times.
Given-up rows stay in the outbox marked dead; the events remain readable through collectevents.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from alertnode.jobs.config import CallbacksSection
from alertnode.store import eventlog, outbox
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff(attempts: int, initial: float, maximum: float) -> float:
    return float(min(maximum, initial * (2 ** max(attempts - 1, 0))))


class CallbackSender:
    def __init__(self, config: CallbacksSection, store: Store, cipher: Cipher, secret: bytes,
                 clock: Callable[[], float] = time.time, *, sandbox: bool = False) -> None:
        """``sandbox``: the node runs in sandbox mode; every event POSTed says so (``EventRow.as_dict``)."""
        self.config = config
        self.sandbox = sandbox
        self.store = store
        self.cipher = cipher
        self.secret = secret
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.sent = 0
        self.failures = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.config.timeout_s, follow_redirects=False, trust_env=False)
        self._task = asyncio.create_task(self._run(), name="callbacks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        sem = asyncio.Semaphore(self.config.concurrency)
        in_flight: set[int] = set()
        # A batch leaves ``in_flight`` when its outcome is committed, but an outbox read that began
        # before that commit still shows the rows as due. ``released`` remembers, for each such
        # sequence number, the read generation current when it was released: rows of a read of the
        # same or an earlier generation are skipped, so a delivered event is never posted twice.
        released: dict[int, int] = {}
        pending: set[asyncio.Task[None]] = set()
        generation = 0

        def release(seqs: list[int]) -> None:
            in_flight.difference_update(seqs)
            for seq in seqs:
                released[seq] = generation

        while True:
            generation += 1
            read_generation = generation
            now = self.clock()
            try:
                rows = await self.store.read(partial(outbox.outbox_due, now=now, limit=1000))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the callback outbox failed")
                rows = []
            batches: dict[str, list[outbox.OutboxRow]] = {}
            for row in rows:
                if row.event_seq in in_flight or released.get(row.event_seq, 0) >= read_generation:
                    continue
                batch = batches.setdefault(row.url, [])
                if len(batch) < self.config.batch_size:
                    batch.append(row)
            # what was released before this read began is reflected in it: forget it
            for seq in [s for s, g in released.items() if g < read_generation]:
                del released[seq]
            for url, batch in batches.items():
                seqs = [r.event_seq for r in batch]
                in_flight.update(seqs)
                task = asyncio.create_task(self._post(sem, url, batch, release))
                pending.add(task)
                task.add_done_callback(pending.discard)
            self._wake.clear()
            next_at = await self.store.read(outbox.outbox_next_at)
            wait = 5.0 if next_at is None else min(5.0, max(0.05, next_at - self.clock()))
            if batches:
                wait = min(wait, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _post(self, sem: asyncio.Semaphore, url: str, batch: list[outbox.OutboxRow],
                    release: Callable[[list[int]], None]) -> None:
        seqs = [r.event_seq for r in batch]
        try:
            async with sem:
                events = await self.store.read(lambda c: eventlog.events_by_seq(c, self.cipher, seqs))
                out = [e.as_dict(sandbox=self.sandbox) for e in events]
                body = json.dumps({"events": out}, separators=(",", ":")).encode()
                stamp = str(int(self.clock()))
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "alertnode-callbacks/1",
                    "X-Alertnode-Timestamp": stamp,
                    "X-Alertnode-Signature": sign(self.secret, stamp, body),
                }
                error = await self._send(url, body, headers)
            if error is None:
                self.sent += len(seqs)
                await self.store.write(lambda c: outbox.outbox_done(c, seqs), notify=False)
            else:
                self.failures += 1
                attempts = max(r.attempts for r in batch) + 1
                next_at = self.clock() + backoff(attempts, self.config.initial_backoff_s, self.config.max_backoff_s)
                log.info("callback POST failed (%s), attempt %d, next in %.1fs", error, attempts,
                         next_at - self.clock())
                await self.store.write(
                    lambda c: outbox.outbox_failed(c, seqs, next_at, error, self.config.max_attempts), notify=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("callback delivery crashed")
        finally:
            release(seqs)
            self._wake.set()

    async def _send(self, url: str, body: bytes, headers: dict[str, Any]) -> str | None:
        assert self._client is not None
        try:
            resp = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= resp.status_code < 300:
            return None
        return f"HTTP {resp.status_code}"
