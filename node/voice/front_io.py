"""The SIP front's sockets (node/voice/front.py decides): on the asyncio loop of the supervisor.

UDP: one socket on the front's address receives the PBX's requests and the workers' responses (the
front's Via names it) and sends both on. TCP: a listening socket for the PBX's connections, and one
connection of the front's own to each worker, over which the worker answers (RFC 3261 §18.2.2);
messages are framed by Content-Length (§18.3). A message that is no SIP message is logged (without
its content: it may carry phone numbers) and dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence

from alertnode.errors import SipError
from alertnode.voice.front import Out, Peer, SipFront, Target, ToPeer, ToWorker
from alertnode.voice.sipmsg import SipParseError, frame_length

log = logging.getLogger(__name__)

Targets = Callable[[], Sequence[Target]]
_EXPIRE_EVERY_S = 60.0


class FrontServer:
    def __init__(self, front: SipFront, targets: Targets, clock: Callable[[], float] = time.monotonic) -> None:
        """``targets`` lists the ready workers, least loaded first, each with its room (maybe 0)."""
        self.front = front
        self._targets = targets
        self._clock = clock
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._conns: dict[int, asyncio.StreamWriter] = {}
        self._workers: dict[int, asyncio.StreamWriter] = {}
        self._worker_locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._last_expire = 0.0

    async def start(self) -> int:
        """Bind the front's address (port 0: any free one); returns the port. Raises SipError."""
        loop = asyncio.get_running_loop()
        host, port = self.front.host, self.front.port
        try:
            if self.front.transport == "TCP":
                self._server = await asyncio.start_server(self._accept, host, port)
                port = int(self._server.sockets[0].getsockname()[1])
            else:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), local_addr=(host, port)
                )
                self._udp = transport
                port = int(transport.get_extra_info("sockname")[1])
        except OSError as exc:
            raise SipError(f"SIP front cannot listen on {host}:{port}: {exc}", 500) from exc
        self.front.port = port
        return port

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._server is not None:
            self._server.close()
        for writer in [*self._conns.values(), *self._workers.values()]:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ messages in

    def received(self, data: bytes, src: Peer) -> None:
        now = self._clock()
        if now - self._last_expire > _EXPIRE_EVERY_S:
            self._last_expire = now
            self.front.expire(now)
        try:
            outs = self.front.on_message(data, src, self._targets(), now)
        except (SipParseError, ValueError) as exc:
            log.warning("SIP front: a message from %s:%d dropped: %s", src.host, src.port, exc)
            return
        for out in outs:
            self._send(out)

    def _send(self, out: Out) -> None:
        if isinstance(out, ToWorker):
            target = next((t for t in self._targets() if t.index == out.index), None)
            if target is None:
                log.warning("SIP front: worker %d is gone; a message for it dropped", out.index)
                return
            if self._udp is not None:
                self._udp.sendto(out.data, (target.host, target.port))
            else:
                self._spawn(self._to_worker(target, out.data))
            return
        assert isinstance(out, ToPeer)
        if self._udp is not None:
            self._udp.sendto(out.data, (out.peer.host, out.peer.port))
            return
        writer = self._conns.get(out.peer.conn)
        if writer is None or writer.is_closing():
            log.warning("SIP front: the connection a response belongs to is closed; dropped")
            return
        writer.write(out.data)

    # ------------------------------------------------------------------ TCP

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = next(self._ids)
        self._conns[conn] = writer
        host, port = writer.get_extra_info("peername")[:2]
        try:
            await self._read_stream(reader, Peer(host, int(port), conn))
        finally:
            self._conns.pop(conn, None)
            writer.close()

    async def _to_worker(self, target: Target, data: bytes) -> None:
        lock = self._worker_locks.setdefault(target.index, asyncio.Lock())
        async with lock:  # one connection per worker, messages in the order they came
            writer = self._workers.get(target.index)
            if writer is None or writer.is_closing():
                try:
                    reader, writer = await asyncio.open_connection(target.host, target.port)
                except OSError as exc:
                    log.warning("SIP front: no connection to worker %d: %s", target.index, exc)
                    return
                self._workers[target.index] = writer
                self._spawn(self._read_stream(reader, Peer(target.host, target.port)))
            writer.write(data)

    async def _read_stream(self, reader: asyncio.StreamReader, src: Peer) -> None:
        buf = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            buf += chunk
            while True:
                buf = buf.lstrip(b"\r\n")  # keep-alive CRLFs between messages (RFC 5626 §3.5.1)
                try:
                    n = frame_length(buf)
                except SipParseError as exc:
                    log.warning("SIP front: a stream from %s:%d broken off: %s", src.host, src.port, exc)
                    return
                if n is None:
                    break
                message, buf = buf[:n], buf[n:]
                self.received(message, src)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: FrontServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if data.strip(b"\r\n"):  # a bare CRLF is a keep-alive (RFC 5626 §3.5.1)
            self._server.received(data, Peer(str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP front: %s", exc)
