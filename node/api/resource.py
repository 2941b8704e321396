"""The alert as a resource (GET /api/json/alerts/{alertRef}), HAL style as in alert-resource.txt.

The store reads what the resource shows (``alertnode.store.views.alert_view``); the status is the domain's
(``domain.alert_status``); this module only writes the JSON."""

from __future__ import annotations

from typing import Any

from alertnode.contract.lifetime import iso_time
from alertnode.store import views
from alertnode.store.crypto import Cipher

# handed over: an unconfirmed delivery was sent (the SMSC or smarthost took it), its arrival is unknown
_SENT = ("sent", "unconfirmed", "delivered", "answered", "responded")


def build(conn: Any, cipher: Cipher, alert_ref: str, now: float, limit: int, offset: int) -> dict[str, Any] | None:
    """The resource of ``alert_ref`` (run through ``Store.read``), or None when there is no such alert."""
    view = views.alert_view(conn, cipher, alert_ref, limit, offset)
    return None if view is None else as_json(view, now, offset)


def as_json(view: views.AlertView, now: float, offset: int) -> dict[str, Any]:
    alert, counts = view.alert, view.state_counts
    alert_ref = alert.alert_ref
    targeted = sum(counts.values())
    responded = counts.get("responded", 0)
    base = f"/api/json/alerts/{alert_ref}"
    links: dict[str, Any] = {
        "self": {"href": base},
        "events": {"href": f"/api/json/collectevents?alertRef={alert_ref}"},
        "schedule": {"href": f"{base}/schedule"},
        "cancel": {"href": f"{base}/cancel"},
    }
    if view.first_of_link is not None:
        links["linkFirst"] = {"href": f"/api/json/alerts/{view.first_of_link}"}
    # events coalesced into this alert and who sent them (POST /api/events)
    if view.originators:
        links["originators"] = [{"href": f"urn:alertnode:originator:{o}", "name": o} for o in view.originators]
    resource: dict[str, Any] = {
        "_links": links,
        "EID": alert_ref,
        "type": "alert",
        "alertRef": alert_ref,
        "clientRef": alert.client_ref,
        "created": iso_time(alert.created_at),
        "status": view.status(now).value,
        "publishAt": iso_time(alert.publish_at) if alert.publish_at is not None else None,
        "expiresAt": iso_time(alert.expires_at) if alert.expires_at is not None else None,
        "linkRef": alert.link_ref,
        "emailSubjectRef": alert.email_subject_ref,
        "numCoalesced": view.coalesced,
        "numOriginators": len(view.originators),
        "read": responded > 0,
        "counts": {
            "targeted": targeted,
            "sent": sum(counts.get(s, 0) for s in _SENT),
            "delivered": sum(counts.get(s, 0) for s in ("delivered", "answered", "responded")),
            "responded": responded,
            "clicked": view.clicked,
            "failed": counts.get("failed", 0),
            "unconfirmed": counts.get("unconfirmed", 0),
            "expired": counts.get("expired", 0),
            "queued": counts.get("queued", 0) + counts.get("in_progress", 0),
            "responseRate": round(responded / targeted, 4) if targeted else 0.0,
        },
        "items": [],
    }
    for item in view.items:
        recipients = []
        for r in item.recipients:
            entry: dict[str, Any] = {
                "recipient": r.recipient, "state": r.state, "attempts": r.attempts, "updated": iso_time(r.updated_at),
                "responses": [{"event": x.kind, "at": iso_time(x.at), **x.detail} for x in r.responses],
            }
            if r.contact_id:
                entry["contact"] = r.contact_id
            recipients.append(entry)
        resource["items"].append({
            "alertType": item.alert_type, "tag": item.tag, "requestedCount": item.requested,
            "sentCount": item.accepted, "recipients": recipients, "recipientsOffset": offset,
        })
    resource["response"] = alert.response
    return resource
