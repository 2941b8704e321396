"""The one adapter around aiosmtplib: a small pool of persistent connections to the smarthost.

Each connection carries one mail transaction at a time (RFC 5321 §3.3); up to ``concurrency``
connections run in parallel and stay open between messages, so a 5,000-recipient alert costs
5,000 transactions, not 5,000 TCP and TLS handshakes. aiosmtplib's exceptions become
:class:`node.errors.SmtpError` here, with the server's reply as ``smtp_reply`` and ``permanent``
set from the reply code class (RFC 5321 §4.2.1: 4yz transient, 5yz permanent). A connection
that failed is dropped; the next message opens a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass

import aiosmtplib

from alertnode.errors import SmtpError
from alertnode.mail.compose import Composed, xtext
from alertnode.mail.config import MailConfig

log = logging.getLogger(__name__)


IDLE_REUSE_S = 60.0
"""Idle connections older than this are closed rather than reused (servers may drop them after
5 minutes, RFC 5321 §4.5.3.2.7; many drop them much sooner)."""


class _StaleConnection(SmtpError):
    """The server had closed the connection before the transaction: nothing was accepted."""


@dataclass(frozen=True)
class SendResult:
    reply: str
    """The server's reply to the end of DATA, e.g. ``250 2.0.0 Ok: queued as 4B2F``."""
    success_dsn: bool = False
    """A DSN was asked for on success too (RFC 3461 NOTIFY=SUCCESS): one will tell how it ended."""


def mask_address(address: str) -> str:
    """``bob@example.org`` → ``b***@example.org`` for logs (addresses are personal data)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}".strip()


def _is_permanent(code: int) -> bool:
    return 500 <= code <= 599  # RFC 5321 §4.2.1


async def _greet(smtp: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO from a server that refuses EHLO (RFC 5321 §3.2), as aiosmtplib's sendmail does."""
    try:
        await smtp.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not smtp.is_connected:
            raise
        await smtp.helo()


def _asks_success(rcpt_options: list[str]) -> bool:
    return any(o.startswith("NOTIFY=") and "SUCCESS" in o[7:].split(",") for o in rcpt_options)


class SmarthostClient:
    """``send(composed)`` returns the accepting reply or raises SmtpError."""

    def __init__(self, config: MailConfig) -> None:
        self._config = config
        self._slots = asyncio.Semaphore(config.concurrency)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (connection, monotonic time of last use)
        self._open = 0
        self._closed = False
        self.last_error = ""
        self.sent = 0
        self.failed = 0
        self.healthy = True
        """False after the smarthost could not be reached, until a message goes through again."""

    @property
    def connections(self) -> int:
        return self._open

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self._config
        if cfg.smarthost_tls == "off":
            return None
        ctx = ssl.create_default_context(cafile=cfg.smarthost_ca_file or None)
        if not cfg.smarthost_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self._config
        start_tls: bool | None = {"auto": None, "starttls": True, "implicit": False, "off": False}[cfg.smarthost_tls]
        smtp = aiosmtplib.SMTP(
            hostname=cfg.smarthost_host,
            port=cfg.smarthost_port,
            local_hostname=cfg.domain,  # EHLO name; avoids a slow getfqdn() per connection
            timeout=cfg.command_timeout_s,
            use_tls=cfg.smarthost_tls == "implicit",
            start_tls=start_tls,
            tls_context=self._tls_context(),
            username=cfg.smarthost_username or None,
            password=cfg.smarthost_password.get_secret_value() or None,
        )
        try:
            await smtp.connect(timeout=cfg.connect_timeout_s)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SmtpError(
                "smarthost refused our credentials", _reply(exc.code, exc.message), permanent=False
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpError("smarthost refused the session", _reply(exc.code, exc.message)) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SmtpError(f"cannot reach the smarthost: {exc}", "") from exc
        self._open += 1
        return smtp

    async def _discard(self, smtp: aiosmtplib.SMTP) -> None:
        self._open -= 1
        try:
            smtp.close()
        except (OSError, aiosmtplib.SMTPException) as exc:
            log.debug("closing a failed smarthost connection: %s", exc)

    async def _acquire(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection and whether it is a reused one. Connections idle for longer than
        IDLE_REUSE_S are closed instead of reused: servers drop idle sessions (RFC 5321 §4.5.3.2.7)."""
        now = time.monotonic()
        while self._idle:
            smtp, since = self._idle.pop()
            if smtp.is_connected and now - since < IDLE_REUSE_S:
                return smtp, True
            await self._close_one(smtp)
        try:
            smtp = await self._connect()
        except SmtpError as exc:
            self.last_error = exc.smtp_reply or str(exc)
            self.healthy = False
            raise
        return smtp, False

    def _release(self, smtp: aiosmtplib.SMTP) -> None:
        self._idle.append((smtp, time.monotonic()))

    async def send(self, composed: Composed) -> SendResult:
        if self._closed:
            raise SmtpError("the mail channel is stopping", "")
        async with self._slots:
            smtp, reused = await self._acquire()
            try:
                return await self._transaction(smtp, composed)
            except _StaleConnection:
                if not reused:
                    raise
            # A pooled connection the server had closed meanwhile: nothing was accepted, so the
            # message goes again at once on a fresh connection instead of waiting for a back-off.
            smtp, _ = await self._acquire()
            return await self._transaction(smtp, composed)

    def _dsn_options(self, smtp: aiosmtplib.SMTP, composed: Composed) -> tuple[list[str], list[str]]:
        """RFC 3461 MAIL and RCPT parameters, when the smarthost offers DSN and some are asked for."""
        notify = self._config.dsn_notify
        if not notify or not smtp.supports_extension("dsn"):
            return [], []
        mail = ["RET=HDRS"]  # §4.3: the headers identify the message; its body need not come back
        if composed.envid:
            mail.append(f"ENVID={xtext(composed.envid)}")
        rcpt = [f"NOTIFY={','.join(notify)}"]
        if composed.envelope_to.isascii():
            # §4.2; an internationalised address would need RFC 6533's utf-8 type: ORCPT is optional
            rcpt.append(f"ORCPT=rfc822;{xtext(composed.envelope_to)}")
        return mail, rcpt

    async def _transaction(self, smtp: aiosmtplib.SMTP, composed: Composed) -> SendResult:
        options = []
        if composed.eight_bit:
            options.append("BODY=8BITMIME")  # RFC 6152
        if composed.smtputf8:
            options.append("SMTPUTF8")  # RFC 6531
        try:
            if smtp.is_ehlo_or_helo_needed:
                await _greet(smtp)  # the EHLO answer tells whether DSN is offered
            dsn_mail, dsn_rcpt = self._dsn_options(smtp, composed)
            refused, reply = await smtp.sendmail(
                composed.envelope_from,
                [composed.envelope_to],
                composed.data,
                mail_options=options + dsn_mail,
                rcpt_options=dsn_rcpt,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            self._release(smtp)
            first = exc.recipients[0] if exc.recipients else None
            code, text = (first.code, first.message) if first else (550, "recipient refused")
            self.failed += 1
            raise SmtpError("recipient refused", _reply(code, text), permanent=_is_permanent(code)) from exc
        except aiosmtplib.SMTPServerDisconnected as exc:
            await self._discard(smtp)
            self.last_error = str(exc)
            raise _StaleConnection(f"smarthost disconnected: {exc}", "") from exc
        except aiosmtplib.SMTPResponseException as exc:
            # aiosmtplib already sent RSET: the connection is clean for the next message,
            # unless the server said it is closing it (421, RFC 5321 §3.8).
            if exc.code == 421 or not smtp.is_connected:
                await self._discard(smtp)
            else:
                self._release(smtp)
            self.last_error = _reply(exc.code, exc.message)
            self.failed += 1
            raise SmtpError(
                "smarthost refused the message", self.last_error, permanent=_is_permanent(exc.code)
            ) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            self._release(smtp)
            self.failed += 1
            raise SmtpError(f"smarthost cannot carry this message: {exc}", "", permanent=True) from exc
        except ValueError as exc:  # aiosmtplib refuses addresses it cannot put on the wire
            self._release(smtp)
            self.failed += 1
            raise SmtpError(f"address cannot be sent: {exc}", "", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._discard(smtp)
            self.last_error = str(exc)
            self.healthy = False
            raise SmtpError(f"smarthost connection failed: {exc}", "") from exc
        if refused:
            # one recipient per transaction, so a partial refusal cannot happen; be safe anyway
            code, text = next(iter(refused.values()))
            self._release(smtp)
            raise SmtpError("recipient refused", _reply(code, text), permanent=_is_permanent(code))
        if self._closed:
            await self._close_one(smtp)
        else:
            self._release(smtp)
        self.sent += 1
        self.last_error = ""
        self.healthy = True
        return SendResult(reply=_reply(250, reply), success_dsn=_asks_success(dsn_rcpt))

    async def _close_one(self, smtp: aiosmtplib.SMTP) -> None:
        self._open -= 1
        try:
            await asyncio.wait_for(smtp.quit(), timeout=2.0)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()

    async def close(self) -> None:
        """QUIT idle connections; busy ones are closed by their sender when it finishes."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._close_one(smtp) for smtp, _ in idle))
