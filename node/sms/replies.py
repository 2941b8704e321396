"""Replies (mobile-originated messages): reassembly, the reply keywords, and correlation to the alert
they answer, reported as a response event or kept as an unsolicited inbound message."""

from __future__ import annotations

import logging
import sqlite3
import time

from alertnode.domain import ChannelEvent, DeliveryState, EventSink, InboundMessage
from alertnode.sms import gsm, mo, repo, sender
from alertnode.sms.config import SmsConfig
from alertnode.sms.smpplib_adapter import Inbound
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)


class Replies:
    def __init__(self, config: SmsConfig, store: Store, cipher: Cipher, sink: EventSink) -> None:
        self.config = config
        self.store = store
        self.cipher = cipher
        self.sink = sink
        self._parser = mo.ReplyParser(config.ack_keywords, config.nack_keywords)
        self._reassemblers = {
            link.name: mo.Reassembler(gsm.Charset(link.dcs0_charset), config.mo_reassembly_timeout_s)
            for link in config.links
        }

    async def feed(self, item: Inbound) -> None:
        """One received deliver_sm that is not a receipt."""
        dsm = item.deliver_sm
        body = dsm.short_message or dsm.message_payload or b""
        concat = None
        if dsm.esm_class & gsm.ESM_UDHI:
            concat, body = mo.split_udh(body)
        elif dsm.sar is not None:
            concat = mo.Concat(*dsm.sar)
        part = mo.MoPart(
            sender.to_e164(dsm.source_addr, dsm.source_addr_ton),
            dsm.destination_addr,
            dsm.data_coding,
            body,
            concat,
            item.at,
            item.link,
        )
        reassembler = self._reassemblers.setdefault(
            item.link, mo.Reassembler(gsm.Charset.GSM, self.config.mo_reassembly_timeout_s)
        )
        for message in reassembler.feed(part):
            await self._on_reply(message)

    async def sweep(self) -> None:
        """Hand out concatenated replies whose missing parts never came (kept, flagged incomplete)."""
        now = time.time()
        for reassembler in self._reassemblers.values():
            for message in reassembler.expire(now):
                try:
                    await self._on_reply(message)
                except Exception:  # the next sweep must still run
                    log.exception("sms: handling an incomplete reply failed")

    async def _on_reply(self, message: mo.MoMessage) -> None:
        ack = self._parser.parse(message.text)
        detail = {
            "text": message.text,
            "ack": ack is True,
            "declined": ack is False,
            "from": message.source,
            "to": message.destination,
            "link": message.link,
            "parts": message.parts,
            "complete": message.complete,
        }
        delivery_id = await self._correlate(message)
        if delivery_id is None:
            await self.sink.unsolicited(
                InboundMessage("sms", message.source, message.destination, message.text, message.at, detail=detail)
            )
            log.info("sms: reply from %s matched no alert; kept as unsolicited", sender.mask(message.source))
            return
        await self.sink.report(ChannelEvent(delivery_id, "replied", message.at, DeliveryState.RESPONDED, detail=detail))

    async def _correlate(self, message: mo.MoMessage) -> int | None:
        """The most recent live delivery to this number, preferring one sent from the address replied to."""
        candidates = [message.source]
        if not message.source.startswith("+") and message.source.isdigit():
            candidates.append("+" + message.source)
        found: int | None = None
        for addr in candidates:
            found = await self.sink.find_recent("sms", addr, message.at)
            if found is not None:
                break
        digits = message.source.lstrip("+")
        dest_index = self.cipher.index(digits)
        to = message.destination.lstrip("+")

        recent = found

        def mine(conn: sqlite3.Connection) -> tuple[int | None, str | None]:
            sent_from = repo.sender_of(conn, recent) if recent is not None else None
            return repo.latest_from(conn, dest_index, to, message.at), sent_from

        own, sent_from = await self.store.read(mine)
        if found is not None and (sent_from is None or sent_from.lstrip("+") == to):
            return found
        return own if own is not None else found
