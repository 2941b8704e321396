#!/usr/bin/env python3
"""Benchmark of the reads behind the alert collection and the console, on a filled SQLite store.

Fills a store with ``--alerts`` alerts of ``--recipients`` SMS deliveries each, created over the last hour, every
delivery sent and delivered and one in three answered (about half a million events at the defaults),
plus one alert of 10,000 recipients in two locales. Then prints the median and the worst of ``--runs`` runs of:

  * baseline: the status page's latest 25 alerts (``views.latest_alerts``, the query the node had before);
  * the collection's first page of 25, unfiltered; filtered by status (running) and by tag; the 20th page by cursor;
  * the activity per minute of the last 60 minutes (the console's first load) and of the last 2 (its refresh);
  * the resource of the 10,000-recipient alert (``views.alert_view``: every body sent per locale, first 1,000
    recipients).

No floors: the numbers are for the report and for the next change to compare with.

Usage: .venv/bin/python tools/bench/console_reads.py [--alerts 20000] [--recipients 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# this folder holds email.py (the e-mail benchmark): keep it from shadowing the standard library
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from alertnode.domain import AlertStatus, ChannelEvent, DeliveryState  # noqa: E402
from alertnode.store import eventlog, listing, marks, repo, timeline, views  # noqa: E402
from alertnode.store.crypto import Cipher  # noqa: E402
from alertnode.store.db import SqliteStore as Store  # noqa: E402

CIPHER = Cipher(b"b" * 32)


def fill(store: Store, alerts: int, recipients: int, now: float) -> str:
    """The alerts, their deliveries and events; the ref of the big alert."""
    def batch(conn: Any, first: int, count: int) -> None:
        events: list[ChannelEvent] = []
        for i in range(first, first + count):
            created = now - 3600 + 3600 * i / alerts
            ref = f"a{i:07d}"
            alert = repo.NewAlert(ref, f"client-{i % 50}", None, created, created, "running", None, None, None, None,
                                  True, "all", None, None, None, {}, {"success": True, "alertRef": ref})
            item = repo.NewItem(0, "sms", f"tag-{i % 20}", {}, b"Boiler 3 pressure high", recipients, recipients)
            deliveries = [repo.NewDelivery(0, "sms", None, f"+4477009{(i * recipients + k) % 100000:05d}", {},
                                           f"t{i}-{k}") for k in range(recipients)]
            repo.insert_alert(conn, CIPHER, alert, [item], deliveries, created)
            marks.record_info(conn, CIPHER, ref, marks.AlertInfo("user", None, [f"set:team-{i % 7}"]))
            ids = [r[0] for r in conn.execute("SELECT id FROM deliveries WHERE alert_ref = ?", (ref,))]
            for k, d in enumerate(ids):
                events.append(ChannelEvent(d, "sent", created + 1, DeliveryState.SENT))
                events.append(ChannelEvent(d, "delivered", created + 5, DeliveryState.DELIVERED))
                if k % 3 == 0:
                    events.append(ChannelEvent(d, "replied", created + 30, DeliveryState.RESPONDED))
            if i % 4:  # three in four are over; the others still have a delivery waiting
                continue
            conn.execute("UPDATE deliveries SET state = 'queued' WHERE id = ?", (ids[-1],))
        eventlog.apply_events(conn, CIPHER, events)

    step = 500
    for first in range(0, alerts, step):
        store.write_sync(lambda c, first=first: batch(c, first, min(step, alerts - first)), timeout=600)

    def big(conn: Any) -> None:
        ref = "big"
        alert = repo.NewAlert(ref, "big", None, now - 60, now - 60, "running", None, None, None, None, True, "all",
                              None, None, None, {}, {"success": True, "alertRef": ref})
        item = repo.NewItem(0, "sms", "big", {"body": {"de": "Kessel 3 Druck hoch", "fr": "Chaudière 3"}},
                            b"Boiler 3 pressure high", 10000, 10000)
        locales = ("de-DE", "fr-FR", "en")
        deliveries = [repo.NewDelivery(0, "sms", f"p{k}", f"+447700{k:06d}", {"locale": locales[k % 3]}, f"big-{k}")
                      for k in range(10000)]
        repo.insert_alert(conn, CIPHER, alert, [item], deliveries, now - 60)
        marks.record_info(conn, CIPHER, ref, marks.AlertInfo("user", None, []))
        ids = [r[0] for r in conn.execute("SELECT id FROM deliveries WHERE alert_ref = ?", (ref,))]
        eventlog.apply_events(conn, CIPHER, [ChannelEvent(d, "sent", now - 50, DeliveryState.SENT) for d in ids])

    store.write_sync(big, timeout=600)
    return "big"


def measure(store: Store, runs: int, fn: Callable[[Any], Any]) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        store.read_sync(fn)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--recipients", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        store = Store(Path(tmp) / "a.db", synchronous="OFF")
        store.open()
        try:
            t0 = time.perf_counter()
            big = fill(store, args.alerts, args.recipients, now)
            events = store.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            print(f"store: {args.alerts} alerts x {args.recipients} recipients + one of 10,000; {events} events "
                  f"(filled in {time.perf_counter() - t0:.0f} s)")
            page20 = store.read_sync(lambda c: listing.list_alerts(c, listing.AlertFilter(), now, 19 * 25, None))
            cursor = page20.cursor
            running = listing.AlertFilter(statuses=frozenset({AlertStatus.RUNNING}))
            start = (now // 60) * 60
            rows: list[tuple[str, Callable[[Any], Any]]] = [
                ("baseline: status page, latest 25", lambda c: views.latest_alerts(c, 25, now)),
                ("collection, first page of 25", lambda c: listing.list_alerts(c, listing.AlertFilter(), now, 25,
                                                                               "key-x")),
                ("collection, status=running", lambda c: listing.list_alerts(c, running, now, 25, "key-x")),
                ("collection, tag=tag-7", lambda c: listing.list_alerts(c, listing.AlertFilter(tag="tag-7"), now, 25,
                                                                        "key-x")),
                ("collection, 20th page by cursor", lambda c: listing.list_alerts(
                    c, listing.AlertFilter(after=cursor), now, 25, "key-x")),
                ("activity, 60 minutes", lambda c: timeline.activity(c, start - 59 * 60, 60, ["sms"])),
                ("activity, 2 minutes", lambda c: timeline.activity(c, start - 60, 2, ["sms"])),
                ("resource of 10,000 recipients", lambda c: views.alert_view(c, CIPHER, big, 1000, 0)),
            ]
            print(f"{'read':40} {'median ms':>10} {'worst ms':>10}   ({args.runs} runs)")
            for name, fn in rows:
                median, worst = measure(store, args.runs, fn)
                print(f"{name:40} {median:10.1f} {worst:10.1f}")
        finally:
            store.close()


if __name__ == "__main__":
    main()
