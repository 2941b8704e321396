"""The dispatcher with an in-memory channel (a unit test of its logic; real channels are tested
against real peers in tests/peers): rendering per recipient, localized bodies, quiet hours,
capacity, re-queue at start."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from alertnode.config import build
from alertnode.contract.sendalert import SendAlertRequest
from alertnode.domain import Channel, ChannelEvent, ChannelInfo, DeliveryState, DeliveryWork, EventSink
from alertnode.jobs.dispatcher import Addresses, Dispatcher
from alertnode.jobs.intake import Intake
from alertnode.jobs.results import Results
from alertnode.store import repo
from alertnode.store.crypto import Cipher
from alertnode.store.db import SqliteStore as Store


class MemoryChannel(Channel):
    name = "memory"
    alert_types = ("sms",)

    def __init__(self, capacity: int = 100, alert_type: str = "sms") -> None:
        self.alert_types = (alert_type,)
        self.capacity = capacity
        self.works: list[DeliveryWork] = []
        self.sink: EventSink | None = None

    async def start(self, sink: EventSink) -> None:
        self.sink = sink

    async def stop(self, grace: float) -> None:
        pass

    def free_capacity(self) -> int:
        return self.capacity - len(self.works)

    async def submit(self, work: DeliveryWork) -> None:
        self.works.append(work)
        assert self.sink is not None
        await self.sink.report(ChannelEvent(work.delivery_id, "sent", time.time(), DeliveryState.SENT))

    def info(self) -> ChannelInfo:
        return ChannelInfo(self.name, self.alert_types, "up", self.capacity, len(self.works))


class Rig:
    def __init__(self, tmp: Path, channel: MemoryChannel, clock: Any = time.time) -> None:
        self.config = build({"public": {"base_url": "https://a.example"}})
        self.store = Store(tmp / "a.db")
        self.store.open()
        self.cipher = Cipher(b"k" * 32)
        self.channel = channel
        self.results = Results(self.store, self.cipher)
        channels = {channel.alert_types[0]: channel}
        self.intake = Intake(self.config.limits, self.store, self.cipher, channels, clock=clock)
        addresses = Addresses(self.config.public.base_url, self.config.mail.domain, self.config.mail.default_sender)
        self.dispatcher = Dispatcher(self.config.dispatcher, addresses, self.store, self.cipher, channels,
                                     self.results.report, clock=clock)

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.intake.send_alert(SendAlertRequest.model_validate(body))

    async def run_until(self, predicate: Any, timeout: float = 10.0) -> None:
        await self.channel.start(self.results)
        await self.dispatcher.start()
        deadline = time.monotonic() + timeout
        try:
            while not predicate():
                assert time.monotonic() < deadline, "timed out"
                self.dispatcher.wake()
                await asyncio.sleep(0.02)
        finally:
            await self.dispatcher.stop()

    def close(self) -> None:
        self.store.close()


GROUP = {"inlineContactGroup": {"name": "g", "contacts": [
    {"id": "a", "sms": "+447700900201", "lookups": {"firstname": "Ann", "locale": "de-DE"}},
    {"id": "b", "sms": "+447700900202", "lookups": {"firstname": "Bob", "locale": "fr-CA"}},
    {"id": "c", "sms": "+447700900203", "lookups": {"firstname": "Cy"}},
]}}


async def test_lookups_and_localized_bodies_per_recipient(tmp_path: Path) -> None:
    rig = Rig(tmp_path, MemoryChannel())
    try:
        await rig.send({"version": "latest", "clientRef": "ref-9", "contactGroup": GROUP,
                        "alert": [{"alertType": "sms", "tag": "t", "sender": "ALERTS", "contactSets": ["all"],
                                   "content": "Hi {firstname}, see {shortlink} ({reference}, {type})",
                                   "body": {"de": "Hallo {firstname}", "fr-CA": "Bonjour {firstname}"},
                                   "lookups": {"shortlink": {"reference": "drill"}}}]})
        await rig.run_until(lambda: len(rig.channel.works) == 3)
        texts = {w.contact_id: w.text for w in rig.channel.works}
        assert texts["a"] == "Hallo Ann"
        assert texts["b"] == "Bonjour Bob"
        token = next(w.token for w in rig.channel.works if w.contact_id == "c")
        assert texts["c"] == f"Hi Cy, see https://a.example/s/{token} (drill, sms)"
        states = await rig.store.read(lambda c: [r[0] for r in c.execute("SELECT state FROM deliveries")])
        assert states == ["sent"] * 3
    finally:
        rig.close()


async def test_capacity_is_respected(tmp_path: Path) -> None:
    rig = Rig(tmp_path, MemoryChannel(capacity=2))
    try:
        await rig.send({"version": "latest", "clientRef": "x", "alert": [
            {"alertType": "sms", "tag": "t", "sender": "ALERTS", "content": "hi",
             "recipients": [f"+4477009002{i:02d}" for i in range(5)]}]})
        await rig.run_until(lambda: len(rig.channel.works) == 2)
        await asyncio.sleep(0.2)
        assert len(rig.channel.works) == 2
    finally:
        rig.close()


async def test_quiet_hours_defer_in_the_contacts_zone(tmp_path: Path) -> None:
    # 12:00 UTC in November: quiet hours 1100-1300 hold in London (12:00 local) but not in Tokyo
    # (21:00 local); each contact's own zone decides
    now = 1795435200.0  # 2026-11-23T12:00:00Z
    rig = Rig(tmp_path, MemoryChannel(), clock=lambda: now)
    try:
        group = {"inlineContactGroup": {"name": "g", "contacts": [
            {"id": "ldn", "sms": "+447700900201", "lookups": {"timezone": "Europe/London"}},
            {"id": "tyo", "sms": "+447700900202", "lookups": {"timezone": "Asia/Tokyo"}}]}}
        await rig.send({"version": "latest", "clientRef": "x", "contactGroup": group,
                        "schedule": {"ceaseAt": "1100", "resumeAt": "1300", "timezone": "UTC"},
                        "alert": [{"alertType": "sms", "tag": "t", "sender": "ALERTS", "content": "hi",
                                   "contactSets": ["all"]}]})
        await rig.run_until(lambda: len(rig.channel.works) == 1)
        await asyncio.sleep(0.2)
        assert [w.contact_id for w in rig.channel.works] == ["tyo"]
        due = await rig.store.read(lambda c: c.execute(
            "SELECT due_at, state FROM deliveries WHERE contact_id = 'ldn'").fetchone())
        assert due[1] == "queued" and due[0] == now + 3600  # 13:00 London = 13:00 UTC in November
    finally:
        rig.close()


async def test_in_progress_requeued_at_start(tmp_path: Path) -> None:
    rig = Rig(tmp_path, MemoryChannel())
    try:
        await rig.send({"version": "latest", "clientRef": "x", "alert": [
            {"alertType": "sms", "tag": "t", "sender": "ALERTS", "content": "hi", "recipients": ["+447700900201"]}]})
        now = time.time()
        claimed = await rig.store.write(lambda c: repo.claim_due(c, rig.cipher, "sms", now, 10))
        assert len(claimed) == 1  # handed to a channel, then the node "stopped"
        await rig.run_until(lambda: len(rig.channel.works) == 1)
        assert rig.channel.works[0].attempt == 2
    finally:
        rig.close()


async def test_lifetime_expires_then_purges(tmp_path: Path) -> None:
    clock = [time.time()]
    rig = Rig(tmp_path, MemoryChannel(capacity=0), clock=lambda: clock[0])
    try:
        answer = await rig.send({"version": "latest", "clientRef": "x", "lifetime": "1h", "alert": [
            {"alertType": "sms", "tag": "t", "sender": "ALERTS", "content": "hi", "recipients": ["+447700900201"]}]})
        ref = answer["alertRef"]
        token = await rig.store.read(lambda c: c.execute("SELECT token FROM deliveries").fetchone()[0])
        assert await rig.results.find_by_token(token) is not None
        clock[0] += 3601
        expired = await rig.store.write(lambda c: repo.expire_due(c, rig.cipher, clock[0]))
        assert expired == 1
        state = await rig.store.read(lambda c: c.execute("SELECT state FROM deliveries").fetchone()[0])
        assert state == "expired"
        # no response is processed past the lifetime
        found = await rig.store.read(lambda c: repo.find_by_token(c, token, clock[0]))
        assert found is None
        assert await rig.store.read(lambda c: repo.find_recent(c, rig.cipher, "sms", "+447700900201", clock[0])) is None
        purged = await rig.store.write(lambda c: repo.purge_expired(c, clock[0]))
        assert purged == 1
        left = await rig.store.read(lambda c: [c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                                               for t in ("alerts", "items", "deliveries", "events", "outbox")])
        assert left == [0, 0, 0, 0, 0]
        assert await rig.store.read(lambda c: repo.get_alert(c, ref)) is None
    finally:
        rig.close()


async def test_email_subject_gets_lookups_too(tmp_path: Path) -> None:
    rig = Rig(tmp_path, MemoryChannel(alert_type="email"))
    try:
        await rig.send({"version": "latest", "clientRef": "x", "alert": [
            {"alertType": "email", "tag": "t", "content": "Body for {recipient}", "subject": "For {recipient}",
             "recipients": ["ann@example.org"], "lookups": {"performLookups": True, "uniqueLookups": True}}]})
        await rig.run_until(lambda: len(rig.channel.works) == 1)
        work = rig.channel.works[0]
        assert work.params["subject"] == "For ann@example.org"
        assert work.text == "Body for ann@example.org"
    finally:
        rig.close()


async def test_sender_lookup_of_an_email_is_the_whole_address(tmp_path: Path) -> None:
    rig = Rig(tmp_path, MemoryChannel(alert_type="email"))
    try:
        await rig.send({"version": "latest", "clientRef": "r", "alert": [
            {"alertType": "email", "tag": "t", "sender": "duty", "subject": "From {sender}",
             "content": "Reply to {sender}, {recipient}.", "recipients": ["ann@example.org"],
             "lookups": {"performLookups": True, "uniqueLookups": True}},
            {"alertType": "email", "tag": "u", "subject": "x", "content": "{sender}",
             "recipients": ["bob@example.org"], "lookups": {"performLookups": True}}]})
        await rig.run_until(lambda: len(rig.channel.works) == 2)
        by_tag = {w.tag: w for w in rig.channel.works}
        assert by_tag["t"].text == "Reply to duty@alertnode.localdomain, ann@example.org."
        assert by_tag["t"].params["subject"] == "From duty@alertnode.localdomain"
        assert by_tag["u"].text == "alerts@alertnode.localdomain"  # no sender: the configured default
    finally:
        rig.close()


async def test_an_empty_shortlink_section_still_makes_a_link(tmp_path: Path) -> None:
    """The reference: a shortlink section implies performLookups and uniqueLookups, whatever it holds."""
    rig = Rig(tmp_path, MemoryChannel())
    try:
        await rig.send({"version": "latest", "clientRef": "ref-1",
                        "alert": [{"alertType": "sms", "tag": "t", "sender": "ALERTS", "recipients": ["+447700900201"],
                                   "content": "Open {shortlink} ({reference})", "lookups": {"shortlink": {}}}]})
        await rig.run_until(lambda: len(rig.channel.works) == 1)
        (work,) = rig.channel.works
        assert work.text == f"Open https://a.example/s/{work.token} (ref-1)"
    finally:
        rig.close()
