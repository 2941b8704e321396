"""The sandbox smarthost: an aiosmtpd server on loopback that keeps every message it is given in a Maildir.

It speaks what the node's e-mail channel expects of a smarthost: EHLO offers DSN (RFC 3461), whose MAIL
parameters (RET, ENVID) and RCPT parameters (NOTIFY, ORCPT) are taken per recipient; every other command is
aiosmtpd's. A message is stored once per recipient with a ``Delivered-To`` field on top (as a local delivery
agent writes it), except for recipients in an RFC 2606 ``.invalid`` domain, which have no mailbox and are
reported as bounced. What to send back (the delivery status notifications) is the runtime's: this module hands
each recipient's outcome to ``on_received`` after the message was accepted (250).
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)

_DSN_MAIL = frozenset({"RET", "ENVID"})
_DSN_RCPT = frozenset({"NOTIFY", "ORCPT"})
_XTEXT = re.compile(r"\+([0-9A-Fa-f]{2})")
NO_MAILBOX_DOMAIN = ".invalid"
"""Recipients in this top-level domain (RFC 2606 §2) bounce: the way to try a failed e-mail in the sandbox."""


@dataclass(frozen=True)
class Received:
    """One recipient of one accepted message."""

    raw: bytes
    envelope_from: str
    recipient: str
    stored_as: str
    """the message's key in the Maildir; empty when it bounced"""
    notify: frozenset[str] = frozenset()
    """RFC 3461 NOTIFY values asked for (empty: none given, a failure is reported by default, §4.1)"""
    orcpt: str = ""
    envid: str = ""
    ret: str = ""

    @property
    def bounced(self) -> bool:
        return not self.stored_as


@dataclass
class _Dsn:
    mail: dict[str, str] = field(default_factory=dict)
    rcpt: dict[str, dict[str, str]] = field(default_factory=dict)


def _take(arg: str | None, names: frozenset[str]) -> tuple[str | None, dict[str, str]]:
    """The DSN parameters out of a MAIL/RCPT argument, the rest left for aiosmtpd (which refuses parameters it
    does not know with 555 and upper-cases those it knows, which would spoil an ENVID)."""
    if not arg:
        return arg, {}
    kept, taken = [], {}
    for word in arg.split(" "):
        name, eq, value = word.partition("=")
        if eq and name.upper() in names:
            taken[name.upper()] = value
        else:
            kept.append(word)
    return " ".join(kept), taken


class _DsnSmtp(SMTP):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dsn = _Dsn()
        self._pending_rcpt: dict[str, str] = {}

    async def smtp_MAIL(self, arg: str | None) -> None:
        arg, taken = _take(arg, _DSN_MAIL)
        self.dsn = _Dsn(mail=taken)
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        arg, taken = _take(arg, _DSN_RCPT)
        self._pending_rcpt = taken
        await super().smtp_RCPT(arg)


def xtext_decode(value: str) -> str:
    """RFC 3461 §4 xtext: ``+HH`` is the octet HH."""
    return _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), value)


class _Handler:
    def __init__(self, owner: SandboxSmarthost) -> None:
        self.owner = owner

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does when no hook is given
        responses.insert(len(responses) - 1, "250-DSN")  # RFC 3461 §4.1, before the last line
        return responses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        if isinstance(server, _DsnSmtp):
            server.dsn.rcpt[address] = server._pending_rcpt
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        dsn = server.dsn if isinstance(server, _DsnSmtp) else _Dsn()
        raw = bytes(envelope.original_content or b"")
        try:
            received = await asyncio.to_thread(self.owner.store, raw, envelope.mail_from or "",
                                               list(envelope.rcpt_tos), dsn)
        except OSError:
            log.exception("sandbox smarthost: could not write the mailbox")
            return "451 4.3.0 Mailbox not writable, try again later"
        for item in received:
            try:
                self.owner.on_received(item)
            except Exception:
                log.exception("sandbox smarthost: a received message was not recorded")
        return f"250 2.0.0 Ok: kept in the sandbox mailbox ({len(received)} recipient(s))"


class SandboxSmarthost:
    def __init__(self, maildir: Path, on_received: Callable[[Received], None], host: str = "127.0.0.1") -> None:
        self.maildir = maildir
        self.on_received = on_received
        self.host = host
        self.port = 0
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._box = mailbox.Maildir(str(maildir), create=True)

    def store(self, raw: bytes, envelope_from: str, rcpt_tos: list[str], dsn: _Dsn) -> list[Received]:
        """Write one copy per recipient with a mailbox (blocking: run in a thread)."""
        out = []
        for rcpt in rcpt_tos:
            params = dsn.rcpt.get(rcpt, {})
            notify = frozenset(v.strip().upper() for v in params.get("NOTIFY", "").split(",") if v.strip())
            key = ""
            if not rcpt.rpartition("@")[2].lower().rstrip(".").endswith(NO_MAILBOX_DOMAIN):
                key = self._box.add(b"Delivered-To: " + rcpt.encode("utf-8", "replace") + b"\r\n" + raw)
            out.append(Received(raw, envelope_from, rcpt, key, notify, xtext_decode(params.get("ORCPT", "")),
                                xtext_decode(dsn.mail.get("ENVID", "")), dsn.mail.get("RET", "").upper()))
        self.accepted += 1
        return out

    async def start(self, port: int = 0) -> None:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
        loop = asyncio.get_running_loop()
        handler = _Handler(self)

        def factory() -> SMTP:
            return _DsnSmtp(handler, hostname="sandbox-smarthost", enable_SMTPUTF8=True, decode_data=False,
                            data_size_limit=32 * 1024 * 1024, loop=loop)

        self._server = await loop.create_server(factory, host=self.host, port=port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), 5.0)
            except TimeoutError:
                log.warning("sandbox smarthost: sessions still open at stop")
