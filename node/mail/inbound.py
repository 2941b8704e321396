"""What the node does with a message its SMTP listener accepted: classify it (node/mail/replies.py),
find the delivery it belongs to through the sink, and report it.

- a reply → ``replied`` with state RESPONDED (text with quoted history stripped, sender, subject),
  classified as an SMS reply is (node/answers.py on the new text): ``ack`` and ``declined`` in the detail;
- a reply from someone who is not the recipient (a forwarded alert; From and envelope sender both
  differ from the address the message went to) → ``replied`` with ``fromRecipient: false`` and no
  state change (not final), so escalation goes on; ``count_forwarded_replies`` makes it count as the
  recipient's answer;
- an automatic reply (RFC 3834) → ``auto_replied`` without a state change (nobody answered yet);
- a DSN saying failed → ``bounced`` with state FAILED; delayed → ``delayed`` (no state change);
  delivered/relayed → ``delivered`` with state DELIVERED; failed and delivered are final and end the
  wait for the DSN (its time-out, node/mail/channel.py);
- anything that matches no delivery → ``sink.unsolicited(InboundMessage(channel="email", ...))``;
- a message the parser can never read (MIME nested past MAX_MIME_DEPTH, ...) → 554 5.6.0, permanent;
  a failure to record what was read (the store down) → an exception, which the listener answers 451.

The answer returned is the SMTP reply the listener sends (RFC 5321 §4.2, RFC 3463 enhanced codes).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from alertnode.answers import ReplyParser
from alertnode.domain import ChannelEvent, DeliveryState, EventSink, InboundMessage
from alertnode.errors import StoreError
from alertnode.mail import records
from alertnode.mail.addresses import mailbox_key
from alertnode.mail.config import MailConfig
from alertnode.mail.listener import InboundEnvelope
from alertnode.mail.replies import InboundKind, ParsedMail, UnreadableMessage, parse_mail
from alertnode.mail.smtp_client import mask_address
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

_PARSE_IN_THREAD = 64 * 1024
"""Messages larger than this (bytes) are parsed off the event loop."""

OK = "250 2.0.0 OK: message received"
DUPLICATE = "250 2.0.0 OK: message already received"
UNREADABLE = "554 5.6.0 Message content cannot be read"  # RFC 3463 §3.7 media errors
NOT_A_MESSAGE = "554 5.6.0 Message has no header section (RFC 5322 section 2.1)"  # replies are ASCII

_EVENTS: dict[InboundKind, tuple[str, DeliveryState | None, bool]] = {
    InboundKind.REPLY: ("replied", DeliveryState.RESPONDED, True),
    InboundKind.AUTO_REPLY: ("auto_replied", None, False),
    InboundKind.BOUNCE: ("bounced", DeliveryState.FAILED, True),
    InboundKind.DELAY: ("delayed", None, False),
    InboundKind.DELIVERED: ("delivered", DeliveryState.DELIVERED, True),
}


class InboundProcessor:
    def __init__(self, config: MailConfig, sink: EventSink, store: Store | None, cipher: Cipher | None) -> None:
        self._config = config
        self._sink = sink
        self._store = store
        self._cipher = cipher
        self._answers = ReplyParser(config.ack_keywords, config.nack_keywords)
        self.matched = 0
        self.unsolicited = 0
        self.bounces = 0
        self.duplicates = 0
        self.invalid = 0

    def _seen_key(self, message_id: str) -> str:
        return self._cipher.index(message_id) if self._cipher is not None else message_id

    async def _claim(self, message_id: str, at: float) -> bool:
        """Record ``message_id`` as received; False when it already was (a duplicate)."""
        if not message_id or self._store is None:
            return True
        key = self._seen_key(message_id)
        return await self._store.write(lambda c: records.claim_inbound(c, key, at))

    async def _unclaim(self, message_id: str) -> None:
        """Forget a claim whose message could not be recorded, so the sender's retry is processed."""
        if not message_id or self._store is None:
            return
        key = self._seen_key(message_id)
        try:
            await self._store.write(lambda c: records.forget_inbound(c, key))
        except StoreError:
            log.warning("could not forget the claim of a failed inbound message")

    async def _match(self, parsed: ParsedMail, at: float) -> int | None:
        for token in parsed.tokens:
            delivery_id = await self._sink.find_by_token(token)
            if delivery_id is not None:
                return delivery_id
        if parsed.kind is InboundKind.REPLY and self._config.match_sender_fallback and "@" in parsed.sender:
            return await self._sink.find_recent("email", parsed.sender, at)
        return None

    async def _match_and_sender(
        self, parsed: ParsedMail, envelope: InboundEnvelope, at: float
    ) -> tuple[int | None, bool | None]:
        """The delivery ``parsed`` answers, and whether it comes from that delivery's recipient (None:
        not known, e.g. a message sent before the node kept recipients)."""
        delivery_id = await self._match(parsed, at)
        if delivery_id is None or parsed.kind not in (InboundKind.REPLY, InboundKind.AUTO_REPLY):
            return delivery_id, None
        if self._store is None or self._cipher is None:
            return delivery_id, None
        found = delivery_id
        sent_to = await self._store.read(lambda c: records.recipient_index(c, found))
        if sent_to is None:
            return delivery_id, None
        senders = {mailbox_key(parsed.sender), mailbox_key(envelope.mail_from)} - {""}
        return delivery_id, any(self._cipher.index(key) == sent_to for key in senders)

    async def handle(self, envelope: InboundEnvelope, at: float) -> str:
        args = (envelope.data, envelope.mail_from, envelope.rcpt_tos, self._config.bounce_local_part)
        try:
            if len(envelope.data) > _PARSE_IN_THREAD:
                # parsing megabytes of MIME takes long enough to stall everything else on the loop
                parsed = await asyncio.to_thread(parse_mail, *args)
            else:
                parsed = parse_mail(*args)
        except UnreadableMessage as exc:
            # permanent (RFC 5321 §4.2.1): a 4yz would have the sender try the same bytes for days
            self.invalid += 1
            log.info("mail from %s refused: %s", envelope.peer, exc)
            return f"{UNREADABLE} ({exc})"
        if parsed.kind is InboundKind.INVALID:
            self.invalid += 1
            return NOT_A_MESSAGE
        # the claim (one commit) and the look-ups (reads) overlap: a reply costs two commits in all
        claimed, (delivery_id, from_recipient) = await asyncio.gather(
            self._claim(parsed.message_id, at), self._match_and_sender(parsed, envelope, at)
        )
        if not claimed:
            self.duplicates += 1
            return DUPLICATE
        try:
            await self._record(parsed, envelope, delivery_id, from_recipient, at)
        except BaseException:
            await self._unclaim(parsed.message_id)
            raise
        return OK

    async def _record(
        self,
        parsed: ParsedMail,
        envelope: InboundEnvelope,
        delivery_id: int | None,
        from_recipient: bool | None,
        at: float,
    ) -> None:
        detail: dict[str, Any] = {"from": parsed.sender, "subject": parsed.subject, "receivedAt": at}
        if from_recipient is not None:
            detail["fromRecipient"] = from_recipient
        if parsed.message_id:
            detail["messageId"] = parsed.message_id
        if parsed.defects:
            detail["defects"] = list(parsed.defects)
        if parsed.dsn is not None:
            detail.update(
                action=parsed.dsn.action,
                status=parsed.dsn.status,
                diagnostic=parsed.dsn.diagnostic,
                finalRecipient=parsed.dsn.final_recipient,
            )
            if parsed.dsn.diagnostic:
                detail["smtp_reply"] = parsed.dsn.diagnostic
            if parsed.dsn.retry_until:
                detail["retryUntil"] = parsed.dsn.retry_until
        else:
            detail["text"] = parsed.text
        if parsed.kind is InboundKind.REPLY:
            answer = self._answers.parse(parsed.text)
            detail.update(ack=answer is True, declined=answer is False)
        if delivery_id is None:
            self.unsolicited += 1
            detail["kind"] = parsed.kind.value
            await self._sink.unsolicited(
                InboundMessage(
                    channel="email",
                    sender=parsed.sender,
                    recipient=envelope.rcpt_tos[0] if envelope.rcpt_tos else "",
                    text=parsed.text,
                    at=at,
                    detail=detail,
                )
            )
            log.info("mail from %s matched no delivery (%s)", mask_address(parsed.sender), parsed.kind.value)
        else:
            kind, state, final = _EVENTS[parsed.kind]
            if from_recipient is False and not self._config.count_forwarded_replies:
                state, final = None, False  # someone else's answer is not the recipient's
            if parsed.kind is InboundKind.BOUNCE:
                self.bounces += 1
            if parsed.kind in (InboundKind.BOUNCE, InboundKind.DELIVERED) and self._store is not None:
                settled = delivery_id
                await self._store.write(lambda c: records.dsn_came(c, settled), notify=False)
            self.matched += 1
            await self._sink.report(ChannelEvent(delivery_id, kind, at, state=state, detail=detail, final=final))
            log.info("mail %s for delivery %d", kind, delivery_id, extra={"delivery_id": delivery_id})
