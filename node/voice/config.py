"""Voice section of the configuration: SIP account or trunk, workers, IVR time-outs.

Two ways to reach the PBX:

* registration (``registrar`` set): the node registers ``user`` at the registrar with digest
  credentials and places calls through it (``proxy`` optional, defaults to the registrar);
* trunk (``trunk`` set, ``registrar`` empty): calls go straight to ``sip:<number>@<trunk>``,
  authenticated by source address on the PBX.

Secrets: ``password`` should come from the environment, ``ALERTNODE__voice__password=...``
(node/config.py applies such overrides to any key).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alertnode.errors import Problem

Codec = Literal["PCMA", "PCMU", "G722"]


def _default_codecs() -> list[Codec]:
    return ["PCMA", "PCMU"]


# PJSUA_MAX_CALLS of the PyPI wheel pjsua2-python 2.15.1 (DESIGN.md, "pjsua2 facts measured here").
CALLS_PER_WORKER = 4


class DialRule(BaseModel):
    """One dial-plan rewriting rule: the first rule whose ``match`` (a regular expression, anchored at
    the start) matches the E.164 number replaces it with ``replace`` (``re.sub`` syntax, ``\\1``...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: str = Field(..., description="Regular expression matched at the start of the number, e.g. '\\+44'.")
    replace: str = Field(..., description="Replacement, e.g. '90' (outside line 9, national 0).")


class VoiceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="Place and answer calls (needs the SIP settings).")
    # --- reaching the PBX
    registrar: str = Field("", description="Registrar host[:port]; empty = trunk mode (no registration).")
    user: str = Field("", description="SIP user (AOR user part) registered at the registrar.")
    auth_user: str = Field("", description="Digest user name; empty = ``user``.")
    password: str = Field("", description="Digest password; prefer ALERTNODE__voice__password.")
    realm: str = Field("*", description="Digest realm the credentials answer ('*' = any).")
    domain: str = Field("", description="SIP domain of the AOR; empty = registrar host.")
    proxy: str = Field("", description="Outbound proxy host[:port] for calls; empty = registrar or trunk.")
    register_expiry_s: int = Field(300, ge=60, le=86400, description="Registration expiry (RFC 3261 §10.2.1).")
    trunk: str = Field("", description="Trunk host[:port] addressed directly (used when registrar is empty).")
    transport: Literal["udp", "tcp"] = Field("udp", description="SIP transport.")
    bind_host: str = Field("127.0.0.1", description="Local address for SIP and RTP.")
    sip_port_base: int = Field(
        5160,
        ge=0,
        le=65535,
        description="The node's SIP port (its SIP front: the registered Contact, where a trunk sends calls; it "
        "spreads incoming calls over the workers); worker n uses base + 1 + n (0 = any free ports).",
    )
    rtp_port_base: int = Field(
        20000,
        ge=1024,
        le=65000,
        description="First RTP port; each worker gets rtp_ports_per_worker from here.",
    )
    rtp_ports_per_worker: int = Field(
        40,
        ge=8,
        le=1000,
        description="RTP/RTCP ports reserved per worker (2 per call, plus re-INVITE slack).",
    )
    codecs: list[Codec] = Field(
        default_factory=_default_codecs,
        description="Codecs offered, in order of preference. With G722 listed, prompts are also made at "
        "16 kHz and the workers' audio bridge runs at 16 kHz, so G.722 calls carry wideband audio (to 7 kHz).",
    )
    session_expires_s: int = Field(
        1800,
        ge=90,
        le=86400,
        description="Session-Expires offered (RFC 4028 §4): the node refreshes, or expects refreshes from the far "
        "end, as the far end chooses; a call nobody refreshes in time is ended (BYE).",
    )
    session_min_se_s: int = Field(
        90, ge=90, le=86400, description="Min-SE (RFC 4028 §5, at least 90 s): shorter intervals are refused with 422."
    )
    answering_machine: Literal["off", "hangup", "voicemail"] = Field(
        "off",
        description="Answering-machine detection on outbound calls, unless the alert's ivrControl.ivrAnsweringMachine "
        "says otherwise: off (the prompts start at the answer), hangup (hang up on a machine; the attempt counts as "
        "not reached and ivrAttempts retries it), voicemail (leave the message once after the beep).",
    )
    caller_id_from_sender: bool = Field(True, description="Use the alert's sender as the caller id (From user).")
    dial_plan: list[DialRule] = Field(
        default_factory=list, description="Rewrites of E.164 numbers before dialling; first match wins."
    )
    # --- capacity
    max_concurrent_calls: int = Field(
        8, ge=1, le=400, description="Calls in progress at once; workers = ceil(calls / 4) (4 per worker)."
    )
    # --- time-outs
    ring_timeout_s: float = Field(45.0, gt=0, description="Cancel an outbound call not answered in this time.")
    key_wait_s: float = Field(10.0, gt=0, description="Wait for a key after the prompts have played.")
    max_call_s: float = Field(300.0, gt=0, description="Hang up any call lasting longer than this.")
    retry_interval_s: float = Field(60.0, ge=0, description="Wait between attempts of one recipient (ivrAttempts).")
    worker_start_timeout_s: float = Field(20.0, gt=0, description="A worker not ready in this time is restarted.")
    # --- inbound
    inbound: bool = Field(True, description="Answer incoming calls for inboundCall alerts.")
    inbound_unmatched: Literal["reject", "busy"] = Field(
        "reject", description="Incoming call matching no live inboundCall alert: 404 (reject) or 486 (busy)."
    )

    @property
    def configured(self) -> bool:
        return self.enabled

    @property
    def workers(self) -> int:
        return -(-self.max_concurrent_calls // CALLS_PER_WORKER)

    @property
    def registers(self) -> bool:
        return bool(self.registrar)

    def problems(self, prefix: str) -> list[Problem]:
        out: list[Problem] = []
        if not self.enabled:
            return out
        if not self.registrar and not self.trunk:
            out.append(Problem(f"{prefix}.registrar", "set registrar (with user) or trunk"))
        if self.registrar and not self.user:
            out.append(Problem(f"{prefix}.user", "needed to register"))
        if self.session_min_se_s > self.session_expires_s:
            out.append(Problem(f"{prefix}.session_min_se_s", "must not exceed session_expires_s"))
        if not self.codecs:
            out.append(Problem(f"{prefix}.codecs", "offer at least one codec"))
        elif len(set(self.codecs)) != len(self.codecs):
            out.append(Problem(f"{prefix}.codecs", "lists a codec twice"))
        for i, rule in enumerate(self.dial_plan):
            try:
                re.compile(rule.match)
                re.compile(rule.match).sub(rule.replace, "")
            except (re.error, IndexError) as exc:
                out.append(Problem(f"{prefix}.dial_plan.{i}", f"invalid rule: {exc}"))
        last_rtp = self.rtp_port_base + self.workers * self.rtp_ports_per_worker
        if last_rtp > 65535:
            out.append(Problem(f"{prefix}.rtp_port_base", "RTP ranges of all workers pass port 65535"))
        last_sip = self.sip_port_base + self.workers  # the front, then one port per worker
        if self.sip_port_base and last_sip > 65535:
            out.append(Problem(f"{prefix}.sip_port_base", "SIP ports of the front and all workers pass port 65535"))
        if self.sip_port_base and self.sip_port_base < last_rtp and self.rtp_port_base <= last_sip:
            out.append(Problem(f"{prefix}.sip_port_base", "SIP ports overlap the RTP ranges"))
        return out


def rewrite_number(number: str, rules: list[DialRule]) -> str:
    """Apply the first matching dial-plan rule (anchored at the start) to ``number``."""
    for rule in rules:
        rewritten, n = re.subn(f"^(?:{rule.match})", rule.replace, number, count=1)
        if n:
            return rewritten
    return number
