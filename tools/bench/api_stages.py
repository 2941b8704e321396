#!/usr/bin/env python3
"""Where a small sendalert's time goes, stage by stage, in one process and one thread (no HTTP, no event loop,
no second thread): the CPU each stage costs on its own. tools/bench/api.py measures the whole under load and the
CPU of each of the node's threads; the difference between the sum here and those numbers is what the stages
cost together (the asyncio machinery, the wake-ups between the event loop and the store's writer, the GIL they
share, caches).

Prints microseconds per request:
  * event loop stages: the API key check, the contract's validation of the raw body, planning, the request as
    stored, the answer's JSON;
  * the store writer's work for one alert (its rows made beforehand, as store/accept.prepare_alert does beside
    the request), statement by statement, with the Python in between, and the share of the commit (with its
    fsync, synchronous FULL as the node runs) at groups of 1 to 32 alerts (the writer commits whatever is queued
    at once: 32 clients give groups of about 15).

Usage: .venv/bin/python tools/bench/api_stages.py [--alerts 6000]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from starlette.responses import JSONResponse  # noqa: E402

from alertnode.api.auth import KeyRing  # noqa: E402
from alertnode.contract.sendalert import SendAlertRequest  # noqa: E402
from alertnode.jobs import expand  # noqa: E402
from alertnode.jobs.intake import new_alert_ref  # noqa: E402
from alertnode.store import marks, repo, sqlite  # noqa: E402
from alertnode.store.crypto import Cipher  # noqa: E402

BODY = json.dumps({"version": "latest", "clientRef": "bench-1",
                   "alert": [{"alertType": "sms", "tag": "b", "content": "Pressure high on boiler 3",
                              "sender": "ALERTS", "recipients": ["+447700900001"]}]}).encode()


def per_call(fn: Callable[[], object], n: int = 5000) -> float:
    for _ in range(200):
        fn()
    t0 = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - t0) / n / 1000


def loop_stages() -> None:
    req = SendAlertRequest.model_validate_json(BODY)
    resolved = expand.Resolved({}, None, "contactGroup", {}, linked=False)
    keys = KeyRing(["bench-key-0123456789"])
    answer = {"success": True, "clientRef": "bench-1", "alertRef": str(uuid.uuid4()),
              "alerts": [{"alertType": "sms", "tag": "b", "requestedCount": 1, "sentCount": 1,
                          "remainingCapacity": 5, "success": True}]}
    stages = {
        "API key check (SHA-256, constant-time compare)": lambda: keys.check("bench-key-0123456789"),
        "validation of the raw body (model_validate_json)": lambda: SendAlertRequest.model_validate_json(BODY),
        "planning (expand.plan)": lambda: expand.plan(req, resolved, now=time.time(), max_recipients=10_000,
                                                      unique_limit=1000, default_lifetime="P1D"),
        "the request as stored (model_dump)": lambda: req.model_dump(mode="json", by_alias=True, exclude_none=True,
                                                                     exclude={"apiKey"}),
        "the answer (JSONResponse)": lambda: JSONResponse(answer),
    }
    print("event loop stages, CPU per request:")
    total = 0.0
    for name, fn in stages.items():
        cost = per_call(fn)
        total += cost
        print(f"  {cost:6.1f} us  {name}")
    print(f"  {total:6.1f} us  together")


class _Timed:
    """A connection that adds up the CPU of each statement, by its first words."""

    def __init__(self, conn: sqlite.SqliteConn) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.spent: collections.Counter[str] = collections.Counter()

    def next_seqs(self, count: int) -> int:
        t0 = time.thread_time_ns()
        try:
            return self.conn.next_seqs(count)
        finally:
            self.spent["next_seqs"] += time.thread_time_ns() - t0

    def _key(self, sql: str) -> str:
        words = sql.split()
        return " ".join(words[:3]) if words[0] == "INSERT" else words[0]

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        t0 = time.thread_time_ns()
        try:
            return self.conn.execute(sql, *args)
        finally:
            self.spent[self._key(sql)] += time.thread_time_ns() - t0

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        t0 = time.thread_time_ns()
        try:
            return self.conn.executemany(sql, *args)
        finally:
            self.spent[self._key(sql)] += time.thread_time_ns() - t0


def writer_stages(alerts: int) -> None:
    request = json.loads(BODY)
    cipher = Cipher(os.urandom(32))
    with tempfile.TemporaryDirectory() as tmp:
        raw = sqlite._connect(Path(tmp) / "bench.db")
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = FULL")  # as the node: a commit is durable when it returns
        sqlite.migrate(raw)
        conn = _Timed(raw)
        job_cpu = 0

        def job() -> None:
            nonlocal job_cpu
            ref = new_alert_ref(time.time())
            now = time.time()
            answer = {"success": True, "clientRef": "bench-1", "alertRef": ref, "alerts": [{"sentCount": 1}]}
            alert = repo.NewAlert(alert_ref=ref, client_ref="bench-1", unique_id=None, created_at=now, publish_at=now,
                                  status="running", expires_at=None, end_at=None, quiet=None, callback_url=None,
                                  notification=True, notification_type="all", link_ref=None, email_subject_ref=None,
                                  schedule_id=None, request=request, response=answer)
            items = [repo.NewItem(0, "sms", "b", {"sender": "ALERTS"}, b"Pressure high on boiler 3", 1, 1)]
            deliveries = [repo.NewDelivery(0, "sms", None, "+447700900001", {}, uuid.uuid4().hex)]
            # the rows are made beside the request (the event loop's time, not the writer's)
            prepared = repo.prepare_alert(cipher, alert, items, deliveries, now,
                                          info=marks.AlertInfo("general", None, []))
            t0 = time.thread_time_ns()
            conn.execute("SAVEPOINT job")  # as the writers do: each batch in its own savepoint
            repo.accept_prepared(conn, [prepared])  # type: ignore[arg-type]
            conn.execute("RELEASE job")
            job_cpu += time.thread_time_ns() - t0

        print("store writer, CPU per alert:")
        for _ in range(50):  # warm: the statement cache, the first pages of each table
            conn.execute("BEGIN IMMEDIATE")
            job()
            conn.execute("COMMIT")
        for group in (1, 5, 15, 32):
            conn.spent.clear()
            job_cpu = 0
            groups = max(1, alerts // group // 4)
            for _ in range(groups):
                conn.execute("BEGIN IMMEDIATE")
                for _ in range(group):
                    job()
                conn.execute("COMMIT")
            n = groups * group
            commit = (conn.spent["COMMIT"] + conn.spent["BEGIN"]) / n / 1000
            statements = sum(v for k, v in conn.spent.items() if k not in ("COMMIT", "BEGIN")) / n / 1000
            if group == 15:
                for name, spent in conn.spent.most_common():
                    if name not in ("COMMIT", "BEGIN"):
                        print(f"  {spent / n / 1000:6.1f} us  {name}")
                print(f"  {job_cpu / n / 1000 - statements:6.1f} us  Python between them (the rows into statements)")
            writes = job_cpu / n / 1000
            print(f"  groups of {group:2d}: {writes:6.1f} us the alert's writes + {commit:6.1f} us its share "
                  f"of the commit = {writes + commit:6.1f} us")
        raw.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=6000, help="alerts written at each group size (bounded)")
    args = ap.parse_args()
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    loop_stages()
    writer_stages(min(args.alerts, 50_000))
    print("load average after:  {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
