"""``collectevents`` never skips an event: with several writers at once (several nodes on one PostgreSQL,
each with its own writer connection), an event number is never committed after a larger one was visible,
so a reader that has passed cursor N never later finds an event numbered below N.

The writers here hold their transaction open for a random moment after taking their numbers (as a busy
group commit does), which is what makes a plain sequence commit out of order."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from alertnode.store import eventlog, repo
from alertnode.store.backend import Conn, Store
from alertnode.store.crypto import Cipher

CIPHER = Cipher(b"k" * 32)
WRITERS = 4
EVENTS_PER_WRITER = 60


def _alert(conn: Conn) -> None:
    alert = repo.NewAlert("A", "c", None, 1.0, 1.0, "running", None, None, None, None, True, "all", None, None,
                          None, {}, {})
    repo.insert_alert(conn, CIPHER, alert, [repo.NewItem(0, "sms", "t", {}, b"hi", 0, 0)], [], 1.0)


def test_a_reader_never_finds_an_event_below_its_cursor(open_store: Callable[[], Store]) -> None:
    writers = [open_store() for _ in range(WRITERS)]  # one writer connection each: as many nodes
    reader = open_store()
    writers[0].write_sync(_alert)
    errors: list[BaseException] = []

    def write(store: Store, seed: int) -> None:
        rng = random.Random(seed)

        def one(conn: Conn) -> None:
            eventlog.insert_event(conn, CIPHER, "A", None, "note", None, time.time(), {}, final=False)
            time.sleep(rng.random() * 0.01)  # the transaction stays open after taking its number

        try:
            for _ in range(EVENTS_PER_WRITER):
                store.write_sync(one)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(writers)]
    for t in threads:
        t.start()
    seen: set[int] = set()
    skipped: set[int] = set()
    cursor = 0

    def read_all() -> None:
        nonlocal cursor
        rows = reader.read_sync(lambda c: eventlog.events_since(c, CIPHER, cursor, 1000, "A"))
        for row in rows:
            seen.add(row.seq)
        if rows:
            cursor = rows[-1].seq

    def check() -> None:
        # every event at or below the cursor must have been seen by now
        below = reader.read_sync(lambda c: [r[0] for r in c.execute(
            "SELECT seq FROM events WHERE alert_ref = 'A' AND kind = 'note' AND seq <= ?", (cursor,))])
        skipped.update(set(below) - seen)

    while any(t.is_alive() for t in threads):
        read_all()
        check()
    for t in threads:
        t.join()
    read_all()
    check()
    assert not errors
    assert skipped == set(), f"{len(skipped)} events were committed below a cursor already passed"
    assert len(seen) == WRITERS * EVENTS_PER_WRITER + 1  # and the alert's own "accepted"
