"""Test fakes shared by the channel tests. ``MemorySink`` is the node's event sink
(``alertnode.domain.EventSink``) in memory: a channel under test reports to it, and the test waits for
what it expects.

Reply correlation, as the store answers it in the node: ``find_recent`` answers the newest delivery the test
marked ``sent()`` to that address by then (any alert type), else, for e-mail, one the test put in ``recent``
(by lower-case address); ``find_by_token`` answers from ``tokens``. ``fail_reports = n`` makes the next
``n`` reports fail as a full disk would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from alertnode.domain import ChannelEvent, InboundMessage
from alertnode.errors import StoreError


class MemorySink:
    def __init__(self) -> None:
        self.events: list[ChannelEvent] = []
        self.inbound: list[InboundMessage] = []
        self.sent_to: dict[str, list[tuple[int, float]]] = {}
        self.recent: dict[str, int] = {}
        self.tokens: dict[str, int] = {}
        self.fail_reports = 0
        self._changed = asyncio.Event()

    # -- EventSink ----------------------------------------------------------------------------------
    async def report_many(self, events: Sequence[ChannelEvent]) -> None:
        for event in events:
            await self.report(event)

    async def report(self, event: ChannelEvent) -> None:
        if self.fail_reports:
            self.fail_reports -= 1
            raise StoreError("disk full")
        self.events.append(event)
        self._changed.set()

    async def unsolicited(self, message: InboundMessage) -> None:
        self.inbound.append(message)
        self._changed.set()

    async def find_recent(self, alert_type: str, address: str, at: float) -> int | None:
        found = [d for d, t in self.sent_to.get(address, []) if t <= at]
        if found:
            return found[-1]
        return self.recent.get(address.lower()) if alert_type == "email" else None

    async def find_by_token(self, token: str) -> int | None:
        return self.tokens.get(token)

    # -- for tests ----------------------------------------------------------------------------------
    def sent(self, address: str, delivery_id: int) -> None:
        """Something was sent to ``address`` for ``delivery_id`` now (a reply from it correlates to it)."""
        self.sent_to.setdefault(address, []).append((delivery_id, time.time()))

    def of(self, delivery_id: int, kind: str | None = None) -> list[ChannelEvent]:
        return [e for e in self.events if e.delivery_id == delivery_id and (kind is None or e.kind == kind)]

    def kinds(self, delivery_id: int) -> list[str]:
        return [e.kind for e in self.of(delivery_id)]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Until ``predicate()`` holds; AssertionError (with the last events) after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {self.events[-10:]} inbound: {self.inbound}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def wait_for(self, pred: Callable[[ChannelEvent], bool], timeout: float = 30.0) -> ChannelEvent:
        """The first event ``pred`` accepts, once it has come."""
        await self.wait(lambda: any(pred(e) for e in self.events), timeout)
        return next(e for e in self.events if pred(e))

    async def event_for(self, delivery_id: int, kind: str, timeout: float = 30.0) -> ChannelEvent:
        return await self.wait_for(lambda e: e.delivery_id == delivery_id and e.kind == kind, timeout)

    async def final(self, delivery_id: int, timeout: float = 30.0) -> ChannelEvent:
        return await self.wait_for(lambda e: e.delivery_id == delivery_id and e.final, timeout)

    async def attempt_end(self, delivery_id: int, timeout: float = 30.0) -> ChannelEvent:
        return await self.wait_for(lambda e: e.delivery_id == delivery_id and e.kind == "attempt_ended", timeout)
