"""The alert as a resource (GET /api/json/alerts/{alertRef}), HAL style as in alert-resource.txt."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from alertnode.store.crypto import Cipher
from alertnode.store.repo import _iso

_SENT = ("sent", "delivered", "answered", "responded")


def alert_status(row: sqlite3.Row, open_count: int, now: float) -> str:
    if row["status"] == "cancelled":
        return "cancelled"
    if row["status"] == "on_hold":
        return "on_hold"
    if row["publish_at"] is None or row["publish_at"] > now:
        return "scheduled"
    return "running" if open_count else "completed"


def build(conn: sqlite3.Connection, cipher: Cipher, alert_ref: str, now: float, limit: int,
          offset: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM alerts WHERE alert_ref = ?", (alert_ref,)).fetchone()
    if row is None:
        return None
    counts: dict[str, int] = {}
    for state, n in conn.execute("SELECT state, COUNT(*) FROM deliveries WHERE alert_ref = ? GROUP BY state",
                                 (alert_ref,)):
        counts[state] = n
    clicked = conn.execute("SELECT COUNT(*) FROM deliveries WHERE alert_ref = ? AND responded_via LIKE "
                           "'%,shortlink,%'", (alert_ref,)).fetchone()[0]
    targeted = sum(counts.values())
    responded = counts.get("responded", 0)
    open_count = counts.get("queued", 0) + counts.get("in_progress", 0)
    base = f"/api/json/alerts/{alert_ref}"
    links: dict[str, Any] = {
        "self": {"href": base},
        "events": {"href": f"/api/json/collectevents?alertRef={alert_ref}"},
        "schedule": {"href": f"{base}/schedule"},
        "cancel": {"href": f"{base}/cancel"},
    }
    if row["link_ref"]:
        first = conn.execute("SELECT alert_ref FROM alerts WHERE link_ref = ? ORDER BY created_at LIMIT 1",
                             (row["link_ref"],)).fetchone()
        if first and first[0] != alert_ref:
            links["linkFirst"] = {"href": f"/api/json/alerts/{first[0]}"}
    # events coalesced into this alert and who sent them (tables of node/jobs/events_runtime.py)
    coalesced = conn.execute("SELECT COALESCE(SUM(coalesced), 0) FROM event_storms WHERE alert_ref = ?",
                             (alert_ref,)).fetchone()[0]
    originators = [r[0] for r in conn.execute(
        "SELECT originator FROM event_originators WHERE alert_ref = ? ORDER BY first_at, originator", (alert_ref,))]
    if originators:
        links["originators"] = [{"href": f"urn:alertnode:originator:{o}", "name": o} for o in originators]
    resource: dict[str, Any] = {
        "_links": links,
        "EID": alert_ref,
        "type": "alert",
        "alertRef": alert_ref,
        "clientRef": row["client_ref"],
        "created": _iso(row["created_at"]),
        "status": alert_status(row, open_count, now),
        "publishAt": _iso(row["publish_at"]) if row["publish_at"] is not None else None,
        "expiresAt": _iso(row["expires_at"]) if row["expires_at"] is not None else None,
        "linkRef": row["link_ref"],
        "emailSubjectRef": row["email_subject_ref"],
        "numCoalesced": int(coalesced),
        "numOriginators": len(originators),
        "read": responded > 0,
        "counts": {
            "targeted": targeted,
            "sent": sum(counts.get(s, 0) for s in _SENT),
            "delivered": sum(counts.get(s, 0) for s in ("delivered", "answered", "responded")),
            "responded": responded,
            "clicked": clicked,
            "failed": counts.get("failed", 0),
            "expired": counts.get("expired", 0),
            "queued": open_count,
            "responseRate": round(responded / targeted, 4) if targeted else 0.0,
        },
        "items": [],
    }
    for item in conn.execute("SELECT id, idx, alert_type, tag, requested, accepted FROM items WHERE alert_ref = ?"
                             " ORDER BY idx", (alert_ref,)).fetchall():
        recipients = []
        rows = conn.execute(
            "SELECT id, contact_id, address, state, attempts, updated_at FROM deliveries WHERE item_id = ?"
            " ORDER BY id LIMIT ? OFFSET ?", (item[0], limit, offset)).fetchall()
        responses: dict[int, list[dict[str, Any]]] = {}
        if rows:
            ids = [r[0] for r in rows]
            marks = ",".join("?" * len(ids))
            for ev in conn.execute(
                f"SELECT delivery_id, kind, at, data FROM events WHERE delivery_id IN ({marks})"
                " AND state = 'responded' ORDER BY seq", ids):
                detail = cipher.decrypt_json(ev[3]) if ev[3] else {}
                responses.setdefault(ev[0], []).append({"event": ev[1], "at": _iso(ev[2]), **detail})
        for r in rows:
            entry: dict[str, Any] = {"recipient": cipher.decrypt_str(r[2]), "state": r[3], "attempts": r[4],
                                     "updated": _iso(r[5]), "responses": responses.get(r[0], [])}
            if r[1]:
                entry["contact"] = r[1]
            recipients.append(entry)
        resource["items"].append({
            "alertType": item[2], "tag": item[3], "requestedCount": item[4], "sentCount": item[5],
            "recipients": recipients, "recipientsOffset": offset,
        })
    resource["response"] = json.loads(row["response"])
    return resource
