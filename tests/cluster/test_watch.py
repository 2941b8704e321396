"""An inbound call may reach either node: the node that does not hold an inboundCall delivery watches it
(``Channel.watch``) so a call routed to it is answered there; once that call has settled the delivery, the
watcher lets it go and the holder drops its own wait (two dispatchers on one PostgreSQL database, channels
that record what they are handed)."""

from __future__ import annotations

import asyncio
import time

from alertnode.config import build
from alertnode.contract.sendalert import SendAlertRequest
from alertnode.domain import Channel, ChannelEvent, ChannelInfo, DeliveryState, DeliveryWork, EventSink
from alertnode.jobs.cluster import Leases, Membership
from alertnode.jobs.dispatcher import Addresses, Dispatcher
from alertnode.jobs.intake import Intake
from alertnode.jobs.results import Results
from alertnode.store.crypto import Cipher
from alertnode.store.db import PostgresStore
from tests.pg import PASSWORD, PgCluster

CIPHER = Cipher(b"k" * 32)


class Waiting(Channel):
    name = "voice"
    alert_types = ("inboundCall",)

    def __init__(self) -> None:
        self.submitted: list[int] = []
        self.watched: list[DeliveryWork] = []
        self.cancelled: list[int] = []

    async def start(self, sink: EventSink) -> None:
        pass

    async def stop(self, grace: float) -> None:
        pass

    def free_capacity(self) -> int:
        return 100

    async def submit(self, work: DeliveryWork) -> None:
        self.submitted.append(work.delivery_id)

    async def watch(self, work: DeliveryWork) -> None:
        self.watched.append(work)

    async def cancel(self, delivery_ids: list[int]) -> None:
        self.cancelled.extend(delivery_ids)

    def info(self) -> ChannelInfo:
        return ChannelInfo(self.name, self.alert_types, "up", 100, 0)


def _dispatcher(store: PostgresStore, node: str, channel: Waiting) -> tuple[Dispatcher, Results, Leases]:
    config = build({})
    leases = Leases(node, 30.0)
    results = Results(store, CIPHER, leases=leases)
    addresses = Addresses(config.public.base_url, config.mail.domain, config.mail.default_sender)
    return (Dispatcher(config.dispatcher, addresses, store, CIPHER, {"inboundCall": channel}, results.report,
                       leases=leases), results, leases)


async def test_an_inbound_call_at_the_other_node_settles_the_delivery(pg_cluster: PgCluster) -> None:
    url = pg_cluster.new_database()
    stores = [PostgresStore(url, password=PASSWORD) for _ in range(2)]
    for s in stores:
        s.open()
    chan_a, chan_b = Waiting(), Waiting()
    disp_a, _, leases_a = _dispatcher(stores[0], "node-a", chan_a)
    disp_b, results_b, _ = _dispatcher(stores[1], "node-b", chan_b)
    try:
        intake = Intake(build({}).limits, stores[0], CIPHER, {"inboundCall": chan_a})
        await intake.send_alert(SendAlertRequest.model_validate({
            "version": "latest", "clientRef": "in", "alert": [{
                "alertType": "inboundCall", "tag": "t", "content": "Pump 2 failed",
                "telephoneNumber": "+442000000001", "recipients": ["+447700900123"]}]}))
        await disp_a.start()
        deadline = time.monotonic() + 10
        while not chan_a.submitted:
            assert time.monotonic() < deadline
            disp_a.wake()
            await asyncio.sleep(0.05)
        [delivery_id] = chan_a.submitted
        await disp_b.watch_round()
        assert [w.delivery_id for w in chan_b.watched] == [delivery_id]
        assert chan_b.watched[0].params["telephoneNumber"] == "+442000000001" and not chan_b.submitted
        await disp_b.watch_round()
        assert len(chan_b.watched) == 1  # handed over once
        # the call reached node B: B answers it and reports, the delivery is settled
        now = time.time()
        await results_b.report(ChannelEvent(delivery_id, "answered", now, DeliveryState.ANSWERED))
        await results_b.report(ChannelEvent(delivery_id, "completed", now, DeliveryState.RESPONDED, final=True))
        await disp_b.watch_round()
        assert chan_b.cancelled == [delivery_id]  # B lets it go
        # A learns at its heartbeat that the delivery it waited on was answered elsewhere: it stops waiting
        dropped: dict[str, list[int]] = {}
        membership = Membership(build({}).cluster, stores[0], CIPHER, leases_a, lambda: {}, dropped.update)
        await membership.beat()
        assert dropped == {"inboundCall": [delivery_id]} and membership.lost == 0
    finally:
        await disp_a.stop()
        for s in stores:
            s.close()
