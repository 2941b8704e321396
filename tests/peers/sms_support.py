"""Helpers for the SMS channel tests: an in-memory event sink, a store, work items."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alertnode.domain import ChannelEvent, DeliveryWork, InboundMessage
from alertnode.sms.channel import SmsChannel
from alertnode.sms.config import SmsConfig
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store


class MemorySink:
    """What the app's sink does, in memory: keeps events; find_recent looks at what was submitted."""

    def __init__(self) -> None:
        self.events: list[ChannelEvent] = []
        self.inbound: list[InboundMessage] = []
        self.sent_to: dict[str, list[tuple[int, float]]] = {}
        self._changed = asyncio.Event()

    def sent(self, address: str, delivery_id: int) -> None:
        self.sent_to.setdefault(address, []).append((delivery_id, time.time()))

    async def report_many(self, events: Sequence[ChannelEvent]) -> None:
        for event in events:
            await self.report(event)

    async def report(self, event: ChannelEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def unsolicited(self, message: InboundMessage) -> None:
        self.inbound.append(message)
        self._changed.set()

    async def find_recent(self, alert_type: str, address: str, at: float) -> int | None:
        found = [d for d, t in self.sent_to.get(address, []) if t <= at]
        return found[-1] if found else None

    async def find_by_token(self, token: str) -> int | None:
        return None

    def of(self, delivery_id: int, kind: str | None = None) -> list[ChannelEvent]:
        return [e for e in self.events if e.delivery_id == delivery_id and (kind is None or e.kind == kind)]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {self.events[-10:]} inbound: {self.inbound}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))


def open_store(path: Path) -> Store:
    store = Store(path, synchronous="NORMAL")
    store.open()
    return store


def cipher() -> Cipher:
    return Cipher(os.urandom(32))


def work(
    delivery_id: int,
    address: str,
    text: str,
    *,
    sender: str = "ALERTS",
    expires_in: float | None = 3600,
    **params: Any,
) -> DeliveryWork:
    now = time.time()
    return DeliveryWork(
        delivery_id=delivery_id,
        alert_ref="a1",
        client_ref="c1",
        item_index=0,
        tag="t",
        alert_type="sms",
        address=address,
        contact_id=None,
        token=f"tok{delivery_id}",
        content=text.encode(),
        text=text,
        params={"sender": sender, **params},
        created_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )


def sms_config(*links: dict[str, Any], **extra: Any) -> SmsConfig:
    return SmsConfig.model_validate({"links": list(links), **extra})


async def bound(channel: SmsChannel, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not channel.ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"link never bound: {channel.info()}")
        await asyncio.sleep(0.02)
