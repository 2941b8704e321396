"""Copying a whole store to another (``alertnode store copy``, and the backup of a PostgreSQL store into an
SQLite file): every table that holds data, rows as they are (contact details stay encrypted with the same
key, so the target needs the same ``secret.key``), in one read snapshot of the source.

The target must be new (migrated, no alert yet). Tables go in the order their references need; ids and
event numbers are kept, and the target's counters are moved past them afterwards so new rows never reuse
one. A table the schema has and :data:`TABLES` lacks makes the copy refuse to start (tests/store checks
the list against both backends' schemas), so a new table is never silently left behind.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alertnode.errors import StoreError
from alertnode.store.backend import Conn, Store

log = logging.getLogger(__name__)

TABLES: tuple[str, ...] = (
    "alerts", "items", "deliveries", "events", "outbox", "stored", "links", "inbound",
    "sms_message", "sms_part", "sms_udh_ref", "mail_inbound_seen", "mail_sent",
    "event_storms", "event_originators", "event_contacted", "event_suppressed", "event_escalations",
    "mail_dsn_wait", "alert_info", "alert_groups", "alert_reads", "alert_images", "delivery_views",
)
"""Every table with data worth keeping, parents before children."""

NOT_COPIED: frozenset[str] = frozenset({"schema_migrations", "cluster_nodes", "cluster_locks", "event_counter",
                                        "sqlite_sequence"})
"""Bookkeeping each store keeps for itself (its migrations, live nodes and their leases, counters)."""

IDENTITY_COLUMNS: dict[str, str] = {"items": "id", "deliveries": "id", "inbound": "id", "event_suppressed": "id",
                                    "event_escalations": "id"}

_CHUNK = 2000


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def tables_of(conn: Conn) -> set[str]:
    """The tables of a store's schema."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return {str(r[0]) for r in conn.execute(sql)}


def _columns(conn: Conn, table: str) -> list[str]:
    cur: Any = conn.execute(f"SELECT * FROM {table} LIMIT 0")
    return [d[0] for d in cur.description]


def copy(source: Store, target: Store, progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy every row of ``source`` into ``target`` (both open). StoreError when the target holds alerts
    already or a table is unknown to this copy."""
    if target.read_sync(lambda c: c.execute("SELECT count(*) FROM alerts").fetchone()[0]):
        raise StoreError(f"{target.describe()} already holds alerts; copy into a new, empty store")
    report = CopyReport()

    def run(conn: Conn) -> None:
        unknown = tables_of(conn) - set(TABLES) - NOT_COPIED
        if unknown:
            raise StoreError(f"the source has tables this copy does not know: {', '.join(sorted(unknown))}")
        for table in TABLES:
            cols = _columns(conn, table)
            names = ", ".join(cols)
            insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})"
            cur = conn.execute(f"SELECT {names} FROM {table}")
            count = 0
            while True:
                rows = [tuple(r) for r in cur.fetchmany(_CHUNK)]
                if not rows:
                    break
                target.write_sync(functools.partial(_insert, insert, rows), timeout=600, notify=False)
                count += len(rows)
            report.rows[table] = count
            if progress is not None:
                progress(table, count)

    source.read_sync(run)
    target.write_sync(_move_counters, timeout=600, notify=False)
    return report


def _insert(sql: str, rows: list[tuple[Any, ...]], conn: Conn) -> None:
    conn.executemany(sql, rows)


def _move_counters(conn: Conn) -> None:
    """New ids and event numbers of the target start past the copied ones."""
    if conn.dialect.name == "sqlite":
        return  # explicit ids move SQLite's rowids and AUTOINCREMENT counter themselves
    for table, column in IDENTITY_COLUMNS.items():
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                     f" COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)")
    conn.execute("UPDATE event_counter SET last_seq = GREATEST(last_seq, (SELECT COALESCE(MAX(seq), 0) FROM events))")
