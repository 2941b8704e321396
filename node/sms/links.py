"""The SMPP links of the SMS channel: one or two :class:`SmppThread` per configured link (transceiver,
or transmitter + receiver), the link a destination goes through, and what getinfo shows of them.

Routing: the route with the longest matching prefix names the links in order of preference (no
route matching: every link, in the configured order); the first bound one is used, else the first.

State: ``bound`` when any bind is; else ``tls_error`` when a TLS handshake failed (a certificate that
does not verify: the details name it), else the first bind's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from alertnode.domain_info import SmppBindInfo, SmsInfo, SmsLinkInfo, SubmitLatency
from alertnode.sms import session as s
from alertnode.sms.config import SmppLinkConfig, SmsConfig
from alertnode.sms.smpplib_adapter import BindParams, LinkOutput, SmppThread, TlsParams


class Link:
    def __init__(self, cfg: SmppLinkConfig, tx: SmppThread, rx: SmppThread | None) -> None:
        self.cfg = cfg
        self.tx = tx  # submits (and, as a transceiver, receives)
        self.rx = rx
        self.share = 1.0
        self.hold = False

    def set_share(self, share: float, hold_acks: bool) -> None:
        """Use ``share`` of the configured throughput (nodes bound to the same carrier account split its
        contracted rate, jobs/cluster.py ``link_shares``); ``hold_acks`` while other nodes could take this
        one's work over (an acknowledged part counts against the window until recorded)."""
        if self.cfg.throughput <= 0:
            share = 1.0
        if share == self.share and hold_acks == self.hold:
            return
        self.share, self.hold = share, hold_acks
        base = session_config(self.cfg, True, hold_acks)
        self.tx.reconfigure(replace(base, rate=base.rate * share, burst=max(1.0, base.burst * share))
                            if base.rate > 0 else base)

    @property
    def name(self) -> str:
        return self.cfg.name

    def threads(self) -> list[SmppThread]:
        return [self.tx] if self.rx is None else [self.tx, self.rx]

    @property
    def bound(self) -> bool:
        return self.tx.state is s.LinkState.BOUND

    def respond(self, role: str, sequence: int, status: int, connection: int) -> None:
        """deliver_sm_resp on the bind and connection the deliver_sm came on."""
        thread = self.rx if self.rx is not None and role == "receiver" else self.tx
        thread.respond(sequence, status, connection)


def session_config(cfg: SmppLinkConfig, can_submit: bool, hold_acks: bool = False) -> s.SessionConfig:
    return s.SessionConfig(
        window=cfg.window,
        rate=cfg.throughput,
        burst=cfg.throughput_burst,
        response_timeout=cfg.response_timeout_s,
        enquire_interval=cfg.enquire_link_interval_s,
        enquire_timeout=cfg.enquire_link_timeout_s,
        reconnect_initial=cfg.reconnect_initial_s,
        reconnect_max=cfg.reconnect_max_s,
        throttle_initial=cfg.throttle_backoff_initial_s,
        throttle_max=cfg.throttle_backoff_max_s,
        max_throttle_retries=cfg.max_throttle_retries,
        max_timeouts=cfg.submit_timeout_retries,
        can_submit=can_submit,
        hold_acks=hold_acks,
    )


def tls_params(cfg: SmppLinkConfig) -> TlsParams | None:
    if not cfg.tls:
        return None
    return TlsParams(cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_verify, cfg.tls_check_hostname,
                     cfg.tls_server_name)


def make_links(
    config: SmsConfig, body: Callable[[int], bytes | None], emit: Callable[[list[LinkOutput]], None]
) -> dict[str, Link]:
    """The threads of every configured link, not started yet."""
    links = {}
    for cfg in config.links:
        bind = BindParams(
            cfg.host,
            cfg.port,
            cfg.system_id,
            cfg.password,
            cfg.system_type,
            cfg.addr_ton,
            cfg.addr_npi,
            cfg.address_range,
            cfg.connect_timeout_s,
            tls_params(cfg),
        )
        coalesce = cfg.io_coalesce_ms / 1000
        submitting = session_config(cfg, True)
        if cfg.bind_mode == "transceiver":
            tx = SmppThread(cfg.name, "transceiver", bind, submitting, body, emit, coalesce_s=coalesce)
            rx = None
        else:
            tx = SmppThread(cfg.name, "transmitter", bind, submitting, body, emit, coalesce_s=coalesce)
            rx = SmppThread(cfg.name, "receiver", bind, session_config(cfg, False), body, emit)
        links[cfg.name] = Link(cfg, tx, rx)
    return links


class Router:
    def __init__(self, config: SmsConfig, links: Mapping[str, Link]) -> None:
        self._routes = sorted(config.routes, key=lambda r: len(r.prefix.lstrip("+")), reverse=True)
        self._all = [link.name for link in config.links]
        self._links = links

    def route(self, address: str) -> Link | None:
        digits = address.strip().lstrip("+")
        names: list[str] = self._all
        for route in self._routes:
            if digits.startswith(route.prefix.lstrip("+")):
                names = route.links
                break
        candidates = [self._links[n] for n in names if n in self._links]
        for link in candidates:
            if link.bound:
                return link
        return candidates[0] if candidates else None


def describe(links: Mapping[str, Link]) -> tuple[str, SmsInfo]:
    """The channel's state (bound if any bind is) and the per-link report getinfo and metrics show."""
    infos = []
    states = []
    tls_failed = False
    for name, link in links.items():
        binds = []
        for t in link.threads():
            binds.append(SmppBindInfo(
                role=t.role,
                state=t.state.value,
                reason=t.state_reason,
                since=t.state_since,
                submitted=t.submitted,
                acked=t.acked,
                queued=t.queued,
                requeued=t.session.requeued_total,
                in_flight=t.session.in_flight,
                window=t.session.config.window,
                throttled=t.session.throttled_total,
                submit_latency=SubmitLatency(t.session.latency_count, round(t.session.latency_sum, 6)),
                stale_answers=t.stale_answers,
                tls_error=t.tls_error,
            ))
            if t.tls_error:
                tls_failed = tls_failed or t.state is not s.LinkState.BOUND
            states.append(t.state)
        infos.append(SmsLinkInfo(name, link.cfg.host, link.cfg.port, link.cfg.bind_mode, link.cfg.tls, tuple(binds)))
    details = SmsInfo(tuple(infos))
    if not states:
        return "unconfigured", details
    if any(st is s.LinkState.BOUND for st in states):
        return s.LinkState.BOUND.value, details
    # no link is up: a certificate that fails is something an operator must fix, not a passing outage
    return "tls_error" if tls_failed else states[0].value, details
