"""The query of ``GET /api/json/alerts``: parameters to a ``listing.AlertFilter``, every problem reported at once
with the parameter's name; the cursor that pages it. Pure.

The cursor is opaque to clients: the URL-safe base64 of ``[created_at, alertRef]`` of a page's last alert. A
page's ``next`` link repeats the filters with it; a cursor is valid with any filters (it only says "older than").
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

from alertnode.contract.sendalert import ALERT_TYPES
from alertnode.domain import AlertStatus
from alertnode.errors import ApiError, Problem
from alertnode.store.listing import VIEWS, AlertFilter, Cursor, is_group_id

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
PARAMS = ("status", "view", "clientRef", "tag", "alertType", "category", "group", "originator", "from", "to",
          "unread", "cursor", "limit")
_REF = re.compile(r"^[A-Za-z0-9+\-_.:@]{1,128}$")


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps([cursor.created_at, cursor.alert_ref], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """ValueError when ``text`` is not a cursor this node wrote."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        created_at, alert_ref = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValueError("not a cursor of this collection (pass the one the last page answered)") from None
    if (not isinstance(created_at, int | float) or isinstance(created_at, bool) or not math.isfinite(created_at)
            or not isinstance(alert_ref, str) or len(alert_ref) > 64):
        raise ValueError("not a cursor of this collection (pass the one the last page answered)")
    return Cursor(float(created_at), alert_ref)


def parse_time(text: str) -> float:
    """An RFC 3339 time with its offset (``2026-03-01T08:00:00Z``); ValueError otherwise."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an RFC 3339 time such as 2026-03-01T08:00:00Z") from None
    if when.tzinfo is None:
        raise ValueError("give the time's offset (Z or +hh:mm)")
    return when.timestamp()


def parse_query(params: Mapping[str, str | None], reader: str) -> tuple[AlertFilter, int]:
    """The filter and page size the parameters ask for; ApiError (400) naming every bad parameter. ``reader``:
    the fingerprint of the key asking (``unread=true`` is about it)."""
    problems: list[Problem] = []

    def bad(name: str, message: str) -> None:
        problems.append(Problem(name, message))

    def text(name: str, pattern: re.Pattern[str] | None = None, max_len: int = 128) -> str | None:
        value = params.get(name)
        if value is None:
            return None
        if not value or len(value) > max_len or (pattern is not None and not pattern.match(value)):
            bad(name, f"must be 1 to {max_len} characters" + (" of A-Z a-z 0-9 + - _ . : @" if pattern else ""))
            return None
        return value

    statuses: set[AlertStatus] = set()
    for part in (params.get("status") or "").split(","):
        if not part.strip():
            continue
        try:
            statuses.add(AlertStatus(part.strip()))
        except ValueError:
            bad("status", f"{part.strip()!r} is not one of {', '.join(s.value for s in AlertStatus)}")
    if params.get("status") is not None and not statuses and not problems:
        bad("status", "name at least one status")
    view = params.get("view") or "all"
    if view not in VIEWS:
        bad("view", f"must be one of {', '.join(VIEWS)}")
    alert_type = params.get("alertType")
    if alert_type is not None and alert_type not in ALERT_TYPES:
        bad("alertType", f"must be one of {', '.join(ALERT_TYPES)}")
    category = params.get("category")
    if category is not None and category not in ("user", "admin"):
        bad("category", "must be user or admin")
    group = text("group", max_len=200)
    if group is not None and not is_group_id(group):
        bad("group", "a group id: set:<contact set> or route:<route>")
    times: dict[str, float | None] = {}
    for name in ("from", "to"):
        value = params.get(name)
        times[name] = None
        if value is not None:
            try:
                times[name] = parse_time(value)
            except ValueError as exc:
                bad(name, str(exc))
    if times["from"] is not None and times["to"] is not None and times["to"] <= times["from"]:
        bad("to", "must be later than from")
    unread = params.get("unread")
    if unread is not None and unread not in ("true", "false"):
        bad("unread", "must be true or false")
    after = None
    if params.get("cursor") is not None:
        try:
            after = decode_cursor(str(params["cursor"]))
        except ValueError as exc:
            bad("cursor", str(exc))
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit")
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            bad("limit", f"must be 1 to {MAX_LIMIT}")
        else:
            limit = int(raw_limit)
    client_ref = text("clientRef", re.compile(r"^[A-Za-z0-9+\-_]{1,64}$"), 64)
    tag = text("tag")
    originator = text("originator", _REF)
    if problems:
        raise ApiError("the query is not valid", problems)
    return AlertFilter(
        statuses=frozenset(statuses), view=view, client_ref=client_ref, tag=tag, alert_type=alert_type,
        category=category, group=group, originator=originator, created_from=times["from"], created_to=times["to"],
        unread_by=reader if unread == "true" else None, after=after,
    ), limit


def page_href(path: str, params: Mapping[str, str | None], cursor: str | None) -> str:
    """``path`` with the query's own parameters (in ``PARAMS`` order), its cursor replaced by ``cursor``."""
    query = [(k, v) for k in PARAMS if k != "cursor" and (v := params.get(k)) is not None]
    if cursor is not None:
        query.append(("cursor", cursor))
    return path + ("?" + urlencode(query) if query else "")
