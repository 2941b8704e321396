"""Pure event routing and storm control (node/jobs/events.py): routes, templates, dedup keys, storm
decisions, caps and the sendalert bodies they produce (validated by the real request model)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertnode.contract.sendalert import ContactGroup, SendAlertRequest
from alertnode.errors import Problem
from alertnode.jobs import events
from alertnode.jobs.events import Event, OpenStorm, StormAction
from alertnode.jobs.events_config import EventsConfig, RouteConfig

GROUP: dict[str, Any] = {
    "name": "ops",
    "contacts": [{"id": "a", "sms": "+447700900001", "email": "a@example.org"},
                 {"id": "b", "email": "b@example.org"},
                 {"id": "c", "sms": "+447700900003", "call": "+447700900003", "lookups": {"locale": "de"}}],
    "sets": [{"name": "db", "ids": ["a", "b"]}, {"name": "ci", "ids": ["c"]}],
}


def route(name: str, match: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "match": match, "contact_group": "ops", "alert_types": ["sms"], **extra}


def config(**extra: Any) -> EventsConfig:
    base: dict[str, Any] = {
        "contact_groups": {"ops": GROUP},
        "routes": [route("ci", ["ci.*"]), route("db", ["db.*.down"]), route("users", ["User *"]),
                   route("chan", ["chat.*"], channel="ops-*"), route("fallback", [])],
    }
    base.update(extra)
    return EventsConfig.model_validate(base)


@pytest.mark.parametrize(("key", "channel", "expected"), [
    ("ci.deploy.success", "", "ci"),
    ("ci.", "", "ci"),
    ("db.main.down", "", "db"),
    ("db.main.up", "", None),
    ("db.down", "", None),
    ("User Signup", "", "users"),
    ("user Signup", "", None),           # fnmatchcase: case-sensitive on every platform
    ("chat.msg", "ops-eu", "chan"),
    ("chat.msg", "dev", None),           # the channel glob must match too
    ("", "", None),
])
def test_glob_routing_without_default(key: str, channel: str, expected: str | None) -> None:
    found = events.match_route(config(), Event("m", event=key, channel=channel))
    assert (found.name if found else None) == expected


def test_unmatched_events_use_the_default_route() -> None:
    found = events.match_route(config(default_route="fallback"), Event("m", event="nothing.matches"))
    assert found is not None and found.name == "fallback"


def test_first_matching_rule_wins() -> None:
    cfg = config(routes=[route("broad", ["*"]), route("ci", ["ci.*"])])
    found = events.match_route(cfg, Event("m", event="ci.x"))
    assert found is not None and found.name == "broad"


def test_config_problems_are_all_reported() -> None:
    cfg = EventsConfig.model_validate({
        "contact_groups": {"ops": GROUP},
        "routes": [route("a", ["x"], contact_sets=["nope"]), route("a", ["y"], contact_group="not-a-uuid"),
                   route("b", ["z"], bodies={"not a locale": "x"})],
        "default_route": "missing",
        "dedup_fields": ["severity"],
    })
    paths = [p.path for p in cfg.problems("events")]
    assert paths == ["events.routes[0].contact_sets", "events.routes[1].name", "events.routes[1].contact_group",
                     "events.routes[2].bodies.not a locale", "events.default_route", "events.dedup_fields"]
    assert all(isinstance(p, Problem) for p in cfg.problems("events"))
    assert config(default_route="fallback").problems("events") == []


def test_render_fills_fields_and_leaves_lookups() -> None:
    ev = Event("disk full", event="disk.full", title="Disk", link="https://x.example/1", tags=("a", "b"),
               channel="ops", data={"host": "web1", "n": 3, "nested": {"dc": "eu"}})
    text = events.render("{title}: {message} on {data.host} ({data.n}, {data.nested.dc}) {link} [{tags}] "
                         "{channel} {event} {firstname} {data.missing}", ev)
    assert text == "Disk: disk full on web1 (3, eu) https://x.example/1 [a, b] ops disk.full {firstname}"


def test_render_tidies_missing_title_and_link() -> None:
    assert events.render("{title}: {message} {link}", Event("only  the message ")) == "only  the message "
    assert events.render("{title} - {message}\n{link}", Event("m", link="https://x.example")) == "m\nhttps://x.example"


@given(st.text(min_size=1, max_size=50), st.text(max_size=50),
       st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_render_inserts_the_event_text_unchanged(message: str, title: str, data: dict[str, str]) -> None:
    ev = Event(message, title=title, data=data)
    assert events.render("{message}", ev) == message
    assert events.render("{title}: {message}", ev) == (f"{title}: {message}" if title else message)
    assert events.render("{message} {data.x}", ev) == (f"{message} {data['x']}" if data.get("x") else message)


def test_dedup_key_uses_explicit_key_or_event_and_fields() -> None:
    cfg = config(dedup_fields=["data.host", "title"])
    a = events.dedup_key(cfg, Event("m1", event="disk.full", title="T", data={"host": "w1"}))
    b = events.dedup_key(cfg, Event("other text", event="disk.full", title="T", data={"host": "w1"}))
    c = events.dedup_key(cfg, Event("m1", event="disk.full", title="T", data={"host": "w2"}))
    d = events.dedup_key(cfg, Event("m1", event="disk.full", dedup_key="incident-7"))
    e = events.dedup_key(cfg, Event("m1", event="x", dedup_key="incident-7"))
    assert a == b != c
    assert d == e != a
    # an explicit key can never collide with an event key that spells the same text
    assert events.dedup_key(config(), Event("m", event="incident-7")) != d


def test_storm_decisions_over_time() -> None:
    assert events.decide_storm(None, 100.0, 300).action is StormAction.NEW_ALERT
    open_storm = OpenStorm("s1", "alert-1", 100.0, 4)
    assert events.decide_storm(open_storm, 399.9, 300).action is StormAction.COALESCE
    assert events.decide_storm(open_storm, 400.0, 300).action is StormAction.NEW_ALERT   # the window is fixed
    assert events.decide_storm(open_storm, 101.0, 0).action is StormAction.NEW_ALERT     # 0 = never coalesce
    pending = OpenStorm("s2", None, 100.0, 0)
    decision = events.decide_storm(pending, 101.0, 300)
    assert decision.action is StormAction.RETRY_PENDING and decision.storm == pending
    cancelled = OpenStorm("s3", "alert-3", 100.0, 2, cancelled=True)
    assert events.decide_storm(cancelled, 101.0, 300).action is StormAction.NEW_ALERT


def test_contacts_of_sets() -> None:
    group = ContactGroup.model_validate(GROUP)
    contacts, missing = events.contacts_of(group, ["ci", "db", "nope"])
    assert [c.id for c in contacts] == ["a", "b", "c"] and missing == ["nope"]
    assert [c.id for c in events.contacts_of(group, ["all"])[0]] == ["a", "b", "c"]


def test_caps_suppress_contacts_at_their_limit() -> None:
    history = {"a": [0.0, 50.0], "b": [10.0], "c": []}
    decision = events.apply_caps(["a", "b", "c"], history, now=100.0, cap=2, window_s=60.0)
    # a: only 50.0 is within 60 s → 1 < 2 allowed; b: 10.0 is 90 s old → allowed
    assert decision.allowed == ("a", "b", "c") and decision.suppressed == ()
    decision = events.apply_caps(["a", "b", "c"], history, now=55.0, cap=2, window_s=60.0)
    assert decision.allowed == ("b", "c") and decision.suppressed == ("a",)
    assert events.apply_caps(["a"], history, now=55.0, cap=0, window_s=60.0).allowed == ("a",)


def test_plan_alert_is_a_valid_sendalert_with_items_per_type() -> None:
    r = RouteConfig.model_validate(route("db", ["db.*"], alert_types=["sms", "email", "call"], sms_sender="Ops",
                                         template="Hi {firstname}: {message}", bodies={"de": "Hallo: {message}"},
                                         subject="[{event}]", ivr={"ivrType": "simple", "ivrRequireResponse": True}))
    group = ContactGroup.model_validate(GROUP)
    target = events.Target({"inlineContactGroup": GROUP}, tuple(group.contacts))
    plan = events.plan_alert(r, Event("down", event="db.x"), target, unique_id="u-1", link_ref="ev-u-1",
                             link_lifetime="1d")
    assert plan is not None
    req = SendAlertRequest.model_validate(plan.request)
    assert req.uniqueId == "u-1" and req.linkedAlerts is not None and req.linkedAlerts.linkRef == "ev-u-1"
    sms, email, call = req.alert
    assert (sms.alertType, sms.contacts, sms.sender, sms.content) == ("sms", ["a", "c"], "Ops", "Hi {firstname}: down")
    assert sms.lookups is not None and sms.lookups.performLookups
    assert sms.body == {"de": "Hallo: down"}
    assert (email.contacts, email.subject) == (["a", "b"], "[db.x]")
    assert call.contacts == ["c"] and call.voiceFormat == "tts"
    assert call.ivrControl is not None and call.ivrControl.ivrRequireResponse
    assert plan.warnings == ("1 contact(s) have no sms address", "1 contact(s) have no email address",
                             "2 contact(s) have no call address")


def test_subject_is_one_line() -> None:
    r = RouteConfig.model_validate(route("m", ["m"], alert_types=["email"], subject="{title}"))
    group = ContactGroup.model_validate(GROUP)
    target = events.Target({"inlineContactGroup": GROUP}, tuple(group.contacts))
    plan = events.plan_alert(r, Event("m", title="Bad\r\nBcc: x@example.org"), target, unique_id="u",
                             link_ref=None, link_lifetime="1d")
    assert plan is not None and plan.request["alert"][0]["subject"] == "Bad Bcc: x@example.org"
    plan = events.plan_alert(r, Event("m"), target, unique_id="u", link_ref=None, link_lifetime="1d")
    assert plan is not None and plan.request["alert"][0]["subject"] == "alert"


def test_reachable_contacts_and_warnings() -> None:
    contacts = ContactGroup.model_validate(GROUP).contacts
    found, warnings = events.reachable(contacts, ["call"])
    assert [c.id for c in found] == ["c"] and warnings == ["2 contact(s) have no call address"]
    found, warnings = events.reachable(contacts, ["sms", "email"])
    assert [c.id for c in found] == ["a", "b", "c"]
    assert warnings == ["1 contact(s) have no sms address", "1 contact(s) have no email address"]


def test_escalation_needed_only_while_someone_has_not_responded() -> None:
    body = {"alert": [{"contacts": ["a", "b"], "linkedAlertModifiers": {"except": {"previouslySeen": "sms,email"}}}]}
    assert events.escalation_needed(body, {})
    assert events.escalation_needed(body, {"a": frozenset({"sms"}), "b": frozenset({"shortlink"})})
    assert not events.escalation_needed(body, {"a": frozenset({"sms"}), "b": frozenset({"email", "sms"})})


def test_plan_without_reachable_contacts_is_none() -> None:
    r = RouteConfig.model_validate(route("x", ["x"], alert_types=["call"]))
    contacts = tuple(c for c in ContactGroup.model_validate(GROUP).contacts if c.id != "c")
    assert events.plan_alert(r, Event("m"), events.Target({"inlineContactGroup": GROUP}, contacts),
                             unique_id="u", link_ref=None, link_lifetime="1d") is None


def test_plan_escalation_links_and_skips_who_has_seen() -> None:
    r = RouteConfig.model_validate(route("site", ["site.*"], escalation={"after_min": 5, "alert_types": ["email"],
                                                                         "template": "Still: {message}"}))
    assert r.escalation is not None
    contacts = ContactGroup.model_validate(GROUP).contacts
    plan = events.plan_escalation(r, r.escalation, Event("fire"), contacts, unique_id="u-esc", link_ref="ev-u")
    assert plan is not None
    req = SendAlertRequest.model_validate(plan.request)
    assert req.contactGroup is None
    assert req.linkedAlerts is not None and req.linkedAlerts.linkOnlyIfRefAlreadyExists
    (item,) = req.alert
    assert item.content == "Still: fire" and item.contacts == ["a", "b"]
    assert item.linkedAlertModifiers is not None and item.linkedAlertModifiers.except_ is not None
    assert item.linkedAlertModifiers.except_.previouslySeen == "sms,email,call,shortlink"
