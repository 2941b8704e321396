#!/usr/bin/env python3
"""SMS throughput benchmark against the SMSC simulator (tools/peers/smsc_sim.py), all on 127.0.0.1.

In one run:
1. baseline: a bare smpplib windowed loop (bind, submit_sm with up to WINDOW outstanding, read the
   responses) – submit_sm/s;
2. the node end to end: ``alertnode serve`` as a subprocess, one sendalert of RECIPIENTS recipients,
   timed from the POST until every submit_sm_resp is persisted in ``sms_part``;
3. the node with a configured throttle of THROTTLE segments/s: the measured rate (first to last
   acknowledged part) against the configured one.

Floors (issue 3): end to end ≥ 2,000 msg/s and ≥ half the baseline; throttle within 5 %.
Receipts are off in 1 and 2 (registered_delivery 0) so both measure the submit path alike; a run with
receipts on is printed for information.

``--store postgresql`` (issue 13) runs step 2 once more with the node's store on PostgreSQL (a private
cluster started for the run, as the tests do, tests/pg.py) and prints it against the SQLite run of the
same moment; floor: ≥ 0.5 × the SQLite rate.

    .venv/bin/python tools/bench/sms.py [--recipients 20000] [--window 50] [--store postgresql]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# this folder holds email.py (another benchmark), which would shadow the standard library's package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import smpplib.client  # noqa: E402
import smpplib.consts  # noqa: E402
import smpplib.smpp  # noqa: E402

from tests.nodeproc import API_KEY, RunningNode  # noqa: E402
from tests.peers.smsc import Smsc  # noqa: E402


def bare_smpplib(port: int, count: int, window: int) -> float:
    client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id="bench", password="bench")
    outstanding = 0
    sent = acked = 0
    t0 = time.perf_counter()
    while acked < count:
        while sent < count and outstanding < window:
            pdu = smpplib.smpp.make_pdu(
                "submit_sm",
                client=client,
                source_addr_ton=5,
                source_addr="BENCH",
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=f"4477009{sent:05d}",
                short_message=b"bench message",
                registered_delivery=0,
            )
            client.send_pdu(pdu)
            sent += 1
            outstanding += 1
        resp = client.read_pdu()
        if resp.command == "submit_sm_resp":
            outstanding -= 1
            acked += 1
    elapsed = time.perf_counter() - t0
    client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
    client.disconnect()
    return count / elapsed


def acked_parts_pg(url: str) -> tuple[int, float | None, float | None]:
    import psycopg

    from tests.pg import PASSWORD

    with psycopg.connect(url, password=PASSWORD) as conn:
        row = conn.execute("SELECT COUNT(*), MIN(acked_at), MAX(acked_at) FROM sms_part").fetchone()
    assert row is not None
    return int(row[0]), row[1], row[2]


def acked_parts(db: Path) -> tuple[int, float | None, float | None]:
    if not db.exists():
        return 0, None, None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT COUNT(*), MIN(acked_at), MAX(acked_at) FROM sms_part").fetchone()
    except sqlite3.OperationalError:
        return 0, None, None
    finally:
        conn.close()
    return int(row[0]), row[1], row[2]


def node_run(workdir: Path, smsc: Smsc, recipients: int, link: dict[str, Any], timeout: float,
             pg_url: str = "") -> tuple[float, float]:
    """(seconds from POST to the last persisted submit_sm_resp, measured rate first→last ack)."""
    config: dict[str, Any] = {"sms": {"links": [link]}}
    env: dict[str, str] = {}
    if pg_url:
        from tests.pg import PASSWORD

        config["store"] = {"url": pg_url}
        env["ALERTNODE__store__password"] = PASSWORD
    node = RunningNode(workdir, config, env)
    node.start()
    try:
        numbers = [f"+4477009{i:05d}" for i in range(recipients)]
        body = {
            "version": "latest",
            "apiKey": API_KEY,
            "clientRef": "bench",
            "lifetime": "1h",
            "alert": [
                {
                    "alertType": "sms",
                    "tag": "bench",
                    "content": "Bench alert: please ignore.",
                    "contentEncoding": "utf8",
                    "sender": "ALERTS",
                    "recipients": numbers,
                }
            ],
        }
        db = workdir / "data" / "alertnode.db"
        t0 = time.perf_counter()
        resp = node.post("/api/json/sendalert", body)
        if resp.status_code != 200:
            raise SystemExit(f"sendalert failed: {resp.status_code} {resp.text[:500]}")
        deadline = time.monotonic() + timeout
        while True:
            n, first, last = acked_parts_pg(pg_url) if pg_url else acked_parts(db)
            if n >= recipients:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {n} of {recipients} acknowledged after {timeout:.0f} s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        assert first is not None and last is not None
        rate = (n - 1) / (last - first) if last > first else float("inf")
        return elapsed, rate
    finally:
        node.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipients", type=int, default=20000)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--throttle", type=float, default=100.0)
    ap.add_argument("--throttle-messages", type=int, default=1000)
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                    help="postgresql: also run the node end to end on PostgreSQL, against SQLite")
    args = ap.parse_args()
    os.environ.setdefault("SMPP34_WORKER_THREADS", "1")
    ok = True
    with tempfile.TemporaryDirectory(prefix="alertnode-bench-sms-") as tmp:
        work = Path(tmp)
        smsc = Smsc(work)
        smsc.log_path = Path(os.devnull)  # no per-submit log: it would cost the SMSC time
        smsc.start()
        try:
            base = bare_smpplib(smsc.port, args.recipients, args.window)
            print(f"baseline  bare smpplib, window {args.window}: {base:8.0f} submit_sm/s ({args.recipients} messages)")

            link = smsc.link(window=args.window, registered_delivery=False)
            elapsed, _ = node_run(work / "e2e", smsc, args.recipients, link, timeout=300)
            e2e = args.recipients / elapsed
            print(
                f"node      sendalert → every submit_sm_resp persisted: {e2e:8.0f} msg/s "
                f"({args.recipients} recipients in {elapsed:.2f} s)"
            )
            floor = max(2000.0, base / 2)
            verdict = "ok" if e2e >= floor else "BELOW FLOOR"
            ok &= e2e >= floor
            print(
                f"          floor max(2000, baseline/2) = {floor:.0f} msg/s: {verdict} "
                f"({100 * e2e / base:.0f} % of baseline)"
            )

            if args.store == "postgresql":
                from tests.pg import PgCluster

                pg = PgCluster().start()
                try:
                    link = smsc.link(window=args.window, registered_delivery=False)
                    elapsed, _ = node_run(work / "pg", smsc, args.recipients, link, timeout=300,
                                          pg_url=pg.new_database())
                finally:
                    pg.destroy()
                on_pg = args.recipients / elapsed
                verdict = "ok" if on_pg >= e2e / 2 else "BELOW FLOOR"
                ok &= on_pg >= e2e / 2
                print(f"node      the same on PostgreSQL: {on_pg:8.0f} msg/s ({args.recipients} recipients in "
                      f"{elapsed:.2f} s), {100 * on_pg / e2e:.0f} % of SQLite's; floor 50 %: {verdict}")

            link = smsc.link(window=args.window)  # receipts on, as in production
            elapsed, _ = node_run(work / "receipts", smsc, args.recipients, link, timeout=300)
            print(
                f"node      same with delivery receipts requested and handled: "
                f"{args.recipients / elapsed:8.0f} msg/s (for information, no floor)"
            )

            link = smsc.link(window=args.window, registered_delivery=False, throughput=args.throttle)
            _, rate = node_run(
                work / "throttle",
                smsc,
                args.throttle_messages,
                link,
                timeout=args.throttle_messages / args.throttle * 3 + 60,
            )
            err = 100 * (rate - args.throttle) / args.throttle
            verdict = "ok" if abs(err) <= 5 else "OUT OF BOUNDS"
            ok &= abs(err) <= 5
            print(
                f"throttle  configured {args.throttle:.0f} segments/s, measured {rate:.1f}/s "
                f"({err:+.1f} %, ±5 % allowed): {verdict}"
            )
        finally:
            smsc.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
