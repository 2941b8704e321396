"""Events section of the configuration: routing rules for POST /api/events and storm control.

A rule matches the event's ``event`` key with a Unix glob (``fnmatch``: ``ci.*``, ``db.*.down``, ``User *``)
and says whom to alert (contact sets of a stored contact-group uuid or of an inline group defined here), by
which alert types, with which template, and whether to escalate to those who have not responded.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alertnode.contract.sendalert import UUID_PATTERN, ContactGroup, IvrControl, Tts
from alertnode.errors import Problem

EventAlertType = Literal["sms", "email", "call"]


def _call_only() -> list[EventAlertType]:
    return ["call"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EscalationConfig(_Frozen):
    after_min: float = Field(
        gt=0, le=10080, description="Minutes after the first alert; then a linked follow-up goes to the contacts "
        "who have not responded (previouslySeen)."
    )
    alert_types: list[EventAlertType] = Field(
        default_factory=_call_only, min_length=1, description="Alert types of the follow-up."
    )
    previously_seen: str = Field(
        "sms,email,call,shortlink", description="Responses that count as seen (linkedAlertModifiers.except)."
    )
    template: str | None = Field(None, description="Template of the follow-up (default: the route's template).")


class RouteConfig(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9+\-_.]{1,64}$", description="Name of the route (answered, logged).")
    match: list[str] = Field(
        default_factory=list, description="Unix globs matched against `event` (any one matches). "
        "Empty: the route is only used as the default route."
    )
    channel: str | None = Field(None, description="Optional glob the event's `channel` must match too.")
    contact_group: str = Field(
        min_length=1, description="A stored contact-group uuid (storecontent) or the name of a group in "
        "events.contact_groups."
    )
    contact_sets: list[str] = Field(default_factory=lambda: ["all"], min_length=1,
                                    description="Contact sets of that group to alert (`all` = everyone).")
    alert_types: list[EventAlertType] = Field(min_length=1, description="sms, email and/or call.")
    template: str = Field(
        "{title}: {message} {link}",
        description="Body: {title} {message} {link} {event} {channel} {tags} {data.KEY}; other {...} are the "
        "contacts' lookups (e.g. {firstname}).",
    )
    bodies: dict[str, str] = Field(
        default_factory=dict, description="Localized templates by RFC 5646 locale (body.<locale>), chosen by "
        "each contact's `locale` lookup; `template` is the default."
    )
    subject: str = Field("{title}", description="E-mail subject template (empty result: the event key).")
    sms_sender: str | None = Field(None, description="SMS sender (default: sms.default_sender).")
    email_sender: str = Field("alerts", description="E-mail sender local part.")
    email_reply_to: str | None = Field(None, description="E-mail reply-to local part (replies count as responses).")
    ivr: IvrControl | None = Field(None, description="ivrControl of calls (default: simple IVR).")
    tts: Tts | None = Field(None, description="TTS options of calls.")
    escalation: EscalationConfig | None = Field(None, description="Follow-up to those who have not responded.")


class EventsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="Accept events at POST /api/events (routed by the rules below).")
    contact_groups: dict[str, ContactGroup] = Field(
        default_factory=dict, description="Inline contact-groups routes may name (instead of a stored uuid)."
    )
    routes: list[RouteConfig] = Field(default_factory=list, description="Routing rules, first match wins.")
    default_route: str = Field(
        "", description="Name of the route for events no rule matches; empty: such events are refused (400)."
    )
    dedup_window_s: float = Field(
        300.0, ge=0, description="Events with the same dedup key within this many seconds of the open alert "
        "are coalesced into it (0 = never coalesce)."
    )
    dedup_fields: list[str] = Field(
        default_factory=list, description="Fields added to `event` to form the dedup key (title, message, "
        "channel, link, data.KEY); an explicit `dedupKey` in the event replaces it."
    )
    cap_per_contact: int = Field(0, ge=0, description="At most this many alerts per contact per cap_window_min "
                                                      "(0 = no cap); suppressed contacts are audited.")
    cap_window_min: float = Field(60.0, gt=0, description="Window of the per-contact cap, minutes.")
    link_lifetime: str = Field("1d", pattern=r"^\d{1,6}[Mwdhms]$",
                               description="Lifetime of the link between an alert and its escalation.")

    def route(self, name: str) -> RouteConfig | None:
        return next((r for r in self.routes if r.name == name), None)

    def problems(self, prefix: str) -> list[Problem]:
        problems: list[Problem] = []
        names: set[str] = set()
        for i, route in enumerate(self.routes):
            path = f"{prefix}.routes[{i}]"
            if route.name in names:
                problems.append(Problem(f"{path}.name", f"route {route.name!r} is defined twice"))
            names.add(route.name)
            group = self.contact_groups.get(route.contact_group)
            if group is None and not re.match(UUID_PATTERN, route.contact_group):
                problems.append(Problem(f"{path}.contact_group",
                                        "neither a stored contact-group uuid nor a name in contact_groups"))
            if group is not None:
                known = {s.name for s in group.sets} | {"all"}
                for name in route.contact_sets:
                    if name not in known:
                        problems.append(Problem(f"{path}.contact_sets", f"group {route.contact_group!r} has no "
                                                                        f"set {name!r}"))
            for locale in route.bodies:
                if not re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", locale):
                    problems.append(Problem(f"{path}.bodies.{locale}", "not an RFC 5646 locale"))
        if self.default_route and self.default_route not in names:
            problems.append(Problem(f"{prefix}.default_route", f"no route named {self.default_route!r}"))
        for field_name in self.dedup_fields:
            if field_name not in ("title", "message", "channel", "link") and not field_name.startswith("data."):
                problems.append(Problem(f"{prefix}.dedup_fields", f"{field_name!r} is not title, message, channel, "
                                                                  "link or data.KEY"))
        return problems
