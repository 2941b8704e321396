"""The event log: every channel event recorded once, folded into its delivery's state and queued for the
alert's callback in the same transaction; read back in order by collectevents and the callback sender.

Which events a client sees follows the alert's ``notification`` settings; a report never moves a delivery to
a lower rank (``domain.STATE_RANK``); a retry puts it back in the queue; a final event is remembered
(``deliveries.final_at``) for the lifecycle rule of ``domain.DELIVERY_CLOSURE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alertnode.contract.lifetime import iso_time
from alertnode.domain import SANDBOX_MARK, STATE_RANK, ChannelEvent, DeliveryState, InboundMessage
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher

RESPONSE_KINDS = frozenset({"replied", "clicked", "key", "recipientOk", "recipientNotOk", "responded"})


@dataclass(frozen=True)
class EventRow:
    seq: int
    alert_ref: str
    client_ref: str
    delivery_id: int | None
    alert_type: str | None
    tag: str | None
    recipient: str | None
    contact_id: str | None
    kind: str
    state: str | None
    at: float
    final: bool
    detail: dict[str, Any]

    def as_dict(self, *, sandbox: bool = False) -> dict[str, Any]:
        """The event as collectevents, the callbacks and the timeline show it; ``sandbox``: the node runs in
        sandbox mode, and the event says so like its sandbox channels' events (``detail.sandbox``)."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "at": iso_time(self.at),
            "alertRef": self.alert_ref,
            "clientRef": self.client_ref,
            "event": self.kind,
            "final": self.final,
        }
        for key, value in (("alertType", self.alert_type), ("tag", self.tag), ("recipient", self.recipient),
                           ("contact", self.contact_id), ("state", self.state), ("deliveryId", self.delivery_id)):
            if value is not None:
                out[key] = value
        detail = {**self.detail, SANDBOX_MARK: True} if sandbox else self.detail
        if detail:
            out["detail"] = detail
        return out


def _alert_for_events(conn: Conn, alert_ref: str) -> tuple[Any, ...] | None:
    row = conn.execute("SELECT callback_url, notification, notification_type FROM alerts WHERE alert_ref = ?",
                       (alert_ref,)).fetchone()
    return tuple(row) if row is not None else None


def is_visible(alert: tuple[Any, ...] | None, kind: str, state: str | None, *, final: bool, notify: bool) -> bool:
    """Whether an event reaches collectevents and the callback (the alert's notification settings)."""
    if not (notify and alert is not None and alert[1]):
        return False
    ntype = alert[2]
    if ntype == "final":
        return final
    if ntype == "responses":
        return kind in RESPONSE_KINDS or state == DeliveryState.RESPONDED.value
    return True


def insert_event(conn: Conn, cipher: Cipher, alert_ref: str, delivery_id: int | None, kind: str,
                 state: str | None, at: float, detail: dict[str, Any], *, final: bool,
                 notify: bool = True, alert_settings: tuple[str | None, bool, str] | None = None) -> int:
    """``alert_settings``: the alert's (callback_url, notification, notification_type) when the caller has them at
    hand (the alert was inserted in this transaction), saving a read per event."""
    alert = alert_settings if alert_settings is not None else _alert_for_events(conn, alert_ref)
    visible = is_visible(alert, kind, state, final=final, notify=notify)
    data = cipher.encrypt_json(detail) if detail else None
    seq = conn.next_seqs(1)  # last: with PostgreSQL this holds the event counter until the commit
    conn.execute(
        "INSERT INTO events (seq, alert_ref, delivery_id, kind, state, at, final, notify, data)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (seq, alert_ref, delivery_id, kind, state, at, int(final), int(visible), data),
    )
    if visible and alert is not None and alert[0]:
        conn.execute("INSERT INTO outbox (event_seq, alert_ref, url, next_at) VALUES (?,?,?,?)",
                     (seq, alert_ref, alert[0], at))
    return seq


def apply_event(conn: Conn, cipher: Cipher, event: ChannelEvent) -> int | None:
    """Record a channel's event and move the delivery's state. None if the delivery is unknown."""
    return apply_events(conn, cipher, [event])[0]


_CHUNK = 500  # bound variables per IN (...) query
# A retry (``retry_after``) puts a delivery back in the queue from these states, unless its final event
# was reported: handed to the channel, sent but failed for now, or a call answered that reached no
# success (no key) and has attempts left.
_RETRIABLE = frozenset({DeliveryState.IN_PROGRESS, DeliveryState.SENT, DeliveryState.ANSWERED})
_RETRIABLE_SQL = ", ".join(f"'{s.value}'" for s in sorted(_RETRIABLE, key=lambda s: s.value))

# The rank rule again in each UPDATE, on the row as it stands when written: with several nodes, two reports
# about one delivery (the 'sent' of the node that submitted it and the 'delivered' of the receipt another
# node received) can be in flight at once, each deciding from the row it read first; PostgreSQL re-checks an
# UPDATE's WHERE on the newest row once the other commits (READ COMMITTED), so the higher rank stays.
_RANK_SQL = "CASE state " + " ".join(f"WHEN '{s.value}' THEN {r}" for s, r in STATE_RANK.items()) + " END"


def apply_events(conn: Conn, cipher: Cipher, events: Sequence[ChannelEvent],
                 claims: Mapping[int, int] | None = None) -> list[int | None]:
    """:func:`apply_event` for a batch, in order, with the statements a batch can share shared: the
    deliveries and their alerts are read once, the events and callbacks written with one statement each.
    Each event's seq (None for an unknown delivery) in the order given.

    ``claims``: the claim number under which the reporting node holds each delivery it works on
    (store/cluster.py). An event about a delivery now under another claim (its lease ran out and another
    node took it) is kept, with ``detail.staleClaim``, but changes nothing and reaches no client: a node
    that was only slow cannot report over the new owner's attempt."""
    ids = sorted({e.delivery_id for e in events})
    deliveries: dict[int, list[Any]] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for row in conn.execute(f"SELECT id, alert_ref, state, alert_type, final_at IS NOT NULL, claim FROM deliveries"
                                f" WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            deliveries[row[0]] = [row[1], DeliveryState(row[2]), row[3], bool(row[4]), int(row[5])]
    alerts: dict[str, tuple[Any, ...] | None] = {}
    # each delivery at most once in the batch (an SMPP window's acks): the row updates commute, so they go as
    # one executemany per statement (a pipeline with PostgreSQL) instead of one round trip per event
    batched = len(ids) == len(events)
    updates: dict[str, list[tuple[Any, ...]]] = {}

    def update(sql: str, params: tuple[Any, ...]) -> None:
        if batched:
            updates.setdefault(sql, []).append(params)
        else:
            conn.execute(sql, params)

    numbered: list[int | None] = []  # per event: its index in event_rows (None: unknown delivery)
    event_rows: list[list[Any]] = []
    outbox_rows: list[list[Any]] = []
    for event in events:
        found = deliveries.get(event.delivery_id)
        if found is None:
            numbered.append(None)
            continue
        alert_ref, current, alert_type, final_reported, claim = found
        if claims is not None and event.delivery_id in claims and claims[event.delivery_id] != claim:
            if alert_ref not in alerts:
                alerts[alert_ref] = _alert_for_events(conn, alert_ref)
            numbered.append(len(event_rows))
            detail = {**event.detail, "staleClaim": claims[event.delivery_id]}
            event_rows.append([0, alert_ref, event.delivery_id, event.kind, None, event.at, 0, 0,
                               cipher.encrypt_json(detail)])
            continue
        new_state: DeliveryState | None = None
        if event.retry_after is not None and current in _RETRIABLE and not final_reported:
            update("UPDATE deliveries SET state = 'queued', due_at = ?, updated_at = ?, final_at = NULL,"
                   " lease_owner = NULL, lease_until = NULL"
                   f" WHERE id = ? AND final_at IS NULL AND state IN ({_RETRIABLE_SQL})",
                   (event.at + event.retry_after, event.at, event.delivery_id))
            new_state = DeliveryState.QUEUED
        elif event.retry_after is None and event.state is not None and (
            STATE_RANK[event.state] >= STATE_RANK[current] or current is DeliveryState.IN_PROGRESS
        ):
            new_state = event.state
            via = ""
            if event.state is DeliveryState.RESPONDED and not event.declines:
                via = "shortlink" if event.kind == "clicked" else alert_type
                if alert_type == "inboundCall":
                    via = "call"
            # the delivery leaves the node's hands (store/cluster.py HELD_STATES): its lease goes
            held = new_state in (DeliveryState.IN_PROGRESS, DeliveryState.ANSWERED) and not event.final
            update(
                "UPDATE deliveries SET state = ?, updated_at = ?,"
                " responded_via = CASE WHEN ? = '' OR responded_via LIKE '%,' || ? || ',%' THEN responded_via"
                " ELSE responded_via || ',' || ? || ',' END,"
                " lease_owner = CASE WHEN ? = 1 THEN lease_owner ELSE NULL END"
                f" WHERE id = ? AND (state = 'in_progress' OR {_RANK_SQL} <= ?)",
                (new_state.value, event.at, via, via, via, int(held), event.delivery_id, STATE_RANK[new_state]),
            )
        if event.final and new_state is not DeliveryState.QUEUED:
            update("UPDATE deliveries SET final_at = ?, lease_owner = NULL WHERE id = ?",
                   (event.at, event.delivery_id))
            found[3] = True
        if new_state is not None:
            found[1] = new_state  # a later event of the batch for this delivery sees it
        if alert_ref not in alerts:
            alerts[alert_ref] = _alert_for_events(conn, alert_ref)
        alert = alerts[alert_ref]
        state = new_state.value if new_state else None
        visible = is_visible(alert, event.kind, state, final=event.final, notify=True)
        numbered.append(len(event_rows))
        event_rows.append([0, alert_ref, event.delivery_id, event.kind, state, event.at, int(event.final),
                           int(visible), cipher.encrypt_json(dict(event.detail)) if event.detail else None])
        if visible and alert is not None and alert[0]:
            outbox_rows.append([len(event_rows) - 1, alert_ref, alert[0], event.at])
    for sql, rows in updates.items():
        conn.executemany(sql, rows)
    if not event_rows:
        return [None] * len(numbered)
    # numbers are taken last, once every delivery row is written: with PostgreSQL this holds the event
    # counter (which orders the commits of every node) for the least time
    first = conn.next_seqs(len(event_rows))
    for i, row in enumerate(event_rows):
        row[0] = first + i
    for orow in outbox_rows:
        orow[0] = first + orow[0]
    conn.executemany("INSERT INTO events (seq, alert_ref, delivery_id, kind, state, at, final, notify, data)"
                     " VALUES (?,?,?,?,?,?,?,?,?)", event_rows)
    if outbox_rows:
        conn.executemany("INSERT INTO outbox (event_seq, alert_ref, url, next_at) VALUES (?,?,?,?)", outbox_rows)
    return [None if i is None else first + i for i in numbered]


def insert_inbound(conn: Conn, cipher: Cipher, msg: InboundMessage) -> int:
    row = conn.execute(
        "INSERT INTO inbound (channel, at, data) VALUES (?,?,?) RETURNING id",
        (msg.channel, msg.at, cipher.encrypt_json({"sender": msg.sender, "recipient": msg.recipient,
                                                   "text": msg.text, "detail": dict(msg.detail)})),
    ).fetchone()
    return int(row[0])


def events_since(conn: Conn, cipher: Cipher, cursor: int, limit: int,
                 alert_ref: str | None = None) -> list[EventRow]:
    sql = (
        "SELECT e.seq, e.alert_ref, a.client_ref, e.delivery_id, d.alert_type, i.tag, d.address, d.contact_id,"
        " e.kind, e.state, e.at, e.final, e.data"
        " FROM events e JOIN alerts a ON a.alert_ref = e.alert_ref"
        " LEFT JOIN deliveries d ON d.id = e.delivery_id LEFT JOIN items i ON i.id = d.item_id"
        " WHERE e.seq > ? AND e.notify = 1"
    )
    args: list[Any] = [cursor]
    if alert_ref is not None:
        sql += " AND e.alert_ref = ?"
        args.append(alert_ref)
    sql += " ORDER BY e.seq LIMIT ?"
    args.append(limit)
    return [_event_row(cipher, r) for r in conn.execute(sql, args)]


def events_by_seq(conn: Conn, cipher: Cipher, seqs: Sequence[int]) -> list[EventRow]:
    marks = ",".join("?" * len(seqs))
    rows = conn.execute(
        "SELECT e.seq, e.alert_ref, a.client_ref, e.delivery_id, d.alert_type, i.tag, d.address, d.contact_id,"
        " e.kind, e.state, e.at, e.final, e.data"
        " FROM events e JOIN alerts a ON a.alert_ref = e.alert_ref"
        " LEFT JOIN deliveries d ON d.id = e.delivery_id LEFT JOIN items i ON i.id = d.item_id"
        f" WHERE e.seq IN ({marks}) ORDER BY e.seq",
        list(seqs),
    )
    return [_event_row(cipher, r) for r in rows]


def _event_row(cipher: Cipher, r: Any) -> EventRow:
    return EventRow(
        seq=r[0], alert_ref=r[1], client_ref=r[2], delivery_id=r[3], alert_type=r[4], tag=r[5],
        recipient=cipher.decrypt_str(r[6]) if r[6] is not None else None, contact_id=r[7], kind=r[8],
        state=r[9], at=r[10], final=bool(r[11]), detail=cipher.decrypt_json(r[12]) if r[12] else {},
    )


def last_seq(conn: Conn) -> int:
    row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
    return int(row[0])
