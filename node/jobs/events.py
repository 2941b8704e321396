"""Event routing and storm control. Pure: no I/O; time is passed in.

An event (``POST /api/events``) is routed by the first rule whose Unix glob matches its ``event`` key
(``fnmatch``, case-sensitive: ``*`` also crosses dots, so ``ci.*`` matches ``ci.deploy.success``), else by the
default route. Storm control folds events with the same dedup key into the alert still open for that key
(``numCoalesced``), and per-contact caps keep one person from being contacted more than N times in M minutes.
The result is a ``sendalert`` request body the intake validates like any other.
"""

from __future__ import annotations

import enum
import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertnode.contract.events import EventRequest
from alertnode.contract.sendalert import Contact, ContactGroup
from alertnode.jobs.events_config import EscalationConfig, EventsConfig, RouteConfig

# {title} {message} {link} {event} {channel} {tags} {data.KEY[.SUB]}: anything else in braces is left for the
# per-contact lookups the dispatcher applies ({firstname}, {datetime}, ...)
_FIELD = re.compile(r"\{(title|message|link|event|channel|tags|data(?:\.[^{}\s.]+)+)\}")
_FIELD_AND_SEPARATOR = re.compile(_FIELD.pattern + r"(?:[ \t]*[:;,\-][ \t]*|[ \t]+)?")
_ADDRESS_FIELD = {"sms": "sms", "email": "email", "call": "call"}


@dataclass(frozen=True)
class Event:
    message: str
    event: str = ""
    title: str = ""
    channel: str = ""
    tags: tuple[str, ...] = ()
    link: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    dedup_key: str | None = None
    app_data: str | None = None
    """the sender's own string, given back as the alert's appData (and its follow-ups')"""

    @classmethod
    def from_request(cls, req: EventRequest) -> Event:
        return cls(message=req.message, event=req.event, title=req.title, channel=req.channel, tags=tuple(req.tags),
                   link=req.link, data=req.data, dedup_key=req.dedupKey, app_data=req.appData)


def match_route(config: EventsConfig, event: Event) -> RouteConfig | None:
    """The first route whose globs match the event (and its channel glob, if any), else the default route."""
    for route in config.routes:
        if route.channel is not None and not fnmatch.fnmatchcase(event.channel, route.channel):
            continue
        if any(fnmatch.fnmatchcase(event.event, pattern) for pattern in route.match):
            return route
    if config.default_route:
        return config.route(config.default_route)
    return None


def _data_value(data: Mapping[str, Any], dotted: str) -> str:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ""
        value = value[part]
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def field_value(event: Event, name: str) -> str:
    if name.startswith("data."):
        return _data_value(event.data, name[len("data."):])
    if name == "tags":
        return ", ".join(event.tags)
    value: str = getattr(event, name)
    return value


def render(template: str, event: Event) -> str:
    """The template with the event's fields filled in. A field the event lacks is dropped from the template
    with the separator after it (``{title}: `` without a title) and line ends are trimmed; the event's own
    text is inserted as it is."""

    def drop_empty(m: re.Match[str]) -> str:
        return "" if not field_value(event, m.group(1)) else m.group(0)

    trimmed = _FIELD_AND_SEPARATOR.sub(drop_empty, template)
    trimmed = "\n".join(line.rstrip() for line in trimmed.splitlines()).strip()
    return _FIELD.sub(lambda m: field_value(event, m.group(1)), trimmed)


def dedup_key(config: EventsConfig, event: Event) -> str:
    """``dedupKey`` when given, else ``event`` plus the configured fields (unit separator between them)."""
    if event.dedup_key is not None:
        return "k\x1f" + event.dedup_key
    parts = [event.event] + [field_value(event, name) for name in config.dedup_fields]
    return "e\x1f" + "\x1f".join(parts)


class StormAction(enum.Enum):
    NEW_ALERT = "new_alert"          # no open alert for the key: create one
    COALESCE = "coalesce"            # fold into the open alert
    RETRY_PENDING = "retry_pending"  # an alert for the key was being created and its answer not recorded


@dataclass(frozen=True)
class OpenStorm:
    storm_id: str
    alert_ref: str | None  # None: the alert's creation was begun and not recorded (crash in between)
    opened_at: float
    coalesced: int
    cancelled: bool = False  # its alert was cancelled: the next event of the key opens a new one


@dataclass(frozen=True)
class StormDecision:
    action: StormAction
    storm: OpenStorm | None = None


def decide_storm(open_storm: OpenStorm | None, now: float, window_s: float) -> StormDecision:
    """Coalesce while the key's alert was opened less than ``window_s`` ago (a fixed window from the first
    event, so a storm that never stops still alerts again once per window) and has not been cancelled."""
    if open_storm is None or window_s <= 0 or now - open_storm.opened_at >= window_s or open_storm.cancelled:
        return StormDecision(StormAction.NEW_ALERT)
    if open_storm.alert_ref is None:
        return StormDecision(StormAction.RETRY_PENDING, open_storm)
    return StormDecision(StormAction.COALESCE, open_storm)


def contacts_of(group: ContactGroup, sets: Sequence[str]) -> tuple[list[Contact], list[str]]:
    """Contacts of the named sets (``all``: every contact) in group order, and the set names not found."""
    wanted: set[str] = set()
    missing: list[str] = []
    by_name = {s.name: s for s in group.sets}
    for name in sets:
        if name == "all" and name not in by_name:
            wanted.update(c.id for c in group.contacts)
        elif name in by_name:
            wanted.update(by_name[name].ids)
        else:
            missing.append(name)
    return [c for c in group.contacts if c.id in wanted], missing


def reachable(contacts: Sequence[Contact], alert_types: Sequence[str]) -> tuple[list[Contact], list[str]]:
    """Contacts with an address for at least one of the alert types, and warnings naming what is missing."""
    warnings = []
    for alert_type in alert_types:
        without = sum(1 for c in contacts if not getattr(c, _ADDRESS_FIELD[alert_type]))
        if without:
            warnings.append(f"{without} contact(s) have no {alert_type} address")
    found = [c for c in contacts if any(getattr(c, _ADDRESS_FIELD[t]) for t in alert_types)]
    return found, warnings


@dataclass(frozen=True)
class CapDecision:
    allowed: tuple[str, ...]
    suppressed: tuple[str, ...]


def apply_caps(contact_ids: Sequence[str], history: Mapping[str, Sequence[float]], now: float, cap: int,
               window_s: float) -> CapDecision:
    """Contacts contacted ``cap`` times or more within ``window_s`` before ``now`` are suppressed."""
    if cap <= 0:
        return CapDecision(tuple(contact_ids), ())
    allowed: list[str] = []
    suppressed: list[str] = []
    for cid in contact_ids:
        recent = sum(1 for at in history.get(cid, ()) if now - at < window_s)
        (suppressed if recent >= cap else allowed).append(cid)
    return CapDecision(tuple(allowed), tuple(suppressed))


@dataclass(frozen=True)
class Target:
    """Whom an alert for a route goes to: ``group_ref`` is the sendalert ``contactGroup`` object."""

    group_ref: Mapping[str, Any]
    contacts: tuple[Contact, ...]
    group: ContactGroup | None = None
    """the whole group (escalation steps may name other sets of it)"""


def _items(route: RouteConfig, event: Event, contacts: Sequence[Contact], alert_types: Sequence[str],
           template: str, seen: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    items: list[dict[str, Any]] = []
    warnings: list[str] = []
    body = render(template, event) or event.message
    bodies = {loc: render(t, event) or body for loc, t in route.bodies.items()}
    lookups = bool(_lookup_keywords(template) or any(_lookup_keywords(t) for t in route.bodies.values()))
    for alert_type in alert_types:
        ids = [c.id for c in contacts if getattr(c, _ADDRESS_FIELD[alert_type])]
        without = len(contacts) - len(ids)
        if without:
            warnings.append(f"{without} contact(s) have no {alert_type} address")
        if not ids:
            continue
        item: dict[str, Any] = {"alertType": alert_type, "tag": f"{route.name}-{alert_type}"[:128],
                                "contacts": ids, "content": body}
        if bodies:
            item["body"] = dict(bodies)
        if lookups:
            item["lookups"] = {"performLookups": True}
        if seen is not None:
            item["linkedAlertModifiers"] = {"except": {"previouslySeen": seen}}
        if alert_type == "sms":
            if route.sms_sender is not None:
                item["sender"] = route.sms_sender
        elif alert_type == "email":
            item["sender"] = route.email_sender
            # one header line (RFC 5322 §2.2): line breaks from the event's title become spaces
            subject = " ".join((render(route.subject, event) or event.event or "alert").split())
            item["subject"] = subject[:998] or "alert"
            if route.email_reply_to is not None:
                item["replyTo"] = route.email_reply_to
        else:
            if route.call_sender is not None:
                item["sender"] = route.call_sender
            item["voiceFormat"] = "tts"
            if route.tts is not None:
                item["tts"] = route.tts.model_dump(exclude_none=True)
            if route.ivr is not None:
                item["ivrControl"] = route.ivr.model_dump()
        items.append(item)
    return items, warnings


def _lookup_keywords(template: str) -> list[str]:
    stripped = _FIELD.sub("", template)
    return re.findall(r"\{[^{}\r\n]{1,120}\}", stripped)


@dataclass(frozen=True)
class AlertPlan:
    request: dict[str, Any]   # sendalert body
    warnings: tuple[str, ...]


def plan_alert(route: RouteConfig, event: Event, target: Target, *, unique_id: str, link_ref: str | None,
               link_lifetime: str) -> AlertPlan | None:
    """The sendalert body of the first alert of a storm; None when no contact has an address for any type."""
    items, warnings = _items(route, event, target.contacts, route.alert_types, route.template, None)
    if not items:
        return None
    request: dict[str, Any] = {"version": "latest", "clientRef": _client_ref(route), "uniqueId": unique_id,
                               "contactGroup": dict(target.group_ref), "alert": items}
    if link_ref is not None:
        request["linkedAlerts"] = {"linkRef": link_ref, "lifetime": link_lifetime}
    if event.app_data is not None:
        request["appData"] = event.app_data
    request.update(quiet_schedule(route))
    return AlertPlan(request, tuple(warnings))


def plan_escalation(route: RouteConfig, escalation: EscalationConfig, event: Event, contacts: Sequence[Contact],
                    *, unique_id: str, link_ref: str) -> AlertPlan | None:
    """The linked follow-up: same contacts, other alert types, skipping whoever responded already."""
    template = escalation.template if escalation.template is not None else route.template
    items, warnings = _items(route, event, contacts, escalation.alert_types, template, escalation.previously_seen)
    if not items:
        return None
    request: dict[str, Any] = {"version": "latest", "clientRef": _client_ref(route), "uniqueId": unique_id,
                               "linkedAlerts": {"linkRef": link_ref, "linkOnlyIfRefAlreadyExists": True},
                               "alert": items}
    if event.app_data is not None:
        request["appData"] = event.app_data
    request.update(quiet_schedule(route))
    return AlertPlan(request, tuple(warnings))


def quiet_schedule(route: RouteConfig) -> dict[str, Any]:
    """The route's quiet hours as the sendalert ``schedule`` of its alerts (the dispatcher holds each delivery
    until they end, in the contact's ``timezone`` lookup, else the route's zone); empty without quiet hours."""
    if route.cease_at is None or route.resume_at is None:
        return {}
    return {"schedule": {"ceaseAt": route.cease_at, "resumeAt": route.resume_at, "timezone": route.timezone}}


def escalation_needed(request: Mapping[str, Any], responded: Mapping[str, frozenset[str]]) -> bool:
    """Whether a planned follow-up still has someone to reach: a contact who has not responded in one of the
    ways its item's previouslySeen names (the intake would otherwise create an alert without recipients)."""
    for item in request.get("alert", []):
        seen_text = item.get("linkedAlertModifiers", {}).get("except", {}).get("previouslySeen", "")
        seen = {s.strip() for s in seen_text.split(",") if s.strip()}
        if any(not (responded.get(cid, frozenset()) & seen) for cid in item.get("contacts", [])):
            return True
    return False


def _client_ref(route: RouteConfig) -> str:
    # clientRef allows A-Z a-z 0-9 + - _ only (sendalert reference); route names may also hold dots
    return ("ev-" + route.name.replace(".", "-"))[:64]
