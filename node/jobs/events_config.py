"""Events section of the configuration: routing rules for POST /api/events and storm control.

A rule matches the event's ``event`` key with a Unix glob (``fnmatch``: ``ci.*``, ``db.*.down``, ``User *``)
and says whom to alert (contact sets of a stored contact-group uuid or of an inline group defined here), by
which alert types, with which template, and whether to escalate to those who have not responded.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from alertnode.contract.sendalert import UUID_PATTERN, ContactGroup, IvrControl, Tts
from alertnode.errors import Problem

EventAlertType = Literal["sms", "email", "call"]


def _call_only() -> list[EventAlertType]:
    return ["call"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EscalationConfig(_Frozen):
    """One escalation step. A route's ``escalation`` is one step or a list of them (``[[events.routes.escalation]]``):
    each is a linked follow-up sent ``after_min`` minutes after the step before it (the first alert for the first
    step), to the contacts who have not responded."""

    after_min: float = Field(
        gt=0, le=10080, description="Minutes after the step before (the first alert for the first step), counted "
        "from when that step could go out in the route's quiet hours; fractions are allowed (0.5 = 30 s)."
    )
    alert_types: list[EventAlertType] = Field(
        default_factory=_call_only, min_length=1, description="Alert types of the follow-up."
    )
    previously_seen: str = Field(
        "sms,email,call,shortlink", description="Responses that count as seen (linkedAlertModifiers.except)."
    )
    template: str | None = Field(None, description="Template of the follow-up (default: the route's template).")
    contact_sets: list[str] | None = Field(
        None, min_length=1, description="Contact sets of the route's group this step goes to (the next tier, e.g. "
        "[\"managers\"]); default: the contacts the route's alert went to."
    )
    stop_on_any_answer: bool = Field(
        False, description="Skip this step altogether once anyone of the alert has answered (default: skip only "
        "those who answered). A declined answer (an SMS or e-mail 'no', the not-OK key) is not an answer."
    )


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
    escalation: EscalationConfig | list[EscalationConfig] | None = Field(
        None, description="Follow-up to those who have not responded: one step, or a list of steps each after the "
        "one before (e.g. call after 10 min, then the managers' set after 15 more)."
    )
    call_sender: str | None = Field(None, description="Caller line id (E.164) of the route's calls.")
    cease_at: str | None = Field(
        None, pattern=r"^([01]\d|2[0-3])[0-5]\d$", description="Quiet hours start, HHMM (with resume_at): nothing of "
        "the route is sent between them; each contact's `timezone` lookup overrides the route's zone."
    )
    resume_at: str | None = Field(None, pattern=r"^([01]\d|2[0-3])[0-5]\d$", description="Quiet hours end, HHMM.")
    timezone: str = Field("UTC", description="IANA zone of the quiet hours (and of the escalation steps' timing).")

    @property
    def escalation_steps(self) -> list[EscalationConfig]:
        if self.escalation is None:
            return []
        return [self.escalation] if isinstance(self.escalation, EscalationConfig) else list(self.escalation)


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
            problems.extend(_route_timing_problems(route, group, path))
        if self.default_route and self.default_route not in names:
            problems.append(Problem(f"{prefix}.default_route", f"no route named {self.default_route!r}"))
        for field_name in self.dedup_fields:
            if field_name not in ("title", "message", "channel", "link") and not field_name.startswith("data."):
                problems.append(Problem(f"{prefix}.dedup_fields", f"{field_name!r} is not title, message, channel, "
                                                                  "link or data.KEY"))
        return problems


MAX_ESCALATION_STEPS = 10


def _route_timing_problems(route: RouteConfig, group: ContactGroup | None, path: str) -> list[Problem]:
    """The caller line id, quiet hours (both ends, a known zone) and escalation steps (how many, their sets)."""
    problems: list[Problem] = []
    if route.call_sender is not None and not re.match(r"^\+[1-9][0-9]{5,14}$", route.call_sender):
        problems.append(Problem(f"{path}.call_sender", "an E.164 number (+ and country code)"))
    if (route.cease_at is None) != (route.resume_at is None):
        problems.append(Problem(f"{path}.cease_at", "quiet hours need both cease_at and resume_at"))
    try:
        ZoneInfo(route.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(f"{path}.timezone", f"unknown time zone {route.timezone!r} (use an IANA name)"))
    steps = route.escalation_steps
    if isinstance(route.escalation, list) and not steps:
        problems.append(Problem(f"{path}.escalation", "give at least one step (or leave escalation out)"))
    if len(steps) > MAX_ESCALATION_STEPS:
        problems.append(Problem(f"{path}.escalation", f"at most {MAX_ESCALATION_STEPS} steps"))
    if group is not None:
        known = {s.name for s in group.sets} | {"all"}
        for i, step in enumerate(steps):
            spath = f"{path}.escalation[{i}]" if isinstance(route.escalation, list) else f"{path}.escalation"
            for name in step.contact_sets or []:
                if name not in known:
                    problems.append(Problem(f"{spath}.contact_sets", f"group {route.contact_group!r} has no set "
                                                                     f"{name!r}"))
    return problems
