"""Prometheus metrics of the running node, in a registry of its own (never the global one).

Three sources, each read where it is cheapest:

* counters fed by every :class:`~alertnode.domain.ChannelEvent` a channel reports (``observe``);
* store counts (alerts by status, deliveries, callback outbox) read once per scrape
  (:func:`alertnode.store.views.store_counts`, run through ``Store.read`` by the route, then handed to
  the collector);
* channel state from ``Channel.info()`` at scrape time (links, registration, calls, SMTP counters).

Numbers a channel does not expose in ``info()`` are not invented here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from alertnode.domain import ChannelEvent, ChannelInfo
from alertnode.domain_info import MailInfo, SmsInfo, VoiceInfo
from alertnode.store.views import StoreCounts as StoreCounts
from alertnode.store.views import store_counts as store_counts

# SMPP 3.4 §5.1.3 command_status ESME_RTHROTTLED
ESME_RTHROTTLED = 0x58
SMPP_LINK_STATES = ("unbound", "binding", "bound", "backing_off", "unbinding", "stopped")


@dataclass
class Snapshot:
    """What the collector yields on the next scrape (set by the route just before generating)."""

    counts: StoreCounts = field(default_factory=StoreCounts)
    channels: Sequence[tuple[ChannelInfo, bool]] = ()
    callbacks_sent: int = 0
    callbacks_failures: int = 0
    uptime_s: float = 0.0
    nodes: Sequence[Mapping[str, Any]] = ()
    """every node sharing the store (the app's ``cluster_state``): node, alive, lastBeatSecondsAgo, holds"""


class _StateCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self._snapshot()
        up = GaugeMetricFamily("alertnode_uptime_seconds", "Seconds since the node started.")
        up.add_metric([], snap.uptime_s)
        yield up
        alerts = GaugeMetricFamily("alertnode_alerts", "Alerts in the store by status (scheduled, running, on_hold, "
                                   "cancelled, completed).", labels=["status"])
        for status, n in sorted(snap.counts.alerts.items()):
            alerts.add_metric([status], n)
        yield alerts
        deliveries = GaugeMetricFamily(
            "alertnode_deliveries", "Deliveries (one per recipient) in the store by alert type and state.",
            labels=["alert_type", "state"],
        )
        for (alert_type, state), n in sorted(snap.counts.deliveries.items()):
            deliveries.add_metric([alert_type, state], n)
        yield deliveries
        queue = GaugeMetricFamily("alertnode_callback_queue", "Callback events waiting to be sent.")
        queue.add_metric([], snap.counts.outbox_pending)
        yield queue
        dead = GaugeMetricFamily("alertnode_callback_dead", "Callback events given up on.")
        dead.add_metric([], snap.counts.outbox_dead)
        yield dead
        sent = CounterMetricFamily("alertnode_callbacks_sent", "Callback events delivered since start.")
        sent.add_metric([], snap.callbacks_sent)
        yield sent
        failures = CounterMetricFamily("alertnode_callback_failures", "Failed callback POSTs since start.")
        failures.add_metric([], snap.callbacks_failures)
        yield failures
        inbound = GaugeMetricFamily("alertnode_inbound_unmatched", "Inbound messages that matched no delivery.")
        inbound.add_metric([], snap.counts.inbound_unmatched)
        yield inbound
        yield from _channel_metrics(snap.channels)
        yield from _cluster_metrics(snap.nodes)


def _cluster_metrics(nodes: Sequence[Mapping[str, Any]]) -> Iterable[Metric]:
    alive = GaugeMetricFamily("alertnode_cluster_node_alive", "1 while a node sharing the store heartbeats.",
                              labels=["node"])
    beat = GaugeMetricFamily("alertnode_cluster_heartbeat_age_seconds", "Seconds since each node's last heartbeat.",
                             labels=["node"])
    holds = GaugeMetricFamily("alertnode_cluster_deliveries_held", "Deliveries each node holds under a lease.",
                              labels=["node", "alert_type"])
    for n in nodes:
        name = str(n.get("node", ""))
        alive.add_metric([name], 1.0 if n.get("alive") else 0.0)
        age = n.get("lastBeatSecondsAgo")
        if isinstance(age, int | float) and not isinstance(age, bool):
            beat.add_metric([name], float(age))
        held = n.get("holds")
        if isinstance(held, Mapping):
            for alert_type, count in sorted(held.items()):
                holds.add_metric([name, str(alert_type)], float(count))
    if nodes:
        yield from (alive, beat, holds)


def _channel_metrics(channels: Sequence[tuple[ChannelInfo, bool]]) -> Iterable[Metric]:
    ready = GaugeMetricFamily("alertnode_channel_ready", "1 when the channel can deliver now.", labels=["channel"])
    in_flight = GaugeMetricFamily("alertnode_channel_in_flight", "Deliveries inside the channel.", labels=["channel"])
    capacity = GaugeMetricFamily("alertnode_channel_capacity", "Deliveries the channel holds at most.",
                                 labels=["channel"])
    link_state = GaugeMetricFamily("alertnode_smpp_link_state", "1 for the SMPP link thread's current state.",
                                   labels=["link", "role", "state"])
    link_up = GaugeMetricFamily("alertnode_smpp_link_bound", "1 when the SMPP link thread is bound.",
                                labels=["link", "role"])
    submitted = CounterMetricFamily("alertnode_smpp_submitted", "submit_sm sent on the link thread since start.",
                                    labels=["link", "role"])
    acked = CounterMetricFamily("alertnode_smpp_acked", "submit_sm answered with success since start.",
                                labels=["link", "role"])
    queued = GaugeMetricFamily("alertnode_smpp_queued",
                               "Segments on the link thread: waiting plus awaiting submit_sm_resp.",
                               labels=["link", "role"])
    requeued = CounterMetricFamily("alertnode_smpp_requeued", "Segments put back for another submit since start.",
                                   labels=["link", "role"])
    # from the SMS channel's info() per bind (SmppBindInfo): left out when no SMS channel reports
    window_used = GaugeMetricFamily("alertnode_smpp_window_used", "submit_sm awaiting their submit_sm_resp.",
                                    labels=["link", "role"])
    window_size = GaugeMetricFamily("alertnode_smpp_window_size", "Most submit_sm outstanding at once.",
                                    labels=["link", "role"])
    throttled = CounterMetricFamily("alertnode_smpp_throttled", "ESME_RTHROTTLED answers on the link since start.",
                                    labels=["link", "role"])
    latency = SummaryMetricFamily("alertnode_smpp_submit_latency_seconds",
                                  "Time from submit_sm to its submit_sm_resp.", labels=["link", "role"])
    sip_reg = GaugeMetricFamily("alertnode_sip_registered", "1 when the SIP registration is in force.")
    calls = GaugeMetricFamily("alertnode_calls_active", "Calls in progress on the voice workers.")
    smtp_out = CounterMetricFamily("alertnode_smtp_out", "Messages handed to the smarthost since start, by result.",
                                   labels=["result"])
    smtp_in = CounterMetricFamily("alertnode_smtp_in", "Messages at the SMTP listener since start, by result.",
                                  labels=["result"])
    smarthost = GaugeMetricFamily("alertnode_smtp_smarthost_reachable",
                                  "1 when the smarthost answered the last attempt.")
    cache = CounterMetricFamily("alertnode_prompt_cache", "Prompt cache look-ups since start, by result.",
                                labels=["result"])
    seen = {"sip": False, "calls": False, "smtp": False, "cache": False}
    for info, ok in channels:
        ready.add_metric([info.name], 1.0 if ok else 0.0)
        in_flight.add_metric([info.name], info.in_flight)
        capacity.add_metric([info.name], info.capacity)
        typed = info.typed  # a channel without a typed report (a test fake) has only the three above
        if isinstance(typed, SmsInfo):
            for link in typed.links:
                for b in link.binds:
                    labels = [link.name, b.role]
                    for st in sorted({*SMPP_LINK_STATES, b.state}):
                        link_state.add_metric([*labels, st], 1.0 if st == b.state else 0.0)
                    link_up.add_metric(labels, 1.0 if b.state == "bound" else 0.0)
                    for fam, value in ((submitted, b.submitted), (acked, b.acked), (queued, b.queued),
                                       (requeued, b.requeued), (window_used, b.in_flight), (window_size, b.window),
                                       (throttled, b.throttled)):
                        fam.add_metric(labels, value)
                    latency.add_metric(labels, b.submit_latency.count, b.submit_latency.sum)
        elif isinstance(typed, VoiceInfo):
            if typed.registration is not None:
                sip_reg.add_metric([], 1.0 if typed.registration.registered else 0.0)
                seen["sip"] = True
            if typed.calls_active is not None:
                calls.add_metric([], typed.calls_active)
                seen["calls"] = True
            if typed.prompt_cache is not None:
                cache.add_metric(["hits"], typed.prompt_cache.hits)
                cache.add_metric(["misses"], typed.prompt_cache.misses)
                seen["cache"] = True
        elif isinstance(typed, MailInfo):
            seen["smtp"] = True
            smtp_out.add_metric(["sent"], typed.sent)
            smtp_out.add_metric(["failed"], typed.failed)
            smarthost.add_metric([], 1.0 if typed.smarthost_reachable else 0.0)
            sock, inbound = typed.listener.socket, typed.listener.inbound
            if sock is not None:
                for key, n in (("received", sock.received), ("refusedRelay", sock.refused_relay),
                               ("errors", sock.errors)):
                    smtp_in.add_metric([key], n)
            if inbound is not None:
                for key, n in (("matched", inbound.matched), ("unsolicited", inbound.unsolicited),
                               ("bounces", inbound.bounces), ("duplicates", inbound.duplicates),
                               ("invalid", inbound.invalid)):
                    smtp_in.add_metric([key], n)
    yield from (ready, in_flight, capacity, link_state, link_up, submitted, acked, queued, requeued)
    yield from (fam for fam in (window_used, window_size, throttled, latency) if fam.samples)
    if seen["sip"]:
        yield sip_reg
    if seen["calls"]:
        yield calls
    if seen["smtp"]:
        yield from (smtp_out, smtp_in, smarthost)
    if seen["cache"]:
        yield cache


class OpsMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.snapshot = Snapshot()
        self.events = Counter("alertnode_channel_events", "Events reported by channels, by kind and new state.",
                              ["kind", "state"], registry=self.registry)
        self.receipts = Counter("alertnode_sms_receipts", "SMS delivery receipts that settled a message, by stat.",
                                ["stat"], registry=self.registry)
        self.throttled = Counter(
            "alertnode_sms_throttled_reports",
            "SMS deliveries reported failed or retried because the SMSC answered ESME_RTHROTTLED "
            "(throttled segments the link retried by itself are not counted here).",
            registry=self.registry,
        )
        self.dtmf = Counter("alertnode_dtmf_digits", "DTMF digits received in calls, by source (rfc4733, inband).",
                            ["source"], registry=self.registry)
        self.call_outcomes = Counter("alertnode_call_outcomes", "Finished call deliveries, by outcome.",
                                     ["outcome"], registry=self.registry)
        # sendbird-announcements open_count: the first open of each delivery (e-mail tracking image, SMS page)
        self.opens = Counter("alertnode_opens", "Deliveries opened by a person (counted once each), by what "
                             "showed it: the e-mail's tracking image or the SMS's page.", ["via"],
                             registry=self.registry)
        self.previews = Counter("alertnode_previews", "Deliveries fetched by an image proxy or scanner before any "
                                "person (counted once each; not opens), by via and agent.", ["via", "agent"],
                                registry=self.registry)
        self._event_children: dict[tuple[str, str], Any] = {}
        self.registry.register(_StateCollector(lambda: self.snapshot))

    def observe(self, event: ChannelEvent) -> None:
        """Called for every stored channel event; cheap and never raises on odd details."""
        detail = event.detail if isinstance(event.detail, Mapping) else {}
        key = (event.kind, event.state.value if event.state is not None else "")
        child = self._event_children.get(key)
        if child is None:  # labels() looks the child up under a lock: once per kind and state is enough
            child = self._event_children[key] = self.events.labels(*key)
        child.inc()
        if "stat" in detail and event.kind in ("delivered", "failed"):
            self.receipts.labels(str(detail.get("stat"))).inc()
        if detail.get("smpp_status") == ESME_RTHROTTLED:
            self.throttled.inc()
        if event.kind == "key":
            self.dtmf.labels(str(detail.get("source", "unknown"))).inc()
        if event.kind == "completed" and event.final:
            self.call_outcomes.labels(str(detail.get("outcome", "unknown"))).inc()
        if event.kind == "opened":
            self.opens.labels(str(detail.get("via", "unknown"))).inc()
        elif event.kind == "previewed":
            self.previews.labels(str(detail.get("via", "unknown")), str(detail.get("agent", "unknown"))).inc()

    def render(self, snapshot: Snapshot) -> bytes:
        self.snapshot = snapshot
        return generate_latest(self.registry)
