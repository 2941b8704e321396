"""The callback sender against a real store and a real HTTP receiver: every event is posted once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alertnode.config import CallbacksSection
from alertnode.jobs.callbacks import CallbackSender
from alertnode.store import eventlog, outbox, repo
from alertnode.store.crypto import Cipher, load_or_create_key
from alertnode.store.db import SqliteStore as Store
from tests.callback_receiver import Receiver

T = TypeVar("T")


class StaleOutboxStore(Store):
    """A store whose outbox reads reach the caller a while after their snapshot was taken, as a read
    queued behind busy reader threads does: the rows it returns may meanwhile have been delivered."""

    def __init__(self, path: Path, lag_s: float) -> None:
        super().__init__(path)
        self.lag_s = lag_s

    async def read(self, fn: Callable[[Any], T]) -> T:
        value = await super().read(fn)
        if getattr(fn, "func", None) is outbox.outbox_due:
            await asyncio.sleep(self.lag_s)
        return value


def _alert(ref: str, url: str) -> repo.NewAlert:
    return repo.NewAlert(
        alert_ref=ref, client_ref="c", unique_id=None, created_at=time.time(), publish_at=None, status="active",
        expires_at=None, end_at=None, quiet=None, callback_url=url, notification=True, notification_type="all",
        link_ref=None, email_subject_ref=None, schedule_id=None, request={}, response={},
    )


async def _deliver(tmp_path: Path, receiver: Receiver, events: int, lag_s: float) -> list[int]:
    cipher = Cipher(load_or_create_key(tmp_path / "k"))
    store = StaleOutboxStore(tmp_path / "a.db", lag_s)
    store.open()
    sender = CallbackSender(CallbacksSection(batch_size=1, initial_backoff_s=0.1), store, cipher, b"s")
    try:
        def seed(conn: Any) -> list[int]:
            repo.insert_alert(conn, cipher, _alert("A1", receiver.url), [], [], time.time())  # + "accepted"
            for n in range(events):
                eventlog.insert_event(conn, cipher, "A1", None, "status", "sent", time.time(), {"n": n}, final=False)
            return [int(r[0]) for r in conn.execute("SELECT event_seq FROM outbox ORDER BY event_seq")]

        seqs = await store.write(seed)
        await sender.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            depth = await store.read(outbox.outbox_depth)
            if depth == (0, 0):
                break
            await asyncio.sleep(0.05)
        # one more outbox read after the last delivery, so a stale one would have been posted by now
        await asyncio.sleep(3 * lag_s)
        return seqs
    finally:
        await sender.stop()
        store.close()


async def test_a_delivered_event_is_not_posted_again_from_an_outbox_read_taken_before(tmp_path: Path) -> None:
    with Receiver(delay_s=0.3) as receiver:
        seqs = await _deliver(tmp_path, receiver, events=3, lag_s=0.5)
        posted = [e["seq"] for e in receiver.accepted_events()]
    assert len(seqs) == 4
    assert sorted(posted) == seqs


async def test_a_failed_batch_is_retried_after_its_backoff_not_from_a_stale_read(tmp_path: Path) -> None:
    with Receiver(fail_first=1, delay_s=0.3) as receiver:
        seqs = await _deliver(tmp_path, receiver, events=0, lag_s=0.5)
        attempts = len(receiver.requests)
        posted = [e["seq"] for e in receiver.accepted_events()]
    assert len(seqs) == 1 and posted == seqs
    assert attempts == 2
