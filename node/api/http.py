"""The HTTP protocol of the node's listeners: uvicorn's h11 protocol with read time-outs, so that a slow or
silent client cannot hold a connection (and its memory, and a file descriptor) for ever.

uvicorn alone closes a connection only when it has been idle for ``timeout_keep_alive`` *after* an answer; a
connection that never sends a byte, or sends its headers a byte at a time (slowloris), or stops inside a body,
stays open. Rules, for each connection:

* while the node waits for the client (no request yet, between requests, inside a request body), a
  connection from which nothing arrives for ``idle_timeout_s`` is closed;
* a request's line and headers must be complete within ``header_timeout_s`` of their first byte; if not, the
  node answers 408 Request Timeout (RFC 9110 §15.5.9) and closes the connection;
* while a request is being handled (its body read, its answer being written) nothing is timed here: that is
  the node's own work.

One timer per connection, re-armed lazily: receiving data only notes the time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_WAITING = (h11.IDLE, h11.SEND_BODY)
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Length: 31\r\nConnection: close\r\n\r\nrequest headers took too long.\n")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the time-outs of this module's rules (class attributes, set per listener
    by :func:`guarded_protocol`)."""

    header_timeout_s = 10.0
    idle_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_rx = self.loop.time()
        self._request_began: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._arm(self.idle_timeout_s)

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
        self._last_rx = self.loop.time()
        if self._timer is None:
            self._arm(self.idle_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(max(delay, 0.0), self._check)

    def _check(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state not in _WAITING or self.flow.read_paused:
            return  # the node is working on a request; on_response_complete or new data re-arms
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


def guarded_protocol(header_timeout_s: float, idle_timeout_s: float) -> type[GuardedH11Protocol]:
    """The protocol class a listener with these time-outs gives uvicorn (``uvicorn.Config(http=...)``)."""
    attrs: dict[str, Any] = {"header_timeout_s": header_timeout_s, "idle_timeout_s": idle_timeout_s}
    return type("ListenerProtocol", (GuardedH11Protocol,), attrs)
