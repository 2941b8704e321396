"""Rich items from sendalert to the channel, with a real HTTP server for the images: the intake fetches each
image once and keeps it with the alert (encrypted), refuses what cannot be used at its JSON path, and the
dispatcher hands SMS a page link and e-mail its image, link and tracking image. Opens are counted by the store
rules (store/rich.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertnode.api import resource
from alertnode.config import build
from alertnode.contract.sendalert import SendAlertRequest
from alertnode.domain import ChannelEvent, DeliveryState
from alertnode.errors import ApiError
from alertnode.jobs.dispatcher import Addresses, Dispatcher
from alertnode.jobs.image_fetch import ImageFetcher
from alertnode.jobs.intake import Intake
from alertnode.jobs.results import Results
from alertnode.store import listing
from alertnode.store import rich as rich_store
from alertnode.store import views as store_views
from alertnode.store.crypto import Cipher
from alertnode.store.db import SqliteStore as Store
from tests.image_server import ImageServer, png
from tests.jobs.test_dispatcher import MemoryChannel


class RichRig:
    def __init__(self, tmp: Path, config: dict[str, Any] | None = None) -> None:
        self.config = build({"public": {"base_url": "https://a.example"}, **(config or {})})
        self.store = Store(tmp / "a.db")
        self.store.open()
        self.cipher = Cipher(b"k" * 32)
        self.sms, self.email = MemoryChannel(), MemoryChannel(alert_type="email")
        self.results = Results(self.store, self.cipher)
        channels = {"sms": self.sms, "email": self.email}
        self.intake = Intake(self.config.limits, self.store, self.cipher, channels,
                             images=ImageFetcher(self.config.content))
        addresses = Addresses(self.config.public.base_url, self.config.mail.domain, self.config.mail.default_sender)
        self.dispatcher = Dispatcher(self.config.dispatcher, addresses, self.store, self.cipher, channels,
                                     self.results.report, content=self.config.content)

    async def send(self, *items: dict[str, Any]) -> dict[str, Any]:
        body = {"version": "latest", "clientRef": "rich", "alert": list(items)}
        return await self.intake.send_alert(SendAlertRequest.model_validate(body))

    async def dispatch(self, count: int) -> None:
        for channel in (self.sms, self.email):
            await channel.start(self.results)
        await self.dispatcher.start()
        deadline = time.monotonic() + 10
        try:
            while len(self.sms.works) + len(self.email.works) < count:
                assert time.monotonic() < deadline, "timed out"
                self.dispatcher.wake()
                await asyncio.sleep(0.02)
        finally:
            await self.dispatcher.stop()


@pytest.fixture
def images() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def sms(**fields: Any) -> dict[str, Any]:
    return {"alertType": "sms", "tag": "s", "sender": "ALERTS", "recipients": ["+447700900123"], **fields}


def email(**fields: Any) -> dict[str, Any]:
    return {"alertType": "email", "tag": "e", "recipients": ["a@example.com", "b@example.com"], **fields}


async def test_image_fetched_once_stored_encrypted_and_handed_to_the_channels(tmp_path: Path,
                                                                            images: ImageServer) -> None:
    rig = RichRig(tmp_path)
    try:
        url = images.url("/red.png")
        answer = await rig.send(sms(content="Boiler 3 pressure high.", image_url=url),
                                email(content="Boiler 3 pressure high.", image_url=url,
                                      link_url="https://runbook.example/b3", link_label="Runbook", trackOpens=True))
        assert answer["success"] and [r["path"] for r in images.requests] == ["/red.png"]
        ref = answer["alertRef"]
        stored = await rig.store.read(lambda c: rich_store.get_image(c, rig.cipher, ref, 1))
        assert stored is not None and stored.mime == "image/png" and stored.data == png()
        raw = await rig.store.read(lambda c: c.execute("SELECT data FROM alert_images").fetchall())
        assert len(raw) == 2 and all(png() not in bytes(r[0]) for r in raw)  # encrypted at rest

        await rig.dispatch(3)
        (text,) = [w.text for w in rig.sms.works]
        token = rig.sms.works[0].token
        assert text == f"Boiler 3 pressure high.\nhttps://a.example/m/{token}"
        assert rig.sms.works[0].rich is None
        for work in rig.email.works:
            assert work.rich is not None and work.rich.image == png() and work.rich.image_type == "image/png"
            assert (work.rich.link_url, work.rich.link_label) == ("https://runbook.example/b3", "Runbook")
            assert work.rich.open_pixel_url == f"https://a.example/o/{work.token}.gif"
    finally:
        rig.store.close()


async def test_tracking_follows_the_setting_and_the_item(tmp_path: Path) -> None:
    rig = RichRig(tmp_path, {"content": {"track_opens": True}})
    try:
        await rig.send(email(tag="default", content="x"), email(tag="off", content="y", trackOpens=False),
                       sms(content="plain"))
        await rig.dispatch(5)
        tracked = {w.tag: w.rich is not None and w.rich.open_pixel_url is not None for w in rig.email.works}
        assert tracked == {"default": True, "off": False}
        assert [w.text for w in rig.sms.works] == ["plain"]  # nothing rich: no page link
        off = next(w for w in rig.email.works if w.tag == "off")
        assert off.rich is None
    finally:
        rig.store.close()


async def test_unusable_images_refuse_the_alert_at_their_paths(tmp_path: Path, images: ImageServer) -> None:
    rig = RichRig(tmp_path, {"content": {"image_max_bytes": 100_000}})
    try:
        with pytest.raises(ApiError) as err:
            await rig.send(sms(image_url=images.url("/big.png")), sms(image_url=images.url("/text.png")),
                           email(image_url=images.url("/loop-a")), email(image_url=images.url("/missing.png")),
                           sms(content="fine", image_url=images.url("/red.png")))
        assert err.value.http_status == 400 and err.value.reason == "an image cannot be used"
        found = {p.path: p.message for p in err.value.problems}
        assert set(found) == {"alert[0].image_url", "alert[1].image_url", "alert[2].image_url",
                              "alert[3].image_url"}
        assert "more than 100000 (content.image_max_bytes)" in found["alert[0].image_url"]
        assert "not a PNG, JPEG, GIF or WebP" in found["alert[1].image_url"]
        assert "redirect loop" in found["alert[2].image_url"]
        assert found["alert[3].image_url"] == "the server answered HTTP 404"
        assert await rig.store.read(lambda c: c.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]) == 0
    finally:
        rig.store.close()


async def test_views_count_once_and_responses_count_as_opens(tmp_path: Path) -> None:
    rig = RichRig(tmp_path)
    try:
        answer = await rig.send(email(content="x"), sms(content="y", recipients=["+447700900123", "+447700900124"]))
        await rig.dispatch(4)
        ref = answer["alertRef"]
        ids = await rig.store.read(lambda c: dict(c.execute(
            "SELECT d.id, d.alert_type FROM deliveries d ORDER BY d.id").fetchall()))
        mail_a, mail_b, sms_a, sms_b = ids
        first = [await rig.store.write(lambda c, d=d, p=p: rich_store.record_view(c, d, p, 1.0))
                 for d, p in ((mail_a, False), (mail_a, False), (mail_a, True), (mail_a, True), (mail_b, False))]
        assert first == [True, False, True, False, True]
        views = await rig.store.read(lambda c: c.execute(
            "SELECT opens, previews FROM delivery_views WHERE delivery_id = ?", (mail_a,)).fetchone())
        assert tuple(views) == (2, 2)
        # an SMS reply: whoever answers has read it
        await rig.results.report(ChannelEvent(sms_a, "replied", 2.0, DeliveryState.RESPONDED, {"text": "OK"}))
        # a message whose receipt never came went out all the same (the resource's counts.sent says so too)
        await rig.results.report(ChannelEvent(sms_b, "unconfirmed", 3.0, DeliveryState.UNCONFIRMED, {}, None, True))
        counts = await rig.store.read(lambda c: rich_store.open_counts(c, ref))
        assert counts.by_type["email"] == rich_store.TypeOpens(sent=2, opened=1, previewed=1)
        assert counts.by_type["sms"] == rich_store.TypeOpens(sent=2, opened=1, previewed=0)
        assert (counts.open_count, counts.sent, counts.open_rate, counts.previewed) == (2, 4, 0.5, 1)
        assert counts.as_json() == {
            "openCount": 2, "openRate": 0.5, "previewCount": 1,
            "opens": {"email": {"sent": 2, "opened": 1, "previewed": 1, "openRate": 0.5},
                      "sms": {"sent": 2, "opened": 1, "previewed": 0, "openRate": 0.5}}}
        assert (await rig.store.read(lambda c: rich_store.open_counts(c, "nope"))).open_rate == 0.0
    finally:
        rig.store.close()


async def test_the_resource_and_the_collection_show_opens_beside_the_response_rate(tmp_path: Path) -> None:
    rig = RichRig(tmp_path, {"content": {"track_opens": True}})
    try:
        ref = (await rig.send(email(content="x"), sms(content="y", recipients=["+447700900123",
                                                                              "+447700900124"])))["alertRef"]
        other = (await rig.send(sms(content="z", recipients=["+447700900125"])))["alertRef"]
        await rig.dispatch(5)
        ids = await rig.store.read(lambda c: [int(r[0]) for r in c.execute(
            "SELECT id FROM deliveries WHERE alert_ref = ? ORDER BY id", (ref,))])
        mail_a, mail_b, sms_a, _ = ids
        # a person opens one e-mail's tracking image, a proxy fetches the other's; a person views one SMS page
        for delivery, person in ((mail_a, True), (mail_b, False), (sms_a, True)):
            await rig.store.write(lambda c, d=delivery, p=person: rich_store.record_view(c, d, p, 1.0))
        view = await rig.store.read(lambda c: store_views.alert_view(c, rig.cipher, ref, 100, 0))
        assert view is not None
        counts = resource.as_json(view, 2.0, 0)["counts"]
        assert (counts["openCount"], counts["openRate"], counts["responseRate"]) == (2, 0.5, 0.0)
        assert list(counts)[-3:] == ["responseRate", "openCount", "openRate"]
        # the collection: every alert of the page read at once, one with no opens at all
        page = await rig.store.read(lambda c: listing.list_alerts(c, listing.AlertFilter(), 2.0, 10, None))
        listed = {s.alert.alert_ref: resource.summary_json(s)["counts"] for s in page.alerts}
        assert (listed[ref]["openCount"], listed[ref]["openRate"]) == (2, 0.5)
        assert (listed[other]["openCount"], listed[other]["openRate"]) == (0, 0.0)
        # an escalation step's counts stay as they were
        assert "openCount" not in resource.counts({"sent": 1})
    finally:
        rig.store.close()
