"""Repository functions of the core tables, one function each: dispatch, stored content and links, correlation,
expiry and purge. Accepting new alerts is ``accept`` (its names are also reachable from here).

Functions take a :class:`~alertnode.store.backend.Conn` (the writer's or a reader's, through ``Store.write``/``read``)
and the ``Cipher`` where contact details are involved, and return plain dataclasses. With them in the store
package: ``eventlog`` (channel events: recorded, folded into deliveries, read back), ``commands`` (publish,
hold, resume, cancel), ``views`` (what the API and operations read), ``outbox`` (callbacks owed) and
``storms`` (the tables of the events API). No module outside the store runs SQL on these tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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
from alertnode.store.accept import PORTABLE_DELIVERIES as PORTABLE_DELIVERIES
from alertnode.store.accept import NewAlert as NewAlert
from alertnode.store.accept import NewDelivery as NewDelivery
from alertnode.store.accept import NewItem as NewItem
from alertnode.store.accept import PreparedAlert as PreparedAlert
from alertnode.store.accept import accept_prepared as accept_prepared
from alertnode.store.accept import insert_alert as insert_alert
from alertnode.store.accept import insert_prepared as insert_prepared
from alertnode.store.accept import prepare_alert as prepare_alert
from alertnode.store.accept import response_for_unique_id as response_for_unique_id
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher


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


@dataclass(frozen=True)
class NewLink:
    """The link (``linkedAlerts.linkRef``) a first alert opens, with the contact-group its followers use."""

    link_ref: str
    contact_group: dict[str, Any]
    expires_at: float | None


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
