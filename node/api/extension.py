"""Extensions of the running node (the operations routes, the events API): what the node hands them and
what they give back.

An extension module has ``create(ctx: ExtensionContext) -> Extension``. ``alertnode.app`` builds the
context once the store, channels, dispatcher, callbacks and intake are up, and then, for each extension:
adds its routes to the control app, registers its ``info()`` in getinfo under its ``name``, feeds it every
stored channel event (``on_event``: cheap, must not raise), calls ``start`` before the listeners open and
``stop`` after they have closed. Extensions get the services they use, never the node itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI

from alertnode.api.request import RequestReader
from alertnode.domain import Channel, ChannelEvent, EventSink
from alertnode.jobs.events_config import EventsConfig
from alertnode.jobs.intake import Intake
from alertnode.ops.config import OpsConfig
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store


class CallbackCounts(Protocol):
    """The callback sender's counters (``alertnode.jobs.callbacks.CallbackSender``)."""

    @property
    def sent(self) -> int: ...

    @property
    def failures(self) -> int: ...


@dataclass(frozen=True)
class ExtensionContext:
    store: Store
    cipher: Cipher
    intake: Intake
    requests: RequestReader
    """the control API's request reader: API key and body checks"""
    channels: Sequence[Channel]
    """each configured channel once"""
    callbacks: CallbackCounts
    readiness: Callable[[], Awaitable[dict[str, Any]]]
    started_at: float
    ops: OpsConfig
    events: EventsConfig
    sink: EventSink
    """the node's event sink (what channels report to): events an extension records on a delivery's behalf"""
    lease_s: float = 30.0
    """how long a claim of a node sharing the store lasts without renewal ([cluster] lease_s)"""
    cluster: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None
    """every node sharing the store, from their heartbeats (the status page, /metrics)"""
    sandbox: bool = False
    """the node runs in sandbox mode: every event an extension shows says so (``EventRow.as_dict``)"""


class Extension:
    """Base of an extension: every hook does nothing until overridden."""

    name = ""

    def routes(self, app: FastAPI) -> None:
        """Add routes to the control app."""

    def on_event(self, event: ChannelEvent) -> None:
        """A channel event was stored."""

    def info(self) -> Mapping[str, Any] | None:
        """This extension's part of getinfo (None: nothing)."""
        return None

    async def start(self) -> None:
        """Called before the listeners open."""

    async def stop(self) -> None:
        """Called after the listeners have closed."""
