"""The one adapter around aiosmtpd: the node's SMTP listener for replies and bounces.

No aiosmtpd Controller (it runs its own thread and loop): the server is created inside the node's
running loop with ``loop.create_server`` and aiosmtpd's SMTP protocol. The listener only decides
what SMTP allows it to decide — which recipients are accepted, how big a message may be — and hands
every complete message to ``on_message``, whose SMTP reply it sends back.

- RCPT for any domain but the reply domain(s): 550 5.7.1 (never an open relay, RFC 5321 §3.6.2).
- More than ``max_recipients`` RCPTs: 452 4.5.3 (RFC 5321 §4.5.3.1.10).
- Messages over ``max_message_bytes``: 552, at MAIL (SIZE=, RFC 1870 §6) or during DATA (aiosmtpd).
- Slow clients: each command, and the content after DATA, must be complete within
  ``listen_timeout_s`` of the last command (aiosmtpd's time-out, reset by complete commands only, so a
  client trickling a byte at a time is dropped too); a session ends after ``listen_session_max_s`` with
  421 4.4.2 (NOOPs keep nothing open for ever); past ``listen_max_connections`` sessions a new client
  gets 421 4.7.0 at once (RFC 5321 §3.8) and is disconnected.
- A message that cannot be read: 554 5.6.0 (decided in node/mail/inbound.py), a permanent answer.
- A failure while recording a message (the store down): 451 4.3.0, so the sending MTA keeps it and
  tries again; only failures that another try can cure are answered 4yz (RFC 5321 §4.2.1).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from alertnode.errors import ChannelError
from alertnode.mail.config import MailConfig
from alertnode.mail.smtp_client import mask_address

log = logging.getLogger(__name__)

_BACKLOG = 1024
"""Connections the kernel queues before they are accepted (asyncio's default is 100): a burst of clients
past it would be refused by the kernel instead of getting the listener's own 421."""

_ADDRESS = re.compile(r"([A-Za-z0-9._%+=-])[A-Za-z0-9._%+=-]*@")


class _MaskAddresses(logging.Filter):
    """aiosmtpd logs every command line (MAIL FROM, RCPT TO) with the addresses in them; the node's
    logs never show an address in full."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):
            return True
        record.msg, record.args = _ADDRESS.sub(r"\1***@", text), ()
        return True


def _quiet_aiosmtpd() -> None:
    library = logging.getLogger("mail.log")  # aiosmtpd's logger
    if not any(isinstance(f, _MaskAddresses) for f in library.filters):
        library.addFilter(_MaskAddresses())
    if library.level == logging.NOTSET:
        # one INFO line per SMTP command is noise at the node's default level; an operator who sets
        # this logger's level explicitly still gets them
        library.setLevel(logging.WARNING)


@dataclass(frozen=True)
class InboundEnvelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: str


OnMessage = Callable[[InboundEnvelope, float], Awaitable[str]]


class _Handler:
    """aiosmtpd's application hooks (looked up by name by aiosmtpd itself)."""

    def __init__(self, listener: ReplyListener) -> None:
        self._listener = listener

    # aiosmtpd finds its hooks by these names
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        status = self._listener.check_recipient(address, len(envelope.rcpt_tos))
        if status.startswith("250"):
            # a hook that answers also keeps the envelope (aiosmtpd only does it when a hook is absent)
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return status

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content if envelope.original_content is not None else b""
        peer = session.peer
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)
        inbound = InboundEnvelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=bytes(raw),
            peer=peer_text,
        )
        return await self._listener.deliver(inbound)

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP listener: error in a session: %r", error)
        return "451 4.3.0 Local error, try again later"


class _Session(SMTP):
    """aiosmtpd's session, counted by the listener and bounded in time."""

    def __init__(self, listener: ReplyListener, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listener = listener
        # counted from its creation: a burst of connections is accepted before any connection_made runs
        listener.connections += 1
        self._counted = True
        self._session_end: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._session_end is None:  # (aiosmtpd calls it again after STARTTLS)
            self._session_end = self.loop.call_later(self._listener.session_max_s, self._end, transport)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._listener.connections -= 1
        if self._session_end is not None:
            self._session_end.cancel()
        super().connection_lost(error)

    def _end(self, transport: asyncio.BaseTransport) -> None:
        self._listener.sessions_ended += 1
        if not transport.is_closing():
            _write(transport, b"421 4.4.2 Session too long, closing\r\n")
        transport.close()


class _Busy(asyncio.Protocol):
    """The answer to a client past the connection cap: 421 and goodbye (RFC 5321 §3.8)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _write(transport, b"421 4.7.0 Too many connections, try again later\r\n")
        transport.close()


def _write(transport: asyncio.BaseTransport, data: bytes) -> None:
    """Write ``data`` on a stream transport. Not by ``isinstance(transport, asyncio.WriteTransport)``: uvloop's
    transports (the node's event loop when installed) are not subclasses of asyncio's, and such a check silently
    skipped the 421 (test_a_crowd_of_idle_clients_is_capped_and_dropped_while_replies_go_through)."""
    write = getattr(transport, "write", None)
    if write is not None:
        write(data)


class ReplyListener:
    def __init__(self, config: MailConfig, on_message: OnMessage) -> None:
        self._config = config
        self._on_message = on_message
        self._domains = config.accepted_domains()
        self._server: asyncio.Server | None = None
        self._handler = _Handler(self)
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.received = 0
        self.refused_relay = 0
        self.errors = 0
        self.connections = 0
        """Sessions open now."""
        self.refused_busy = 0
        self.sessions_ended = 0
        """Sessions closed at listen_session_max_s."""
        self.session_max_s = config.listen_session_max_s

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        if self._server is None or not self._server.sockets:
            return 0
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return f"{self._config.listen_host}:{self.port}"

    def check_recipient(self, address: str, accepted_so_far: int) -> str:
        _, at, domain = address.rpartition("@")
        if not at or domain.lower().rstrip(".") not in self._domains:
            self.refused_relay += 1
            log.info("SMTP listener: refused relay to %s", mask_address(address))
            return "550 5.7.1 Relaying denied: not a reply domain of this node"
        if accepted_so_far >= self._config.max_recipients:
            return "452 4.5.3 Too many recipients"
        return "250 2.1.5 OK"

    async def deliver(self, inbound: InboundEnvelope) -> str:
        self.received += 1
        try:
            return await self._on_message(inbound, time.time())
        except Exception:  # the sender must get an answer, never a dropped session
            self.errors += 1
            log.exception("SMTP listener: could not process a message from %s", inbound.peer)
            return "451 4.3.0 Local error in processing, try again later"

    def _protocol(self) -> asyncio.Protocol:
        if self.connections >= self._config.listen_max_connections:
            self.refused_busy += 1
            return _Busy()
        session = _Session(
            self,
            self._handler,
            data_size_limit=self._config.max_message_bytes,
            enable_SMTPUTF8=True,  # RFC 6531: replies from internationalised addresses
            decode_data=False,
            hostname=self._config.domain,
            timeout=self._config.listen_timeout_s,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        return session

    async def start(self) -> None:
        _quiet_aiosmtpd()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._protocol, host=self._config.listen_host, port=self._config.listen_port, backlog=_BACKLOG
            )
        except OSError as exc:
            raise ChannelError(
                f"cannot listen for mail on {self._config.listen_host}:{self._config.listen_port}: {exc}"
            ) from exc
        log.info("SMTP listener on %s for %s", self.address, ", ".join(self._domains))

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for session in list(self._sessions):
                if session.transport is not None:
                    session.transport.close()
            try:
                await asyncio.wait_for(server.wait_closed(), timeout=5.0)
            except TimeoutError:
                log.warning("SMTP listener: sessions still open at stop")
