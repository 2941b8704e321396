"""Callbacks: the outbox of events owed to each alert's ``callbackURL``.

Rows are written in the same transaction as their event, so nothing is lost while the client is
down. Each POST carries ``{"events": [...]}`` (up to ``callbacks.batch_size`` events for one URL)
and two headers:

    X-Alertnode-Timestamp: <unix seconds>
    X-Alertnode-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

Any 2xx answer acknowledges the batch; anything else (or no answer) is retried with exponential
back-off (``initial_backoff_s`` doubling up to ``max_backoff_s``), at most ``max_attempts`` times.
A batch holds the events of one alert, in order, and an alert's next batch waits for the outcome of the
one before (store/outbox.py: claims, so that with several nodes each event is posted by one of them).
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
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from alertnode.errors import StoreError
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
                 clock: Callable[[], float] = time.time, *, owner: str = "", lease_s: float = 30.0,
                 sandbox: bool = False) -> None:
        """``sandbox``: the node runs in sandbox mode; every event POSTed says so (``EventRow.as_dict``)."""
        self.config = config
        self.owner = owner or f"callbacks-{uuid.uuid4().hex[:12]}"
        self.lease_s = lease_s
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
        busy: set[str] = set()  # alerts with a batch in flight here (their next batch waits for its outcome)
        pending: set[asyncio.Task[None]] = set()

        def release(alert_ref: str) -> None:
            busy.discard(alert_ref)

        while True:
            now = self.clock()
            batches: list[outbox.OutboxBatch] = []
            try:
                # a cheap read first; the claim (a write, seen by every node) only when something is due
                if await self.store.read(partial(outbox.outbox_due, now=now, limit=1)):
                    batches = await self.store.write(partial(
                        outbox.claim_due, owner=self.owner, now=now, lease_s=self.lease_s,
                        batch_size=self.config.batch_size), notify=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming from the callback outbox failed")
            for batch in batches:
                if batch.alert_ref in busy:
                    continue
                busy.add(batch.alert_ref)
                task = asyncio.create_task(self._post(sem, batch.url, batch.rows, partial(release, batch.alert_ref)))
                pending.add(task)
                task.add_done_callback(pending.discard)
            self._wake.clear()
            try:
                next_at = await self.store.read(outbox.outbox_next_at)
            except StoreError:  # the database is away: look again in a while
                next_at = None
            wait = 5.0 if next_at is None else min(5.0, max(0.05, next_at - self.clock()))
            if batches:
                wait = min(wait, 0.05)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _post(self, sem: asyncio.Semaphore, url: str, batch: list[outbox.OutboxRow],
                    release: Callable[[], None]) -> None:
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
            release()
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
