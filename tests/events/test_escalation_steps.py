"""Escalation steps of events routes: the pure rules (jobs/escalation_steps.py) fed values, the route config's
checks, and the steps on a real store and intake with in-memory channels and a test clock (who gets each step,
declined answers, stop_on_any_answer, hold and cancel, quiet hours, rows written before steps existed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertnode.api.events import originator_of
from alertnode.config import build
from alertnode.domain import AlertCommand, AlertStatus, ChannelEvent, DeliveryState
from alertnode.errors import ConfigError
from alertnode.jobs import escalation_steps, events
from alertnode.jobs.escalation_steps import Action, Chain, Step, decide
from alertnode.jobs.events_runtime import EventsRuntime
from alertnode.jobs.intake import Intake
from alertnode.jobs.results import Results
from alertnode.store import commands, escalations
from alertnode.store.crypto import Cipher
from alertnode.store.db import SqliteStore as Store
from tests.events.test_runtime import Clock
from tests.jobs.test_dispatcher import MemoryChannel

BODY = {"version": "latest", "clientRef": "x", "linkedAlerts": {"linkRef": "ev-1"},
        "alert": [{"alertType": "sms", "contacts": ["a", "b"],
                   "linkedAlertModifiers": {"except": {"previouslySeen": "sms,email"}}}]}


def test_decisions() -> None:
    step = Step(2, 60.0, BODY)
    assert decide(step, AlertStatus.RUNNING, {}, 100.0).action is Action.SEND
    assert decide(step, AlertStatus.RUNNING, {"a": frozenset({"sms"})}, 100.0).action is Action.SEND  # b is left
    done = decide(step, AlertStatus.RUNNING, {"a": frozenset({"sms"}), "b": frozenset({"email"})}, 100.0)
    assert (done.action, done.reason) == (Action.SKIP, "not sent: every contact has responded")
    # b answered by a way this step does not count: b still gets it
    assert decide(step, AlertStatus.RUNNING, {"a": frozenset({"sms"}), "b": frozenset({"call"})}, 100.0).action \
        is Action.SEND
    anyone = decide(Step(2, 60.0, BODY, stop_on_any_answer=True), AlertStatus.RUNNING, {"a": frozenset({"sms"})}, 1)
    assert anyone.action is Action.SKIP and "stop_on_any_answer" in anyone.reason
    held = decide(step, AlertStatus.ON_HOLD, {}, 100.0)
    assert (held.action, held.until) == (Action.WAIT, 100.0 + escalation_steps.HOLD_RECHECK_S)
    assert decide(step, AlertStatus.CANCELLED, {}, 100.0).action is Action.STOP
    assert decide(step, None, {}, 100.0).action is Action.STOP
    assert decide(Step(3, 60.0, None), AlertStatus.RUNNING, {}, 100.0).action is Action.SKIP


def test_timing_follows_the_route_quiet_hours() -> None:
    # 2026-11-23 21:30 UTC: quiet 2100-0700 in London (UTC in November) holds the first alert until 07:00
    now = 1795469400.0
    chain = Chain((Step(1, 600.0, BODY), Step(2, 300.0, BODY)), {"cease": "2100", "resume": "0700",
                                                                 "tz": "Europe/London"})
    resume = 1795503600.0  # 2026-11-24 07:00 UTC
    assert escalation_steps.first_due(chain, now) == resume + 600
    assert escalation_steps.next_due(chain, resume + 600) == resume + 900
    assert escalation_steps.next_due(Chain((Step(1, 1.0, BODY),)), now) is None
    no_quiet = Chain((Step(1, 600.0, BODY),))
    assert escalation_steps.first_due(no_quiet, now) == now + 600


def test_chain_round_trip_and_rows_before_steps() -> None:
    chain = Chain((Step(1, 60.0, BODY), Step(2, 30.0, None, True)), {"cease": "2200", "resume": "0600", "tz": "UTC"})
    assert Chain.from_json(chain.as_json()) == chain
    rest = chain.rest
    assert rest is not None and [s.number for s in rest.steps] == [2] and rest.rest is None
    old = Chain.from_json(BODY)  # a single escalation's row: the follow-up body itself
    assert old.steps == (Step(1, 0.0, BODY),) and old.rest is None


def route_cfg(**route: Any) -> dict[str, Any]:
    group = {"name": "ops", "contacts": [{"id": "a", "sms": "+447700900001"}, {"id": "m", "sms": "+447700900009"}],
             "sets": [{"name": "oncall", "ids": ["a"]}, {"name": "managers", "ids": ["m"]}]}
    base = {"name": "r", "match": ["r.*"], "contact_group": "ops", "contact_sets": ["oncall"], "alert_types": ["sms"],
            "sms_sender": "OPS"}
    return {"events": {"contact_groups": {"ops": group}, "routes": [{**base, **route}]}}


def test_route_config_checks() -> None:
    cfg = build(route_cfg(escalation=[{"after_min": 1}, {"after_min": 2, "contact_sets": ["managers"]}],
                          cease_at="2200", resume_at="0600", timezone="Europe/Berlin"))
    route = cfg.events.routes[0]
    assert [s.after_min for s in route.escalation_steps] == [1, 2]
    assert build(route_cfg(escalation={"after_min": 1})).events.routes[0].escalation_steps[0].after_min == 1
    with pytest.raises(ConfigError) as err:
        build(route_cfg(escalation=[{"after_min": 1, "contact_sets": ["bosses"]}], cease_at="2200",
                        timezone="Mars/Base"))
    found = {p.path: p.message for p in err.value.problems}
    assert found == {"events.routes[0].cease_at": "quiet hours need both cease_at and resume_at",
                     "events.routes[0].timezone": "unknown time zone 'Mars/Base' (use an IANA name)",
                     "events.routes[0].escalation[0].contact_sets": "group 'ops' has no set 'bosses'"}
    with pytest.raises(ConfigError, match="give at least one step"):
        build(route_cfg(escalation=[]))
    with pytest.raises(ConfigError, match="cease_at"):
        build(route_cfg(cease_at="2500", resume_at="0600"))
    with pytest.raises(ConfigError, match=r"call_sender: an E\.164 number"):
        build(route_cfg(call_sender="0800 123"))


GROUP = {"name": "ops", "contacts": [
    {"id": "a", "sms": "+447700900001", "email": "a@example.org"},
    {"id": "b", "sms": "+447700900002", "email": "b@example.org"},
    {"id": "c", "sms": "+447700900003"},
    {"id": "m", "sms": "+447700900009", "email": "m@example.org"}],
    "sets": [{"name": "oncall", "ids": ["a", "b", "c"]}, {"name": "managers", "ids": ["m"]}]}


class StepRig:
    def __init__(self, tmp: Path, **route: Any) -> None:
        base = {"name": "plant", "match": ["plant.*"], "contact_group": "ops", "contact_sets": ["oncall"],
                "alert_types": ["sms"], "sms_sender": "OPS", "template": "{message}",
                "escalation": [{"after_min": 1, "alert_types": ["email"], "previously_seen": "sms,email"},
                               {"after_min": 2, "alert_types": ["sms"], "contact_sets": ["managers"]},
                               {"after_min": 3, "alert_types": ["email"], "contact_sets": ["managers"]}]}
        self.config = build({"events": {"contact_groups": {"ops": GROUP}, "routes": [{**base, **route}]}})
        self.clock = Clock(1_795_430_000.0)  # 2026-11-23 10:33 UTC
        self.store = Store(tmp / "a.db")
        self.store.open()
        self.cipher = Cipher(b"k" * 32)
        channels = {"sms": MemoryChannel(), "email": MemoryChannel(alert_type="email")}
        self.intake = Intake(self.config.limits, self.store, self.cipher, channels, clock=self.clock)
        self.runtime = EventsRuntime(self.config.events, self.store, self.cipher, self.intake, clock=self.clock)
        self.results = Results(self.store, self.cipher)

    async def send(self) -> dict[str, Any]:
        return await self.runtime.handle(events.Event("boiler 3 pressure", event="plant.boiler"), originator_of("k"))

    async def fire_at(self, offset_s: float, start: float) -> int:
        self.clock.now = start + offset_s
        return await self.runtime.fire_due(self.clock.now)

    async def steps(self, ref: str) -> list[escalations.StepRow]:
        return await self.store.read(lambda c: escalations.steps_of(c, ref))

    async def recipients(self, result: str | None) -> list[str]:
        assert result is not None and result.startswith("alert "), result
        ref = result.removeprefix("alert ")
        return await self.store.read(lambda c: [r[0] for r in c.execute(
            "SELECT contact_id FROM deliveries WHERE alert_ref = ? ORDER BY contact_id", (ref,))])

    async def answer(self, contact: str, alert_ref: str, declined: bool = False) -> None:
        (delivery_id,) = await self.store.read(lambda c: c.execute(
            "SELECT id FROM deliveries WHERE alert_ref = ? AND contact_id = ?", (alert_ref, contact)).fetchone())
        await self.results.report(ChannelEvent(delivery_id, "replied", self.clock.now, DeliveryState.RESPONDED,
                                               {"text": "no" if declined else "ok", "ack": not declined,
                                                "declined": declined}))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[StepRig]:
    r = StepRig(tmp_path)
    yield r
    r.store.close()


async def test_three_steps_each_skip_who_answered(rig: StepRig) -> None:
    start = rig.clock.now
    first = await rig.send()
    ref = first["alertRef"]
    assert first["escalationSteps"] == 3
    await rig.answer("a", ref)                    # a acknowledges by SMS
    await rig.answer("b", ref, declined=True)     # b says no: reached, but that is not an answer
    assert await rig.fire_at(59, start) == 0
    assert await rig.fire_at(60, start) == 1      # step 1: e-mail to who has not answered and has an address
    one = await rig.steps(ref)
    assert [(s.step, s.done_at is not None) for s in one] == [(1, True), (2, False)]
    assert await rig.recipients(one[0].result) == ["b"]   # c has no e-mail; a answered
    assert one[1].due_at == start + 60 + 120
    assert await rig.fire_at(179, start) == 0
    assert await rig.fire_at(180, start) == 1     # step 2: the managers' set, by SMS
    two = await rig.steps(ref)
    assert await rig.recipients(two[1].result) == ["m"]
    step2_ref = (two[1].result or "").removeprefix("alert ")
    await rig.answer("m", step2_ref)
    assert await rig.fire_at(360, start) == 1     # step 3: m answered step 2: nobody is left
    three = await rig.steps(ref)
    assert [s.result for s in three][2] == "not sent: every contact has responded"
    assert len(three) == 3 and all(s.done_at is not None for s in three)


async def test_stop_on_any_answer_skips_the_next_tier(tmp_path: Path) -> None:
    rig = StepRig(tmp_path, escalation=[{"after_min": 1, "alert_types": ["sms"], "contact_sets": ["managers"],
                                         "stop_on_any_answer": True}])
    try:
        start = rig.clock.now
        ref = (await rig.send())["alertRef"]
        await rig.answer("c", ref)
        assert await rig.fire_at(60, start) == 1
        (row,) = await rig.steps(ref)
        assert row.result == "not sent: someone has answered (stop_on_any_answer)"
    finally:
        rig.store.close()


async def test_declined_answers_do_not_stop_the_next_tier(tmp_path: Path) -> None:
    rig = StepRig(tmp_path, escalation=[{"after_min": 1, "alert_types": ["sms"], "contact_sets": ["managers"],
                                         "stop_on_any_answer": True}])
    try:
        start = rig.clock.now
        ref = (await rig.send())["alertRef"]
        for contact in ("a", "b", "c"):
            await rig.answer(contact, ref, declined=True)
        assert await rig.fire_at(60, start) == 1
        (row,) = await rig.steps(ref)
        assert await rig.recipients(row.result) == ["m"]
    finally:
        rig.store.close()


async def test_hold_waits_and_cancel_stops_the_chain(rig: StepRig) -> None:
    start = rig.clock.now
    ref = (await rig.send())["alertRef"]
    assert await rig.store.write(lambda c: commands.apply(c, rig.cipher, ref, AlertCommand.HOLD, rig.clock.now))
    assert await rig.fire_at(60, start) == 1
    (row,) = await rig.steps(ref)
    assert row.done_at is None and row.due_at == start + 60 + escalation_steps.HOLD_RECHECK_S
    assert await rig.store.write(lambda c: commands.apply(c, rig.cipher, ref, AlertCommand.RESUME, rig.clock.now))
    assert await rig.fire_at(120, start) == 1
    assert [s.step for s in await rig.steps(ref)] == [1, 2]
    assert await rig.store.write(lambda c: commands.apply(c, rig.cipher, ref, AlertCommand.CANCEL, rig.clock.now))
    assert await rig.fire_at(600, start) == 1
    rows = await rig.steps(ref)
    assert [(s.step, s.result) for s in rows][1] == (2, "not sent: the alert was cancelled")
    assert len(rows) == 2  # nothing after it


async def test_quiet_hours_go_into_the_alerts_and_move_the_first_step(tmp_path: Path) -> None:
    rig = StepRig(tmp_path, cease_at="1000", resume_at="1100", timezone="UTC")  # now is 10:33 UTC: quiet
    try:
        first = await rig.send()
        resume = 1_795_431_600.0  # 11:00 UTC
        assert first["escalationAt"] == "2026-11-23T11:01:00.000Z"
        (row,) = await rig.steps(first["alertRef"])
        assert row.due_at == resume + 60
        request = await rig.store.read(lambda c: rig.cipher.decrypt_json(c.execute(
            "SELECT request FROM alerts WHERE alert_ref = ?", (first["alertRef"],)).fetchone()[0]))
        assert request["schedule"] == {"ceaseAt": "1000", "resumeAt": "1100", "timezone": "UTC", "publish": True}
        # the steps carry the quiet hours too: the dispatcher holds their messages as it holds the first
        chain = Chain.from_json(await rig.store.read(lambda c: rig.cipher.decrypt_json(c.execute(
            "SELECT request FROM event_escalations").fetchone()[0])))
        assert all(s.request is not None and s.request["schedule"]["ceaseAt"] == "1000" for s in chain.steps)
    finally:
        rig.store.close()


async def test_a_row_written_before_steps_existed_still_fires(rig: StepRig) -> None:
    start = rig.clock.now
    first = await rig.send()
    ref = first["alertRef"]
    body = {"version": "latest", "clientRef": "ev-plant", "uniqueId": "legacy-esc",
            "linkedAlerts": {"linkRef": "legacy", "linkOnlyIfRefAlreadyExists": True},
            "alert": [{"alertType": "sms", "tag": "plant-sms", "contacts": ["c"], "content": "again",
                       "sender": "OPS"}]}
    link = await rig.store.read(lambda c: c.execute("SELECT link_ref FROM alerts WHERE alert_ref = ?",
                                                    (ref,)).fetchone()[0])
    body["linkedAlerts"]["linkRef"] = link
    await rig.store.write(lambda c: c.execute("DELETE FROM event_escalations"))
    await rig.store.write(lambda c: c.execute(
        "INSERT INTO event_escalations (alert_ref, due_at, request) VALUES (?, ?, ?)",
        (ref, start + 30, rig.cipher.encrypt_json(body))))
    assert await rig.fire_at(30, start) == 1
    (row,) = await rig.steps(ref)
    assert row.step == 1 and await rig.recipients(row.result) == ["c"]
