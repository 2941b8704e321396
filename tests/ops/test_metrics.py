"""The metrics collector without a node: event counters, channel details of every channel kind (as
their ``info()`` reports them), store counts from a migrated store, and the status page's queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from alertnode.domain import ChannelEvent, ChannelInfo, DeliveryState
from alertnode.domain_info import (
    MailInfo,
    MailListenerInfo,
    PromptCacheInfo,
    RegistrationInfo,
    SmppBindInfo,
    SmsInfo,
    SmsLinkInfo,
    SmtpInboundCounts,
    SmtpListenerSocket,
    SubmitLatency,
    VoiceInfo,
    WorkerInfo,
)
from alertnode.ops.metrics import ESME_RTHROTTLED, OpsMetrics, Snapshot, StoreCounts, store_counts
from alertnode.ops.runtime import latest_alerts
from alertnode.store.db import migrate


def samples(body: bytes) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def test_events_feed_counters() -> None:
    m = OpsMetrics()
    m.observe(ChannelEvent(1, "key", 1.0, None, {"digit": "2", "source": "rfc4733"}))
    m.observe(ChannelEvent(1, "key", 1.0, None, {"digit": "2", "source": "inband"}))
    m.observe(ChannelEvent(1, "key", 1.0, None, {"digit": "5", "source": "inband"}))
    m.observe(ChannelEvent(1, "completed", 2.0, DeliveryState.RESPONDED, {"outcome": "recipientOk"}, final=True))
    m.observe(ChannelEvent(2, "delivered", 2.0, DeliveryState.DELIVERED, {"stat": "DELIVRD", "err": "000"}))
    m.observe(ChannelEvent(3, "failed", 2.0, DeliveryState.FAILED, {"stat": "UNDELIV"}, final=True))
    m.observe(ChannelEvent(4, "retry", 2.0, None, {"smpp_status": ESME_RTHROTTLED}, retry_after=60))
    m.observe(ChannelEvent(5, "odd", 2.0, None, {"source": object()}))  # never raises on odd details
    s = samples(m.render(Snapshot()))
    assert s['alertnode_dtmf_digits_total{source="inband"}'] == 2
    assert s['alertnode_dtmf_digits_total{source="rfc4733"}'] == 1
    assert s['alertnode_call_outcomes_total{outcome="recipientOk"}'] == 1
    assert s['alertnode_sms_receipts_total{stat="DELIVRD"}'] == 1
    assert s['alertnode_sms_receipts_total{stat="UNDELIV"}'] == 1
    assert s["alertnode_sms_throttled_reports_total"] == 1
    assert s['alertnode_channel_events_total{kind="retry",state=""}'] == 1


def _bind(role: str, state: str, submitted: int = 0, acked: int = 0, queued: int = 0, requeued: int = 0,
          in_flight: int = 0, window: int = 10, throttled: int = 0,
          latency: SubmitLatency = SubmitLatency(0, 0.0)) -> SmppBindInfo:
    return SmppBindInfo(role, state, "", 0.0, submitted, acked, queued, requeued, in_flight, window, throttled,
                        latency, 0)


def _mail_info(sent: int, failed: int, reachable: bool, listener: MailListenerInfo) -> MailInfo:
    return MailInfo("h:25", "off", False, 0, sent, failed, 0, "", reachable, "d", listener)


def test_channel_details_of_sms_voice_and_mail() -> None:
    sms = ChannelInfo("sms", ("sms",), "bound", 100, 3, typed=SmsInfo((SmsLinkInfo(
        "a", "h", 1, "transmitter_receiver", False,
        (_bind("transmitter", "bound", 10, 9, 1, 0), _bind("receiver", "backing_off"))),)))
    voice = ChannelInfo("voice", ("call", "inboundCall"), "ready", 8, 2, typed=VoiceInfo(
        waiting_inbound=0, workers=(WorkerInfo(0, True, 1, 2, 1), WorkerInfo(1, True, 2, 1, 1)),
        registration=RegistrationInfo(True), prompt_cache=PromptCacheInfo(4, 2)))
    mail = ChannelInfo("email", ("email",), "ready", 50, 0, typed=_mail_info(7, 1, False, MailListenerInfo(
        True, SmtpListenerSocket(True, "h:26", (), 4, 1, 0, 0, 0, 0), SmtpInboundCounts(3, 0, 0, 0, 0))))
    counts = StoreCounts({"running": 2}, {("sms", "queued"): 5, ("call", "answered"): 1}, 3, 1, 0)
    s = samples(OpsMetrics().render(Snapshot(counts, [(sms, True), (voice, True), (mail, False)], 11, 2, 5.0)))
    assert s['alertnode_smpp_link_state{link="a",role="receiver",state="backing_off"}'] == 1
    assert s['alertnode_smpp_link_state{link="a",role="receiver",state="bound"}'] == 0
    assert s['alertnode_smpp_link_bound{link="a",role="transmitter"}'] == 1
    assert s['alertnode_smpp_submitted_total{link="a",role="transmitter"}'] == 10
    assert s["alertnode_sip_registered"] == 1 and s["alertnode_calls_active"] == 3
    assert s['alertnode_prompt_cache_total{result="hits"}'] == 4
    assert s['alertnode_smtp_out_total{result="sent"}'] == 7
    assert s['alertnode_smtp_in_total{result="received"}'] == 4
    assert s["alertnode_smtp_smarthost_reachable"] == 0
    assert s['alertnode_channel_ready{channel="email"}'] == 0
    assert s['alertnode_deliveries{alert_type="sms",state="queued"}'] == 5
    assert s["alertnode_callback_queue"] == 3 and s["alertnode_callback_dead"] == 1
    assert s["alertnode_callbacks_sent_total"] == 11 and s["alertnode_callback_failures_total"] == 2


def test_no_voice_or_mail_metrics_without_those_channels() -> None:
    s = samples(OpsMetrics().render(Snapshot()))
    assert "alertnode_sip_registered" not in s and "alertnode_calls_active" not in s
    assert not any(k.startswith("alertnode_prompt_cache") for k in s)
    assert not any(k.startswith("alertnode_smtp") for k in s)


def _db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    migrate(conn)
    return conn


def _alert(conn: sqlite3.Connection, ref: str, at: float, states: list[str], publish_at: float | None = 0.0,
           status: str = "running") -> None:
    conn.execute("INSERT INTO alerts (alert_ref, client_ref, created_at, status, publish_at, request, response) "
                 "VALUES (?, ?, ?, ?, ?, x'00', '{}')", (ref, f"client-{ref}", at, status, publish_at))
    item = conn.execute("INSERT INTO items (alert_ref, idx, alert_type, tag, params, requested, accepted) "
                        "VALUES (?, 0, 'sms', 't', x'00', 1, 1)", (ref,)).lastrowid
    for i, st in enumerate(states):
        conn.execute("INSERT INTO deliveries (alert_ref, item_id, alert_type, address, address_ix, token, state, "
                     "due_at, updated_at) VALUES (?, ?, 'sms', x'00', 'ix', ?, ?, 0, 0)", (ref, item, f"{ref}{i}", st))


def test_store_counts_and_latest_alerts(tmp_path: Path) -> None:
    conn = _db(tmp_path)
    assert store_counts(conn, 10.0) == StoreCounts({}, {}, 0, 0, 0)
    _alert(conn, "A", 1.0, ["queued", "delivered", "delivered"])
    _alert(conn, "B", 2.0, ["in_progress"])
    _alert(conn, "C", 3.0, ["delivered", "failed"])
    _alert(conn, "D", 4.0, ["queued"], publish_at=None)
    _alert(conn, "E", 5.0, ["queued"], status="cancelled")
    counts = store_counts(conn, 10.0)
    assert counts.alerts == {"running": 2, "completed": 1, "scheduled": 1, "cancelled": 1}
    assert counts.deliveries == {("sms", "queued"): 3, ("sms", "delivered"): 3, ("sms", "in_progress"): 1,
                                 ("sms", "failed"): 1}
    latest = latest_alerts(conn, 1, 10.0)
    assert [a["alertRef"] for a in latest] == ["E"] and latest[0]["status"] == "cancelled"
    by_ref = {a["alertRef"]: a for a in latest_alerts(conn, 10, 10.0)}
    assert by_ref["A"]["deliveries"] == {"delivered": 2, "queued": 1} and by_ref["A"]["clientRef"] == "client-A"
    assert [by_ref[r]["status"] for r in "ABCD"] == ["running", "running", "completed", "scheduled"]


def test_status_details_are_masked() -> None:
    from alertnode.ops.runtime import _masked

    details = {"lastError": "550 ann.smith@example.org unknown", "n": 3, "x": ["+447700900123", {"y": None}]}
    out = _masked(details)
    assert out == {"lastError": "550 a***@example.org unknown", "n": 3, "x": ["+447***23", {"y": None}]}


def test_link_window_throttle_and_latency_only_when_the_channel_reports_them() -> None:
    # a channel with no typed report (a fake) gets its readiness and capacity, and no link metrics
    plain = ChannelInfo("sms", ("sms",), "bound", 10, 0, {"a": {"transceiver": {"state": "bound", "submitted": 1}}})
    s = samples(OpsMetrics().render(Snapshot(channels=[(plain, True)])))
    assert not any(k.startswith(("alertnode_smpp_window", "alertnode_smpp_throttled", "alertnode_smpp_submit_latency"))
                   for k in s)
    rich = ChannelInfo("sms", ("sms",), "bound", 10, 0, typed=SmsInfo((SmsLinkInfo("a", "h", 1, "transceiver", False, (
        _bind("transceiver", "bound", in_flight=7, window=50, throttled=2, latency=SubmitLatency(4, 0.2)),)),)))
    s = samples(OpsMetrics().render(Snapshot(channels=[(rich, True)])))
    labels = '{link="a",role="transceiver"}'
    assert s["alertnode_smpp_window_used" + labels] == 7 and s["alertnode_smpp_window_size" + labels] == 50
    assert s["alertnode_smpp_throttled_total" + labels] == 2
    assert s["alertnode_smpp_submit_latency_seconds_count" + labels] == 4
    assert s["alertnode_smpp_submit_latency_seconds_sum" + labels] == 0.2


def test_every_reported_field_reaches_its_exposition_line() -> None:
    """Each field of the typed reports that metrics export, set to a value of its own, read back from the
    exposition: a field renamed or dropped on either side breaks this (and mypy) instead of losing a metric."""
    sms = ChannelInfo("sms", ("sms",), "bound", 100, 3, typed=SmsInfo((SmsLinkInfo("l", "h", 1, "transceiver", True, (
        _bind("transceiver", "binding", submitted=11, acked=12, queued=13, requeued=14, in_flight=15, window=16,
              throttled=17, latency=SubmitLatency(18, 1.9)),)),)))
    voice = ChannelInfo("voice", ("call",), "ready", 8, 2, typed=VoiceInfo(
        waiting_inbound=0, workers=(WorkerInfo(0, True, 1, 21, 1), WorkerInfo(1, True, 2, 22, 1)),
        registration=RegistrationInfo(False, 403, "Forbidden", 0), prompt_cache=PromptCacheInfo(23, 24)))
    mail = ChannelInfo("email", ("email",), "ready", 50, 0, typed=_mail_info(31, 32, True, MailListenerInfo(
        True, SmtpListenerSocket(True, "h:26", (), 33, 34, 35, 0, 0, 0), SmtpInboundCounts(36, 37, 38, 39, 40))))
    s = samples(OpsMetrics().render(Snapshot(channels=[(sms, True), (voice, False), (mail, True)])))
    link = '{link="l",role="transceiver"}'
    assert s['alertnode_smpp_link_state{link="l",role="transceiver",state="binding"}'] == 1
    assert s["alertnode_smpp_link_bound" + link] == 0
    assert [s[f"alertnode_smpp_{name}" + link] for name in (
        "submitted_total", "acked_total", "queued", "requeued_total", "window_used", "window_size", "throttled_total",
        "submit_latency_seconds_count", "submit_latency_seconds_sum")] == [11, 12, 13, 14, 15, 16, 17, 18, 1.9]
    assert s["alertnode_sip_registered"] == 0 and s["alertnode_calls_active"] == 43
    assert s['alertnode_prompt_cache_total{result="hits"}'] == 23
    assert s['alertnode_prompt_cache_total{result="misses"}'] == 24
    assert s['alertnode_smtp_out_total{result="sent"}'] == 31 and s['alertnode_smtp_out_total{result="failed"}'] == 32
    assert s["alertnode_smtp_smarthost_reachable"] == 1
    assert {k: s[f'alertnode_smtp_in_total{{result="{k}"}}'] for k in (
        "received", "refusedRelay", "errors", "matched", "unsolicited", "bounces", "duplicates", "invalid")} == {
        "received": 33, "refusedRelay": 34, "errors": 35, "matched": 36, "unsolicited": 37, "bounces": 38,
        "duplicates": 39, "invalid": 40}
    assert s['alertnode_channel_in_flight{channel="sms"}'] == 3
    assert s['alertnode_channel_capacity{channel="voice"}'] == 8
