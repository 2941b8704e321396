"""The alert as a resource (GET /api/json/alerts/{alertRef}), HAL style as in alert-resource.txt, and what hangs
off it: the collection's entries, groups, originators, the timeline and escalation steps.

The store reads what the resource shows (``alertnode.store.views``, ``listing``, ``timeline``); the status is the
domain's (``domain.alert_status``); this module only writes the JSON. How alert-resource.txt (a social network's
notification) maps onto an alerting node:

- ``alertType``: the channels of the alert's items, each once in item order, joined by ``,`` (``sms,call``);
- ``category``: ``user`` or ``admin`` as the sender gave it (sendalert's ``category``);
- ``appData``: the sender's string, given at sendalert or event time;
- ``body.<locale>``: the text of each locale at least one recipient was sent (``und``: the content given without
  a locale), the first item's when items differ;
- ``groups``: the events route that opened the alert and the contact sets its items named;
- ``originators``: the API keys (fingerprints) whose events made the alert; a sendalert alert has none;
- ``read``: whether the API key asking has marked the alert read (``POST …/read``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from alertnode.contract.lifetime import iso_time
from alertnode.store import listing, timeline, views
from alertnode.store.crypto import Cipher
from alertnode.store.eventlog import EventRow
from alertnode.store.rich import OpenCounts

# handed over: an unconfirmed delivery was sent (the SMSC or smarthost took it), its arrival is unknown
_SENT = ("sent", "unconfirmed", "delivered", "answered", "responded")
ALERTS = "/api/json/alerts"


def build(conn: Any, cipher: Cipher, alert_ref: str, now: float, limit: int, offset: int,
          reader: str | None = None) -> dict[str, Any] | None:
    """The resource of ``alert_ref`` (run through ``Store.read``), or None when there is no such alert."""
    view = views.alert_view(conn, cipher, alert_ref, limit, offset, reader=reader)
    return None if view is None else as_json(view, now, offset)


def group_href(group_id: str) -> str:
    return f"/api/json/groups/{quote(group_id, safe=':')}"


def originator_href(originator: str) -> str:
    return f"/api/json/originators/{quote(originator, safe='')}"


def counts(state_counts: Mapping[str, int], clicked: int | None = None,
           opens: OpenCounts | None = None) -> dict[str, Any]:
    """The delivery counts of the resource and of each entry of the collection (the funnel: targeted, sent,
    delivered, responded), with ``openCount``/``openRate`` beside ``responseRate`` when ``opens`` are given
    (the resource and the collection; an escalation step's counts have none)."""
    targeted = sum(state_counts.values())
    responded = state_counts.get("responded", 0)
    out: dict[str, Any] = {
        "targeted": targeted,
        "sent": sum(state_counts.get(s, 0) for s in _SENT),
        "delivered": sum(state_counts.get(s, 0) for s in ("delivered", "answered", "responded")),
        "responded": responded,
    }
    if clicked is not None:
        out["clicked"] = clicked
    out.update({
        "failed": state_counts.get("failed", 0),
        "unconfirmed": state_counts.get("unconfirmed", 0),
        "expired": state_counts.get("expired", 0),
        "queued": state_counts.get("queued", 0) + state_counts.get("in_progress", 0),
        "responseRate": round(responded / targeted, 4) if targeted else 0.0,
    })
    if opens is not None:
        # Sendbird's open_count / open_rate: e-mail and SMS deliveries a person opened, over those sent
        out.update({"openCount": opens.open_count, "openRate": opens.open_rate})
    return out


def alert_type_of(types: Sequence[str]) -> str:
    return ",".join(dict.fromkeys(types))


def _relations(base: str, groups: Sequence[str], originators: Sequence[str]) -> dict[str, Any]:
    links: dict[str, Any] = {}
    if groups:
        links["groups"] = [{"href": group_href(g), "name": g} for g in groups]
    if originators:
        links["originators"] = [{"href": originator_href(o), "name": o} for o in originators]
    return links


def as_json(view: views.AlertView, now: float, offset: int) -> dict[str, Any]:
    alert = view.alert
    alert_ref = alert.alert_ref
    base = f"{ALERTS}/{alert_ref}"
    links: dict[str, Any] = {
        "self": {"href": base},
        "events": {"href": f"/api/json/collectevents?alertRef={alert_ref}"},
        "timeline": {"href": f"{base}/timeline"},
        "escalation": {"href": f"{base}/escalation"},
        "schedule": {"href": f"{base}/schedule"},
        "cancel": {"href": f"{base}/cancel"},
        "hold": {"href": f"{base}/hold"},
        "resume": {"href": f"{base}/resume"},
        "read": {"href": f"{base}/read"},
        "acknowledge": {"href": f"{base}/acknowledge"},
    }
    if view.first_of_link is not None:
        links["linkFirst"] = {"href": f"{ALERTS}/{view.first_of_link}"}
    links.update(_relations(base, view.groups, view.originators))
    body: dict[str, str] = {}
    for item in view.items:
        for locale, text in item.bodies.items():
            body.setdefault(locale, text)
    resource: dict[str, Any] = {
        "_links": links,
        "EID": alert_ref,
        "type": "alert",
        "alertType": alert_type_of([i.alert_type for i in view.items]),
        "category": view.category,
        "appData": view.app_data,
        "body": body,
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
        "numGroups": len(view.groups),
        "read": view.read,
        "counts": counts(view.state_counts, view.clicked, view.opens),
        "items": [],
    }
    for item in view.items:
        recipients = []
        for r in item.recipients:
            entry: dict[str, Any] = {
                "deliveryId": r.delivery_id, "recipient": r.recipient, "state": r.state, "attempts": r.attempts,
                "updated": iso_time(r.updated_at),
                "responses": [{"event": x.kind, "at": iso_time(x.at), **x.detail} for x in r.responses],
            }
            if r.contact_id:
                entry["contact"] = r.contact_id
            recipients.append(entry)
        resource["items"].append({
            "alertType": item.alert_type, "tag": item.tag, "requestedCount": item.requested,
            "sentCount": item.accepted, "body": dict(item.bodies), "recipients": recipients,
            "recipientsOffset": offset,
        })
    resource["response"] = alert.response
    return resource


def summary_json(s: listing.AlertSummary) -> dict[str, Any]:
    """One entry of the collection: the resource without recipients, items or contact data."""
    a = s.alert
    base = f"{ALERTS}/{a.alert_ref}"
    links: dict[str, Any] = {"self": {"href": base}}
    links.update(_relations(base, s.groups, []))
    return {
        "_links": links,
        "EID": a.alert_ref,
        "type": "alert",
        "alertRef": a.alert_ref,
        "clientRef": a.client_ref,
        "alertType": alert_type_of([t for t, _ in s.items]),
        "tags": list(dict.fromkeys(tag for _, tag in s.items)),
        "category": s.category,
        "created": iso_time(a.created_at),
        "status": s.status.value,
        "publishAt": iso_time(a.publish_at) if a.publish_at is not None else None,
        "linkRef": a.link_ref,
        "read": s.read,
        "numGroups": len(s.groups),
        "numOriginators": s.originators,
        "numCoalesced": s.coalesced,
        "counts": counts(s.state_counts, opens=s.opens),
    }


def event_json(e: EventRow, *, sandbox: bool = False) -> dict[str, Any]:
    """An event of an alert's timeline: as collectevents writes it."""
    return e.as_dict(sandbox=sandbox)


def escalation_json(alert_ref: str, esc: timeline.Escalation) -> dict[str, Any]:
    steps = []
    for i, st in enumerate(esc.steps):
        steps.append({
            "_links": {"self": {"href": f"{ALERTS}/{st.alert_ref}"}},
            "step": i + 1, "alertRef": st.alert_ref, "current": st.alert_ref == alert_ref,
            "created": iso_time(st.created_at),
            "publishAt": iso_time(st.publish_at) if st.publish_at is not None else None,
            "status": st.status, "alertTypes": list(st.alert_types), "counts": counts(st.state_counts),
        })
    planned = [{"dueAt": iso_time(p.due_at), "doneAt": iso_time(p.done_at) if p.done_at is not None else None,
                "outcome": p.outcome, "alertTypes": list(p.alert_types)} for p in esc.planned]
    return {"success": True, "_links": {"self": {"href": f"{ALERTS}/{alert_ref}/escalation"},
                                        "alert": {"href": f"{ALERTS}/{alert_ref}"}},
            "alertRef": alert_ref, "linkRef": esc.link_ref, "steps": steps, "planned": planned}
