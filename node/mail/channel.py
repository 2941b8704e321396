"""The e-mail channel: alerts out through the smarthost, replies and bounces in through the node's own
SMTP listener.

Outbound, per delivery: compose (pure) → send on a pooled smarthost connection. An accepted message is
reported SENT (with the reply and the Message-ID): final when no success DSN was asked for; otherwise
(the smarthost offered DSN and ``dsn_notify`` has SUCCESS) the delivery waits for its DSN, which
node/mail/inbound.py reports as delivered or failed (final), or, after ``dsn_timeout_s``, ends
UNCONFIRMED (final). That wait is a row in the store (``mail_dsn_wait``), so it survives a restart; the
alert's lifetime caps it (the store expires the delivery). A permanent refusal (5yz) is FAILED with
``detail["smtp_reply"]``. A temporary
one (4yz, a lost connection, a time-out) is tried again after each wait of ``retry_backoff_s``;
when those are used up the delivery goes back to the dispatcher: ``ChannelEvent(kind="retry",
retry_after=requeue_after_s)`` with no state change.

SENT is stored through the sink as soon as the smarthost accepts, so after a crash only a message
whose acceptance had not been stored yet is sent again (at least once, never lost). The channel keeps
no other per-message state: replies and bounces find their delivery by its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Mapping
from typing import Any

from alertnode.domain import Channel, ChannelEvent, ChannelInfo, DeliveryState, DeliveryWork, EventSink
from alertnode.domain_info import MailInfo, MailListenerInfo, SmtpInboundCounts, SmtpListenerSocket
from alertnode.errors import ChannelError, Problem, SmtpError, StoreError
from alertnode.mail import records
from alertnode.mail.addresses import DomainPolicy, mailbox_key
from alertnode.mail.compose import Composed, MailIdentity, check_item, compose
from alertnode.mail.config import MailConfig
from alertnode.mail.inbound import InboundProcessor
from alertnode.mail.listener import InboundEnvelope, ReplyListener
from alertnode.mail.sending import Accepted, Outcome, Refused, Report, Wait, next_step
from alertnode.mail.smtp_client import SmarthostClient, mask_address
from alertnode.store.crypto import Cipher
from alertnode.store.db import Conn, Store

log = logging.getLogger(__name__)

HOUSEKEEPING_S = 3600.0
"""How often rows past their time are dropped from the channel's own tables (node/mail/records.py)."""


class MailChannel(Channel):
    name = "email"
    alert_types = ("email",)

    def __init__(
        self, *, config: MailConfig, store: Store | None = None, cipher: Cipher | None = None, **_: object
    ) -> None:
        self._config = config
        self._store = store
        self._cipher = cipher
        self._identity = MailIdentity(
            domain=config.domain,
            default_sender=config.default_sender,
            bounce_local_part=config.bounce_local_part,
        )
        self._domains = DomainPolicy.of(config.refuse_domains)
        self._client = SmarthostClient(config)
        self._listener: ReplyListener | None = None
        self._inbound: InboundProcessor | None = None
        self._sink: EventSink | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._housekeeper: asyncio.Task[None] | None = None
        self._dsn_watcher: asyncio.Task[None] | None = None
        self._dsn_wake = asyncio.Event()
        self._state = "stopped"
        self._retrying = 0
        self._stopping = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._inbound = InboundProcessor(self._config, sink, self._store, self._cipher)
        if self._config.listen_enabled:
            self._listener = ReplyListener(self._config, self._on_inbound)
            await self._listener.start()
        self._housekeeper = asyncio.create_task(self._housekeeping(), name="mail-housekeeping")
        if self._store is not None:
            self._dsn_watcher = asyncio.create_task(self._watch_dsn(), name="mail-dsn-timeouts")
        self._state = "ready"
        log.info(
            "e-mail channel: smarthost %s:%d (%s)",
            self._config.smarthost_host,
            self._config.smarthost_port,
            self._config.smarthost_tls,
        )

    async def stop(self, grace: float) -> None:
        self._state = "stopping"
        self._stopping.set()
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        if self._dsn_watcher is not None:
            self._dsn_watcher.cancel()
        if self._listener is not None:
            await self._listener.stop()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()  # not reported: still IN_PROGRESS, so the app re-queues it at start-up
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        await self._client.close()
        self._state = "stopped"

    async def _on_inbound(self, envelope: InboundEnvelope, at: float) -> str:
        if self._inbound is None:
            return "421 4.3.0 Not ready"
        return await self._inbound.handle(envelope, at)

    # -- outbound --------------------------------------------------------------------------------
    def free_capacity(self) -> int:
        if self._state != "ready":
            return 0
        return max(0, self._config.queue_limit - len(self._tasks))

    async def submit(self, work: DeliveryWork) -> None:
        if self._sink is None or self._state != "ready":
            raise ChannelError("the e-mail channel is not running")
        task = asyncio.create_task(self._deliver(work), name=f"mail-{work.delivery_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _report(self, event: ChannelEvent) -> None:
        assert self._sink is not None
        await self._sink.report(event)

    async def _deliver(self, work: DeliveryWork) -> None:
        try:
            await self._deliver_once(work)
        except asyncio.CancelledError:
            raise
        except Exception:  # one delivery's bug must not kill the channel; it is retried
            log.exception("e-mail delivery %d failed unexpectedly", work.delivery_id)
            try:
                await self._report(
                    ChannelEvent(
                        work.delivery_id,
                        "retry",
                        time.time(),
                        detail={"error": "internal error"},
                        retry_after=self._config.requeue_after_s,
                    )
                )
            except Exception:  # the sink itself failed: the delivery stays IN_PROGRESS for start-up
                log.exception("e-mail delivery %d: could not report the failure", work.delivery_id)

    def refuses(self, address: str) -> str | None:
        pattern = self._domains.refused_by(address)
        return None if pattern is None else f"the domain is refused by mail.refuse_domains ({pattern!r})"

    async def _attempt(self, message: Composed) -> Outcome:
        try:
            result = await self._client.send(message)
        except SmtpError as exc:
            return Refused(reply=exc.smtp_reply, error=str(exc), permanent=exc.permanent)
        # the wait for the DSN lives in the store: without one, nothing could end it
        awaiting = result.success_dsn and self._store is not None
        return Accepted(reply=result.reply, message_id=message.message_id, awaiting_dsn=awaiting)

    async def _deliver_once(self, work: DeliveryWork) -> None:
        pattern = self._domains.refused_by(work.address)
        if pattern is not None:
            await self._report(
                ChannelEvent(
                    work.delivery_id,
                    "failed",
                    time.time(),
                    state=DeliveryState.FAILED,
                    detail={
                        "error": f"the recipient's domain is refused by mail.refuse_domains ({pattern!r})",
                        "configKey": "mail.refuse_domains",
                    },
                    final=True,
                )
            )
            return
        try:
            message = compose(work, self._identity, time.time())
        except (ValueError, TypeError, LookupError) as exc:
            await self._report(
                ChannelEvent(
                    work.delivery_id,
                    "failed",
                    time.time(),
                    state=DeliveryState.FAILED,
                    detail={"error": f"cannot compose the message: {exc}"},
                    final=True,
                )
            )
            return
        backoff, requeue = self._config.retry_backoff_s, self._config.requeue_after_s
        tries = 0
        while True:
            tries += 1
            outcome = await self._attempt(message)
            step = next_step(outcome, tries, backoff, requeue, stopping=self._stopping.is_set())
            if isinstance(step, Wait):
                log.info(
                    "e-mail delivery %d: temporary failure (%s), again in %.1f s",
                    work.delivery_id,
                    outcome.reply or (outcome.error if isinstance(outcome, Refused) else ""),
                    step.seconds,
                    extra={"delivery_id": work.delivery_id},
                )
                self._retrying += 1
                try:
                    # a stop ends the wait at once: the delivery goes back to the dispatcher
                    await asyncio.wait_for(self._stopping.wait(), step.seconds)
                except TimeoutError:
                    continue
                finally:
                    self._retrying -= 1
                step = next_step(outcome, tries, backoff, requeue, stopping=True)
            assert isinstance(step, Report)
            if step.state is DeliveryState.FAILED:
                log.info(
                    "e-mail to %s refused: %s",
                    mask_address(message.envelope_to),
                    outcome.reply,
                    extra={"delivery_id": work.delivery_id},
                )
            event = ChannelEvent(
                work.delivery_id,
                step.kind,
                time.time(),
                state=step.state,
                detail=step.detail,
                retry_after=step.retry_after,
                final=step.final,
            )
            if isinstance(outcome, Accepted):
                # the DSN wait is committed before the non-final `sent` is reported: a crash in between
                # must not leave a delivery that nothing will ever end
                dsn_due = event.at + self._config.dsn_timeout_s if outcome.awaiting_dsn else None
                await self._remember(work, event.at, dsn_due)
            await self._report(event)
            return

    async def _remember(self, work: DeliveryWork, at: float, dsn_due: float | None) -> None:
        """Keep who the message went to, so a reply from anyone else can be told apart, and until when its
        DSN is awaited."""
        if self._store is None or self._cipher is None:
            return
        index = self._cipher.index(mailbox_key(work.address))

        def write(conn: Conn) -> None:
            records.remember_sent(conn, work.delivery_id, index, at, work.expires_at)
            if dsn_due is not None:
                records.await_dsn(conn, work.delivery_id, dsn_due, work.expires_at)

        try:
            await self._store.write(write, notify=False)
        except StoreError:  # sent all the same; a reply to it then counts as the recipient's
            log.warning("e-mail delivery %d: could not keep its recipient", work.delivery_id)
            return
        if dsn_due is not None:
            self._dsn_wake.set()

    async def _watch_dsn(self) -> None:
        """End the deliveries whose DSN did not come within dsn_timeout_s (at start, those past it at once)."""
        assert self._store is not None
        store = self._store
        while True:
            self._dsn_wake.clear()
            try:
                due = await store.read(records.next_dsn_due)
                now = time.time()
                if due is not None and due <= now:
                    ended = await store.write(functools.partial(records.take_due_dsn, now=now), notify=False)
                    if ended:
                        await self._dsn_timed_out(ended, now)
                    continue
            except asyncio.CancelledError:
                raise
            except StoreError:
                log.warning("e-mail channel: DSN time-outs could not be checked; tried again later")
                due = None
            wait = HOUSEKEEPING_S if due is None else min(HOUSEKEEPING_S, max(0.0, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dsn_wake.wait(), wait)

    async def _dsn_timed_out(self, delivery_ids: list[int], now: float) -> None:
        assert self._sink is not None
        detail = {"reason": "no delivery status notification before the DSN time-out",
                  "dsn_timeout_s": self._config.dsn_timeout_s}
        events = [ChannelEvent(d, "unconfirmed", now, DeliveryState.UNCONFIRMED, detail=detail, final=True)
                  for d in delivery_ids]
        try:
            await self._sink.report_many(events)
        except Exception:
            # not reported: wait again, so the time-out is not lost with the rows just taken
            log.exception("e-mail: reporting %d DSN time-outs failed; tried again later", len(events))
            assert self._store is not None


            def again(conn: Conn) -> None:
                for d in delivery_ids:
                    records.await_dsn(conn, d, now + 60.0, None)

            await self._store.write(again, notify=False)
            return
        log.info("e-mail: %d deliveries unconfirmed (no DSN within %.0f s)", len(events), self._config.dsn_timeout_s)

    async def _housekeeping(self) -> None:
        """Drop rows past their time at start and every HOUSEKEEPING_S."""
        while self._store is not None:
            try:
                await self._store.write(functools.partial(records.purge, now=time.time()), notify=False)
            except StoreError:
                log.warning("e-mail channel: housekeeping failed; tried again later")
            await asyncio.sleep(HOUSEKEEPING_S)

    # -- introspection ---------------------------------------------------------------------------
    def ready(self) -> bool:
        """Running, the listener up, and the smarthost reachable the last time it was tried."""
        listening = self._listener is None or self._listener.listening
        return self._state == "ready" and listening and self._client.healthy

    @property
    def listener_port(self) -> int:
        return self._listener.port if self._listener is not None else 0

    def info(self) -> ChannelInfo:
        cfg = self._config
        lst, inbound = self._listener, self._inbound
        listener = MailListenerInfo(
            enabled=cfg.listen_enabled,
            socket=None if lst is None else SmtpListenerSocket(
                lst.listening, lst.address, tuple(cfg.accepted_domains()), lst.received, lst.refused_relay,
                lst.errors, lst.connections, lst.refused_busy, lst.sessions_ended,
            ),
            inbound=None if inbound is None else SmtpInboundCounts(
                inbound.matched, inbound.unsolicited, inbound.bounces, inbound.duplicates, inbound.invalid,
            ),
        )
        typed = MailInfo(
            smarthost=f"{cfg.smarthost_host}:{cfg.smarthost_port}",
            tls=cfg.smarthost_tls,
            auth=bool(cfg.smarthost_username),
            connections=self._client.connections,
            sent=self._client.sent,
            failed=self._client.failed,
            waiting_to_retry=self._retrying,
            last_error=self._client.last_error,
            smarthost_reachable=self._client.healthy,
            domain=cfg.domain,
            listener=listener,
        )
        return ChannelInfo(
            name=self.name,
            alert_types=self.alert_types,
            state=self._state,
            capacity=cfg.queue_limit,
            in_flight=len(self._tasks),
            typed=typed,
        )

    def validate_item(self, item: Mapping[str, Any], content: bytes | None, path: str) -> list[Problem]:
        return check_item(item, content, path)
