"""The node's end of the sandbox phone's pipe: starts the process, reads its events, sends its commands, and
starts it again (on the same SIP port, so the voice channel's trunk stays right) when it dies.

Events go to ``on_event`` in the event loop, in the order the phone wrote them; a phone that is restarted says
``ended`` for no call it had, so :meth:`PhoneLink.lost` names the calls it had when it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alertnode.errors import ChannelError
from alertnode.sandbox.phone import decode, encode

log = logging.getLogger(__name__)

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 8.0
RESTART_WAIT_S = 2.0


class PhoneLink:
    def __init__(self, recordings: Path, on_event: Callable[[dict[str, Any]], None], *,
                 host: str = "127.0.0.1", rtp_port: int = 0) -> None:
        self.recordings = recordings
        self.on_event = on_event
        self.host = host
        self.rtp_port = rtp_port
        self.port = 0
        self.restarts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready: asyncio.Future[int] | None = None
        self.live: set[str] = set()
        """calls the phone has now (incoming, not yet ended)"""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        self._ready = asyncio.get_running_loop().create_future()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "alertnode.sandbox.phone", "--host", self.host, "--port", str(self.port),
            "--rtp-port", str(self.rtp_port), "--recordings", str(self.recordings),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20,
        )
        self._reader = asyncio.create_task(self._read(self._proc, self._ready), name="sandbox-phone")
        try:
            self.port = await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
        except (TimeoutError, ChannelError) as exc:
            self._stopping = True  # no restarts of a phone that cannot start
            await self._kill()
            raise ChannelError(f"the sandbox phone did not start: {exc}") from exc
        log.info("sandbox phone: SIP on %s (pid %d)", self.address, self._proc.pid)

    async def _read(self, proc: asyncio.subprocess.Process, ready: asyncio.Future[int]) -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            try:
                event = decode(line.decode("utf-8", "replace"))
            except ValueError:
                log.warning("sandbox phone: a line that is no event was dropped")
                continue
            kind = event.get("ev")
            if kind == "ready" and not ready.done():
                ready.set_result(int(event.get("port", 0)))
                continue
            if kind == "fatal" and not ready.done():
                ready.set_exception(ChannelError(str(event.get("error"))))
                continue
            if kind == "incoming":
                self.live.add(str(event.get("call")))
            elif kind == "ended":
                self.live.discard(str(event.get("call")))
            try:
                self.on_event(event)
            except Exception:
                log.exception("sandbox phone: an event was not handled")
        await proc.wait()
        if not ready.done():
            ready.set_exception(ChannelError(f"the phone exited with {proc.returncode}"))
        if not self._stopping:
            self._lost(proc.returncode)

    def _lost(self, code: int | None) -> None:
        log.error("sandbox phone: the process ended (%s); starting it again", code)
        for call in sorted(self.live):
            with contextlib.suppress(Exception):
                self.on_event({"ev": "ended", "call": call, "code": 0, "reason": "the sandbox phone restarted",
                               "declined": False})
        self.live.clear()
        self.restarts += 1
        asyncio.get_running_loop().create_task(self._restart(), name="sandbox-phone-restart")

    async def _restart(self) -> None:
        await asyncio.sleep(RESTART_WAIT_S)
        if self._stopping:
            return
        try:
            await self.start()
        except ChannelError:
            log.exception("sandbox phone: could not start it again")

    def send(self, command: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            raise ChannelError("the sandbox phone is not running")
        proc.stdin.write(encode(command).encode("utf-8"))

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                proc.stdin.write(encode({"cmd": "shutdown"}).encode("utf-8"))
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("sandbox phone: did not stop in %.0f s, killed", STOP_TIMEOUT_S)
        await self._kill()

    async def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 2.0)
            self._reader = None
