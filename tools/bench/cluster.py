#!/usr/bin/env python3
"""Two nodes on one PostgreSQL (issue 13), against the SMSC simulator, all on 127.0.0.1.

Prints, in one run:
  * baseline: one node alone sending RECIPIENTS SMS (POST to every submit_sm_resp persisted), msg/s;
  * aggregate: two nodes, half the recipients accepted by each, msg/s (the SMSC and the database are shared,
    on the same two cores here: no floor, printed for the operator);
  * failover: node A holds work (its link throttled) and is killed with SIGKILL; the time until node B
    submits the first of A's deliveries, and until every one of them is acknowledged.
Floor: failover ≤ lease + 5 s, nothing lost (every recipient acknowledged).

Usage: .venv/bin/python tools/bench/cluster.py [--recipients 10000] [--lease 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# this folder holds email.py (another benchmark), which would shadow the standard library's package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg  # noqa: E402

from alertnode.store.crypto import load_or_create_key  # noqa: E402
from tests.nodeproc import RunningNode  # noqa: E402
from tests.peers.smsc import Smsc  # noqa: E402
from tests.pg import PASSWORD, PgCluster  # noqa: E402


def start_node(work: Path, i: int, url: str, key: Path, link: dict[str, Any], lease: float) -> RunningNode:
    data = work / f"node{i}" / "data"
    data.mkdir(parents=True, exist_ok=True)
    shutil.copy(key, data / "secret.key")
    (data / "secret.key").chmod(0o600)
    config = {"store": {"url": url}, "cluster": {"node_id": f"bench-{i}", "lease_s": lease, "heartbeat_s": lease / 4},
              "sms": {"links": [link]}, "limits": {"queue_capacity": {"sms": 10_000_000}}}
    return RunningNode(work / f"node{i}", config, {"ALERTNODE__store__password": PASSWORD}).start()


def body(numbers: list[str]) -> dict[str, Any]:
    return {"version": "latest", "clientRef": "bench", "lifetime": "1h",
            "alert": [{"alertType": "sms", "tag": "b", "content": "Bench alert: please ignore.", "sender": "ALERTS",
                       "recipients": numbers}]}


def acked(url: str) -> int:
    with psycopg.connect(url, password=PASSWORD) as conn:
        row = conn.execute("SELECT count(*) FROM sms_part").fetchone()
    return int(row[0]) if row else 0


def wait_acked(url: str, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while acked(url) < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {acked(url)} of {n} acknowledged after {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipients", type=int, default=10000)
    ap.add_argument("--lease", type=float, default=10.0)
    args = ap.parse_args()
    os.environ.setdefault("SMPP34_WORKER_THREADS", "1")
    ok = True
    pg = PgCluster().start()
    with tempfile.TemporaryDirectory(prefix="alertnode-bench-cluster-") as tmp:
        work = Path(tmp)
        key = work / "secret.key"
        load_or_create_key(key)
        smsc = Smsc(work)
        smsc.log_path = Path(os.devnull)
        smsc.start()
        nodes: list[RunningNode] = []
        try:
            link = smsc.link(registered_delivery=False, receipt_id_format="same")
            n = args.recipients
            numbers = [f"+4477{i:08d}" for i in range(n)]
            url = pg.new_database()
            nodes = [start_node(work / "one", 0, url, key, link, args.lease)]
            t0 = time.perf_counter()
            assert nodes[0].post("/api/json/sendalert", body(numbers)).status_code == 200
            one = n / (wait_acked(url, n, 300) - t0)
            print(f"baseline   one node on PostgreSQL: {one:8.0f} msg/s ({n} recipients)")
            for node in nodes:
                node.stop()

            url = pg.new_database()
            nodes = [start_node(work / "two", i, url, key, link, args.lease) for i in range(2)]
            time.sleep(args.lease / 4 + 0.5)  # a heartbeat: each knows the other
            t0 = time.perf_counter()
            assert nodes[0].post("/api/json/sendalert", body(numbers[: n // 2])).status_code == 200
            assert nodes[1].post("/api/json/sendalert", body(numbers[n // 2 :])).status_code == 200
            two = n / (wait_acked(url, n, 300) - t0)
            print(f"aggregate  two nodes, half each:   {two:8.0f} msg/s ({100 * two / one:.0f} % of one node)")
            for node in nodes:
                node.stop()

            # failover: A's link sends 200/s, so A holds most of its work when it dies
            url = pg.new_database()
            slow = {**link, "throughput": 200, "throughput_burst": 20}
            a = start_node(work / "fail", 0, url, key, slow, args.lease)
            b = start_node(work / "fail", 1, url, key, slow, args.lease)
            nodes = [a, b]
            m = 2000
            assert a.post("/api/json/sendalert", body(numbers[:m])).status_code == 200
            wait_acked(url, 200, 60)
            killed = time.perf_counter()
            a.kill()
            with psycopg.connect(url, password=PASSWORD, autocommit=True) as conn:
                while True:
                    row = conn.execute("SELECT min(at) FROM events WHERE kind = 'requeued'").fetchone()
                    if row and row[0] is not None:
                        break
                    time.sleep(0.05)
            took_over = time.perf_counter() - killed
            done = wait_acked(url, m, 300) - killed
            lost = m - acked(url)
            verdict = "ok" if took_over <= args.lease + 5 and lost == 0 else "BELOW FLOOR"
            ok &= verdict == "ok"
            print(f"failover   kill -9 of A → B sends A's work after {took_over:5.1f} s (lease {args.lease:g} s, floor "
                  f"lease + 5 s: {verdict}); all {m} acknowledged {done:5.1f} s after the kill, {lost} lost")
        finally:
            for node in nodes:
                node.stop()
            smsc.stop()
            pg.destroy()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
