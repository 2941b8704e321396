"""Repository functions of the core tables, one function each: accepting alerts, dispatch, stored content and
links, correlation, expiry and purge.

Functions take a :class:`~alertnode.store.backend.Conn` (the writer's or a reader's, through ``Store.write``/``read``)
and the ``Cipher`` where contact details are involved, and return plain dataclasses. With them in the store
package: ``eventlog`` (channel events: recorded, folded into deliveries, read back), ``commands`` (publish,
hold, resume, cancel), ``views`` (what the API and operations read), ``outbox`` (callbacks owed) and
``storms`` (the tables of the events API). No module outside the store runs SQL on these tables.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alertnode.domain import (
    DELIVERY_CLOSURE,
    AlertStatus,
    ChannelEvent,
    Closure,
    DeliveryState,
)
from alertnode.store import eventlog
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher


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


@dataclass(frozen=True)
class DueDelivery:
    id: int
    alert_ref: str
    item_id: int
    alert_type: str
    contact_id: str | None
    address: str
    lookups: dict[str, str]
    token: str
    attempts: int
    expires_at: float | None
    created_at: float
    client_ref: str
    email_subject_ref: str | None
    quiet: dict[str, Any] | None
    end_at: float | None
    claim: int = 0
    """the claim number this node holds the delivery under (store/cluster.py: fencing)"""


@dataclass(frozen=True)
class ItemRow:
    id: int
    alert_ref: str
    idx: int
    alert_type: str
    tag: str
    params: dict[str, Any]
    content: bytes | None


# -- alerts --------------------------------------------------------------------------------------


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


_CHUNK = 500  # bound variables per IN (...) query
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


@dataclass(frozen=True)
class NewLink:
    """The link (``linkedAlerts.linkRef``) a first alert opens, with the contact-group its followers use."""

    link_ref: str
    contact_group: dict[str, Any]
    expires_at: float | None


def accept_alert(conn: Conn, cipher: Cipher, alert: NewAlert, items: Sequence[NewItem],
                 deliveries: Sequence[NewDelivery], due_at: float, link: NewLink | None) -> dict[str, Any]:
    """Store an accepted alert (and the link it opens) and answer its response; for an alert whose
    ``unique_id`` is stored already, nothing is written and the first alert's response is answered."""
    after = None
    if link is not None:
        def after(c: Conn, link: NewLink = link) -> None:
            insert_link(c, cipher, link.link_ref, alert.alert_ref, link.contact_group, alert.created_at,
                        link.expires_at)
    return accept_prepared(conn, [prepare_alert(cipher, alert, items, deliveries, due_at, after=after)])[0]


def queued_counts(conn: Conn) -> dict[str, int]:
    rows = conn.execute(
        "SELECT alert_type, COUNT(*) FROM deliveries WHERE state IN ('queued','in_progress') GROUP BY alert_type"
    ).fetchall()
    return {r[0]: r[1] for r in rows}


@dataclass(frozen=True)
class AlertRow:
    """An alert's own columns (no contact data)."""

    alert_ref: str
    client_ref: str
    created_at: float
    stored_status: AlertStatus
    """The status the user controls (running, on_hold, cancelled); see ``domain.alert_status``."""
    publish_at: float | None
    expires_at: float | None
    link_ref: str | None
    email_subject_ref: str | None
    response: dict[str, Any]


_ALERT_COLUMNS = ("alert_ref, client_ref, created_at, status, publish_at, expires_at, link_ref, email_subject_ref,"
                  " response")


def _alert_row(r: Any) -> AlertRow:
    return AlertRow(r[0], r[1], r[2], AlertStatus(r[3]), r[4], r[5], r[6], r[7], json.loads(r[8]))


def get_alert(conn: Conn, alert_ref: str) -> AlertRow | None:
    row = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_ref = ?", (alert_ref,)).fetchone()
    return _alert_row(row) if row is not None else None


def open_delivery_sql(alias: str) -> str:
    """An SQL condition, true for a delivery (table alias ``alias``) that holds its alert open: the rule of
    ``domain.DELIVERY_CLOSURE`` and ``domain.delivery_open`` as SQL, so that counts over many alerts stay
    one query."""
    def states(closure: Closure) -> str:
        return ", ".join(f"'{s.value}'" for s, c in DELIVERY_CLOSURE.items() if c is closure)

    parts = []
    if states(Closure.OPEN):
        parts.append(f"{alias}.state IN ({states(Closure.OPEN)})")
    if states(Closure.UNTIL_FINAL):
        parts.append(f"({alias}.state IN ({states(Closure.UNTIL_FINAL)}) AND {alias}.final_at IS NULL)")
    return "(" + " OR ".join(parts) + ")" if parts else "(1 = 0)"


# -- dispatch ------------------------------------------------------------------------------------


def requeue_in_progress(conn: Conn, cipher: Cipher, now: float, owner: str = "") -> int:
    """Deliveries this node (``owner``) had handed to a channel when it stopped go back to the queue (those of
    other nodes sharing the store are theirs: they come back when their lease runs out)."""
    rows = conn.execute("SELECT id, alert_ref FROM deliveries WHERE state = 'in_progress'"
                        " AND (lease_owner IS NULL OR lease_owner = ?)", (owner,)).fetchall()
    for row in rows:
        conn.execute("UPDATE deliveries SET state = 'queued', due_at = ?, updated_at = ?, final_at = NULL,"
                     " lease_owner = NULL, lease_until = NULL, claim = claim + 1 WHERE id = ?", (now, now, row[0]))
        eventlog.insert_event(conn, cipher, row[1], row[0], "requeued", DeliveryState.QUEUED.value, now,
                     {"reason": "node restarted while the delivery was in progress"}, final=False, notify=False)
    return len(rows)


def has_due(conn: Conn, alert_type: str, now: float) -> bool:
    row = conn.execute(
        "SELECT 1 FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE d.alert_type = ? AND d.state = 'queued' AND d.due_at <= ? AND a.status = 'running'"
        " AND a.publish_at IS NOT NULL AND a.publish_at <= ? LIMIT 1",
        (alert_type, now, now),
    ).fetchone()
    return row is not None


def has_expired(conn: Conn, now: float) -> bool:
    row = conn.execute(
        "SELECT 1 FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE d.state = 'queued' AND ((a.expires_at IS NOT NULL AND a.expires_at <= ?)"
        " OR (a.end_at IS NOT NULL AND a.end_at <= ?)) LIMIT 1",
        (now, now),
    ).fetchone()
    return row is not None


def claim_due(conn: Conn, cipher: Cipher, alert_type: str, now: float,
              limit: int, owner: str = "", lease_s: float = 30.0) -> list[DueDelivery]:
    """Move up to ``limit`` due deliveries of running alerts to in_progress, leased to ``owner`` for
    ``lease_s`` under a new claim number, and return them. Nodes claiming at the same moment take
    different rows (``Dialect.skip_locked``)."""
    rows = conn.execute(
        "SELECT d.id, d.alert_ref, d.item_id, d.alert_type, d.contact_id, d.address, d.lookups, d.token,"
        " d.attempts, a.expires_at, a.created_at, a.client_ref, a.email_subject_ref, a.quiet, a.end_at, d.claim"
        " FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE d.alert_type = ? AND d.state = 'queued' AND d.due_at <= ? AND a.status = 'running'"
        " AND a.publish_at IS NOT NULL AND a.publish_at <= ?"
        f" ORDER BY d.due_at, d.id LIMIT ?{conn.dialect.skip_locked('d')}",
        (alert_type, now, now, limit),
    ).fetchall()
    if not rows:
        return []
    conn.executemany(
        "UPDATE deliveries SET state = 'in_progress', attempts = attempts + 1, updated_at = ?, lease_owner = ?,"
        " lease_until = ?, claim = claim + 1 WHERE id = ?",
        [(now, owner, now + lease_s, r[0]) for r in rows],
    )
    out = []
    for r in rows:
        out.append(DueDelivery(
            id=r[0], alert_ref=r[1], item_id=r[2], alert_type=r[3], contact_id=r[4],
            address=cipher.decrypt_str(r[5]), lookups=cipher.decrypt_json(r[6]) if r[6] else {}, token=r[7],
            attempts=r[8] + 1, expires_at=r[9], created_at=r[10], client_ref=r[11], email_subject_ref=r[12],
            quiet=json.loads(r[13]) if r[13] else None, end_at=r[14], claim=int(r[15]) + 1,
        ))
    return out


def waiting_elsewhere(conn: Conn, cipher: Cipher, alert_type: str, owner: str, now: float,
                      limit: int = 1000) -> list[DueDelivery]:
    """Deliveries of ``alert_type`` another node holds in progress (an inboundCall waiting for its call),
    of running alerts still alive: what this node watches for an answer that reaches it instead."""
    rows = conn.execute(
        "SELECT d.id, d.alert_ref, d.item_id, d.alert_type, d.contact_id, d.address, d.lookups, d.token,"
        " d.attempts, a.expires_at, a.created_at, a.client_ref, a.email_subject_ref, a.quiet, a.end_at, d.claim"
        " FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE d.alert_type = ? AND d.state = 'in_progress' AND d.lease_owner IS NOT NULL AND d.lease_owner != ?"
        " AND a.status = 'running' AND (a.expires_at IS NULL OR a.expires_at > ?) ORDER BY d.id LIMIT ?",
        (alert_type, owner, now, limit),
    ).fetchall()
    return [DueDelivery(
        id=r[0], alert_ref=r[1], item_id=r[2], alert_type=r[3], contact_id=r[4], address=cipher.decrypt_str(r[5]),
        lookups=cipher.decrypt_json(r[6]) if r[6] else {}, token=r[7], attempts=r[8], expires_at=r[9],
        created_at=r[10], client_ref=r[11], email_subject_ref=r[12], quiet=json.loads(r[13]) if r[13] else None,
        end_at=r[14], claim=int(r[15])) for r in rows]


def defer(conn: Conn, ids: Iterable[int], due_at: float, now: float) -> None:
    """Hand claimed deliveries back to the queue untouched (quiet hours, channel full)."""
    conn.executemany(
        "UPDATE deliveries SET state = 'queued', attempts = attempts - 1, due_at = ?, updated_at = ?,"
        " lease_owner = NULL, lease_until = NULL WHERE id = ?",
        [(due_at, now, i) for i in ids],
    )


def get_item(conn: Conn, cipher: Cipher, item_id: int) -> ItemRow:
    r = conn.execute("SELECT id, alert_ref, idx, alert_type, tag, params, content FROM items WHERE id = ?",
                     (item_id,)).fetchone()
    return ItemRow(r[0], r[1], r[2], r[3], r[4], cipher.decrypt_json(r[5]),
                   cipher.decrypt(r[6]) if r[6] is not None else None)


def expire_due(conn: Conn, cipher: Cipher, now: float) -> int:
    """Open deliveries of alerts past their lifetime or hard end become expired."""
    rows = conn.execute(
        "SELECT d.id, d.alert_ref FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE d.state = 'queued' AND ((a.expires_at IS NOT NULL AND a.expires_at <= ?)"
        " OR (a.end_at IS NOT NULL AND a.end_at <= ?)) LIMIT 5000",
        (now, now),
    ).fetchall()
    for delivery_id, _alert_ref in rows:
        eventlog.apply_event(conn, cipher, ChannelEvent(delivery_id, "expired", now, DeliveryState.EXPIRED,
                                               {"reason": "lifetime or end time reached"}, final=True))
    return len(rows)


# -- stored content and links --------------------------------------------------------------------


def put_stored(conn: Conn, cipher: Cipher, uuid: str, kind: str, value: Any, now: float,
               expires_at: float | None) -> None:
    conn.execute("INSERT INTO stored (uuid, kind, data, created_at, expires_at) VALUES (?,?,?,?,?)",
                 (uuid, kind, cipher.encrypt_json(value), now, expires_at))


def get_stored(conn: Conn, cipher: Cipher, uuids: Iterable[str], now: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for uuid in set(uuids):
        row = conn.execute(
            "SELECT kind, data FROM stored WHERE uuid = ? AND (expires_at IS NULL OR expires_at > ?)",
            (uuid.lower(), now),
        ).fetchone()
        if row:
            out[uuid] = (row[0], cipher.decrypt_json(row[1]))
    return out


def get_link(conn: Conn, cipher: Cipher, link_ref: str, now: float) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT first_alert, contact_group, expires_at FROM links WHERE link_ref = ?"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (link_ref, now),
    ).fetchone()
    if row is None:
        return None
    return {"first_alert": row[0], "contact_group": cipher.decrypt_json(row[1]), "expires_at": row[2]}


def insert_link(conn: Conn, cipher: Cipher, link_ref: str, first_alert: str,
                contact_group: dict[str, Any], now: float, expires_at: float | None) -> None:
    conn.execute("DELETE FROM links WHERE link_ref = ? AND expires_at IS NOT NULL AND expires_at <= ?",
                 (link_ref, now))
    conn.execute(
        "INSERT INTO links (link_ref, first_alert, contact_group, created_at, expires_at) VALUES (?,?,?,?,?)",
        (link_ref, first_alert, cipher.encrypt_json(contact_group), now, expires_at),
    )


def responded_in_link(conn: Conn, link_ref: str) -> dict[str, frozenset[str]]:
    rows = conn.execute(
        "SELECT d.contact_id, d.responded_via FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE a.link_ref = ? AND d.contact_id IS NOT NULL AND d.responded_via != ''",
        (link_ref,),
    ).fetchall()
    out: dict[str, set[str]] = {}
    for contact_id, via in rows:
        out.setdefault(contact_id, set()).update(v for v in via.split(",") if v)
    return {k: frozenset(v) for k, v in out.items()}


# -- correlation ---------------------------------------------------------------------------------


def find_recent(conn: Conn, cipher: Cipher, alert_type: str, address: str, at: float) -> int | None:
    row = conn.execute(
        "SELECT d.id FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE d.address_ix = ? AND d.alert_type = ? AND d.state NOT IN ('queued','expired')"
        " AND a.status != 'cancelled' AND (a.expires_at IS NULL OR a.expires_at > ?)"
        " ORDER BY d.updated_at DESC, d.id DESC LIMIT 1",
        (cipher.index(address), alert_type, at),
    ).fetchone()
    return int(row[0]) if row else None


def acknowledged_by_link(conn: Conn, delivery_id: int) -> bool:
    """Whether the recipient of ``delivery_id`` has acknowledged through its short link's button."""
    row = conn.execute("SELECT 1 FROM deliveries WHERE id = ? AND responded_via LIKE '%,shortlink,%'",
                       (delivery_id,)).fetchone()
    return row is not None


def find_by_token(conn: Conn, token: str, at: float) -> int | None:
    row = conn.execute(
        "SELECT d.id FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        " WHERE d.token = ? AND (a.expires_at IS NULL OR a.expires_at > ?)",
        (token, at),
    ).fetchone()
    return int(row[0]) if row else None


def expire_open(conn: Conn, cipher: Cipher, now: float) -> int:
    """Deliveries still open in alerts past their lifetime (a call still up, work a channel never reported
    back) become expired, with their final event, so that :func:`purge_expired` can delete the alert."""
    rows = conn.execute(
        "SELECT d.id FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref"
        f" WHERE a.expires_at IS NOT NULL AND a.expires_at <= ? AND {open_delivery_sql('d')} LIMIT 5000",
        (now,),
    ).fetchall()
    eventlog.apply_events(conn, cipher, [ChannelEvent(r[0], "expired", now, DeliveryState.EXPIRED,
                                             {"reason": "lifetime reached while the delivery was open"}, final=True)
                                for r in rows])
    return len(rows)


def purge_expired(conn: Conn, now: float) -> int:
    """Delete alerts (and everything hanging off them) past their lifetime, and stale stored items. An alert
    with an open delivery is never deleted: :func:`expire_open` closes it first, with its final event."""
    refs = [r[0] for r in conn.execute(
        "SELECT a.alert_ref FROM alerts a WHERE a.expires_at IS NOT NULL AND a.expires_at <= ? AND NOT EXISTS"
        f" (SELECT 1 FROM deliveries d WHERE d.alert_ref = a.alert_ref AND {open_delivery_sql('d')}) LIMIT 500",
        (now,))]
    for ref in refs:
        conn.execute("DELETE FROM outbox WHERE event_seq IN (SELECT seq FROM events WHERE alert_ref = ?)", (ref,))
        conn.execute("DELETE FROM events WHERE alert_ref = ?", (ref,))
        conn.execute("DELETE FROM alerts WHERE alert_ref = ?", (ref,))
    conn.execute("DELETE FROM stored WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
    conn.execute("DELETE FROM links WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
    return len(refs)
