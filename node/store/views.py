"""Reads for the API and operations: the alert resource, the latest alerts, the counts behind /metrics, the
target of a short link. Each returns dataclasses; an alert's status is left to ``domain.alert_status``,
fed the facts read here (the stored status, ``publish_at`` and whether a delivery is still open). The
collection, groups and originators are read by ``listing``, timelines and activity by ``timeline``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.contract.bodies import UNDETERMINED, chosen_body
from alertnode.domain import AlertStatus, DeliveryState, alert_status, is_published
from alertnode.store import listing, repo, storms
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher
from alertnode.store.marks import is_read
from alertnode.store.rich import OpenCounts, open_counts

# states of a delivery that went out: its body was sent (the resource's body.<locale>)
SENT_STATES = (DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.ANSWERED, DeliveryState.RESPONDED)


@dataclass(frozen=True)
class Response:
    """An event that made a delivery RESPONDED (a reply, a key, a click), with its detail."""

    kind: str
    at: float
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class RecipientView:
    delivery_id: int
    recipient: str
    contact_id: str | None
    state: str
    attempts: int
    updated_at: float
    responses: list[Response]


@dataclass(frozen=True)
class ItemView:
    alert_type: str
    tag: str
    requested: int
    accepted: int
    recipients: list[RecipientView]
    """One page of the item's recipients (``limit``/``offset``), in delivery order."""
    bodies: Mapping[str, str] = field(default_factory=dict)
    """locale -> text for each locale at least one recipient was sent (``und``: the item's content); the
    text as given, before per-recipient lookups"""


@dataclass(frozen=True)
class AlertView:
    """Everything the alert resource shows (GET /api/json/alerts/{alertRef})."""

    alert: repo.AlertRow
    state_counts: Mapping[str, int]
    """delivery state -> count, over every item"""
    open_deliveries: int
    """deliveries still holding the alert open (``domain.delivery_open``)"""
    clicked: int
    first_of_link: str | None
    """the first alert of the alert's link (``linkRef``), when that is another alert"""
    coalesced: int
    originators: list[str]
    items: list[ItemView]
    category: str = "user"
    app_data: str | None = None
    groups: list[str] = field(default_factory=list)
    """group ids: ``route:<name>`` of an events route, ``set:<name>`` of each contact set named"""
    read: bool = False
    """whether the reader asked about (an API key's fingerprint) has marked the alert read"""
    opens: OpenCounts = field(default_factory=OpenCounts)
    """its e-mail and SMS deliveries opened (``rich.open_counts``)"""

    def status(self, now: float) -> AlertStatus:
        a = self.alert
        return alert_status(a.stored_status, is_published(a.publish_at, now), self.open_deliveries > 0)


def alert_view(conn: Conn, cipher: Cipher, alert_ref: str, limit: int, offset: int, *,
               reader: str | None = None) -> AlertView | None:
    """The resource's facts; ``read`` is ``reader``'s (None: nobody's, False)."""
    alert = repo.get_alert(conn, alert_ref)
    if alert is None:
        return None
    counts = {str(s): int(n) for s, n in conn.execute(
        "SELECT state, COUNT(*) FROM deliveries WHERE alert_ref = ? GROUP BY state", (alert_ref,))}
    open_count = conn.execute(
        f"SELECT COUNT(*) FROM deliveries d WHERE d.alert_ref = ? AND {repo.open_delivery_sql('d')}",
        (alert_ref,)).fetchone()[0]
    clicked = conn.execute("SELECT COUNT(*) FROM deliveries WHERE alert_ref = ? AND responded_via LIKE "
                           "'%,shortlink,%'", (alert_ref,)).fetchone()[0]
    first_of_link = None
    if alert.link_ref:
        first = conn.execute("SELECT alert_ref FROM alerts WHERE link_ref = ? ORDER BY created_at LIMIT 1",
                             (alert.link_ref,)).fetchone()
        if first and first[0] != alert_ref:
            first_of_link = str(first[0])
    items = []
    for item in conn.execute("SELECT id, alert_type, tag, requested, accepted, params, content FROM items"
                             " WHERE alert_ref = ? ORDER BY idx", (alert_ref,)).fetchall():
        rows = conn.execute(
            "SELECT id, contact_id, address, state, attempts, updated_at FROM deliveries WHERE item_id = ?"
            " ORDER BY id LIMIT ? OFFSET ?", (item[0], limit, offset)).fetchall()
        responses: dict[int, list[Response]] = {}
        if rows:
            ids = [r[0] for r in rows]
            marks = ",".join("?" * len(ids))
            for ev in conn.execute(
                f"SELECT delivery_id, kind, at, data FROM events WHERE delivery_id IN ({marks})"
                " AND state = 'responded' ORDER BY seq", ids):
                responses.setdefault(ev[0], []).append(
                    Response(ev[1], ev[2], cipher.decrypt_json(ev[3]) if ev[3] else {}))
        recipients = [RecipientView(r[0], cipher.decrypt_str(r[2]), r[1], r[3], r[4], r[5], responses.get(r[0], []))
                      for r in rows]
        bodies = _bodies_sent(conn, cipher, item[0], cipher.decrypt_json(item[5]),
                              cipher.decrypt(item[6]) if item[6] is not None else None)
        items.append(ItemView(item[1], item[2], item[3], item[4], recipients, bodies))
    info = conn.execute("SELECT category, app_data FROM alert_info WHERE alert_ref = ?", (alert_ref,)).fetchone()
    category, app_data = ("user", None) if info is None else (
        str(info[0]), cipher.decrypt_json(info[1]) if info[1] is not None else None)
    return AlertView(alert, counts, int(open_count), int(clicked), first_of_link,
                     storms.coalesced(conn, alert_ref), storms.originators(conn, alert_ref), items,
                     category, app_data, listing.groups_of(conn, alert_ref, alert.link_ref),
                     is_read(conn, alert_ref, reader), open_counts(conn, alert_ref))


def _bodies_sent(conn: Conn, cipher: Cipher, item_id: int, params: Mapping[str, Any],
                 content: bytes | None) -> dict[str, str]:
    """The texts an item's recipients were sent, by locale (``contract.bodies``: the dispatcher's rule, fed
    each sent recipient's ``locale`` lookup). Audio content has no text: it reports nothing."""
    if params.get("voiceFormat") not in (None, "tts"):
        return {}
    bodies: Mapping[str, str] = params.get("body") or {}
    text = content.decode("utf-8", "replace") if content else None
    in_sent = ",".join("?" * len(SENT_STATES))
    sent = [s.value for s in SENT_STATES]
    chosen: dict[str | None, None] = {}
    if not bodies:  # every recipient gets the content: is there one who was sent it?
        if conn.execute(f"SELECT 1 FROM deliveries WHERE item_id = ? AND state IN ({in_sent}) LIMIT 1",
                        (item_id, *sent)).fetchone() is not None:
            chosen[None] = None
    else:
        if conn.execute(f"SELECT 1 FROM deliveries WHERE item_id = ? AND state IN ({in_sent}) AND lookups IS NULL"
                        " LIMIT 1", (item_id, *sent)).fetchone() is not None:
            chosen[chosen_body(bodies, None, text is not None)] = None
        for (blob,) in conn.execute(f"SELECT lookups FROM deliveries WHERE item_id = ? AND state IN ({in_sent})"
                                    " AND lookups IS NOT NULL", (item_id, *sent)):
            locale = cipher.decrypt_json(blob).get("locale")
            chosen[chosen_body(bodies, locale, text is not None)] = None
    out: dict[str, str] = {}
    for key in chosen:
        if key is not None:
            out[key] = str(bodies[key])
        elif text is not None:
            out[UNDETERMINED] = text
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class AlertSummary:
    """One line of the status page's latest alerts (no contact data)."""

    alert_ref: str
    client_ref: str
    created_at: float
    status: AlertStatus
    deliveries: Mapping[str, int]
    """delivery state -> count, in state order"""


def latest_alerts(conn: Conn, limit: int, now: float) -> list[AlertSummary]:
    """The newest alerts with their status and delivery counts by state."""
    rows = conn.execute(
        f"SELECT a.alert_ref, a.client_ref, a.created_at, a.status, a.publish_at,"
        f" EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_ref = a.alert_ref AND {repo.open_delivery_sql('d')})"
        " FROM alerts a ORDER BY a.created_at DESC, a.alert_ref DESC LIMIT ?",
        (limit,),
    ).fetchall()
    out: list[AlertSummary] = []
    for ref, client_ref, created_at, stored, publish_at, any_open in rows:
        counts = {str(s): int(n) for s, n in conn.execute(
            "SELECT state, count(*) FROM deliveries WHERE alert_ref = ? GROUP BY state ORDER BY state", (ref,))}
        status = alert_status(AlertStatus(stored), is_published(publish_at, now), bool(any_open))
        out.append(AlertSummary(ref, client_ref, created_at, status, counts))
    return out


@dataclass(frozen=True)
class StoreCounts:
    alerts: Mapping[str, int] = field(default_factory=dict)
    """alert status -> count"""
    deliveries: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(alert_type, state) -> count"""
    outbox_pending: int = 0
    outbox_dead: int = 0
    inbound_unmatched: int = 0


def store_counts(conn: Conn, now: float) -> StoreCounts:
    """The counts /metrics reports, one query per table: alerts are grouped by the facts their status is
    derived from, and each group's status computed once by ``domain.alert_status``."""
    alerts: dict[str, int] = {}
    for stored, published, any_open, n in conn.execute(
        # domain.is_published and domain.delivery_open as SQL: the alerts fall into a few groups
        f"SELECT a.status, a.publish_at IS NOT NULL AND a.publish_at <= ?,"
        f" EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_ref = a.alert_ref AND {repo.open_delivery_sql('d')}),"
        " count(*) FROM alerts a GROUP BY 1, 2, 3",
        (now,),
    ):
        status = alert_status(AlertStatus(stored), bool(published), bool(any_open))
        alerts[status.value] = alerts.get(status.value, 0) + int(n)
    deliveries = {
        (str(t), str(s)): int(n)
        for t, s, n in conn.execute("SELECT alert_type, state, count(*) FROM deliveries GROUP BY alert_type, state")
    }
    pending, dead = conn.execute(
        "SELECT count(*) FILTER (WHERE dead = 0), count(*) FILTER (WHERE dead != 0) FROM outbox"
    ).fetchone()
    inbound = conn.execute("SELECT count(*) FROM inbound").fetchone()[0]
    return StoreCounts(alerts, deliveries, int(pending), int(dead), int(inbound))


@dataclass(frozen=True)
class ShortLinkTarget:
    """The delivery behind a per-recipient short link (``/s/{token}``)."""

    delivery_id: int
    recipient: str
    contact_id: str | None
    alert_ref: str
    client_ref: str
    alert_type: str
    params: Mapping[str, Any]
    """the item's fields (its ``lookups.shortlink``: onward ``url``, ``reference``)"""


def shortlink_target(conn: Conn, cipher: Cipher, token: str, now: float) -> ShortLinkTarget | None:
    """The delivery with this token, if its alert is neither cancelled nor past its lifetime."""
    row = conn.execute(
        "SELECT d.id, d.address, d.contact_id, d.alert_ref, a.client_ref, i.params, i.alert_type"
        " FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref JOIN items i ON i.id = d.item_id"
        " WHERE d.token = ? AND a.status != 'cancelled' AND (a.expires_at IS NULL OR a.expires_at > ?)",
        (token, now),
    ).fetchone()
    if row is None:
        return None
    return ShortLinkTarget(row[0], cipher.decrypt_str(row[1]), row[2], row[3], row[4], row[6],
                           cipher.decrypt_json(row[5]))
