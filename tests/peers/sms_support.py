"""Helpers for the SMS channel tests: a store, work items (the in-memory event sink is tests.fakes.MemorySink)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from alertnode.domain import DeliveryWork
from alertnode.sms.channel import SmsChannel
from alertnode.sms.config import SmsConfig
from alertnode.store.crypto import Cipher
from alertnode.store.db import SqliteStore as Store
from tests.fakes import MemorySink as MemorySink  # the channel tests import it from here


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
    attempt: int = 1,
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
        attempt=attempt,
    )


def sms_config(*links: dict[str, Any], **extra: Any) -> SmsConfig:
    return SmsConfig.model_validate({"links": list(links), **extra})


async def bound(channel: SmsChannel, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not channel.ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"link never bound: {channel.info()}")
        await asyncio.sleep(0.02)
