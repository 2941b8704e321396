"""Escalation steps of an events route: planned when the route's alert is created, fired one after the other.
Pure: no I/O; time is passed in.

Rules:

1. A route's ``escalation`` is one step or a list; each step is a linked follow-up (``linkOnlyIfRefAlreadyExists``)
   to its contacts: the contacts the route's alert went to, or the contacts of the step's own ``contact_sets``
   (the next tier), by the step's alert types.
2. Step 1 is due ``after_min`` after the route's alert can go out; step k+1 ``after_min`` after step k went out
   (or was skipped). "Can go out" is in the route's quiet hours and zone: an event during quiet hours starts
   the clock when they end. Each contact's own ``timezone`` lookup holds that contact's messages (the
   dispatcher's quiet hours, as for sendalert) but does not move the steps.
3. When a step is due: if the route's alert was cancelled, the chain stops (nothing more is sent); while it is
   on hold, the step waits (checked again every ``HOLD_RECHECK_S``); a step with ``stop_on_any_answer`` is
   skipped once anyone of the link has answered; otherwise each contact who answered (by a way in the step's
   ``previously_seen``) is left out, and a step nobody is left for is skipped. A declined answer (an SMS or
   e-mail "no", the replay IVR's not-OK key) is no answer: the store never counts it (``ChannelEvent.declines``).
4. A skipped step still schedules the next one (the next tier is not spared because the first had answered,
   unless that step says ``stop_on_any_answer``).

The steps travel in the escalation row (encrypted): ``{"steps": [step k, step k+1, ...], "quiet": {...}}``; a row
written before steps existed holds just the follow-up's sendalert body and is step 1 of 1.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alertnode.contract.sendalert import Contact
from alertnode.domain import AlertStatus
from alertnode.jobs import events, quiet
from alertnode.jobs.events_config import RouteConfig

HOLD_RECHECK_S = 60.0


@dataclass(frozen=True)
class Step:
    number: int
    after_s: float
    request: Mapping[str, Any] | None
    """the follow-up's sendalert body; None when none of the step's contacts has an address for its types"""
    stop_on_any_answer: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "after_s": self.after_s, "request": self.request,
                "stop_on_any_answer": self.stop_on_any_answer}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Step:
        return cls(int(raw["number"]), float(raw["after_s"]), raw.get("request"), bool(raw.get("stop_on_any_answer")))


@dataclass(frozen=True)
class Chain:
    """The steps still to come (the first is the row's own) and the route's quiet hours."""

    steps: tuple[Step, ...]
    quiet: Mapping[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"steps": [s.as_json() for s in self.steps], "quiet": dict(self.quiet) if self.quiet else None}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Chain:
        if "steps" not in raw:  # a row of the single escalation before steps: the body itself, step 1 of 1
            return cls((Step(1, 0.0, raw),))
        return cls(tuple(Step.from_json(s) for s in raw["steps"]), raw.get("quiet"))

    @property
    def rest(self) -> Chain | None:
        return Chain(self.steps[1:], self.quiet) if len(self.steps) > 1 else None


def route_quiet(route: RouteConfig) -> dict[str, str] | None:
    if route.cease_at is None or route.resume_at is None:
        return None
    return {"cease": route.cease_at, "resume": route.resume_at, "tz": route.timezone}


def goes_out_at(chain_quiet: Mapping[str, str] | None, at: float) -> float:
    """When something due at ``at`` goes out in the route's quiet hours (rule 2)."""
    if not chain_quiet:
        return at
    return quiet.next_allowed(at, chain_quiet["cease"], chain_quiet["resume"], chain_quiet["tz"])


def unique_id(storm_id: str, number: int) -> str:
    # step 1 keeps the single escalation's id, so rows written before steps existed stay idempotent
    return f"{storm_id}-esc" if number == 1 else f"{storm_id}-esc{number}"


def plan(route: RouteConfig, event: events.Event, target: events.Target, alerted: Sequence[Contact], *,
         storm_id: str, link_ref: str) -> Chain | None:
    """The route's steps for one alert (rule 1); None when the route does not escalate."""
    configured = route.escalation_steps
    if not configured:
        return None
    steps: list[Step] = []
    for number, step in enumerate(configured, start=1):
        contacts: Sequence[Contact] = alerted
        if step.contact_sets is not None and target.group is not None:
            contacts, _ = events.contacts_of(target.group, step.contact_sets)
        follow_up = events.plan_escalation(route, step, event, contacts, unique_id=unique_id(storm_id, number),
                                           link_ref=link_ref)
        steps.append(Step(number, step.after_min * 60.0, follow_up.request if follow_up else None,
                          step.stop_on_any_answer))
    return Chain(tuple(steps), route_quiet(route))


def first_due(chain: Chain, now: float) -> float:
    return goes_out_at(chain.quiet, now) + chain.steps[0].after_s


class Action(enum.Enum):
    SEND = "send"
    SKIP = "skip"    # not sent; the next step is scheduled
    WAIT = "wait"    # checked again at ``until``
    STOP = "stop"    # not sent; nor is any later step


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    until: float = 0.0


def decide(step: Step, alert_status: AlertStatus | None, responded: Mapping[str, frozenset[str]],
           now: float) -> Decision:
    """What to do with a due step (rule 3). ``alert_status``: the stored status of the route's alert (None: gone);
    ``responded``: contact id -> ways it answered in the link (declines not counted)."""
    if alert_status is None:
        return Decision(Action.STOP, "not sent: the alert is gone (past its lifetime)")
    if alert_status is AlertStatus.CANCELLED:
        return Decision(Action.STOP, "not sent: the alert was cancelled")
    if alert_status is AlertStatus.ON_HOLD:
        return Decision(Action.WAIT, "the alert is on hold", now + HOLD_RECHECK_S)
    if step.request is None:
        return Decision(Action.SKIP, "not sent: no contact of the step has an address for its alert types")
    if step.stop_on_any_answer and any(responded.values()):
        return Decision(Action.SKIP, "not sent: someone has answered (stop_on_any_answer)")
    if not events.escalation_needed(step.request, responded):
        return Decision(Action.SKIP, "not sent: every contact has responded")
    return Decision(Action.SEND)


def next_due(chain: Chain, fired_at: float) -> float | None:
    """When the step after the one fired at ``fired_at`` is due (rule 2, 4); None after the last."""
    rest = chain.rest
    if rest is None:
        return None
    return goes_out_at(chain.quiet, fired_at) + rest.steps[0].after_s
