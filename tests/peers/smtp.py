"""Real SMTP peers for the mail tests, all on 127.0.0.1 and free ports.

- ``smarthost_factory`` (async fixture): smarthosts with STARTTLS, implicit TLS and AUTH
  (``make_certificate`` writes the self-signed certificate they use).
- ``smarthost`` (async fixture): an aiosmtpd server in the test's own event loop that captures
  every message the node sends. ``fail_next(reply, times)`` makes it answer the next DATA commands
  with ``reply`` (e.g. ``451 4.3.0 Try later``); ``refuse_rcpt[address] = reply`` refuses a
  recipient.
- ``threaded_smarthost`` (fixture) / ``ThreadedSmarthost``: the same capture in its own thread and
  loop (aiosmtpd Controller), for the benchmark and for a node running in another process.
- ``send_with_smtplib`` / ``send_with_swaks``: send a message to the node's listener the way an MTA
  would, returning the SMTP reply code and text of the end of DATA (or of the command that failed).

tests/conftest.py registers this module as a pytest plugin, so the fixtures need no import.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Captured:
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    data: bytes
    tls: bool = False
    user: str | None = None
    dsn_mail: dict[str, str] = field(default_factory=dict)
    """RFC 3461 MAIL parameters as sent (RET, ENVID), when the smarthost offered DSN."""
    dsn_rcpt: dict[str, str] = field(default_factory=dict)
    """RFC 3461 RCPT parameters as sent (NOTIFY, ORCPT)."""

    @property
    def message(self) -> EmailMessage:
        msg = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class _Capture:
    """aiosmtpd hooks shared by both smarthost flavours."""

    messages: list[Captured] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    data_commands: int = 0
    arrived: asyncio.Event | None = None

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does when no hook is given
        if isinstance(server, DsnSMTP):
            responses.insert(len(responses) - 1, "250-DSN")  # RFC 3461 §4.1, before the last line
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        if self.failures:
            return self.failures.pop(0)
        transport = server.transport
        tls = session.ssl is not None or (transport is not None and transport.get_extra_info("ssl_object") is not None)
        self.messages.append(
            Captured(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                data=bytes(envelope.original_content or b""),
                tls=tls,
                user=session.auth_data if session.authenticated else None,
                dsn_mail=dict(getattr(server, "dsn_mail", {})),
                dsn_rcpt=dict(getattr(server, "dsn_rcpt", {})),
            )
        )
        if self.arrived is not None:
            self.arrived.set()
        return f"250 2.0.0 Ok: queued as Q{len(self.messages)}"


_DSN_MAIL = frozenset({"RET", "ENVID"})
_DSN_RCPT = frozenset({"NOTIFY", "ORCPT"})


class DsnSMTP(SMTP):
    """aiosmtpd with the RFC 3461 DSN extension: offered in EHLO, its MAIL and RCPT parameters taken and
    recorded as the client wrote them (aiosmtpd itself refuses unknown parameters with 555 and
    upper-cases the ones it knows, which would spoil an ENVID)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dsn_mail: dict[str, str] = {}
        self.dsn_rcpt: dict[str, str] = {}

    @staticmethod
    def _take(arg: str | None, names: frozenset[str]) -> tuple[str | None, dict[str, str]]:
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

    async def smtp_MAIL(self, arg: str | None) -> None:
        arg, self.dsn_mail = self._take(arg, _DSN_MAIL)
        self.dsn_rcpt = {}
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        arg, taken = self._take(arg, _DSN_RCPT)
        self.dsn_rcpt.update(taken)
        await super().smtp_RCPT(arg)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost (the CA file a client needs is the cert)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smarthost.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smarthost.crt", directory / "smarthost.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _authenticator(credentials: tuple[str, str]) -> Callable[..., AuthResult]:
    """aiosmtpd authenticator accepting exactly ``credentials`` (AUTH PLAIN or LOGIN)."""

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if (user, password) == credentials:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    return authenticate


class Smarthost:
    """An aiosmtpd smarthost in the running loop.

    ``tls``: "none", "starttls" (required before MAIL, RFC 3207) or "implicit" (RFC 8314);
    ``credentials``: (user, password) makes AUTH PLAIN/LOGIN required (RFC 4954; aiosmtpd allows it
    only after STARTTLS); ``dsn``: offer RFC 3461 DSN and record its parameters (:class:`DsnSMTP`).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        tls: str = "none",
        certificate: tuple[Path, Path] | None = None,
        credentials: tuple[str, str] | None = None,
        dsn: bool = False,
    ) -> None:
        self._capture = _Capture()
        self._server: asyncio.Server | None = None
        self.dsn = dsn
        self._sessions: list[SMTP] = []
        self.port = 0
        self.tls = tls
        self.credentials = credentials
        self._ssl: ssl.SSLContext | None = None
        if tls != "none":
            assert certificate is not None, "TLS needs a certificate (make_certificate)"
            self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ssl.load_cert_chain(str(certificate[0]), str(certificate[1]))

    @property
    def messages(self) -> list[Captured]:
        return self._capture.messages

    @property
    def refuse_rcpt(self) -> dict[str, str]:
        return self._capture.refuse_rcpt

    @property
    def data_commands(self) -> int:
        return self._capture.data_commands

    def fail_next(self, reply: str, times: int = 1) -> None:
        self._capture.failures.extend([reply] * times)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._capture.arrived = asyncio.Event()

        def factory() -> SMTP:
            extra: dict[str, Any] = {}
            if self.tls == "starttls":
                extra.update(tls_context=self._ssl, require_starttls=True)
            if self.credentials is not None:
                extra.update(authenticator=_authenticator(self.credentials), auth_required=True)
            server_class = DsnSMTP if self.dsn else SMTP
            session = server_class(self._capture, hostname="smarthost.test", enable_SMTPUTF8=True, loop=loop, **extra)
            self._sessions.append(session)
            return session

        self._server = await loop.create_server(
            factory, host=self.host, port=0, ssl=self._ssl if self.tls == "implicit" else None
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    def drop_connections(self) -> int:
        """Close every open session from the server side, as a smarthost does with idle clients."""
        dropped = 0
        for session in self._sessions:
            if session.transport is not None and not session.transport.is_closing():
                session.transport.close()
                dropped += 1
        self._sessions.clear()
        return dropped

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """Wait until ``count`` messages arrived (a test failure if they do not in ``timeout``)."""
        assert self._capture.arrived is not None

        async def until() -> None:
            while len(self.messages) < count:
                assert self._capture.arrived is not None
                self._capture.arrived.clear()
                await self._capture.arrived.wait()

        await asyncio.wait_for(until(), timeout)
        return self.messages

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


@pytest_asyncio.fixture
async def smarthost() -> AsyncIterator[Smarthost]:
    host = Smarthost()
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


@pytest_asyncio.fixture
async def smarthost_factory() -> AsyncIterator[Callable[..., Awaitable[Smarthost]]]:
    """Starts smarthosts with ``Smarthost(**options)`` (TLS, AUTH) and stops them afterwards."""
    started: list[Smarthost] = []

    async def start(**options: Any) -> Smarthost:
        host = Smarthost(**options)
        await host.start()
        started.append(host)
        return host

    try:
        yield start
    finally:
        for host in started:
            await host.stop()


class _DsnController(Controller):
    def factory(self) -> SMTP:
        return DsnSMTP(self.handler, **self.SMTP_kwargs)


class ThreadedSmarthost:
    """The capture smarthost in its own thread (for benchmarks and nodes in other processes)."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        certificate: tuple[Path, Path] | None = None,
        credentials: tuple[str, str] | None = None,
        dsn: bool = False,
    ) -> None:
        """``certificate``: STARTTLS required with it; ``credentials``: AUTH required (after STARTTLS);
        ``dsn``: offer RFC 3461 DSN and record its parameters."""
        self._capture = _Capture()
        self.port = free_port()
        extra: dict[str, Any] = {}
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(certificate[0]), str(certificate[1]))
            extra.update(tls_context=context, require_starttls=True)
        if credentials is not None:
            extra.update(authenticator=_authenticator(credentials), auth_required=True)
        controller_class = _DsnController if dsn else Controller
        self._controller = controller_class(
            self._capture, hostname=self.host, port=self.port, server_hostname="smarthost.test", **extra
        )

    @property
    def messages(self) -> list[Captured]:
        return self._capture.messages

    @property
    def refuse_rcpt(self) -> dict[str, str]:
        return self._capture.refuse_rcpt

    def fail_next(self, reply: str, times: int = 1) -> None:
        self._capture.failures.extend([reply] * times)

    def start(self) -> None:
        self._controller.start()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Captured]:
        """Block until ``count`` messages arrived (an AssertionError if they do not in ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"smarthost got {len(self.messages)} of {count} messages")
            time.sleep(0.02)
        return self.messages

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def threaded_smarthost() -> Iterator[ThreadedSmarthost]:
    """A capture smarthost in its own thread: for tests whose node runs in another process."""
    host = ThreadedSmarthost()
    host.start()
    try:
        yield host
    finally:
        host.stop()


@dataclass(frozen=True)
class SmtpReply:
    code: int
    text: str


def send_with_smtplib(
    port: int,
    data: bytes,
    *,
    mail_from: str = "person@example.org",
    rcpt_to: str | list[str] = "responses@alertnode.test",
    mail_options: list[str] | None = None,
    host: str = "127.0.0.1",
) -> SmtpReply:
    """One SMTP transaction with the stdlib client (blocking: call it with asyncio.to_thread)."""
    rcpts = [rcpt_to] if isinstance(rcpt_to, str) else rcpt_to
    with smtplib.SMTP(host, port, local_hostname="client.test", timeout=30) as client:
        client.ehlo()
        code, text = client.mail(mail_from, mail_options or [])
        if code != 250:
            client.rset()
            return SmtpReply(code, text.decode("utf-8", "replace"))
        for rcpt in rcpts:
            code, text = client.rcpt(rcpt)
            if code not in (250, 251):
                client.rset()
                return SmtpReply(code, text.decode("utf-8", "replace"))
        code, text = client.data(data)
        return SmtpReply(code, text.decode("utf-8", "replace"))


def send_with_swaks(
    port: int,
    *,
    mail_from: str,
    rcpt_to: str,
    headers: dict[str, str] | None = None,
    body: str = "",
    data: bytes | None = None,
) -> SmtpReply:
    """Send with Debian's swaks (blocking). Returns the reply to the end of DATA (or the refusal).
    ``data`` sends those exact octets as the whole DATA section (swaks ``--data @file``)."""
    swaks = shutil.which("swaks")
    assert swaks, "swaks is not installed (Debian package swaks)"
    args: list[str] = [
        swaks,
        "--server",
        "127.0.0.1",
        "--port",
        str(port),
        "--helo",
        "client.test",
        "--from",
        mail_from,
        "--to",
        rcpt_to,
        "--suppress-data",
        "--hide-informational",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if data is not None:
            path = Path(tmp) / "data.eml"
            path.write_bytes(data)
            args += ["--data", f"@{path}"]
        else:
            args += ["--body", body]
            for name, value in (headers or {}).items():
                if name.lower() == "subject":
                    args += ["--header", f"Subject: {value}"]
                else:
                    args += ["--add-header", f"{name}: {value}"]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    last: SmtpReply | None = None
    for line in proc.stdout.splitlines():
        # swaks marks server lines with "<-" (and "<**" for error replies)
        match = re.match(r"^\s*(<-|<\*\*)\s+(\d{3})[ -]?(.*)$", line)
        if match:
            code, text = int(match.group(2)), match.group(3)
            if last is not None and last.code == 354:
                return SmtpReply(code, text)
            last = SmtpReply(code, text)
            if code >= 400:
                return last
    raise AssertionError(f"swaks gave no reply to DATA: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")


def reply_message(
    *,
    subject: str,
    body: str,
    sender: str = "Person <person@example.org>",
    to: str = "responses@alertnode.test",
    in_reply_to: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 19:00:00 +0000"
    msg["Message-ID"] = f"<reply-{uuid.uuid4().hex}@example.org>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


# -- delivery status notifications as Postfix writes them --------------------------------------------

_POSTFIX_SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "delivered": "Successful Mail Delivery Report",
    "relayed": "Successful Mail Delivery Report",
}
_POSTFIX_DIAGNOSTICS = {
    # folded as Postfix folds them: at a space, continued with four spaces (RFC 5322 §2.2.3)
    "failed": "smtp; 550 5.1.1 <{rcpt}>: Recipient address\r\n    rejected: User unknown in virtual mailbox table",
    "delayed": "X-Postfix; connect to mail.example.org[192.0.2.25]:25: Connection\r\n    refused",
    "delivered": "X-Postfix; delivery via local: delivered to mailbox",
    "relayed": "smtp; 250 2.0.0 Ok: queued as 4B2F81A0456",
}
_POSTFIX_STATUS = {"failed": "5.1.1", "delayed": "4.4.1", "delivered": "2.0.0", "relayed": "2.0.0"}


def postfix_dsn(
    *,
    action: str,
    rcpt: str,
    envelope_to: str,
    original_headers: bytes | None,
    envid: str | None = None,
) -> bytes:
    """A delivery status notification (RFC 3464 in RFC 6522 multipart/report) byte for byte in the shape
    Postfix 3 writes it: folded header fields, X-Postfix-* fields, the human-readable part wrapped at
    column 72, and the returned headers (RET=HDRS) unless ``original_headers`` is None."""
    boundary = "4B2F81A0123.1795456805/mx.plant.local"
    status = _POSTFIX_STATUS[action]
    diagnostic = _POSTFIX_DIAGNOSTICS[action].format(rcpt=rcpt)
    head = (
        "Return-Path: <>\r\n"
        "Received: by mx.plant.local (Postfix)\r\n"
        "\tid 4B2F81A0123; Mon, 23 Nov 2026 19:00:05 +0100 (CET)\r\n"
        "Date: Mon, 23 Nov 2026 19:00:05 +0100 (CET)\r\n"
        "From: MAILER-DAEMON@mx.plant.local (Mail Delivery System)\r\n"
        f"Subject: {_POSTFIX_SUBJECTS[action]}\r\n"
        f"To: {envelope_to}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f'\tboundary="{boundary}"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n"
        f"Message-Id: <20261123180005.{uuid.uuid4().hex[:12].upper()}@mx.plant.local>\r\n"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n\r\n"
    )
    notice = {
        "failed": "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients. It's attached below.\r\n\r\n"
        f"<{rcpt}>: host mail.example.org[192.0.2.25] said: 550 5.1.1\r\n"
        f"    <{rcpt}>: Recipient address rejected: User unknown in virtual\r\n"
        "    mailbox table (in reply to RCPT TO command)\r\n",
        "delayed": "####################################################################\r\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
        "####################################################################\r\n\r\n"
        "Your message could not be delivered for more than 4 hour(s).\r\n"
        "It will be retried until it is 5 day(s) old.\r\n\r\n"
        f"<{rcpt}>: connect to mail.example.org[192.0.2.25]:25: Connection\r\n    refused\r\n",
        "delivered": "Your message was successfully delivered to the destination(s)\r\n"
        "listed below. If the message was delivered to mailbox you will\r\n"
        "receive no further notifications. Otherwise you may still receive\r\n"
        "notifications of mail delivery errors from other systems.\r\n\r\n"
        f"<{rcpt}>: delivery via local: delivered to mailbox\r\n",
    }.get(action, f"<{rcpt}>: delivery via mail.example.org[192.0.2.25]:25: 250 2.0.0 Ok\r\n")
    body = (
        f"--{boundary}\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "This is the mail system at host mx.plant.local.\r\n\r\n" + notice + "\r\n"
        "                   The mail system\r\n\r\n"
        f"--{boundary}\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.plant.local\r\n"
        "X-Postfix-Queue-ID: 4B2F81A0123\r\n"
        f"X-Postfix-Sender: rfc822; {envelope_to}\r\n"
        + (f"Original-Envelope-Id: {envid}\r\n" if envid else "")
        + "Arrival-Date: Mon, 23 Nov 2026 19:00:01 +0100 (CET)\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\n"
        f"Original-Recipient: rfc822;{rcpt}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mail.example.org\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        + ("Will-Retry-Until: Sat, 28 Nov 2026 19:00:01 +0100 (CET)\r\n" if action == "delayed" else "")
        + "\r\n"
    )
    if original_headers is not None:
        body += (
            f"--{boundary}\r\n"
            "Content-Description: Undelivered Message Headers\r\n"
            "Content-Type: text/rfc822-headers\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "Return-Path: <" + envelope_to + ">\r\n"
            "Received: from alertnode.test (localhost [127.0.0.1])\r\n"
            "\tby mx.plant.local (Postfix) with ESMTP id 4B2F81A0123\r\n"
            f"\tfor <{rcpt}>; Mon, 23 Nov 2026 19:00:01 +0100 (CET)\r\n"
        ) + original_headers.decode("utf-8").replace("\r\n", "\n").replace("\n", "\r\n").rstrip("\r\n") + "\r\n\r\n"
    body += f"--{boundary}--\r\n"
    return (head + body).encode("utf-8")
