"""Replies (mobile-originated messages): what a received deliver_sm says, and which delivery it answers.

Rules of the ranking (:func:`rank`), which gives a reply to at most one delivery:

* Only a live delivery to the number the reply comes from can get it. The shell finds two candidates:
  the most recent live delivery to that number (the node's record), and the most recent live SMS to
  that number sent from the address the reply went to (the SMS tables). Numbers compare without '+';
  a source written without '+' is looked up with one too (:func:`numbers`).
* The most recent delivery gets it when it was sent from the address replied to, or when the SMS
  tables do not say what it was sent from.
* Otherwise the most recent SMS sent from the address replied to gets it: several desks may alert
  the same person from different numbers, and the person answers the one they read.
* Otherwise the most recent delivery. With no candidate the reply is unsolicited (kept, not dropped).

Parts of a concatenated reply (UDH 8/16-bit, SAR TLVs) are joined per link before anything else; a
reply whose parts do not all come within the reassembly time-out is handed out as it is, flagged
incomplete (:meth:`Replies.expire`). Its first word says whether it acknowledges or declines
(:class:`alertnode.sms.answers.ReplyParser`).

Pure: fed deliver_sm fields and the time, returns replies; no socket, store or clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alertnode import answers
from alertnode.sms import gsm, mo, sender
from alertnode.sms.pdu import DeliverSm


@dataclass(frozen=True)
class Reply:
    message: mo.MoMessage
    ack: bool | None  # True: acknowledges, False: declines, None: neither

    def detail(self) -> dict[str, Any]:
        m = self.message
        return {
            "text": m.text,
            "ack": self.ack is True,
            "declined": self.ack is False,
            "from": m.source,
            "to": m.destination,
            "link": m.link,
            "parts": m.parts,
            "complete": m.complete,
        }


class Replies:
    """Reassembly and keywords for the replies of every link."""

    def __init__(
        self,
        charsets: Mapping[str, gsm.Charset],
        timeout: float,
        ack: Iterable[str] = answers.DEFAULT_ACK,
        nack: Iterable[str] = answers.DEFAULT_NACK,
    ) -> None:
        self.timeout = timeout
        self._parser = answers.ReplyParser(ack, nack)
        self._reassemblers = {link: mo.Reassembler(cs, timeout) for link, cs in charsets.items()}

    def feed(self, link: str, at: float, dsm: DeliverSm) -> list[Reply]:
        """One deliver_sm that is not a receipt; the replies it completes (and any that timed out)."""
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
            at,
            link,
        )
        reassembler = self._reassemblers.setdefault(link, mo.Reassembler(gsm.Charset.GSM, self.timeout))
        return [self._reply(m) for m in reassembler.feed(part)]

    def expire(self, now: float) -> list[Reply]:
        """Concatenated replies whose missing parts never came, as they are (incomplete)."""
        return [self._reply(m) for r in self._reassemblers.values() for m in r.expire(now)]

    def _reply(self, message: mo.MoMessage) -> Reply:
        return Reply(message, self._parser.parse(message.text))


def numbers(source: str) -> list[str]:
    """The forms under which deliveries to the number a reply comes from are looked up."""
    out = [source]
    if not source.startswith("+") and source.isdigit():
        out.append("+" + source)
    return out


@dataclass(frozen=True)
class Recent:
    """The most recent live delivery to the number a reply comes from."""

    delivery_id: int
    sender: str | None  # what the SMS tables say it was sent from (None: they do not know it)


def rank(replied_to: str, recent: Recent | None, latest_from_replied_to: int | None) -> int | None:
    """The delivery a reply sent to ``replied_to`` answers (None: unsolicited); see the rules above."""
    if recent is not None and (recent.sender is None or recent.sender.lstrip("+") == replied_to.lstrip("+")):
        return recent.delivery_id
    if latest_from_replied_to is not None:
        return latest_from_replied_to
    return recent.delivery_id if recent is not None else None
