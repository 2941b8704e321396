"""What the voice channel needs from whatever carries its calls.

In the node that is the :class:`~alertnode.voice.supervisor.Supervisor` of worker processes; in unit
tests an in-memory fake stands in its place (tests/voice/fake_link.py), so the channel's mapping of
IVR actions to worker commands and of worker events to IVR events is tested without pjsua2. Commands
and events are the voice pipe's (node/voice/pipe.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from alertnode.domain_info import RegistrationInfo, WorkerInfo
from alertnode.voice.config import VoiceConfig
from alertnode.voice.pipe import CallCommand, Event, Place


class WorkerLink(Protocol):
    async def start(self) -> None:
        """Start the workers (without waiting for them to be ready)."""

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker is ready (or ``timeout``); True when all are."""

    async def stop(self, grace: float) -> None:
        """Hang up every call and stop every worker within ``grace`` seconds."""

    def place(self, command: Place) -> bool:
        """Place a call on a worker with room; False when none has."""

    def send(self, command: CallCommand) -> bool:
        """Send a command to the worker carrying ``command.call``; False when none carries it."""

    def free_slots(self) -> int:
        """Calls the ready workers can still take."""

    def in_flight(self) -> int:
        """Calls the workers carry (placed, ringing, up, or incoming)."""

    def registration(self) -> RegistrationInfo:
        """The SIP registration's state: ``registered`` (None before a result), code, reason, expires."""

    def workers_info(self) -> tuple[WorkerInfo, ...]:
        """Per worker: index, ready, sipPort, calls, starts."""

    def sip_port(self) -> int:
        """The node's SIP port (the SIP front's; 0 before it listens)."""

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers."""


OnEvent = Callable[[Event], None]
LinkFactory = Callable[[VoiceConfig, OnEvent], WorkerLink]
"""Makes the link of a channel: its config and where worker events go (in the order each worker
wrote them; a worker that dies reports :class:`~alertnode.voice.pipe.Lost` for each of its calls)."""
