"""What each channel reports of itself in :meth:`Channel.info() <alertnode.domain.Channel.info>`, typed.

Rules:

* one frozen dataclass per channel (:class:`SmsInfo`, :class:`VoiceInfo`, :class:`MailInfo`) and per part
  that has parts (an SMPP link and its binds, a voice worker, the SIP registration, the prompt cache, the SMTP
  listener); readers (metrics, the status JSON, the sandbox) read these fields, never JSON keys, so a renamed
  field breaks at type-check time instead of silently losing a metric;
* ``as_json()`` gives the JSON getinfo, ``/readyz`` and the status page show: the same keys, in the same order,
  present under the same conditions as before these classes existed (an optional part left out is a key left
  out, not a ``null``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SubmitLatency:
    """submit_sm answered by a submit_sm_resp since start, and the seconds they took in all."""

    count: int
    sum: float

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "sum": self.sum}


@dataclass(frozen=True)
class SmppBindInfo:
    """One bind (link thread) of an SMPP link: transceiver, transmitter or receiver."""

    role: str
    state: str
    reason: str
    since: float
    submitted: int
    acked: int
    queued: int
    requeued: int
    in_flight: int
    window: int
    throttled: int
    submit_latency: SubmitLatency
    stale_answers: int
    tls_error: str = ""
    """Why the last TLS handshake failed; "" when none did (the key is then left out)."""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
            "submitted": self.submitted,
            "acked": self.acked,
            "queued": self.queued,
            "requeued": self.requeued,
            "inFlight": self.in_flight,
            "window": self.window,
            "throttled": self.throttled,
            "submitLatency": self.submit_latency.as_json(),
            "staleAnswers": self.stale_answers,
        }
        if self.tls_error:
            out["tlsError"] = self.tls_error
        return out


@dataclass(frozen=True)
class SmsLinkInfo:
    """One configured SMPP link and its binds (one transceiver, or a transmitter and a receiver)."""

    name: str
    host: str
    port: int
    bind_mode: str
    tls: bool
    binds: tuple[SmppBindInfo, ...]

    def as_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "bindMode": self.bind_mode, "tls": self.tls,
                **{b.role: b.as_json() for b in self.binds}}


@dataclass(frozen=True)
class SmsInfo:
    links: tuple[SmsLinkInfo, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {link.name: link.as_json() for link in self.links}


@dataclass(frozen=True)
class WorkerInfo:
    """One voice worker process."""

    index: int
    ready: bool
    sip_port: int
    calls: int
    starts: int

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "ready": self.ready, "sipPort": self.sip_port, "calls": self.calls,
                "starts": self.starts}


@dataclass(frozen=True)
class RegistrationInfo:
    """The SIP registration: ``registered`` is None until the registrar answered the first time (and then
    nothing else is known, nor shown)."""

    registered: bool | None = None
    code: int = 0
    reason: str = ""
    expires: int = 0

    def as_json(self) -> dict[str, Any]:
        if self.registered is None:
            return {"registered": None}
        return {"registered": self.registered, "code": self.code, "reason": self.reason, "expires": self.expires}


@dataclass(frozen=True)
class PromptCacheInfo:
    hits: int
    misses: int

    def as_json(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses}


@dataclass(frozen=True)
class VoiceInfo:
    """The voice channel. Before its workers exist there is no SIP port, worker or registration to show;
    the registration is shown only when the channel registers; the prompt cache once it is open."""

    waiting_inbound: int
    sip_port: int | None = None
    workers: tuple[WorkerInfo, ...] | None = None
    registration: RegistrationInfo | None = None
    prompt_cache: PromptCacheInfo | None = None

    @property
    def calls_active(self) -> int | None:
        """Calls in progress on the workers; None before there are workers."""
        return None if self.workers is None else sum(w.calls for w in self.workers)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.sip_port is not None:
            out["sipPort"] = self.sip_port
        if self.workers is not None:
            out["workers"] = [w.as_json() for w in self.workers]
        if self.registration is not None:
            out["registration"] = self.registration.as_json()
        out["waitingInbound"] = self.waiting_inbound
        if self.prompt_cache is not None:
            out["promptCache"] = self.prompt_cache.as_json()
        return out


@dataclass(frozen=True)
class SmtpListenerSocket:
    """The SMTP listener's socket and sessions (once it was created)."""

    listening: bool
    address: str
    domains: tuple[str, ...]
    received: int
    refused_relay: int
    errors: int
    connections: int
    refused_busy: int
    sessions_ended: int


@dataclass(frozen=True)
class SmtpInboundCounts:
    """What became of the messages the listener took (once inbound handling exists)."""

    matched: int
    unsolicited: int
    bounces: int
    duplicates: int
    invalid: int


@dataclass(frozen=True)
class MailListenerInfo:
    enabled: bool
    socket: SmtpListenerSocket | None = None
    inbound: SmtpInboundCounts | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.enabled}
        if self.socket is not None:
            s = self.socket
            out.update(listening=s.listening, address=s.address, domains=list(s.domains), received=s.received,
                       refusedRelay=s.refused_relay, errors=s.errors, connections=s.connections,
                       refusedBusy=s.refused_busy, sessionsEnded=s.sessions_ended)
        if self.inbound is not None:
            i = self.inbound
            out.update(matched=i.matched, unsolicited=i.unsolicited, bounces=i.bounces, duplicates=i.duplicates,
                       invalid=i.invalid)
        return out


@dataclass(frozen=True)
class MailInfo:
    """The e-mail channel: its smarthost (``host:port``) and the listener for replies and DSNs."""

    smarthost: str
    tls: str
    auth: bool
    connections: int
    sent: int
    failed: int
    waiting_to_retry: int
    last_error: str
    smarthost_reachable: bool
    domain: str
    listener: MailListenerInfo

    def as_json(self) -> dict[str, Any]:
        return {
            "smarthost": self.smarthost,
            "tls": self.tls,
            "auth": self.auth,
            "connections": self.connections,
            "sent": self.sent,
            "failed": self.failed,
            "waitingToRetry": self.waiting_to_retry,
            "lastError": self.last_error,
            "smarthostReachable": self.smarthost_reachable,
            "domain": self.domain,
            "listener": self.listener.as_json(),
        }


ChannelDetails = SmsInfo | VoiceInfo | MailInfo
"""What a channel of the node reports; a channel outside the node (a test fake) may report none."""
