"""The event sink channels report to: every event stored once, folded into the delivery's state,
queued for the alert's callback in the same transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from alertnode.domain import ChannelEvent, DeliveryState, InboundMessage
from alertnode.errors import StoreError
from alertnode.jobs.cluster import Leases
from alertnode.store import eventlog, repo
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)


_HELD = (DeliveryState.IN_PROGRESS, DeliveryState.ANSWERED)


class Results:
    """Implements ``alertnode.domain.EventSink``. Reports about deliveries this node holds carry the claim it
    holds them under (``leases``), so a report made after another node took one over changes nothing."""

    def __init__(self, store: Store, cipher: Cipher, on_event: Callable[[ChannelEvent], None] | None = None,
                 leases: Leases | None = None) -> None:
        self.store = store
        self.cipher = cipher
        self.on_event = on_event
        self.leases = leases or Leases("", 30.0)

    def _settled(self, events: Sequence[ChannelEvent]) -> None:
        """Deliveries whose events take them out of this node's hands are no longer held."""
        self.leases.forget(e.delivery_id for e in events
                           if e.retry_after is not None or e.final or (e.state is not None and e.state not in _HELD))

    async def report(self, event: ChannelEvent) -> None:
        claims = self.leases.claims([event.delivery_id])
        seq = await self.store.write_when_back(lambda c: eventlog.apply_events(c, self.cipher, [event], claims)[0])
        self._settled([event])
        if seq is None:
            log.warning("event %s for unknown delivery %s dropped", event.kind, event.delivery_id)
            return
        if self.on_event is not None:
            self.on_event(event)

    async def report_many(self, events: Sequence[ChannelEvent]) -> None:
        """One write for a batch (an SMPP window's acks): one transaction, one wake-up of the event loop."""
        if not events:
            return
        batch = list(events)
        claims = self.leases.claims(e.delivery_id for e in batch)
        try:
            seqs = await self.store.write_when_back(lambda c: eventlog.apply_events(c, self.cipher, batch, claims))
        except StoreError:
            raise
        except Exception:  # one bad event must not take the others with it: store them one by one
            log.exception("a batch of %d events failed; storing them one by one", len(batch))
            failed: Exception | None = None
            for event in batch:
                try:
                    await self.report(event)
                except Exception as exc:  # noqa: BLE001 (re-raised below, after the others are stored)
                    failed = failed or exc
            if failed is not None:
                raise failed from None
            return
        self._settled(batch)
        for event, seq in zip(batch, seqs, strict=True):
            if seq is None:
                log.warning("event %s for unknown delivery %s dropped", event.kind, event.delivery_id)
            elif self.on_event is not None:
                self.on_event(event)

    async def unsolicited(self, message: InboundMessage) -> None:
        row_id = await self.store.write_when_back(lambda c: eventlog.insert_inbound(c, self.cipher, message))
        log.info("unsolicited %s message kept as inbound #%d", message.channel, row_id)

    async def find_recent(self, alert_type: str, address: str, at: float) -> int | None:
        return await self.store.read(lambda c: repo.find_recent(c, self.cipher, alert_type, address, at))

    async def find_by_token(self, token: str) -> int | None:
        import time

        now = time.time()
        return await self.store.read(lambda c: repo.find_by_token(c, token, now))
