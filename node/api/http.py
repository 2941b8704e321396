"""The HTTP protocol of the node's listeners: uvicorn's httptools protocol (C parser; uvicorn's h11 protocol, pure
Python, when httptools is not installed or ``node.http_parser = "h11"``), with read time-outs, so that a slow or
silent client cannot hold a connection (and its memory, and a file descriptor) for ever.

uvicorn alone closes a connection only when it has been idle for ``timeout_keep_alive`` *after* an answer; a
connection that never sends a byte, or sends its headers a byte at a time (slowloris), or stops inside a body,
stays open. Rules, for each connection, with either parser:

* while the node waits for the client (no request yet, between requests, inside a request body), a
  connection from which nothing arrives for ``idle_timeout_s`` is closed;
* a request's line and headers must be complete within ``header_timeout_s`` of their first byte; if not, the
  node answers 408 Request Timeout (RFC 9110 §15.5.9) and closes the connection;
* while a request is being handled (its body read, its answer being written) nothing is timed here: that is
  the node's own work.

One timer per connection, re-armed lazily: receiving data only notes the time.

Why httptools by default: at 32 clients of small sendalerts, h11 (a pure-Python state machine) cost the event loop
about 110 µs more per request than httptools (tools/bench/api.py: 380 → 270 µs per sendalert, 185 → 105 µs per
GET /healthz), time every request waits for.
"""

from __future__ import annotations

import asyncio
import importlib.util
from abc import ABC, abstractmethod
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_WAITING = (h11.IDLE, h11.SEND_BODY)
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Length: 31\r\nConnection: close\r\n\r\nrequest headers took too long.\n")

HttpParser = Literal["auto", "httptools", "h11"]


class _Guard(ABC):
    """The time-outs of this module's rules, for a uvicorn protocol class (set per listener by
    :func:`guarded_protocol`). The protocol tells, by :meth:`_handling`, whether the node is working on a request,
    and notes when a request's first bytes arrived (``_request_began``) and when its headers were complete."""

    header_timeout_s = 10.0
    idle_timeout_s = 10.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    flow: Any
    logger: Any
    client: Any

    def _guard_start(self) -> None:
        self._last_rx = self.loop.time()
        self._request_began: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._arm(self.idle_timeout_s)

    def _guard_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _guard_waiting(self) -> None:
        """The node waits for the client again (an answer is complete): its clock starts now."""
        self._last_rx = self.loop.time()
        if self._timer is None:
            self._arm(self.idle_timeout_s)

    @abstractmethod
    def _handling(self) -> bool:
        """The node is working on a request of this connection (nothing is timed meanwhile)."""

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(max(delay, 0.0), self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._handling() or self.flow.read_paused:
            return  # the node is working on a request; the end of its answer or new data re-arms
        now = self.loop.time()
        idle_at = self._last_rx + self.idle_timeout_s
        headers_at = (self._request_began + self.header_timeout_s) if self._request_began is not None else None
        if headers_at is not None and now >= headers_at:
            self._close(_REQUEST_TIMEOUT, "headers not complete within %.1f s", self.header_timeout_s)
        elif now >= idle_at:
            self._close(b"", "nothing received for %.1f s", self.idle_timeout_s)
        else:
            self._arm(min(idle_at, headers_at if headers_at is not None else idle_at) - now)

    def _close(self, answer: bytes, why: str, seconds: float) -> None:
        self.logger.debug("closing a slow connection from %s: " + why, self.client, seconds)
        if answer:
            self.transport.write(answer)
        self.transport.close()


class GuardedH11Protocol(_Guard, H11Protocol):
    """uvicorn's h11 protocol with the time-outs of this module's rules."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._guard_start()

    def data_received(self, data: bytes) -> None:
        now = self.loop.time()
        self._last_rx = now
        if self._request_began is None and self.conn.their_state is h11.IDLE:
            self._request_began = now  # the first bytes of a request: its header clock starts
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._request_began = None  # its headers are in
        if self._timer is None:
            self._arm(self.idle_timeout_s)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # the wait for the next request starts now (uvicorn's own keep-alive timer does the same)
        self._guard_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard_stop()
        super().connection_lost(exc)

    def _handling(self) -> bool:
        return self.conn.their_state not in _WAITING


def _httptools_protocol() -> type[Any] | None:
    if importlib.util.find_spec("httptools") is None:
        return None
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        """uvicorn's httptools protocol with the time-outs of this module's rules. The parser calls back at a
        request's first byte (``on_message_begin``), at the end of its headers and at the end of its body; a
        request is handled from the end of its body (or from its answer, if that comes first) to its answer."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._unanswered = 0  # requests received in full and not yet answered (pipelining: more than one)
            super().connection_made(transport)
            self._guard_start()

        def data_received(self, data: bytes) -> None:
            self._last_rx = self.loop.time()
            super().data_received(data)
            if self._timer is None:
                self._arm(self.idle_timeout_s)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._request_began = self._last_rx  # its header clock starts with the bytes that began it

        def on_headers_complete(self) -> None:
            self._request_began = None
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            answered = self.cycle is not None and self.cycle.response_complete
            super().on_message_complete()
            if not answered:
                self._unanswered += 1

        def on_response_complete(self) -> None:
            self._unanswered = max(0, self._unanswered - 1)
            super().on_response_complete()
            self._guard_waiting()

        def connection_lost(self, exc: Exception | None) -> None:
            self._guard_stop()
            super().connection_lost(exc)

        def _handling(self) -> bool:
            return self._unanswered > 0

    return GuardedHttpToolsProtocol


def guarded_protocol(header_timeout_s: float, idle_timeout_s: float,
                     parser: HttpParser = "auto") -> type[Any]:
    """The protocol class a listener with these time-outs gives uvicorn (``uvicorn.Config(http=...)``): httptools
    when ``parser`` is ``httptools``, or ``auto`` and httptools is installed; else h11."""
    base: type[Any] | None = GuardedH11Protocol if parser == "h11" else _httptools_protocol()
    if base is None:
        if parser == "httptools":
            raise RuntimeError("node.http_parser = httptools, but httptools is not installed")
        base = GuardedH11Protocol
    attrs: dict[str, Any] = {"header_timeout_s": header_timeout_s, "idle_timeout_s": idle_timeout_s}
    return type("ListenerProtocol", (base,), attrs)
