"""Wiring and lifecycle. This module alone owns start-up order, shutdown order, signals and readiness.

Start-up: data directory and secrets → the sandbox's peers (in sandbox mode) → store (migrations) →
channels → dispatcher, callbacks → HTTP listeners → ready (sd_notify READY=1 when run by systemd). Stop
(SIGTERM/SIGINT): listeners stop taking work → dispatcher stops handing out → channels finish or hand back
in-flight work within the grace period → the sandbox's peers → callbacks → store closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import importlib
import importlib.util
import logging
import math
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from alertnode.api import rich_pages
from alertnode.api.auth import KeyRing, load_or_create_key_hash, load_or_create_secret
from alertnode.api.extension import Extension, ExtensionContext
from alertnode.api.http import HttpParser, guarded_protocol
from alertnode.api.public import create_public_app
from alertnode.api.request import RequestReader
from alertnode.api.routes import LeanFront, Services, create_app
from alertnode.config import Config
from alertnode.domain import Channel, ChannelEvent
from alertnode.errors import ConfigError, Problem
from alertnode.jobs.callbacks import CallbackSender
from alertnode.jobs.cluster import Leases, Membership, default_node_id, link_shares
from alertnode.jobs.dispatcher import Addresses, Dispatcher
from alertnode.jobs.image_fetch import ImageFetcher
from alertnode.jobs.intake import Intake
from alertnode.jobs.results import Results
from alertnode.logs import mask
from alertnode.sandbox import routes as sandbox_routes
from alertnode.sandbox.runtime import Sandbox, start_sandbox
from alertnode.store import cluster
from alertnode.store.config import StoreSection
from alertnode.store.crypto import Cipher, load_or_create_key
from alertnode.store.db import Store, open_store

log = logging.getLogger(__name__)

# Modules that extend the running node (metrics, status page, event routing, the alert collection, the
# operator console). Each that exists has
# ``create(ctx: ExtensionContext) -> Extension`` (see alertnode.api.extension): created once the store,
# channels and intake are up, started before the HTTP listeners open, stopped after they closed.
EXTENSIONS: tuple[str, ...] = ("alertnode.ops.runtime", "alertnode.api.events", "alertnode.api.alerts",
                               "alertnode.console.runtime")

# (config section, module, class): a channel is built when its section says it is configured.
CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("sms", "alertnode.sms.channel", "SmsChannel"),
    ("mail", "alertnode.mail.channel", "MailChannel"),
    ("voice", "alertnode.voice.channel", "VoiceChannel"),
)


@dataclass(frozen=True)
class Secrets:
    keys: KeyRing
    new_api_key: str | None
    callback_secret: bytes
    master_key: bytes


def optional_module(name: str) -> Any:
    """The module, or None when this build does not have it (its package is absent)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def load_secrets(config: Config, data_dir: Path) -> Secrets:
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(data_dir, 0o700)
    master = load_or_create_key(data_dir / "secret.key")
    new_key = None
    if config.api.api_keys:
        keys = KeyRing(config.api.api_keys)
    else:
        digest, new_key = load_or_create_key_hash(data_dir / "api_key.sha256")
        keys = KeyRing(hashes=[digest])
    secret = (config.callbacks.secret.encode("utf-8") if config.callbacks.secret
              else load_or_create_secret(data_dir / "callback.secret"))
    return Secrets(keys, new_key, secret, master)


def build_channels(config: Config, store: Store, cipher: Cipher, data_dir: Path) -> dict[str, Channel]:
    by_type: dict[str, Channel] = {}
    problems = []
    for section, module_name, class_name in CHANNELS:
        cfg = getattr(config, section)
        if not cfg.configured:
            continue
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            problems.append(Problem(section, f"this build has no {section} channel ({exc})"))
            continue
        channel: Channel = cls(config=cfg, media_config=config.media, store=store, cipher=cipher,
                               data_dir=data_dir, public_base_url=config.public.base_url)
        for alert_type in channel.alert_types:
            by_type[alert_type] = channel
    if problems:
        raise ConfigError(problems)
    return by_type


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when proto says TCP,
    # and without it Nagle plus delayed ACKs add ~40 ms to every response
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class _Http:
    """One uvicorn server on a socket we bound, without uvicorn's own signal handling, with the read time-outs
    of ``alertnode.api.http`` (slow clients are dropped)."""

    def __init__(self, app: Any, sock: socket.socket, name: str, *, header_timeout_s: float,
                 idle_timeout_s: float, parser: HttpParser = "auto") -> None:
        self.sock = sock
        self.name = name
        cfg = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5,
                             server_header=False, date_header=True,
                             http=guarded_protocol(header_timeout_s, idle_timeout_s, parser),
                             timeout_keep_alive=math.ceil(idle_timeout_s))
        cfg.load()
        self.server = uvicorn.Server(cfg)
        self.server.lifespan = cfg.lifespan_class(cfg)
        self.task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def start(self) -> None:
        await self.server.startup(sockets=[self.sock])
        self.task = asyncio.create_task(self.server.main_loop(), name=f"http-{self.name}")

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        if self.server.started:
            await self.server.shutdown(sockets=[self.sock])


def sd_notify(message: str) -> None:
    """systemd's notify protocol (sd_notify(3)); a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(message.encode("ascii"))
    except OSError:
        log.warning("sd_notify %r failed", message)


class Node:
    def __init__(self, config: Config, sandbox: bool | None = None) -> None:
        """``sandbox``: True runs the sandbox whatever is configured, False never, None when nothing is
        (alertnode.sandbox.wiring)."""
        self.config = config
        self.sandbox_request = sandbox
        self.sandbox: Sandbox | None = None
        self.data_dir = config.data_path()
        self.started_at = time.time()
        self.store: Store | None = None
        self.channels: dict[str, Channel] = {}
        self.dispatcher: Dispatcher | None = None
        self.callbacks: CallbackSender | None = None
        self.http: list[_Http] = []
        self.secrets: Secrets | None = None
        self._stop = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self.cipher: Cipher | None = None
        self.results: Results | None = None
        self.intake: Intake | None = None
        self.services: Services | None = None
        self.extensions: list[Extension] = []
        self.node_id = config.cluster.node_id or default_node_id()
        self.leases = Leases(self.node_id, config.cluster.lease_s)
        self.membership: Membership | None = None
        self._callbacks_woken_at = float("-inf")
        self._callbacks_wake_due = False

    @property
    def unique_channels(self) -> list[Channel]:
        seen: dict[int, Channel] = {}
        for ch in self.channels.values():
            seen.setdefault(id(ch), ch)
        return list(seen.values())

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.secrets = load_secrets(self.config, self.data_dir)
        if self.secrets.new_api_key:
            # printed once, to the terminal or journal of the first start; only its hash is kept
            print(f"alertnode: generated API key (shown once, keep it): {self.secrets.new_api_key}", flush=True)
            print(f"alertnode: callback signing secret is in {self.data_dir / 'callback.secret'}", flush=True)
        cipher = self.cipher = Cipher(self.secrets.master_key)
        work_dir = self.data_dir
        self.sandbox = await start_sandbox(self.config, self.data_dir, self.sandbox_request)
        if self.sandbox is not None:  # its channels point at its peers; its alerts have a store of their own
            self.config, work_dir = self.sandbox.config, self.sandbox.data_dir
        # a sandbox's alerts stay in its own SQLite file, never in a store shared with real nodes
        section = StoreSection() if self.sandbox is not None else self.config.store
        self.store = open_store(section, work_dir, application_name=f"alertnode {self.node_id}")
        self.store.open()
        self.store.warm()
        log.info("store: %s, node %s", self.store.describe(), self.node_id)
        self.membership = Membership(self.config.cluster, self.store, cipher, self.leases, self._node_info,
                                     self._lost_leases, on_nodes=self._cluster_seen)
        await self.membership.join()
        self.channels = build_channels(self.config, self.store, cipher, work_dir)
        sandboxed = self.sandbox is not None  # every event leaving the node says so (domain.SANDBOX_MARK)
        self.callbacks = CallbackSender(self.config.callbacks, self.store, cipher, self.secrets.callback_secret,
                                        owner=self.node_id, lease_s=self.config.cluster.lease_s, sandbox=sandboxed)

        def on_event(event: ChannelEvent) -> None:
            if self.dispatcher is not None:
                self.dispatcher.wake()
            for extension in self.extensions:
                try:
                    extension.on_event(event)
                except Exception:
                    log.exception("extension %s failed on an event", extension.name)

        results = self.results = Results(self.store, cipher, on_event, self.leases)
        sink = self.sandbox.sink(results) if self.sandbox is not None else results
        cfg = self.config
        addresses = Addresses(cfg.public.base_url, cfg.mail.domain, cfg.mail.default_sender)
        self.dispatcher = Dispatcher(cfg.dispatcher, addresses, self.store, cipher, self.channels, sink.report,
                                     content=cfg.content, leases=self.leases)

        def committed() -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_all)

        self.store.on_commit(committed)
        for channel in self.unique_channels:
            await channel.start(sink)
        await self.dispatcher.start()
        self.membership.start()
        await self.callbacks.start()
        intake = self.intake = Intake(cfg.limits, self.store, cipher, self.channels,
                                      sms_default_sender=cfg.sms.default_sender, images=ImageFetcher(cfg.content))
        requests = RequestReader(self.secrets.keys, cfg.api.max_body_bytes)
        services = self.services = Services(self.store, cipher, requests, intake, self.channels, self.started_at,
                                            cfg.limits.queue_capacity, readiness=self.readiness, sandbox=sandboxed)
        context = ExtensionContext(self.store, cipher, intake, requests, self.unique_channels, self.callbacks,
                                   self.readiness, self.started_at, cfg.ops, cfg.events, sink,
                                   lease_s=cfg.cluster.lease_s, cluster=self.cluster_state, sandbox=sandboxed)
        control_app = create_app(services)
        extensions: list[Extension] = [m.create(context) for m in map(optional_module, EXTENSIONS) if m is not None]
        if self.sandbox is not None:
            extensions.append(sandbox_routes.create(self.sandbox, context))
        for extension in extensions:
            extension.routes(control_app)
            info = extension.info()
            if info is not None:
                services.extra_info[extension.name] = extension.info
            await extension.start()
            self.extensions.append(extension)
        form_key = hmac.new(self.secrets.master_key, b"alertnode/public-form/v1", hashlib.sha256).digest()
        public_app = create_public_app(self.store, cipher, sink, base_url=cfg.public.base_url, form_key=form_key)
        rich_pages.add_routes(public_app, self.store, cipher, sink, cfg.public.base_url, cfg.content)
        api, pub = self.config.api, self.config.public
        parser = self.config.node.http_parser
        control = _Http(LeanFront(control_app), _listen(api.host, api.port), "control",
                        header_timeout_s=api.header_timeout_s, idle_timeout_s=api.idle_timeout_s, parser=parser)
        public = _Http(public_app, _listen(pub.host, pub.port), "public", header_timeout_s=pub.header_timeout_s,
                       idle_timeout_s=pub.idle_timeout_s, parser=parser)
        self.http = [control, public]
        for server in self.http:
            await server.start()
        log.info("alertnode ready: control API http://%s:%d, public http://%s:%d, data %s",
                 self.config.api.host, control.port, self.config.public.host, public.port, self.data_dir)
        if self.sandbox is not None:
            host = self.config.api.host if self.config.api.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
            self.sandbox.announce(f"http://{host}:{control.port}", self.secrets.new_api_key)
        # machine-readable line for tools and tests that start the node on port 0
        print(f"alertnode: listening control={self.config.api.host}:{control.port} "
              f"public={self.config.public.host}:{public.port}", flush=True)
        sd_notify("READY=1")
        self._watchdog = asyncio.create_task(self._feed_watchdog(), name="watchdog")

    def _node_info(self) -> dict[str, Any]:
        """What this node's heartbeat tells the others (and the status page): its channels, links, workers."""
        channels = []
        for ch in self.unique_channels:
            info = ch.info()
            channels.append({"name": info.name, "state": info.state, "ready": ch.ready(), "capacity": info.capacity,
                             "inFlight": info.in_flight, "details": _masked(dict(info.details))})
        sms = self.channels.get("sms")
        accounts = sms.accounts() if sms is not None and hasattr(sms, "accounts") else []
        return {"channels": channels, "smsAccounts": accounts}

    def _cluster_seen(self, rows: list[cluster.NodeRow]) -> None:
        """After each heartbeat: this node's part of each shared carrier account's throughput."""
        sms = self.channels.get("sms")
        if sms is not None and hasattr(sms, "set_link_shares"):
            now, lease_s = time.time(), self.config.cluster.lease_s
            peers = sum(1 for r in rows if r.node_id != self.node_id and r.alive(now, lease_s))
            sms.set_link_shares(link_shares(self.node_id, rows, now, lease_s), peers)

    async def _lost_leases(self, lost: dict[str, list[int]]) -> None:
        """Another node took these deliveries over (this node was too slow to renew): drop what of them still
        waits inside the channels, so that they are not sent twice beyond what is already in flight."""
        for alert_type, ids in lost.items():
            channel = self.channels.get(alert_type)
            if channel is not None:
                try:
                    await channel.cancel(ids)
                except Exception:
                    log.exception("channel %s could not drop %d deliveries it lost", channel.name, len(ids))

    async def cluster_state(self) -> list[dict[str, Any]]:
        """Every node sharing the store: heartbeat, channels, links, workers and the work it holds."""
        assert self.store is not None
        rows, held = await self.store.read(lambda c: (cluster.nodes(c), cluster.held_counts(c)))
        now = time.time()
        return [{**r.as_dict(now, self.config.cluster.lease_s), "holds": held.get(r.node_id, {}),
                 "self": r.node_id == self.node_id} for r in rows]

    def _wake_all(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()
        if self.callbacks is None:
            return
        # Every commit may have queued callbacks, and a wake costs the sender two outbox reads. Under load
        # (hundreds of commits a second) one wake per CALLBACK_WAKE_INTERVAL_S is enough: at most that much is
        # added to a callback's first attempt, none when commits are rarer than that.
        now = time.monotonic()
        if now - self._callbacks_woken_at >= CALLBACK_WAKE_INTERVAL_S:
            self._callbacks_woken_at = now
            self.callbacks.wake()
        elif not self._callbacks_wake_due:
            self._callbacks_wake_due = True
            asyncio.get_running_loop().call_later(self._callbacks_woken_at + CALLBACK_WAKE_INTERVAL_S - now,
                                                  self._wake_callbacks)

    def _wake_callbacks(self) -> None:
        self._callbacks_wake_due = False
        self._callbacks_woken_at = time.monotonic()
        if self.callbacks is not None:
            self.callbacks.wake()

    async def _feed_watchdog(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC")
        if not usec or not usec.isdigit():
            return
        interval = int(usec) / 2e6
        while True:
            await asyncio.sleep(interval)
            sd_notify("WATCHDOG=1")

    async def readiness(self) -> dict[str, Any]:
        state: dict[str, Any] = {"store": "ok", "listeners": "up", "node": self.node_id}
        ready = True
        try:
            assert self.store is not None
            await self.store.ping()
            state["cluster"] = await self.cluster_state()
        except Exception as exc:  # noqa: BLE001 (any failure means "not ready", reported as text)
            state["store"] = f"error: {exc}"
            ready = False
        channels = {}
        for ch in self.unique_channels:
            ok = ch.ready()
            channels[ch.name] = {"ready": ok, "state": ch.info().state}
            ready = ready and ok
        state["channels"] = channels
        state["ready"] = ready
        if self.sandbox is not None:
            state["sandbox"] = True  # every channel is a sandbox peer on this machine
        return state

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        sd_notify("STOPPING=1")
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.sandbox is not None:
            self.sandbox.closing()  # its page's long polls answer now, so the listeners close without waiting
        for server in self.http:
            await server.stop()
        for extension in reversed(self.extensions):
            try:
                await extension.stop()
            except Exception:
                log.exception("extension %s did not stop cleanly", extension.name)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.membership is not None:
            await self.membership.stop()
        grace = self.config.node.shutdown_grace_s
        for channel in self.unique_channels:
            try:
                await asyncio.wait_for(channel.stop(grace), timeout=grace + 5)
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)
        if self.sandbox is not None:
            await self.sandbox.close()
        if self.callbacks is not None:
            await self.callbacks.stop()
        if self.store is not None:
            self.store.close()
        log.info("alertnode stopped")


def _masked(value: Any) -> Any:
    """Channel details as other nodes see them: any phone number or e-mail address in a text masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


# The GIL switch interval (CPython's default is 5 ms). The node's I/O threads (an SMPP link's socket
# loop, the store's writer) wait for the GIL after every socket read and every SQLite step while the event
# loop computes; 1 ms lets them back in sooner. Measured with tools/bench/sms.py: about 8 % more messages
# end to end than at 5 ms; 0.5 ms and less lose again to switching.
GIL_SWITCH_INTERVAL_S = 0.001


CALLBACK_WAKE_INTERVAL_S = 0.02
"""the callback sender is woken at most this often by commits (see Node._wake_all)"""

GC_YOUNG_THRESHOLD = 10_000
"""allocations between young collections once the node has started (CPython's default: 700)"""


def event_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The node's event loop (``node.event_loop``): uvloop (libuv; its futures, callbacks and socket transports
    cost the event loop about 25 µs less per small sendalert, tools/bench/api.py) when ``uvloop``, or ``auto``
    and uvloop is installed; None (asyncio's own) otherwise."""
    if choice == "asyncio" or (choice == "auto" and importlib.util.find_spec("uvloop") is None):
        return None
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def serve(config: Config, sandbox: bool | None = None) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    node = Node(config, sandbox)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.request_stop)
    try:
        await node.start()
        # Everything allocated at start-up (modules, the app, channels) lives as long as the process: frozen,
        # out of the collector's way, so a full collection under load scans only what requests created; and
        # young collections run every 10,000 allocations rather than 700 (a request allocates hundreds). At
        # 32 clients of small sendalerts (tools/bench/api.py, 8 s) this took full collections from about 40 ms
        # each (up to 54 ms, every request held meanwhile) to about 2 ms, and the collector's share of the
        # event loop's time from about 9 % to under 1 %.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
        await node.wait()
    finally:
        await node.stop()
