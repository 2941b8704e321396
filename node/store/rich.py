"""Rich content and opens (migration 0140): the images of alert items, who looked at a delivery, and the
open counts of an alert (sendbird-announcements.txt ``open_count`` / ``open_rate``).

Counting rules (:func:`open_counts`), over the alert's e-mail and SMS deliveries:

* ``sent``: deliveries that went out (sent, unconfirmed, delivered, answered or responded);
* ``opened``: deliveries a person is known to have read: their tracking image (e-mail) or their page (SMS)
  fetched by a person, or a response of the recipient (a reply, a click, a key: whoever answers has read);
* ``previewed``: deliveries fetched only by an image proxy or a scanner (not opened);
* ``open_rate`` = opened / sent (0 when nothing was sent).

The SQL is portable (SQLite and PostgreSQL): no upsert, no SQLite functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher

OPENABLE_TYPES = ("email", "sms")
# the resource's counts.sent (api/resource.py) counts the same states: openRate's denominator is that number
_SENT_STATES = "('sent', 'unconfirmed', 'delivered', 'answered', 'responded')"


@dataclass(frozen=True)
class NewImage:
    item_idx: int
    mime: str
    data: bytes
    sha256: str


@dataclass(frozen=True)
class StoredImage:
    mime: str
    data: bytes
    sha256: str


def put_images(conn: Conn, cipher: Cipher, alert_ref: str, images: Sequence[NewImage]) -> None:
    """The images of a new alert's items, in the transaction that accepts the alert."""
    conn.executemany("INSERT INTO alert_images (alert_ref, item_idx, mime, size, sha256, data) VALUES (?,?,?,?,?,?)",
                     [(alert_ref, i.item_idx, i.mime, len(i.data), i.sha256, cipher.encrypt(i.data)) for i in images])


def get_image(conn: Conn, cipher: Cipher, alert_ref: str, item_idx: int) -> StoredImage | None:
    row = conn.execute("SELECT mime, data, sha256 FROM alert_images WHERE alert_ref = ? AND item_idx = ?",
                       (alert_ref, item_idx)).fetchone()
    return StoredImage(row[0], cipher.decrypt(row[1]), row[2]) if row is not None else None


def record_view(conn: Conn, delivery_id: int, opened: bool, now: float) -> bool:
    """Count one fetch of the delivery's image or page, by a person (``opened``) or not; True when it is the
    first of its kind for the delivery (then its event is reported)."""
    column, count = ("opened_at", "opens") if opened else ("previewed_at", "previews")
    row = conn.execute(f"SELECT {column} FROM delivery_views WHERE delivery_id = ?", (delivery_id,)).fetchone()
    if row is None:
        conn.execute(f"INSERT INTO delivery_views (delivery_id, {column}, {count}) VALUES (?, ?, 1)",
                     (delivery_id, now))
        return True
    conn.execute(f"UPDATE delivery_views SET {count} = {count} + 1, {column} = COALESCE({column}, ?)"
                 " WHERE delivery_id = ?", (now, delivery_id))
    return row[0] is None


@dataclass(frozen=True)
class PageTarget:
    """A delivery as its page (``/m/{token}``) and tracking image (``/o/{token}``) need it."""

    delivery_id: int
    alert_ref: str
    client_ref: str
    alert_type: str
    item_idx: int
    tag: str
    recipient: str
    contact_id: str | None
    lookups: Mapping[str, str]
    params: Mapping[str, Any]
    content: bytes | None
    has_image: bool


def page_target(conn: Conn, cipher: Cipher, token: str, now: float) -> PageTarget | None:
    """The delivery with this token, if its alert is neither cancelled nor past its lifetime."""
    row = conn.execute(
        "SELECT d.id, d.alert_ref, a.client_ref, d.alert_type, i.idx, i.tag, d.address, d.contact_id, d.lookups,"
        " i.params, i.content,"
        " EXISTS (SELECT 1 FROM alert_images m WHERE m.alert_ref = d.alert_ref AND m.item_idx = i.idx)"
        " FROM deliveries d JOIN alerts a ON a.alert_ref = d.alert_ref JOIN items i ON i.id = d.item_id"
        " WHERE d.token = ? AND a.status != 'cancelled' AND (a.expires_at IS NULL OR a.expires_at > ?)",
        (token, now),
    ).fetchone()
    if row is None:
        return None
    return PageTarget(row[0], row[1], row[2], row[3], row[4], row[5], cipher.decrypt_str(row[6]), row[7],
                      cipher.decrypt_json(row[8]) if row[8] else {}, cipher.decrypt_json(row[9]),
                      cipher.decrypt(row[10]) if row[10] is not None else None, bool(row[11]))


@dataclass(frozen=True)
class TypeOpens:
    sent: int = 0
    opened: int = 0
    previewed: int = 0

    @property
    def rate(self) -> float:
        return round(self.opened / self.sent, 4) if self.sent else 0.0


@dataclass(frozen=True)
class OpenCounts:
    """The opens of one alert (rules in the module docstring), per alert type and in all."""

    by_type: Mapping[str, TypeOpens] = field(default_factory=dict)

    @property
    def sent(self) -> int:
        return sum(t.sent for t in self.by_type.values())

    @property
    def open_count(self) -> int:
        return sum(t.opened for t in self.by_type.values())

    @property
    def previewed(self) -> int:
        return sum(t.previewed for t in self.by_type.values())

    @property
    def open_rate(self) -> float:
        return round(self.open_count / self.sent, 4) if self.sent else 0.0

    def as_json(self) -> dict[str, Any]:
        """The counts as the alert resource shows them beside ``responseRate``."""
        return {"openCount": self.open_count, "openRate": self.open_rate, "previewCount": self.previewed,
                "opens": {t: {"sent": o.sent, "opened": o.opened, "previewed": o.previewed, "openRate": o.rate}
                          for t, o in sorted(self.by_type.items())}}


def open_counts(conn: Conn, alert_ref: str) -> OpenCounts:
    return open_counts_of(conn, [alert_ref])[alert_ref]


def open_counts_of(conn: Conn, alert_refs: Sequence[str]) -> dict[str, OpenCounts]:
    """:func:`open_counts` of several alerts (a page of the collection) in one statement; every alert asked
    about has an entry (empty when it has no e-mail or SMS delivery, or does not exist)."""
    by_alert: dict[str, dict[str, TypeOpens]] = {ref: {} for ref in alert_refs}
    if not alert_refs:
        return {}
    marks = ",".join("?" * len(alert_refs))
    rows = conn.execute(
        "SELECT d.alert_ref, d.alert_type,"
        f" SUM(CASE WHEN d.state IN {_SENT_STATES} THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN v.opened_at IS NOT NULL OR d.state = 'responded' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN v.previewed_at IS NOT NULL AND v.opened_at IS NULL AND d.state != 'responded'"
        " THEN 1 ELSE 0 END)"
        " FROM deliveries d LEFT JOIN delivery_views v ON v.delivery_id = d.id"
        f" WHERE d.alert_ref IN ({marks}) AND d.alert_type IN ('email', 'sms') GROUP BY d.alert_ref, d.alert_type",
        list(alert_refs),
    ).fetchall()
    for r in rows:
        by_alert[str(r[0])][str(r[1])] = TypeOpens(int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
    return {ref: OpenCounts(types) for ref, types in by_alert.items()}
