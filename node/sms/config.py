"""SMS section of the configuration: the SMSC links (SMPP 3.4), routing and reply keywords."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alertnode import answers
from alertnode.errors import Problem
from alertnode.sms import sender
from alertnode.sms.tracking import DEFAULT_RECEIPT_TIMEOUT_S


class SmppLinkConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(..., min_length=1, description="Link name, used in logs, getinfo and routing.")
    host: str = Field("127.0.0.1", description="SMSC address.")
    port: int = Field(2775, ge=1, le=65535, description="SMSC port.")
    system_id: str = Field(..., max_length=15, description="bind system_id (SMPP 3.4 §4.1.1: ≤ 15 octets).")
    password: str = Field("", max_length=8, description="bind password (≤ 8 octets); prefer the env override.")
    system_type: str = Field("", max_length=12, description="bind system_type (≤ 12 octets), often empty.")
    bind_mode: Literal["transceiver", "transmitter_receiver"] = Field(
        "transceiver",
        description="One transceiver bind, or a transmitter bind for sending plus a receiver bind for "
        "receipts and replies (two connections).",
    )
    addr_ton: int = Field(0, ge=0, le=6, description="bind addr_ton (SMPP 3.4 §5.2.5).")
    addr_npi: int = Field(0, ge=0, le=18, description="bind addr_npi (SMPP 3.4 §5.2.6).")
    address_range: str = Field("", max_length=40, description="bind address_range (receiver routing), often empty.")
    dest_addr_ton: int = Field(
        1,
        ge=0,
        le=6,
        description="TON for recipients written without '+' (numbers with '+' are always TON 1).",
    )
    dest_addr_npi: int = Field(1, ge=0, le=18, description="NPI for recipients written without '+'.")
    service_type: str = Field("", max_length=5, description="submit_sm service_type (≤ 5 octets), often empty.")
    window: int = Field(50, ge=1, le=1000, description="Most submit_sm outstanding without a submit_sm_resp.")
    throughput: float = Field(
        0.0,
        ge=0,
        description="Most segments per second sent on this link (each part of a concatenated message is "
        "one segment); 0 = no limit. Ask the carrier for its contracted rate.",
    )
    throughput_burst: float = Field(
        1.0,
        ge=1,
        description="Segments that may leave back to back after an idle period (token bucket size).",
    )
    enquire_link_interval_s: float = Field(30.0, gt=0, description="Seconds between enquire_link while bound.")
    enquire_link_timeout_s: float = Field(
        10.0, gt=0, description="An enquire_link unanswered this long means the link is dead: it is rebound."
    )
    response_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Seconds to wait for bind_resp or submit_sm_resp; a submit_sm unanswered this long is "
        "treated as not acknowledged and submitted again.",
    )
    submit_timeout_retries: int = Field(
        5,
        ge=0,
        description="Times a submit_sm left unanswered (response_timeout_s) is submitted again before the "
        "message fails temporarily (retried later by the dispatcher).",
    )
    io_coalesce_ms: float = Field(
        2.0,
        ge=0,
        le=100,
        description="While submits are in flight, answers are read and the next submits sent at most once per "
        "this many milliseconds, so one wake-up carries several PDUs (0: at each answer). Adds at most this "
        "much to a submit's round trip; an idle link sends at once.",
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP connect time-out.")
    reconnect_initial_s: float = Field(1.0, gt=0, description="First wait before reconnecting a dropped link.")
    reconnect_max_s: float = Field(60.0, gt=0, description="Longest wait between reconnects (doubling back-off).")
    throttle_backoff_initial_s: float = Field(
        1.0,
        gt=0,
        description="Pause after ESME_RTHROTTLED/ESME_RMSGQFUL; doubles while the SMSC keeps throttling.",
    )
    throttle_backoff_max_s: float = Field(30.0, gt=0, description="Longest pause after a throttling answer.")
    max_throttle_retries: int = Field(
        8,
        ge=0,
        description="Throttling answers one message may get before it fails temporarily (retried later).",
    )
    concatenation: Literal["udh8", "udh16", "sar", "payload"] = Field(
        "udh8",
        description="How long texts are sent: UDH with 8-bit or 16-bit reference (sequential per "
        "destination), "
        "SAR TLVs, or the whole text in one message_payload TLV (the SMSC splits it).",
    )
    data_coding: Literal["default", "latin1", "ucs2"] = Field(
        "default",
        description="Texts in the GSM alphabet go as data_coding 0 ('default', bytes per dcs0_charset) or "
        "3 ('latin1'), or always as UCS-2 ('ucs2'). Other texts always go as UCS-2 (dcs 8).",
    )
    dcs0_charset: Literal["gsm", "latin1"] = Field(
        "gsm",
        description="What data_coding 0 bytes are on this link, sent and received: unpacked GSM 03.38 "
        "septets "
        "or Latin-1 (some carriers read dcs 0 as Latin-1).",
    )
    receipt_id_format: Literal["auto", "same", "decimal", "hex"] = Field(
        "auto",
        description="How receipts write message ids compared to submit_sm_resp: 'same', 'decimal' (receipts "
        "decimal, submit ids hex), 'hex' (the reverse), or 'auto' (as given, then converted; small ids "
        "valid in both forms can mismatch, so set it when the carrier is known).",
    )
    registered_delivery: bool = Field(
        True,
        description="Request delivery receipts (registered_delivery = 1). With receipts, a delivery stays `sent` "
        "(its alert running) until its receipt or receipt_timeout_s; without, `sent` is its final event.",
    )
    receipt_timeout_s: float = Field(
        DEFAULT_RECEIPT_TIMEOUT_S,
        gt=0,
        description="How long a delivery receipt is awaited after the last part's submit_sm_resp; then the "
        "delivery ends `unconfirmed` (final: the SMSC took it, nobody confirmed it arrived). SMSCs retry a "
        "phone that is off for their validity period (often 24-72 h) and then send an EXPIRED receipt. "
        "Never past the alert's lifetime: when that ends first, the delivery expires.",
    )
    validity_max_s: float = Field(
        0.0, ge=0, description="Cap on validity_period (0 = the alert's remaining lifetime, uncapped)."
    )
    tls: bool = Field(
        False,
        description="Connect with TLS (SMPP over TLS, as carriers offer it on a TLS port of their own). A "
        "certificate that fails verification keeps the link down (getinfo and /readyz say why); messages "
        "wait in the queue, they are not failed.",
    )
    tls_ca_file: str = Field(
        "", description="CA bundle (PEM) the SMSC's certificate must chain to; empty = system CAs."
    )
    tls_cert_file: str = Field(
        "", description="Client certificate (PEM, may hold the key too) for SMSCs that authenticate the ESME by it."
    )
    tls_key_file: str = Field("", description="Private key (PEM) of tls_cert_file when it is a file of its own.")
    tls_verify: bool = Field(
        True, description="Verify the SMSC's certificate chain (off only for a test SMSC: it allows interception)."
    )
    tls_check_hostname: bool = Field(
        True, description="The SMSC's certificate must name tls_server_name (or host) (RFC 6125)."
    )
    tls_server_name: str = Field(
        "", description="Name expected in the SMSC's certificate and sent as SNI; empty = host."
    )


class SmsRoute(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field(..., description="Destination prefix in E.164 form, e.g. '+44' or '+4477'.")
    links: list[str] = Field(..., min_length=1, description="Link names in order of preference (failover).")


class SmsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    links: list[SmppLinkConfig] = Field(default_factory=list, description="SMSC binds; none = SMS not configured.")
    routes: list[SmsRoute] = Field(
        default_factory=list,
        description="Per destination prefix, the links to use in order (longest prefix wins; a bound link is "
        "preferred to one that is down). Destinations matching no route use all links in their listed order.",
    )
    default_sender: str = Field("", description="Sender used when an alert item gives none.")
    ack_keywords: list[str] = Field(
        default_factory=lambda: list(answers.DEFAULT_ACK),
        description="Replies meaning 'acknowledged' (case, accents and punctuation ignored; the first word counts).",
    )
    nack_keywords: list[str] = Field(
        default_factory=lambda: list(answers.DEFAULT_NACK), description="Replies meaning 'declined'."
    )
    mo_reassembly_timeout_s: float = Field(
        300.0,
        gt=0,
        description="A concatenated reply missing parts this long is recorded as it is (incomplete).",
    )
    max_queue: int = Field(
        20000, ge=1, description="Most deliveries the SMS channel holds before it stops taking more."
    )
    temporary_retry_s: float = Field(60.0, gt=0, description="retry_after reported for temporary SMPP failures.")

    @property
    def configured(self) -> bool:
        return bool(self.links)

    def problems(self, prefix: str) -> list[Problem]:
        names = [link.name for link in self.links]
        out = [
            Problem(f"{prefix}.links.{i}.name", f"duplicate link name {n!r}")
            for i, n in enumerate(names)
            if names.index(n) != i
        ]
        for i, link in enumerate(self.links):
            p = f"{prefix}.links.{i}"
            if link.enquire_link_timeout_s >= link.enquire_link_interval_s:
                out.append(Problem(f"{p}.enquire_link_timeout_s", "must be shorter than enquire_link_interval_s"))
            if link.reconnect_initial_s > link.reconnect_max_s:
                out.append(Problem(f"{p}.reconnect_initial_s", "must not exceed reconnect_max_s"))
            if link.throttle_backoff_initial_s > link.throttle_backoff_max_s:
                out.append(Problem(f"{p}.throttle_backoff_initial_s", "must not exceed throttle_backoff_max_s"))
            if 0 < link.throughput < link.throughput_burst:
                out.append(Problem(f"{p}.throughput_burst", "must not exceed throughput"))
            if link.tls_key_file and not link.tls_cert_file:
                out.append(Problem(f"{p}.tls_key_file", "needs tls_cert_file"))
            if link.tls_check_hostname and not link.tls_verify and link.tls:
                out.append(Problem(f"{p}.tls_check_hostname", "needs tls_verify (set both off for a test SMSC)"))
            if link.tls:
                for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
                    path = getattr(link, key)
                    if path and not os.path.isfile(path):
                        out.append(Problem(f"{p}.{key}", f"no such file: {path}"))
        for i, route in enumerate(self.routes):
            if not re.fullmatch(r"\+?[0-9]{1,15}", route.prefix):
                out.append(Problem(f"{prefix}.routes.{i}.prefix", "must be digits, optionally after '+'"))
            for j, name in enumerate(route.links):
                if name not in names:
                    out.append(Problem(f"{prefix}.routes.{i}.links.{j}", f"no link named {name!r}"))
        if self.default_sender:
            try:
                sender.parse_sender(self.default_sender)
            except ValueError as exc:
                out.append(Problem(f"{prefix}.default_sender", str(exc)))
        overlap = {w.casefold() for w in self.ack_keywords} & {w.casefold() for w in self.nack_keywords}
        if overlap:
            out.append(Problem(f"{prefix}.nack_keywords", f"also acknowledgement keywords: {sorted(overlap)}"))
        return out
