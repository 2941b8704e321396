"""Accepting new alerts: the rows of an alert, its items and deliveries and its ``accepted`` event made where the
request is handled (:func:`prepare_alert`: the JSON and AES-GCM work), and the alerts waiting together inserted by
the store's writer with one multi-row statement per table (:func:`accept_prepared`, a batched write:
:meth:`alertnode.store.backend.Store.write_batched`; with SQLite it runs in the writer process,
store/writer_process.py). A repeated ``uniqueId`` is answered the first alert's response and writes nothing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alertnode.domain import DeliveryState
from alertnode.store import eventlog
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher

_CHUNK = 500  # bound variables per IN (...) query


@dataclass(frozen=True)
class NewAlert:
    alert_ref: str
    client_ref: str
    unique_id: str | None
    created_at: float
    publish_at: float | None
    status: str
    expires_at: float | None
    end_at: float | None
    quiet: dict[str, Any] | None
    callback_url: str | None
    notification: bool
    notification_type: str
    link_ref: str | None
    email_subject_ref: str | None
    schedule_id: str | None
    request: dict[str, Any]
    response: dict[str, Any]


@dataclass(frozen=True)
class NewItem:
    idx: int
    alert_type: str
    tag: str
    params: dict[str, Any]
    content: bytes | None
    requested: int
    accepted: int


@dataclass(frozen=True)
class NewDelivery:
    item_idx: int
    alert_type: str
    contact_id: str | None
    address: str
    lookups: dict[str, str]
    token: str


def response_for_unique_id(conn: Conn, unique_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT response FROM alerts WHERE unique_id = ?", (unique_id,)).fetchone()
    return json.loads(row[0]) if row else None


_ALERT_COLUMNS_IN = ("alert_ref, client_ref, unique_id, created_at, publish_at, status, expires_at, end_at, quiet,"
                     " callback_url, notification, notification_type, link_ref, email_subject_ref, schedule_id,"
                     " request, response")
_ITEM_COLUMNS_IN = "alert_ref, idx, alert_type, tag, params, content, requested, accepted"
_DELIVERY_COLUMNS_IN = ("alert_ref, item_id, alert_type, contact_id, address, address_ix, lookups, token, state,"
                        " due_at, updated_at")
_EVENT_COLUMNS_IN = "seq, alert_ref, delivery_id, kind, state, at, final, notify, data"


PORTABLE_DELIVERIES = 200


@dataclass(frozen=True)
class PreparedAlert:
    """A new alert as the rows that store it, made by :func:`prepare_alert` where the request is handled (its
    JSON and AES-GCM work done there), so that the store's writer only inserts them: :func:`accept_prepared`
    inserts the alerts waiting together with one statement per table."""

    alert_ref: str
    unique_id: str | None
    response: dict[str, Any]
    alert_row: tuple[Any, ...]
    item_rows: tuple[tuple[Any, ...], ...]
    delivery_rows: tuple[tuple[int, tuple[Any, ...]], ...]
    """(item idx, the row's columns after ``item_id``)"""
    event_row: tuple[Any, ...]
    """the ``accepted`` event's columns after ``seq``"""
    callback_url: str | None
    info_row: tuple[Any, ...] | None
    group_rows: tuple[tuple[str, str], ...]
    after: Callable[[Conn], None] | None
    """what else goes into the alert's transaction once it is stored (the link it opens, its images)"""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # pickled as the class and its fields (to the writer process): a third of a dataclass's default cost
        return (PreparedAlert, (self.alert_ref, self.unique_id, self.response, self.alert_row, self.item_rows,
                                self.delivery_rows, self.event_row, self.callback_url, self.info_row, self.group_rows,
                                self.after))

    @property
    def portable(self) -> bool:
        """Plain data of a modest size (no ``after``, at most :data:`PORTABLE_DELIVERIES` deliveries), which a
        writer in another process may insert (alertnode.store.writer_process)."""
        return self.after is None and len(self.delivery_rows) <= PORTABLE_DELIVERIES


def prepare_alert(cipher: Cipher, alert: NewAlert, items: Sequence[NewItem], deliveries: Sequence[NewDelivery],
                  due_at: float, *, info: Any = None,
                  after: Callable[[Conn], None] | None = None) -> PreparedAlert:
    """The rows of a new alert, its items and deliveries and its ``accepted`` event; ``info``: its
    :class:`alertnode.store.marks.AlertInfo` (category, appData, groups), stored with it."""
    ref = alert.alert_ref
    alert_row = (ref, alert.client_ref, alert.unique_id, alert.created_at, alert.publish_at, alert.status,
                 alert.expires_at, alert.end_at, json.dumps(alert.quiet) if alert.quiet else None, alert.callback_url,
                 int(alert.notification), alert.notification_type, alert.link_ref, alert.email_subject_ref,
                 alert.schedule_id, cipher.encrypt_json(alert.request), json.dumps(alert.response))
    item_rows = tuple((ref, item.idx, item.alert_type, item.tag, cipher.encrypt_json(item.params),
                       cipher.encrypt(item.content) if item.content is not None else None, item.requested,
                       item.accepted) for item in items)
    queued = DeliveryState.QUEUED.value
    delivery_rows = tuple((d.item_idx, (d.alert_type, d.contact_id, cipher.encrypt_str(d.address),
                                        cipher.index(d.address), cipher.encrypt_json(d.lookups) if d.lookups else None,
                                        d.token, queued, due_at, alert.created_at))
                          for d in deliveries)
    settings = (alert.callback_url, alert.notification, alert.notification_type)
    visible = eventlog.is_visible(settings, "accepted", None, final=False, notify=True)
    event_row = (ref, None, "accepted", None, alert.created_at, 0, int(visible),
                 cipher.encrypt_json({"deliveries": len(deliveries)}))
    info_row = None
    group_rows: tuple[tuple[str, str], ...] = ()
    if info is not None:
        info_row = (ref, info.category, cipher.encrypt_json(info.app_data) if info.app_data is not None else None)
        group_rows = tuple((ref, g) for g in dict.fromkeys(info.groups))
    return PreparedAlert(ref, alert.unique_id, alert.response, alert_row, item_rows, delivery_rows, event_row,
                         alert.callback_url if visible else None, info_row, group_rows, after)


def insert_alert(conn: Conn, cipher: Cipher, alert: NewAlert, items: Sequence[NewItem],
                 deliveries: Sequence[NewDelivery], due_at: float) -> bool:
    """Store the alert with its items and deliveries; False (nothing written) when its ``unique_id`` is
    taken already, by another node at the same moment too (the database's unique index decides)."""
    return insert_prepared(conn, [prepare_alert(cipher, alert, items, deliveries, due_at)])[0]


def insert_prepared(conn: Conn, batch: Sequence[PreparedAlert]) -> list[bool]:
    """Store the alerts of ``batch`` with one multi-row statement per table; for each, whether it was stored
    (False: its ``unique_id`` is taken, by an alert stored before, one earlier in the batch or another
    node's at the same moment: the database's unique index decides)."""
    if conn.dialect.shared:  # another node may store the same unique_id at this moment: the index decides
        inserted = {row[0] for row in _insert_rows(conn, "alerts", _ALERT_COLUMNS_IN, [p.alert_row for p in batch],
                                                   " ON CONFLICT (unique_id) DO NOTHING RETURNING alert_ref")}
        stored = [p for p in batch if p.alert_ref in inserted]
    else:
        # SQLite: this writer is the only one, so a look first tells which unique_ids are taken, and the rows go
        # in without RETURNING (each row it answers is a step of its own, each step a hand-over of the GIL)
        stored = _not_taken(conn, batch)
        inserted = {p.alert_ref for p in stored}
        _insert_rows(conn, "alerts", _ALERT_COLUMNS_IN, [p.alert_row for p in stored])
    if not stored:
        return [False] * len(batch)
    item_rows = [r for p in stored for r in p.item_rows]
    if conn.dialect.shared:
        item_ids = {(row[1], int(row[2])): int(row[0]) for row in _insert_rows(
            conn, "items", _ITEM_COLUMNS_IN, item_rows, " RETURNING id, alert_ref, idx")}
    else:  # the one writer numbers the items itself (as INTEGER PRIMARY KEY would: after the largest)
        first = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0])
        item_ids = {(r[0], int(r[1])): first + n for n, r in enumerate(item_rows)}
        _insert_rows(conn, "items", "id, " + _ITEM_COLUMNS_IN,
                     [(item_ids[(r[0], int(r[1]))], *r) for r in item_rows])
    _insert_rows(conn, "deliveries", _DELIVERY_COLUMNS_IN,
                 [(p.alert_ref, item_ids[(p.alert_ref, idx)], *row) for p in stored for idx, row in p.delivery_rows])
    seq = conn.next_seqs(len(stored))  # last: with PostgreSQL this holds the event counter until the commit
    _insert_rows(conn, "events", _EVENT_COLUMNS_IN, [(seq + n, *p.event_row) for n, p in enumerate(stored)])
    outbox = [(seq + n, p.alert_ref, p.callback_url, p.event_row[4])
              for n, p in enumerate(stored) if p.callback_url]
    if outbox:
        _insert_rows(conn, "outbox", "event_seq, alert_ref, url, next_at", outbox)
    infos = [p.info_row for p in stored if p.info_row is not None]
    if infos:
        _insert_rows(conn, "alert_info", "alert_ref, category, app_data", infos)
    groups = [g for p in stored for g in p.group_rows]
    if groups:
        _insert_rows(conn, "alert_groups", "alert_ref, group_id", groups)
    for p in stored:
        if p.after is not None:
            p.after(conn)
    return [p.alert_ref in inserted for p in batch]


def _not_taken(conn: Conn, batch: Sequence[PreparedAlert]) -> list[PreparedAlert]:
    """The alerts of ``batch`` whose ``unique_id`` (if any) is neither stored nor earlier in the batch."""
    wanted = sorted({p.unique_id for p in batch if p.unique_id is not None})
    taken: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        taken.update(row[0] for row in conn.execute(
            f"SELECT unique_id FROM alerts WHERE unique_id IN ({','.join('?' * len(chunk))})", chunk))
    out = []
    for p in batch:
        if p.unique_id is None or p.unique_id not in taken:
            out.append(p)
            if p.unique_id is not None:
                taken.add(p.unique_id)
    return out


def accept_prepared(conn: Conn, batch: Sequence[PreparedAlert]) -> list[dict[str, Any]]:
    """Store the alerts of ``batch`` (a batched write: :meth:`alertnode.store.backend.Store.write_batched`) and
    answer each one's response; for an alert whose ``unique_id`` is stored already (or comes earlier in the
    batch), nothing is written and the first alert's response is answered."""
    wanted = sorted({p.unique_id for p in batch if p.unique_id is not None})
    taken: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        for row in conn.execute(f"SELECT unique_id, response FROM alerts WHERE unique_id IN"
                                f" ({','.join('?' * len(chunk))})", chunk):
            taken[row[0]] = json.loads(row[1])
    new: list[PreparedAlert] = []
    for p in batch:
        if p.unique_id is None or p.unique_id not in taken:
            new.append(p)
            if p.unique_id is not None:
                taken[p.unique_id] = p.response  # a second one in this batch gets the first one's answer
    answers: dict[str, dict[str, Any]] = {}
    for p, ok in zip(new, insert_prepared(conn, new), strict=True):
        if ok:
            answers[p.alert_ref] = p.response
        else:
            assert p.unique_id is not None
            first = response_for_unique_id(conn, p.unique_id)  # committed by another node meanwhile
            assert first is not None
            taken[p.unique_id] = answers[p.alert_ref] = first
    return [answers.get(p.alert_ref) or taken[p.unique_id or ""] for p in batch]


_ROWS_PER_INSERT = 32


def _insert_rows(conn: Conn, table: str, columns: str, rows: Sequence[tuple[Any, ...]],
                 tail: str = "") -> list[Any]:
    """INSERT ``rows`` into ``table`` with a few multi-row statements (up to 32 rows each): a statement per
    table for the alerts a group commit holds, instead of one per row (each a round trip with PostgreSQL, and
    with SQLite a hand-over of the GIL to the event loop and back). The rows ``tail``'s RETURNING answers.
    Many rows without RETURNING (a big alert's deliveries) go by executemany (psycopg pipelines it)."""
    out: list[Any] = []
    if not tail and len(rows) > 4 * _ROWS_PER_INSERT:  # a big alert's deliveries: executemany is faster then
        conn.executemany(_insert_sql(table, columns, len(rows[0]), 1, ""), rows)
        return out
    for i in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[i : i + _ROWS_PER_INSERT]
        cur = conn.execute(_insert_sql(table, columns, len(chunk[0]), len(chunk), tail),
                           [v for row in chunk for v in row])
        if tail:
            out.extend(cur.fetchall())
    return out


@functools.lru_cache(maxsize=512)
def _insert_sql(table: str, columns: str, width: int, count: int, tail: str) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES " + ",".join([one] * count) + tail
