"""The SMSC is killed (SIGKILL) in the middle of 2,000 messages and restarted: nothing is lost, every
message is acknowledged exactly once, and only messages unacknowledged at the kill go twice."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from pathlib import Path

import pytest

from alertnode.domain import DeliveryState
from alertnode.sms.channel import SmsChannel
from tests.peers.sms_support import MemorySink, bound, cipher, open_store, sms_config, work
from tests.peers.smsc import Smsc

pytestmark = pytest.mark.peer

COUNT = 2000
WINDOW = 50


async def test_smsc_killed_mid_run_and_restarted(smsc: Smsc, tmp_path: Path) -> None:
    store = open_store(tmp_path / "node.db")
    cfg = sms_config(
        smsc.link(
            window=WINDOW,
            throughput=1000,  # slow enough that the kill lands mid-run
            registered_delivery=False,
            reconnect_initial_s=0.1,
            reconnect_max_s=0.4,
            response_timeout_s=5,
        )
    )
    sink = MemorySink()
    ch = SmsChannel(config=cfg, store=store, cipher=cipher())
    await ch.start(sink)
    try:
        await bound(ch)
        for i in range(COUNT):
            await ch.submit(work(i + 1, f"+44770{i:07d}", f"message {i}"))
        deadline = time.monotonic() + 30
        while len(smsc.submits()) < COUNT // 3:
            assert time.monotonic() < deadline, "the SMSC never saw a third of the messages"
            await asyncio.sleep(0.01)
        smsc.kill()
        killed_after = len(smsc.submits())
        await asyncio.sleep(0.5)  # the link notices, backs off, fails to reconnect at least once
        smsc.options["id_start"] = 10_000_000  # the new SMSC process must not reuse message ids
        smsc.restart()
        await sink.wait(lambda: sum(1 for e in sink.events if e.kind == "sent") >= COUNT, timeout=60)
        await asyncio.sleep(0.3)  # anything extra would show up now
    finally:
        await ch.stop(2.0)
    submitted = collections.Counter(e.delivery_id for e in sink.events if e.kind == "sent")
    assert set(submitted) == set(range(1, COUNT + 1))  # none lost
    assert max(submitted.values()) == 1  # each acknowledged exactly once
    assert all(e.state is DeliveryState.SENT for e in sink.events)

    accepted = collections.Counter(r["dest"] for r in smsc.submits() if r["status"] == 0)
    assert len(accepted) == COUNT
    twice = {d: n for d, n in accepted.items() if n > 1}
    requeued = ch.info().details["a"]["transceiver"]["requeued"]
    print(f"\nkilled after {killed_after} submit_sm; sent twice: {len(twice)}; requeued by the node: {requeued}")
    # only what was outstanding at the kill can have gone twice: at most one window
    assert len(twice) <= requeued <= WINDOW
    assert max(twice.values(), default=1) <= 2

    conn = sqlite3.connect(tmp_path / "node.db")
    try:
        rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT delivery_id) FROM sms_part").fetchone()
        ids = conn.execute("SELECT COUNT(DISTINCT message_id) FROM sms_part").fetchone()[0]
    finally:
        conn.close()
    assert rows == (COUNT, COUNT) and ids == COUNT
    store.close()
