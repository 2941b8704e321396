"""An in-memory worker link and timers: the voice channel's IVR-to-worker mapping without pjsua2.

:class:`FakeWorkerLink` stands where the supervisor and its worker processes stand
(:class:`~alertnode.voice.link.WorkerLink`). It keeps the supervisor's bookkeeping (which calls the
workers carry, slots), records every command the channel sends, and lets a test play the workers'
events. Every command and event crosses the voice pipe's encoding both ways, so nothing travels here
that could not travel over the real pipe. :class:`FakeTimers` stands for the event loop's timers: a
test fires them by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from alertnode.domain_info import RegistrationInfo, WorkerInfo
from alertnode.voice import pipe
from alertnode.voice.config import VoiceConfig
from alertnode.voice.link import OnEvent


class FakeWorkerLink:
    def __init__(self, config: VoiceConfig, on_event: OnEvent, slots: int = 4) -> None:
        self.config = config
        self.on_event = on_event
        self.slots = slots
        self.ready = True
        self.started = False
        self.stopped = False
        self.commands: list[pipe.Command] = []
        self.calls: set[str] = set()
        """Calls the workers carry (placed or incoming, not ended)."""
        self.up: set[str] = set()
        """Calls that were answered (the workers hang them up with 503 when stopped)."""
        self.registered: bool | None = None

    # ------------------------------------------------------------------ the WorkerLink side

    async def start(self) -> None:
        self.started = True

    async def wait_ready(self, timeout: float) -> bool:
        return self.ready

    async def stop(self, grace: float) -> None:
        """Like the workers on Shutdown: every call is hung up and reports its end."""
        self.stopped = True
        for key in sorted(self.calls):
            if key in self.up:
                self.emit(pipe.Ended(key, 200, "", by_remote=False, connected=True))
            else:
                self.emit(pipe.Ended(key, 487, "Request Terminated", by_remote=False))
        await asyncio.sleep(0)

    def place(self, command: pipe.Place) -> bool:
        if not self.ready or len(self.calls) >= self.slots:
            return False
        self.commands.append(_through_the_pipe(command))
        self.calls.add(command.call)
        return True

    def send(self, command: pipe.CallCommand) -> bool:
        if command.call not in self.calls:
            return False
        self.commands.append(_through_the_pipe(command))
        return True

    def free_slots(self) -> int:
        return self.slots - len(self.calls) if self.ready else 0

    def in_flight(self) -> int:
        return len(self.calls)

    def registration(self) -> RegistrationInfo:
        return RegistrationInfo(self.registered)

    def workers_info(self) -> tuple[WorkerInfo, ...]:
        return (WorkerInfo(0, self.ready, 5160, len(self.calls), 1),)

    def sip_port(self) -> int:
        return 5160

    def worker_pids(self) -> list[int]:
        return []

    # ------------------------------------------------------------------ the test's side

    def emit(self, event: pipe.Event) -> None:
        """A worker event, as the supervisor hands it to the channel."""
        event = pipe.decode_event(pipe.encode(event))
        match event:
            case pipe.Incoming():
                self.calls.add(event.call)
            case pipe.Answered():
                self.up.add(event.call)
            case pipe.Ended() | pipe.NoSuchCall() | pipe.Lost():
                self.calls.discard(event.call)
                self.up.discard(event.call)
        self.on_event(event)

    def die(self) -> None:
        """The worker process dies: each of its calls is lost, then it is ready again."""
        for key in sorted(self.calls):
            self.emit(pipe.Lost(key))
        self.emit(pipe.Ready(5160))

    def placed(self) -> list[pipe.Place]:
        return [c for c in self.commands if isinstance(c, pipe.Place)]

    def last_call(self) -> str:
        return self.placed()[-1].call

    def sent(self, call: str) -> list[pipe.Command]:
        """The commands for one call, in order (its Place included)."""
        return [c for c in self.commands if getattr(c, "call", None) == call]

    def take(self) -> list[pipe.Command]:
        """The commands sent since the last take."""
        out, self.commands = self.commands, []
        return out


def _through_the_pipe(command: pipe.Command) -> pipe.Command:
    return pipe.decode_command(pipe.encode(command))


@dataclass
class FakeTimer:
    seconds: float
    fn: Callable[[], None]
    cancelled: bool = False
    fired: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTimers:
    def __init__(self) -> None:
        self.made: list[FakeTimer] = []

    def __call__(self, seconds: float, fn: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(seconds, fn)
        self.made.append(timer)
        return timer

    def pending(self) -> list[float]:
        """The durations of the timers still to fire, in the order they were made."""
        return [t.seconds for t in self.made if not t.cancelled and not t.fired]

    def fire(self, seconds: float) -> None:
        """Fire the oldest pending timer of this duration."""
        timer = next(t for t in self.made if t.seconds == seconds and not t.cancelled and not t.fired)
        timer.fired = True
        timer.fn()
