"""The events runtime on a real store and intake with an in-memory channel and a test clock: the dedup
window over time, repair of a storm whose alert was begun but not recorded (crash in between), due
escalations to contacts who have not responded, housekeeping."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from alertnode.api import resource
from alertnode.api.events import originator_of
from alertnode.config import build
from alertnode.contract.sendalert import SendAlertRequest
from alertnode.domain import AlertCommand
from alertnode.errors import ApiError
from alertnode.jobs import events
from alertnode.jobs.events_runtime import EventsRuntime
from alertnode.jobs.intake import Intake
from alertnode.store import commands, storms
from alertnode.store.crypto import Cipher
from alertnode.store.db import SqliteStore as Store
from tests.jobs.test_dispatcher import MemoryChannel

GROUP = {"name": "ops", "contacts": [{"id": "a", "sms": "+447700900001"}, {"id": "b", "sms": "+447700900002"},
                                     {"id": "c", "email": "c@example.org"}]}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Rig:
    def __init__(self, tmp: Path, **events_cfg: Any) -> None:
        cfg = {"contact_groups": {"ops": GROUP},
               "routes": [{"name": "disk", "match": ["disk.*"], "contact_group": "ops", "alert_types": ["sms"],
                           "sms_sender": "OPS", "template": "{message}",
                           "escalation": {"after_min": 1, "alert_types": ["sms"], "template": "again: {message}"}}],
               "dedup_window_s": 300, **events_cfg}
        self.config = build({"events": cfg})
        self.clock = Clock(1_000_000.0)
        self.store = Store(tmp / "a.db")
        self.store.open()
        self.cipher = Cipher(b"k" * 32)
        self.intake = Intake(self.config.limits, self.store, self.cipher, {"sms": MemoryChannel()}, clock=self.clock)
        self.runtime = self.new_runtime()

    def new_runtime(self) -> EventsRuntime:
        return EventsRuntime(self.config.events, self.store, self.cipher, self.intake, clock=self.clock)

    async def send(self, message: str = "disk full", **fields: Any) -> dict[str, Any]:
        return await self.runtime.handle(events.Event(message, event="disk.full", **fields), originator_of("k"))

    async def alert(self, ref: str) -> dict[str, Any]:
        found = await self.store.read(lambda c: resource.build(c, self.cipher, ref, self.clock.now, 100, 0))
        assert found is not None
        return found

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return await self.store.read(lambda c: [tuple(r) for r in c.execute(sql)])


@pytest.fixture
def rig(tmp_path: Path) -> Any:
    r = Rig(tmp_path)
    yield r
    r.store.close()


async def test_dedup_window_opens_a_new_alert_after_it_passes(rig: Rig) -> None:
    first = await rig.send()
    rig.clock.now += 299
    second = await rig.send("disk full again")
    rig.clock.now += 1
    third = await rig.send()
    assert (first["coalesced"], second["coalesced"], third["coalesced"]) == (False, True, False)
    assert second["alertRef"] == first["alertRef"] != third["alertRef"]
    first_alert = await rig.alert(first["alertRef"])
    assert first_alert["numCoalesced"] == 1 and first_alert["numOriginators"] == 1
    assert first_alert["_links"]["originators"] == [{"href": f"/api/json/originators/{originator_of('k')}",
                                                     "name": originator_of("k")}]
    assert (await rig.alert(third["alertRef"]))["numCoalesced"] == 0


async def test_a_cancelled_alert_absorbs_no_more_events(rig: Rig) -> None:
    first = await rig.send()
    assert (await rig.send())["coalesced"] is True  # the storm is cached in memory from here on
    ref = first["alertRef"]
    assert await rig.store.write(lambda c: commands.apply(c, rig.cipher, ref, AlertCommand.CANCEL, rig.clock.now))
    rig.clock.now += 1
    again = await rig.send()
    assert again["coalesced"] is False and again["alertRef"] != ref
    assert (await rig.send())["alertRef"] == again["alertRef"]
    # read from the store (as after a restart): the cancelled storm is passed over too
    restarted = rig.new_runtime()
    answer = await restarted.handle(events.Event("m", event="disk.full"), originator_of("k"))
    assert answer["coalesced"] is True and answer["alertRef"] == again["alertRef"]


async def test_a_storm_begun_but_not_recorded_is_repaired_without_a_second_alert(rig: Rig) -> None:
    # the node crashed after the intake accepted the alert and before the storm row got its alertRef
    ix = rig.cipher.index("disk\x1e" + events.dedup_key(rig.config.events, events.Event("m", event="disk.full")))
    now = rig.clock.now
    await rig.store.write(lambda c: c.execute(
        "INSERT INTO event_storms (storm_id, dedup_ix, route, opened_at, last_at) VALUES ('s-1', ?, 'disk', ?, ?)",
        (ix, now, now)))
    accepted = await rig.intake.send_alert(SendAlertRequest.model_validate({
        "version": "latest", "clientRef": "x", "uniqueId": "s-1",
        "contactGroup": {"inlineContactGroup": GROUP},
        "alert": [{"alertType": "sms", "tag": "t", "sender": "OPS", "contacts": ["a"], "content": "disk full"}]}))
    answer = await rig.send()
    assert answer["alertRef"] == accepted["alertRef"] and not answer["coalesced"]
    assert await rig.rows("SELECT storm_id, alert_ref FROM event_storms") == [("s-1", accepted["alertRef"])]
    assert await rig.rows("SELECT COUNT(*) FROM alerts") == [(1,)]
    assert (await rig.send())["coalesced"] is True


async def test_escalation_goes_to_who_has_not_responded_when_due(rig: Rig) -> None:
    first = await rig.send()
    assert first["warnings"] == ["1 contact(s) have no sms address"]
    await rig.store.write(lambda c: c.execute("UPDATE deliveries SET responded_via = ',sms,' WHERE contact_id = 'a'"))
    assert await rig.runtime.fire_due(rig.clock.now + 59) == 0
    assert await rig.runtime.fire_due(rig.clock.now + 60) == 1
    assert await rig.runtime.fire_due(rig.clock.now + 61) == 0       # fired once
    ((result,),) = await rig.rows("SELECT result FROM event_escalations")
    follow_up = result.removeprefix("alert ")
    alert = await rig.alert(follow_up)
    assert alert["linkRef"] == (await rig.alert(first["alertRef"]))["linkRef"]
    assert alert["_links"]["linkFirst"] == {"href": f"/api/json/alerts/{first['alertRef']}"}
    assert [r["contact"] for r in alert["items"][0]["recipients"]] == ["b"]


async def test_escalation_with_everyone_responded_is_recorded_not_sent(rig: Rig) -> None:
    await rig.send()
    await rig.store.write(lambda c: c.execute("UPDATE deliveries SET responded_via = ',sms,'"))
    assert await rig.runtime.fire_due(rig.clock.now + 60) == 1
    ((result,),) = await rig.rows("SELECT result FROM event_escalations")
    assert result == "not sent: every contact has responded"
    assert await rig.rows("SELECT COUNT(*) FROM alerts") == [(1,)]


async def test_unroutable_and_unreachable_events_are_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path, routes=[{"name": "mail", "match": ["mail.*"], "contact_group": "ops",
                                 "contact_sets": ["all"], "alert_types": ["call"]}])
    try:
        with pytest.raises(ApiError) as no_route:
            await rig.runtime.handle(events.Event("m", event="x"), "o")
        assert no_route.value.http_status == 400 and no_route.value.problems[0].path == "event"
        with pytest.raises(ApiError) as no_address:
            await rig.runtime.handle(events.Event("m", event="mail.x"), "o")
        assert no_address.value.http_status == 409
        assert await rig.rows("SELECT COUNT(*) FROM event_storms") == [(0,)]
    finally:
        rig.store.close()


async def test_caps_and_housekeeping(tmp_path: Path) -> None:
    rig = Rig(tmp_path, cap_per_contact=1, cap_window_min=10)
    try:
        await rig.send(dedup_key="one")
        capped = await rig.send(dedup_key="two")
        assert capped["suppressedContacts"] == ["a", "b"] and "alertRef" not in capped
        assert len(await rig.rows("SELECT contact FROM event_suppressed")) == 2
        rig.clock.now += 600                                   # the cap window has passed
        again = await rig.send(dedup_key="three")
        assert again["alertRef"] and "suppressedContacts" not in again
        await rig.store.write(lambda c: storms.housekeeping(c, rig.clock.now + 601, 600))
        assert await rig.rows("SELECT contact FROM event_contacted") == []
    finally:
        rig.store.close()


async def test_concurrent_events_cannot_pass_the_cap_together(tmp_path: Path) -> None:
    rig = Rig(tmp_path, cap_per_contact=1, cap_window_min=10)
    try:
        answers = await asyncio.gather(*(rig.send(dedup_key=f"k{i}") for i in range(5)))
        assert sum("alertRef" in a for a in answers) == 1
        assert sorted(tuple(a.get("suppressedContacts", ())) for a in answers) == [()] + [("a", "b")] * 4
        assert await rig.rows("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        rig.store.close()
