"""The alert collection (``GET /api/json/alerts``), the groups and the originators, read for the API and the
console. Portable SQL only (it runs on SQLite and PostgreSQL alike): no rowid, no SQLite functions.

Rules of the collection:

1. newest first, by ``(created_at, alert_ref)``; a page ends with the cursor of its last alert and the next page
   holds only alerts strictly older than it, so alerts accepted meanwhile (created later) never shift a page;
2. the status filter is ``domain.alert_status`` turned into SQL: every (stored status, published, any delivery
   open) combination the domain maps to a wanted status, so the filter and the status shown never disagree;
3. pending (LiveLike's "Pending": created, not published yet, not cancelled) and history (everything else:
   published, or cancelled before it was).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.contract.alerts import ROUTE_PREFIX, SET_PREFIX, route_group
from alertnode.domain import AlertStatus, alert_status
from alertnode.store import repo
from alertnode.store.backend import Conn
from alertnode.store.rich import OpenCounts, open_counts_of

VIEWS = ("all", "pending", "history")


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: its last alert."""

    created_at: float
    alert_ref: str


@dataclass(frozen=True)
class AlertFilter:
    statuses: frozenset[AlertStatus] = frozenset()
    """any of these (empty: any status)"""
    view: str = "all"
    client_ref: str | None = None
    tag: str | None = None
    """an item with exactly this tag"""
    alert_type: str | None = None
    """an item of this alert type"""
    category: str | None = None
    group: str | None = None
    originator: str | None = None
    created_from: float | None = None
    """created at or after"""
    created_to: float | None = None
    """created before"""
    unread_by: str | None = None
    """only alerts this reader has not marked read"""
    after: Cursor | None = None


def published_sql(alias: str, published: bool) -> str:
    """``domain.is_published`` as SQL (one ``?``: now)."""
    if published:
        return f"({alias}.publish_at IS NOT NULL AND {alias}.publish_at <= ?)"
    return f"({alias}.publish_at IS NULL OR {alias}.publish_at > ?)"


def any_open_sql(alias: str) -> str:
    return (f"EXISTS (SELECT 1 FROM deliveries od WHERE od.alert_ref = {alias}.alert_ref"
            f" AND {repo.open_delivery_sql('od')})")


def status_sql(wanted: Collection[AlertStatus], alias: str, now: float) -> tuple[str, list[Any]]:
    """An SQL condition true for the alerts (table alias ``alias``) whose ``domain.alert_status`` is in
    ``wanted``: the combinations of its inputs that give a wanted status, written out."""
    parts: list[str] = []
    args: list[Any] = []
    for stored in AlertStatus:
        combos = [(published, is_open) for published in (False, True) for is_open in (False, True)
                  if alert_status(stored, published, is_open) in wanted]
        if not combos:
            continue
        cond = f"{alias}.status = ?"
        args.append(stored.value)
        if len(combos) < 4:
            ors = []
            for published, is_open in combos:
                ors.append(f"({published_sql(alias, published)} AND {'' if is_open else 'NOT '}{any_open_sql(alias)})")
                args.append(now)
            cond += " AND (" + " OR ".join(ors) + ")"
        parts.append(f"({cond})")
    return ("(" + " OR ".join(parts) + ")" if parts else "1 = 0"), args


def group_sql(group_id: str, alias: str) -> tuple[str, list[Any]]:
    """An SQL condition true for the alerts of a group: a contact set an item named, or an events route (the
    alert it opened and the follow-ups linked to that alert)."""
    if group_id.startswith(ROUTE_PREFIX):
        route = group_id[len(ROUTE_PREFIX):]
        return (f"({alias}.alert_ref IN (SELECT s.alert_ref FROM event_storms s WHERE s.route = ?"
                " AND s.alert_ref IS NOT NULL) OR"
                f" {alias}.link_ref IN (SELECT f.link_ref FROM alerts f JOIN event_storms s"
                " ON s.alert_ref = f.alert_ref WHERE s.route = ? AND f.link_ref IS NOT NULL))"), [route, route]
    return f"{alias}.alert_ref IN (SELECT g.alert_ref FROM alert_groups g WHERE g.group_id = ?)", [group_id]


def _where(f: AlertFilter, now: float) -> tuple[str, list[Any]]:
    conds: list[str] = []
    args: list[Any] = []
    if f.statuses:
        sql, more = status_sql(f.statuses, "a", now)
        conds.append(sql)
        args.extend(more)
    if f.view == "pending":
        conds.append(f"(a.status != 'cancelled' AND {published_sql('a', False)})")
        args.append(now)
    elif f.view == "history":
        conds.append(f"(a.status = 'cancelled' OR {published_sql('a', True)})")
        args.append(now)
    if f.client_ref is not None:
        conds.append("a.client_ref = ?")
        args.append(f.client_ref)
    if f.tag is not None:
        conds.append("a.alert_ref IN (SELECT i.alert_ref FROM items i WHERE i.tag = ?)")
        args.append(f.tag)
    if f.alert_type is not None:
        conds.append("a.alert_ref IN (SELECT i.alert_ref FROM items i WHERE i.alert_type = ?)")
        args.append(f.alert_type)
    if f.category is not None:
        conds.append("a.alert_ref IN (SELECT n.alert_ref FROM alert_info n WHERE n.category = ?)")
        args.append(f.category)
    if f.group is not None:
        sql, more = group_sql(f.group, "a")
        conds.append(sql)
        args.extend(more)
    if f.originator is not None:
        conds.append("a.alert_ref IN (SELECT o.alert_ref FROM event_originators o WHERE o.originator = ?)")
        args.append(f.originator)
    if f.created_from is not None:
        conds.append("a.created_at >= ?")
        args.append(f.created_from)
    if f.created_to is not None:
        conds.append("a.created_at < ?")
        args.append(f.created_to)
    if f.unread_by is not None:
        conds.append("a.alert_ref NOT IN (SELECT r.alert_ref FROM alert_reads r WHERE r.reader = ?)")
        args.append(f.unread_by)
    if f.after is not None:
        conds.append("(a.created_at < ? OR (a.created_at = ? AND a.alert_ref < ?))")
        args.extend([f.after.created_at, f.after.created_at, f.after.alert_ref])
    return (" WHERE " + " AND ".join(conds)) if conds else "", args


@dataclass(frozen=True)
class AlertSummary:
    """One alert of the collection (no contact data)."""

    alert: repo.AlertRow
    status: AlertStatus
    state_counts: Mapping[str, int]
    """delivery state -> count"""
    items: list[tuple[str, str]]
    """(alert type, tag) of each item, in order"""
    category: str
    read: bool
    groups: list[str]
    originators: int
    coalesced: int
    opens: OpenCounts = field(default_factory=OpenCounts)
    """its e-mail and SMS deliveries opened (``rich.open_counts``, read for the whole page at once)"""


@dataclass(frozen=True)
class Page:
    alerts: list[AlertSummary]
    more: bool
    """older alerts match too (ask again after the last one)"""
    cursor: Cursor | None = field(default=None)
    """the last alert's place (None: an empty page)"""


def _in(refs: list[str]) -> str:
    return ",".join("?" * len(refs))


def list_alerts(conn: Conn, f: AlertFilter, now: float, limit: int, reader: str | None) -> Page:
    """One page of alerts matching ``f``, newest first (see the module's rules)."""
    where, args = _where(f, now)
    rows = conn.execute(f"SELECT a.alert_ref FROM alerts a{where} ORDER BY a.created_at DESC, a.alert_ref DESC"
                        " LIMIT ?", [*args, limit + 1]).fetchall()
    refs = [str(r[0]) for r in rows[:limit]]
    if not refs:
        return Page([], False)
    marks = _in(refs)
    alerts = {r.alert_ref: r for r in (repo.get_alert(conn, ref) for ref in refs) if r is not None}
    counts: dict[str, dict[str, int]] = {}
    for ref, state, n in conn.execute(f"SELECT alert_ref, state, COUNT(*) FROM deliveries WHERE alert_ref IN ({marks})"
                                      " GROUP BY alert_ref, state", refs):
        counts.setdefault(ref, {})[state] = int(n)
    open_refs = {str(r[0]) for r in conn.execute(
        f"SELECT DISTINCT d.alert_ref FROM deliveries d WHERE d.alert_ref IN ({marks})"
        f" AND {repo.open_delivery_sql('d')}", refs)}
    items: dict[str, list[tuple[str, str]]] = {}
    for ref, alert_type, tag in conn.execute(f"SELECT alert_ref, alert_type, tag FROM items"
                                             f" WHERE alert_ref IN ({marks}) ORDER BY alert_ref, idx", refs):
        items.setdefault(ref, []).append((str(alert_type), str(tag)))
    categories = {str(r[0]): str(r[1]) for r in conn.execute(
        f"SELECT alert_ref, category FROM alert_info WHERE alert_ref IN ({marks})", refs)}
    read: set[str] = set()
    if reader is not None:
        read = {str(r[0]) for r in conn.execute(
            f"SELECT alert_ref FROM alert_reads WHERE reader = ? AND alert_ref IN ({marks})", [reader, *refs])}
    originators = {str(r[0]): int(r[1]) for r in conn.execute(
        f"SELECT alert_ref, COUNT(*) FROM event_originators WHERE alert_ref IN ({marks}) GROUP BY alert_ref", refs)}
    coalesced = {str(r[0]): int(r[1]) for r in conn.execute(
        f"SELECT alert_ref, SUM(coalesced) FROM event_storms WHERE alert_ref IN ({marks}) GROUP BY alert_ref", refs)}
    opens = open_counts_of(conn, refs)
    out = []
    for ref in refs:
        a = alerts.get(ref)
        if a is None:  # purged between the two statements of a read that is not one snapshot
            continue
        status = alert_status(a.stored_status, a.publish_at is not None and a.publish_at <= now, ref in open_refs)
        out.append(AlertSummary(a, status, counts.get(ref, {}), items.get(ref, []), categories.get(ref, "user"),
                                ref in read, groups_of(conn, ref, a.link_ref), originators.get(ref, 0),
                                coalesced.get(ref, 0), opens[ref]))
    last = alerts.get(refs[-1])
    cursor = Cursor(last.created_at, last.alert_ref) if last is not None else None
    return Page(out, len(rows) > limit, cursor)


def groups_of(conn: Conn, alert_ref: str, link_ref: str | None) -> list[str]:
    """The alert's groups: the events route behind it (its own storm, or the first alert of its link), then the
    contact sets its items named."""
    routes = {str(r[0]) for r in conn.execute(
        "SELECT s.route FROM event_storms s WHERE s.alert_ref = ? OR s.alert_ref IN"
        " (SELECT f.alert_ref FROM alerts f WHERE f.link_ref = ?)", (alert_ref, link_ref))}
    sets = [str(r[0]) for r in conn.execute("SELECT group_id FROM alert_groups WHERE alert_ref = ? ORDER BY group_id",
                                            (alert_ref,))]
    return [route_group(r) for r in sorted(routes)] + sets


@dataclass(frozen=True)
class GroupSummary:
    group_id: str
    alerts: int
    last_alert_at: float | None


def group_summary(conn: Conn, group_id: str) -> GroupSummary:
    sql, args = group_sql(group_id, "a")
    n, last = conn.execute(f"SELECT COUNT(*), MAX(a.created_at) FROM alerts a WHERE {sql}", args).fetchone()
    return GroupSummary(group_id, int(n), float(last) if last is not None else None)


def known_groups(conn: Conn) -> list[str]:
    """Every group some stored alert went to: the contact sets named, and routes with a storm."""
    sets = [str(r[0]) for r in conn.execute("SELECT DISTINCT group_id FROM alert_groups")]
    routes = [route_group(str(r[0])) for r in conn.execute(
        "SELECT DISTINCT route FROM event_storms WHERE alert_ref IS NOT NULL")]
    return sorted({*sets, *routes})


def is_group_id(text: str) -> bool:
    return text.startswith((SET_PREFIX, ROUTE_PREFIX)) and len(text) > len(SET_PREFIX)


@dataclass(frozen=True)
class OriginatorSummary:
    originator: str
    alerts: int
    events: int
    first_at: float
    last_alert_at: float | None


def originators(conn: Conn, originator: str | None = None) -> list[OriginatorSummary]:
    """Who sent events (API key fingerprints) with their alerts and events, most alerts first; or the one asked."""
    sql = ("SELECT o.originator, COUNT(*), SUM(o.events), MIN(o.first_at), MAX(a.created_at) FROM event_originators o"
           " LEFT JOIN alerts a ON a.alert_ref = o.alert_ref")
    args: list[Any] = []
    if originator is not None:
        sql += " WHERE o.originator = ?"
        args.append(originator)
    sql += " GROUP BY o.originator ORDER BY COUNT(*) DESC, o.originator"
    return [OriginatorSummary(str(r[0]), int(r[1]), int(r[2]), float(r[3]), float(r[4]) if r[4] is not None else None)
            for r in conn.execute(sql, args)]
