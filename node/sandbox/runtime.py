"""The running sandbox: its peers (SMSC, smarthost, phone), the book the page shows, and what a person does in
the page (reply, answer, press keys) turned into traffic towards the node.

:func:`start_sandbox` is the one call ``alertnode.app`` makes to start it (None when the node is not in sandbox
mode); :meth:`Sandbox.close` stops it after the channels have stopped. The sandbox's own files live in
``<data_dir>/sandbox/``: the store of sandbox alerts (``alertnode.db``: sandbox work never mixes with a real
node's, and never leaves through real channels later), the Maildir, the recordings and the book's journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosmtplib

from alertnode.config import Config
from alertnode.domain import SANDBOX_MARK, ChannelEvent, EventSink, InboundMessage
from alertnode.errors import ChannelError
from alertnode.logs import mask
from alertnode.sandbox import mailmsgs
from alertnode.sandbox.book import Book, CallRecord, CallState, MailRecord, Record, SmsRecord, as_dict
from alertnode.sandbox.phonelink import PhoneLink
from alertnode.sandbox.smarthost import Received, SandboxSmarthost
from alertnode.sandbox.smsc import Smsc, SmscOptions, Submitted
from alertnode.sandbox.texts import Assembler, Part
from alertnode.sandbox.wiring import Decision, decide, sandbox_config

log = logging.getLogger(__name__)

MARK = SANDBOX_MARK
"""The key every event of a sandbox channel carries in its ``detail`` (true)."""
SMTP_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MarkedSink:
    """The event sink the sandbox's channels report to: every event and inbound message says ``sandbox: true``."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner

    @staticmethod
    def mark(event: ChannelEvent) -> ChannelEvent:
        return replace(event, detail={**event.detail, MARK: True})

    async def report(self, event: ChannelEvent) -> None:
        await self.inner.report(self.mark(event))

    async def report_many(self, events: Sequence[ChannelEvent]) -> None:
        await self.inner.report_many([self.mark(e) for e in events])

    async def unsolicited(self, message: InboundMessage) -> None:
        await self.inner.unsolicited(replace(message, detail={**message.detail, MARK: True}))

    async def find_recent(self, alert_type: str, address: str, at: float) -> int | None:
        return await self.inner.find_recent(alert_type, address, at)

    async def find_by_token(self, token: str) -> int | None:
        return await self.inner.find_by_token(token)


class SandboxLogFilter:
    """Puts ``[sandbox]`` in front of every line the node logs while it runs in sandbox mode."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("[sandbox]"):
            record.msg = f"[sandbox] {record.msg}"
        return True


class Sandbox:
    def __init__(self, config: Config, data_dir: Path, decision: Decision) -> None:
        self.original = config
        self.config = config
        self.decision = decision
        self.data_dir = data_dir / "sandbox"
        self.phone_dir = self.data_dir / "phone"
        self.recordings = self.phone_dir / "recordings"
        self.maildir = self.data_dir / "maildir"
        self.book = Book()
        self.assembler = Assembler()
        self._journal: Any = None
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._calls: dict[str, str] = {}  # the phone's call key -> the book's call id
        self.smsc: Smsc | None = None
        self.smarthost: SandboxSmarthost | None = None
        self.phone: PhoneLink | None = None
        self.reply_to: tuple[str, int] | None = None
        """the node's SMTP listener (host, port), known once the e-mail channel listens"""
        self._log_filter = SandboxLogFilter()
        self.page_url = ""

    # ------------------------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        for folder in (self.data_dir, self.phone_dir, self.recordings):
            folder.mkdir(parents=True, exist_ok=True)
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._log_filter)
        journal = self.phone_dir / "journal.jsonl"
        if journal.exists():
            self.book.restore(_read_journal(journal))
        self._journal = journal.open("a", encoding="utf-8", buffering=1)
        # message ids that never repeat across restarts (one per millisecond of the start time onwards), so a
        # receipt can never be taken for one of an earlier run's messages
        options = SmscOptions(port=_free_port(), system_id="SANDBOXSMSC", id_start=int(time.time() * 1000))
        self.smsc = Smsc(options, on_submit=self._on_submit,
                         on_receipt=self._on_receipt)
        await self.smsc.start()
        self.smarthost = SandboxSmarthost(self.maildir, self._on_mail)
        await self.smarthost.start()
        phone = None
        if importlib.util.find_spec("pjsua2") is not None:
            link = PhoneLink(self.recordings, self._on_phone)
            try:
                await link.start()
                self.phone, phone = link, link.address
            except ChannelError:
                log.exception("sandbox: the phone did not start, so there are no calls")
        else:
            log.warning("sandbox: pjsua2 is not installed, so there are no calls (pip install 'alertnode[voice]')")
        self.config = sandbox_config(self.original, smsc_port=self.smsc.options.port,
                                     smarthost_port=self.smarthost.port, phone=phone)
        replaced = f"; the configured channels ({', '.join(self.decision.replaced)}) are replaced and not started" \
            if self.decision.replaced else ""
        log.warning("SANDBOX MODE (%s): SMS, e-mail and calls go to sandbox peers on 127.0.0.1 and nothing leaves "
                    "this machine%s. SMSC %s:%d, smarthost 127.0.0.1:%d (Maildir %s), phone %s; sandbox store %s",
                    self.decision.why, replaced, self.smsc.options.host, self.smsc.options.port, self.smarthost.port,
                    self.maildir, phone or "none", self.data_dir / "alertnode.db")

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.phone is not None:
            await self.phone.stop()
        if self.smarthost is not None:
            await self.smarthost.stop()
        if self.smsc is not None:
            await self.smsc.stop()
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._log_filter)

    def sink(self, inner: EventSink) -> MarkedSink:
        return MarkedSink(inner)

    def listening(self, mail_listener: str | None) -> None:
        """The e-mail channel's SMTP listener (``host:port``), where replies and reports go."""
        if mail_listener:
            host, _, port = mail_listener.rpartition(":")
            self.reply_to = (host.strip("[]"), int(port))

    def announce(self, control_url: str, new_api_key: str | None) -> None:
        """Say where the sandbox phone is, on the terminal or journal (with the key when it was just made)."""
        self.page_url = f"{control_url}/sandbox"
        with_key = f"{self.page_url}#key={new_api_key}" if new_api_key else self.page_url
        print(f"alertnode: SANDBOX mode: nothing leaves this machine. The sandbox phone: {with_key}", flush=True)
        if not new_api_key:
            print("alertnode: (the page asks for the API key printed at the first start)", flush=True)

    def info(self) -> dict[str, Any]:
        return {
            "enabled": True, "why": self.decision.why, "replaced": list(self.decision.replaced), "page": "/sandbox",
            "smsc": f"127.0.0.1:{self.smsc.options.port}" if self.smsc else None,
            "smarthost": f"127.0.0.1:{self.smarthost.port}" if self.smarthost else None,
            "maildir": str(self.maildir),
            "phone": {"sip": self.phone.address, "running": self.phone.running, "restarts": self.phone.restarts,
                      "pid": self.phone.pid}
            if self.phone else None,
            "replies": f"{self.reply_to[0]}:{self.reply_to[1]}" if self.reply_to else None,
        }

    # --------------------------------------------------------------------------------- the book
    def _changed_record(self, record: Record | None) -> None:
        if record is None:
            return
        if self._journal is not None:
            self._journal.write(json.dumps(as_dict(record), ensure_ascii=False) + "\n")
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self, since: int, timeout: float) -> int:
        """The book's version once it is past ``since``, or after ``timeout`` seconds, or at once when the node
        is stopping."""
        if self.book.version <= since and not self._closing.is_set():
            changed, closing = asyncio.ensure_future(self._changed.wait()), asyncio.ensure_future(self._closing.wait())
            try:
                await asyncio.wait({changed, closing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                closing.cancel()
        return self.book.version

    def closing(self) -> None:
        """The node is stopping: long polls answer now."""
        self._closing.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -------------------------------------------------------------------------------------- SMS
    def _on_submit(self, sub: Submitted) -> None:
        text = self.assembler.feed(Part(sub.at, sub.source_addr, sub.destination_addr, sub.data_coding, sub.esm_class,
                                        sub.short_message, sub.tlvs, sub.status, sub.message_id))
        if text is not None:
            self._changed_record(self.book.text_received(text))

    def _on_receipt(self, message_id: str, stat: str, taken: bool) -> None:
        self._changed_record(self.book.receipt(message_id, stat))

    async def reply_sms(self, sms_id: str, text: str) -> SmsRecord:
        """The person answers the text ``sms_id``: a mobile-originated SMS from their number to its sender."""
        original = self.book.get(sms_id)
        if not isinstance(original, SmsRecord) or original.direction != "to":
            raise LookupError(sms_id)
        assert self.smsc is not None
        result = await self.smsc.inject_mo(to=original.peer, sender=original.recipient.lstrip("+"), text=text)
        record = self.book.text_sent(original.recipient, original.peer, text, time.time(), result.ok, result.error)
        self._changed_record(record)
        log.info("sandbox phone %s replied by SMS (%s)", mask(original.recipient), record.status)
        return record

    # ------------------------------------------------------------------------------------- mail
    def _on_mail(self, received: Received) -> None:
        summary = mailmsgs.summary(mailmsgs.read(received.raw))
        record = self.book.mail_received(MailRecord(
            "", time.time(), received.recipient, summary.sender, summary.subject, summary.text,
            reply_to=summary.reply_to, message_id=summary.message_id, envelope_from=received.envelope_from,
            status="bounced" if received.bounced else "delivered", file=received.stored_as))
        self._changed_record(record)
        notify = received.notify
        action = ""
        if received.bounced and "NEVER" not in notify and (not notify or "FAILURE" in notify):
            action = "failed"
        elif not received.bounced and "SUCCESS" in notify:
            action = "delivered"
        if action and received.envelope_from:  # never a report on a report (null reverse path, RFC 3461 §6.2)
            self._spawn(self._report(record.id, received, action))

    async def _report(self, mail_id: str, received: Received, action: str) -> None:
        message = mailmsgs.dsn(
            envelope_from=received.envelope_from, recipient=received.recipient, action=action, envid=received.envid,
            orcpt=received.orcpt, original_headers=mailmsgs.header_block(received.raw), now=time.time(),
            diagnostic="" if action == "delivered" else "550 5.1.1 no such mailbox in the sandbox (.invalid domain)")
        result = await self._smtp(message, "", received.envelope_from)
        self._changed_record(self.book.mail_reported(mail_id, f"{action}: {result}"))

    async def _smtp(self, message: bytes, sender: str, recipient: str) -> str:
        """Send to the node's own SMTP listener; the reply (or why there was none) as text."""
        if self.reply_to is None:
            return "not sent: the node's SMTP listener is not running"
        host, port = self.reply_to
        try:
            # the client, not aiosmtplib.send: a report's reverse path is empty, which send() does not take
            async with aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, use_tls=False,
                                       timeout=SMTP_TIMEOUT_S, local_hostname="sandbox.alertnode.invalid") as smtp:
                _, answer = await smtp.sendmail(sender, [recipient], message)
        except aiosmtplib.SMTPException as exc:  # refused: the recipient, or the message at the end of DATA
            return f"refused: {exc}"
        except OSError as exc:
            return f"not sent: {exc}"
        return f"taken: {answer}"

    async def reply_mail(self, mail_id: str, text: str) -> MailRecord:
        original = self.book.get(mail_id)
        if not isinstance(original, MailRecord):
            raise LookupError(mail_id)
        summary = mailmsgs.Summary(original.sender, original.subject, original.text, original.reply_to,
                                   original.message_id, "")
        message, target = mailmsgs.reply(original=summary, recipient=original.recipient, text=text, now=time.time())
        result = await self._smtp(message.as_bytes(), original.recipient, target)
        record = self.book.mail_replied(mail_id, text, time.time(), result)
        self._changed_record(record)
        assert record is not None
        log.info("sandbox mailbox %s replied by e-mail (%s)", mask(original.recipient), result)
        return record

    # ------------------------------------------------------------------------------------ calls
    def _on_phone(self, event: dict[str, Any]) -> None:
        kind, key, now = event.get("ev"), str(event.get("call", "")), time.time()
        if kind == "incoming":
            record = self.book.call_ringing(str(event.get("to", "")), str(event.get("from", "")), now)
            self._calls[key] = record.id
            self._changed_record(record)
            log.info("sandbox phone %s rings (call %s)", mask(record.recipient), record.id)
            return
        call_id = self._calls.get(key)
        if call_id is None:
            return
        if kind == "answered":
            self._changed_record(self.book.call_state(call_id, CallState.ANSWERED, now))
        elif kind == "recording":
            self._changed_record(self.book.call_recording(call_id, str(event.get("file", ""))))
        elif kind == "keys":
            self._changed_record(self.book.call_keys(call_id, str(event.get("digits", ""))))
        elif kind == "ended":
            state = CallState.DECLINED if event.get("declined") else CallState.ENDED
            self._changed_record(self.book.call_state(call_id, state, now, int(event.get("code") or 0),
                                                      str(event.get("reason", ""))))
            del self._calls[key]
        elif kind == "failed":
            log.warning("sandbox phone: %s on call %s failed: %s", event.get("command"), call_id, event.get("error"))

    def call_command(self, call_id: str, command: str, digits: str = "") -> CallRecord:
        """``command``: answer, decline, hangup or keys. LookupError for an unknown call, ValueError for one that
        is over (or not ringing, to answer or decline)."""
        record = self.book.get(call_id)
        if not isinstance(record, CallRecord):
            raise LookupError(call_id)
        key = next((k for k, v in self._calls.items() if v == call_id), None)
        if key is None or not self.book.call_live(call_id):
            raise ValueError(f"the call is {record.state}")
        if command in ("answer", "decline") and record.state != CallState.RINGING.value:
            raise ValueError(f"the call is {record.state}, not ringing")
        if command == "keys" and record.state != CallState.ANSWERED.value:
            raise ValueError("keys can be pressed once the call is answered")
        if self.phone is None:
            raise ChannelError("this build has no sandbox phone")
        self.phone.send({"cmd": command, "call": key, **({"digits": digits} if command == "keys" else {})})
        return record

    def recording(self, call_id: str) -> Path | None:
        record = self.book.get(call_id)
        if not isinstance(record, CallRecord) or not record.recording:
            return None
        path = self.recordings / record.recording
        return path if path.exists() else None


def _read_journal(path: Path) -> list[dict[str, Any]]:
    out = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict):
                    out.append(obj)
    return out


async def start_sandbox(config: Config, data_dir: Path, requested: bool | None) -> Sandbox | None:
    """The running sandbox when the node is to run in sandbox mode (``requested``: --sandbox / --no-sandbox /
    neither), else None."""
    decision = decide(config, requested)
    if not decision.on:
        return None
    sandbox = Sandbox(config, data_dir, decision)
    try:
        await sandbox.open()
    except BaseException:
        await sandbox.close()
        raise
    return sandbox
