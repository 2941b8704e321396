"""Wiring and lifecycle. This module alone owns start-up order, shutdown order, signals and readiness.

Start-up: data directory and secrets → store (migrations) → channels → dispatcher, callbacks →
HTTP listeners → ready (sd_notify READY=1 when run by systemd). Stop (SIGTERM/SIGINT): listeners stop
taking work → dispatcher stops handing out → channels finish or hand back in-flight work within the
grace period → callbacks → store closed last.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from alertnode.api import rich_pages
from alertnode.api.auth import KeyRing, load_or_create_key_hash, load_or_create_secret
from alertnode.api.extension import Extension, ExtensionContext
from alertnode.api.public import create_public_app
from alertnode.api.request import RequestReader
from alertnode.api.routes import Services, create_app
from alertnode.config import Config
from alertnode.domain import Channel, ChannelEvent
from alertnode.errors import ConfigError, Problem
from alertnode.jobs.callbacks import CallbackSender
from alertnode.jobs.dispatcher import Addresses, Dispatcher
from alertnode.jobs.image_fetch import ImageFetcher
from alertnode.jobs.intake import Intake
from alertnode.jobs.results import Results
from alertnode.store.crypto import Cipher, load_or_create_key
from alertnode.store.db import Store

log = logging.getLogger(__name__)

# Modules that extend the running node (metrics, status page, event routing). Each that exists has
# ``create(ctx: ExtensionContext) -> Extension`` (see alertnode.api.extension): created once the store,
# channels and intake are up, started before the HTTP listeners open, stopped after they closed.
EXTENSIONS: tuple[str, ...] = ("alertnode.ops.runtime", "alertnode.api.events")

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
    """One uvicorn server on a socket we bound, without uvicorn's own signal handling."""

    def __init__(self, app: Any, sock: socket.socket, name: str) -> None:
        self.sock = sock
        self.name = name
        cfg = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5,
                             server_header=False, date_header=True)
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
    def __init__(self, config: Config) -> None:
        self.config = config
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
        self.store = Store(self.data_dir / "alertnode.db")
        self.store.open()
        self.channels = build_channels(self.config, self.store, cipher, self.data_dir)
        self.callbacks = CallbackSender(self.config.callbacks, self.store, cipher, self.secrets.callback_secret)

        def on_event(event: ChannelEvent) -> None:
            if self.dispatcher is not None:
                self.dispatcher.wake()
            for extension in self.extensions:
                try:
                    extension.on_event(event)
                except Exception:
                    log.exception("extension %s failed on an event", extension.name)

        results = self.results = Results(self.store, cipher, on_event)
        cfg = self.config
        addresses = Addresses(cfg.public.base_url, cfg.mail.domain, cfg.mail.default_sender)
        self.dispatcher = Dispatcher(cfg.dispatcher, addresses, self.store, cipher, self.channels, results.report,
                                     content=cfg.content)

        def committed() -> None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_all)

        self.store.on_commit(committed)
        for channel in self.unique_channels:
            await channel.start(results)
        await self.dispatcher.start()
        await self.callbacks.start()
        intake = self.intake = Intake(cfg.limits, self.store, cipher, self.channels, images=ImageFetcher(cfg.content))
        requests = RequestReader(self.secrets.keys, cfg.api.max_body_bytes)
        services = self.services = Services(self.store, cipher, requests, intake, self.channels, self.started_at,
                                            cfg.limits.queue_capacity, readiness=self.readiness)
        context = ExtensionContext(self.store, cipher, intake, requests, self.unique_channels, self.callbacks,
                                   self.readiness, self.started_at, cfg.ops, cfg.events)
        control_app = create_app(services)
        for name in EXTENSIONS:
            module = optional_module(name)
            if module is None:
                continue
            extension: Extension = module.create(context)
            extension.routes(control_app)
            info = extension.info()
            if info is not None:
                services.extra_info[extension.name] = extension.info
            await extension.start()
            self.extensions.append(extension)
        public_app = create_public_app(self.store, cipher, results)
        rich_pages.add_routes(public_app, self.store, cipher, results, cfg.public.base_url, cfg.content)
        control = _Http(control_app, _listen(self.config.api.host, self.config.api.port), "control")
        public = _Http(public_app, _listen(self.config.public.host, self.config.public.port), "public")
        self.http = [control, public]
        for server in self.http:
            await server.start()
        log.info("alertnode ready: control API http://%s:%d, public http://%s:%d, data %s",
                 self.config.api.host, control.port, self.config.public.host, public.port, self.data_dir)
        # machine-readable line for tools and tests that start the node on port 0
        print(f"alertnode: listening control={self.config.api.host}:{control.port} "
              f"public={self.config.public.host}:{public.port}", flush=True)
        sd_notify("READY=1")
        self._watchdog = asyncio.create_task(self._feed_watchdog(), name="watchdog")

    def _wake_all(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()
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
        state: dict[str, Any] = {"store": "ok", "listeners": "up"}
        ready = True
        try:
            assert self.store is not None
            await self.store.ping()
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
        return state

    def request_stop(self) -> None:
        self._stop.set()

    async def wait(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        sd_notify("STOPPING=1")
        if self._watchdog is not None:
            self._watchdog.cancel()
        for server in self.http:
            await server.stop()
        for extension in reversed(self.extensions):
            try:
                await extension.stop()
            except Exception:
                log.exception("extension %s did not stop cleanly", extension.name)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        grace = self.config.node.shutdown_grace_s
        for channel in self.unique_channels:
            try:
                await asyncio.wait_for(channel.stop(grace), timeout=grace + 5)
            except Exception:
                log.exception("channel %s did not stop cleanly", channel.name)
        if self.callbacks is not None:
            await self.callbacks.stop()
        if self.store is not None:
            self.store.close()
        log.info("alertnode stopped")


# The GIL switch interval (CPython's default is 5 ms). The node's I/O threads (an SMPP link's socket
# loop, the store's writer) wait for the GIL after every socket read and every SQLite step while the event
# loop computes; 1 ms lets them back in sooner. Measured with tools/bench/sms.py: about 8 % more messages
# end to end than at 5 ms; 0.5 ms and less lose again to switching.
GIL_SWITCH_INTERVAL_S = 0.001


async def serve(config: Config) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    node = Node(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, node.request_stop)
    try:
        await node.start()
        await node.wait()
    finally:
        await node.stop()
