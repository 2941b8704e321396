"""Starts the voice worker processes, routes commands to them and restarts the ones that die.

Each worker (node/voice/worker/) is a subprocess speaking the voice pipe (node/voice/pipe.py) and
carries at most :data:`~alertnode.voice.config.CALLS_PER_WORKER` calls, with its own SIP port and RTP
range. The supervisor runs on the asyncio loop and is the channel's
:class:`~alertnode.voice.link.WorkerLink`; worker events are handed to ``on_event`` in the order each
worker wrote them. A line a worker writes that is no event is logged and dropped. When a worker dies,
each of its calls is reported as :class:`~alertnode.voice.pipe.Lost` and the worker is started again
after a growing pause.

Ports: the SIP front (node/voice/front.py) owns ``sip_port_base``, the node's one SIP address (the
registered Contact, where a trunk sends calls) and spreads incoming calls over the workers; worker
``n`` listens on ``sip_port_base + 1 + n`` (any free port when the base is 0). A worker's room for
calls counts the INVITEs the front sent it that it has not reported yet, so a burst of callers and
outbound calls placed at the same time share the workers without overfilling one.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass, field

from alertnode.domain_info import RegistrationInfo, WorkerInfo
from alertnode.voice.config import CALLS_PER_WORKER, VoiceConfig
from alertnode.voice.front import SipFront, Target
from alertnode.voice.front_io import FrontServer
from alertnode.voice.link import OnEvent
from alertnode.voice.pipe import (
    CallCommand,
    Command,
    Ended,
    Event,
    Fatal,
    Incoming,
    LogLine,
    Lost,
    NoSuchCall,
    PipeError,
    Place,
    Ready,
    Registration,
    Shutdown,
    WorkerInit,
    decode_event,
    encode,
)

log = logging.getLogger(__name__)

_RESTART_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass
class WorkerHandle:
    index: int
    proc: asyncio.subprocess.Process | None = None
    ready: bool = False
    sip_port: int = 0
    calls: set[str] = field(default_factory=set)
    starts: int = 0
    reader: asyncio.Task[None] | None = None
    registration: Registration | None = None
    stopping: bool = False


def worker_init(config: VoiceConfig, index: int, front_port: int = 0) -> WorkerInit:
    """The ``init`` command of worker ``index`` (ports per worker; only worker 0 registers, with the
    front's address as its Contact)."""
    return WorkerInit(
        index=index,
        bind_host=config.bind_host,
        sip_port=config.sip_port_base + 1 + index if config.sip_port_base else 0,
        rtp_port=config.rtp_port_base + index * config.rtp_ports_per_worker,
        rtp_range=config.rtp_ports_per_worker,
        transport=config.transport,
        codecs=tuple(config.codecs),
        registrar=config.registrar,
        do_register=index == 0,
        user=config.user,
        auth_user=config.auth_user,
        password=config.password,
        realm=config.realm,
        domain=config.domain or config.registrar or config.trunk,
        proxy=config.proxy or config.registrar,
        expiry=config.register_expiry_s,
        trunk=config.trunk,
        inbound=config.inbound,
        max_calls=CALLS_PER_WORKER,
        # pjsua's own console: 0 = silent; its error lines carry SIP URIs (phone numbers) unmasked,
        # and every failure reaches the node as an event anyway
        log_level=0,
        clock_rate=16000 if "G722" in config.codecs else 8000,
        contact=f"{config.bind_host}:{front_port}" if front_port else "",
        session_expires=config.session_expires_s,
        min_se=config.session_min_se_s,
    )


class Supervisor:
    def __init__(
        self,
        config: VoiceConfig,
        on_event: OnEvent,
        python: str = sys.executable,
    ) -> None:
        self.config = config
        self._on_event = on_event
        self._python = python
        self._workers = [WorkerHandle(i) for i in range(config.workers)]
        self._owner: dict[str, WorkerHandle] = {}
        self._closing = False
        self._restarts: set[asyncio.Task[None]] = set()
        self.front = SipFront(config.bind_host, config.sip_port_base, config.transport)
        self._front_io = FrontServer(self.front, self._targets)
        self._sip_ids: dict[str, str] = {}
        """Incoming calls: the worker's key -> the SIP Call-ID the front routed."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the SIP front (raises SipError when its port is taken), then start the workers."""
        await self._front_io.start()
        await asyncio.gather(*(self._spawn(w) for w in self._workers))

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker is ready (or ``timeout``); True when all are."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            if all(w.ready for w in self._workers):
                return True
            await asyncio.sleep(0.02)
        return all(w.ready for w in self._workers)

    async def _spawn(self, w: WorkerHandle) -> None:
        w.starts += 1
        w.ready = False
        w.stopping = False
        proc = await asyncio.create_subprocess_exec(
            self._python,
            "-m",
            "alertnode.voice.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
        )
        w.proc = proc
        assert proc.stdin is not None
        proc.stdin.write(encode(worker_init(self.config, w.index, self.front.port)).encode())
        w.reader = asyncio.create_task(self._read(w, proc), name=f"voice-worker-{w.index}")
        watchdog = asyncio.create_task(self._start_watchdog(w, proc))
        self._restarts.add(watchdog)
        watchdog.add_done_callback(self._restarts.discard)

    async def _start_watchdog(self, w: WorkerHandle, proc: asyncio.subprocess.Process) -> None:
        """A worker that is not ready in time is killed; its reader then restarts it."""
        await asyncio.sleep(self.config.worker_start_timeout_s)
        if w.proc is proc and not w.ready and proc.returncode is None:
            log.warning("voice worker %d not ready in %.0f s; killed", w.index, self.config.worker_start_timeout_s)
            proc.kill()

    async def _read(self, w: WorkerHandle, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                line = await proc.stdout.readline()
                if not line:
                    break
                try:
                    ev = decode_event(line)
                except PipeError as exc:
                    log.warning("voice worker %d wrote a line that is no event (%s); dropped", w.index, exc)
                    continue
                self._handle(w, ev)
        finally:
            rc = await proc.wait()
            await self._died(w, rc)

    def _handle(self, w: WorkerHandle, ev: Event) -> None:
        match ev:
            case Ready():
                w.ready = True
                w.sip_port = ev.sip_port
                log.info("voice worker %d ready on SIP port %d", w.index, w.sip_port)
            case LogLine():
                log.log(ev.level, "voice worker %d: %s", w.index, ev.message)
                return
            case Fatal():
                log.error("voice worker %d cannot start: %s", w.index, ev.message)
            case Registration():
                w.registration = ev
            case Incoming():
                w.calls.add(ev.call)
                self._owner[ev.call] = w
                if ev.sip_call_id:
                    self._sip_ids[ev.call] = ev.sip_call_id
                    self.front.settle(ev.sip_call_id)
            case Ended() | NoSuchCall():
                w.calls.discard(ev.call)
                self._owner.pop(ev.call, None)
                self.front.forget(self._sip_ids.pop(ev.call, ""))
        try:
            self._on_event(ev)
        except Exception:  # the channel's bug must not kill the reader
            log.exception("voice event handler failed for %s", ev.tag)

    async def _died(self, w: WorkerHandle, rc: int) -> None:
        w.ready = False
        w.proc = None
        lost = sorted(w.calls)
        w.calls.clear()
        for key in lost:
            self._owner.pop(key, None)
            self.front.forget(self._sip_ids.pop(key, ""))
            try:
                self._on_event(Lost(key))
            except Exception:  # the channel's bug must not stop the restart
                log.exception("voice event handler failed for a lost call")
        if self._closing or w.stopping:
            return
        log.warning("voice worker %d exited (%s) with %d call(s); restarting", w.index, rc, len(lost))
        pause = _RESTART_PAUSES[min(w.starts - 1, len(_RESTART_PAUSES) - 1)]
        task = asyncio.create_task(self._restart(w, pause))
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _restart(self, w: WorkerHandle, pause: float) -> None:
        await asyncio.sleep(pause)
        if not self._closing:
            await self._spawn(w)

    async def stop(self, grace: float) -> None:
        """Close the SIP front, hang up every call, let workers destroy their libraries, kill the ones
        that do not exit."""
        self._closing = True
        await self._front_io.stop()
        for t in list(self._restarts):
            t.cancel()
        procs = []
        for w in self._workers:
            w.stopping = True
            if w.proc is not None and w.proc.returncode is None:
                self._write(w, Shutdown())
                procs.append(w.proc)
        if procs:
            _done, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in procs], timeout=grace)
            for p in procs:
                if p.returncode is None:
                    log.warning("voice worker pid %d did not stop in %.1f s; killed", p.pid, grace)
                    p.kill()
            if pending:
                await asyncio.wait(pending, timeout=2)
        readers = [w.reader for w in self._workers if w.reader is not None]
        if readers:
            await asyncio.wait(readers, timeout=2)

    # ------------------------------------------------------------------ calls

    def _room(self, w: WorkerHandle, now: float) -> int:
        return CALLS_PER_WORKER - len(w.calls) - self.front.pending(w.index, now)

    def _targets(self) -> list[Target]:
        """The ready workers for the SIP front, least loaded first."""
        now = time.monotonic()
        ready = [w for w in self._workers if w.ready and w.sip_port]
        ready.sort(key=lambda w: (-self._room(w, now), w.index))
        return [Target(w.index, self.config.bind_host, w.sip_port, self._room(w, now)) for w in ready]

    def free_slots(self) -> int:
        now = time.monotonic()
        return sum(max(0, self._room(w, now)) for w in self._workers if w.ready)

    def capacity(self) -> int:
        return len(self._workers) * CALLS_PER_WORKER

    def in_flight(self) -> int:
        return len(self._owner)

    def place(self, command: Place) -> bool:
        """Place a call on the least loaded ready worker; False when no worker has room."""
        now = time.monotonic()
        ready = [w for w in self._workers if w.ready and self._room(w, now) > 0]
        if not ready:
            return False
        w = max(ready, key=lambda h: (self._room(h, now), -h.index))
        w.calls.add(command.call)
        self._owner[command.call] = w
        self._write(w, command)
        return True

    def send(self, command: CallCommand) -> bool:
        w = self._owner.get(command.call)
        if w is None:
            return False
        self._write(w, command)
        return True

    def sip_port(self) -> int:
        return self.front.port

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w.proc is not None and w.proc.returncode is None]

    def kill_worker(self, index: int) -> None:
        """Kill one worker (used by tests and by an operator's "restart voice worker")."""
        w = self._workers[index]
        if w.proc is not None and w.proc.returncode is None:
            w.proc.kill()

    def _write(self, w: WorkerHandle, command: Command) -> None:
        if w.proc is None or w.proc.stdin is None or w.proc.stdin.is_closing():
            return
        w.proc.stdin.write(encode(command).encode())

    # ------------------------------------------------------------------ state

    def registration(self) -> RegistrationInfo:
        reg = self._workers[0].registration
        if reg is None:
            return RegistrationInfo()
        return RegistrationInfo(reg.active, reg.code, reg.reason, reg.expires)

    def workers_info(self) -> tuple[WorkerInfo, ...]:
        return tuple(WorkerInfo(w.index, w.ready, w.sip_port, len(w.calls), w.starts) for w in self._workers)
