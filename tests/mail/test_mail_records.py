"""The mail channel's own rows (node/mail/records.py) in a real SQLite store with every migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alertnode.mail import records
from alertnode.store.db import SqliteStore as Store


def test_recipients_are_kept_until_their_alert_ends_and_seen_ids_for_a_month(tmp_path: Path) -> None:
    store = Store(tmp_path / "node.sqlite", synchronous="OFF")
    store.open()
    try:
        now = 1_800_000_000.0

        def fill(conn: sqlite3.Connection) -> None:
            records.remember_sent(conn, 1, "ix1", now, now + 60)
            records.remember_sent(conn, 2, "ix2", now, None)  # lifetime 0d: kept as its delivery is
            records.remember_sent(conn, 3, "ix3", now, now - 1)
            conn.execute("INSERT INTO mail_inbound_seen VALUES ('old', ?)", (now - records.SEEN_KEEP_S - 1,))
            conn.execute("INSERT INTO mail_inbound_seen VALUES ('new', ?)", (now - 86400,))

        store.write_sync(fill)
        assert store.read_sync(lambda c: records.recipient_index(c, 1)) == "ix1"
        assert store.write_sync(lambda c: records.purge(c, now)) == 2
        kept = [store.read_sync(lambda c, d=d: records.recipient_index(c, d)) for d in (1, 2, 3)]
        assert kept == ["ix1", "ix2", None]
        seen = store.read_sync(lambda c: [r[0] for r in c.execute("SELECT message_id FROM mail_inbound_seen")])
        assert seen == ["new"]
    finally:
        store.close()
