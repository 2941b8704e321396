"""inboundCall deliveries waiting for a call, and which of them an incoming call belongs to (no I/O).

Rules:

* A delivery waits under the digits of its item's ``telephoneNumber``, without using a call slot,
  until it is final, cancelled or expired (an expired one matches nothing and is dropped).
* The called number is the Request-URI's user (a trunk delivering the DID), else the To user (a PBX
  forwarding to the node's registered contact keeps the dialled number in To). It matches a waiting
  number as E.164 digits or as the dial plan would dial that number.
* The caller whose number is a waiting delivery's address gets that delivery (its result is final);
  a caller matching no recipient is reported on the number's first waiting delivery, not final.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from alertnode.domain import DeliveryWork
from alertnode.voice.config import DialRule, rewrite_number
from alertnode.voice.prompt_files import PromptAudio


def mask(number: str) -> str:
    """A phone number for logs: all but the last three digits hidden."""
    return "*" * max(len(number) - 3, 0) + number[-3:]


def digits(number: str) -> str:
    return re.sub(r"[^0-9]", "", number)


def uri_user(uri: str) -> str:
    """The user part of a SIP URI or name-addr (``"x" <sip:+44123@host;user=phone>`` → ``+44123``)."""
    m = re.search(r"sips?:([^@;>]+)@", uri)
    if m:
        return m.group(1)
    m = re.search(r"(?:tel:)([^;>]+)", uri)
    return m.group(1) if m else ""


@dataclass(frozen=True)
class InboundMatch:
    caller: str
    """The caller's number (From user)."""
    called: str
    """The called number's digits."""
    work: DeliveryWork | None
    """The delivery the call belongs to; None: no live inboundCall alert waits for this number."""
    final_for_delivery: bool = False
    """The caller is the delivery's recipient: the call's result is the delivery's."""


class InboundBook:
    def __init__(self, dial_plan: Iterable[DialRule]) -> None:
        self._dial_plan = list(dial_plan)
        self._waiting: dict[str, list[DeliveryWork]] = {}
        self.prompts: dict[int, dict[str, PromptAudio]] = {}
        """Prepared prompts by delivery id, made for the first call and kept for the next ones."""

    def add(self, work: DeliveryWork) -> None:
        """Wait for a call to the item's telephoneNumber (a delivery handed over again replaces itself)."""
        number = digits(str(work.params.get("telephoneNumber", "")))
        waiting = self._waiting.setdefault(number, [])
        waiting[:] = [w for w in waiting if w.delivery_id != work.delivery_id]
        waiting.append(work)

    def remove(self, delivery_ids: set[int]) -> None:
        for number, works in self._waiting.items():
            self._waiting[number] = [w for w in works if w.delivery_id not in delivery_ids]
        for delivery_id in delivery_ids:
            self.prompts.pop(delivery_id, None)

    def count(self) -> int:
        return sum(len(v) for v in self._waiting.values())

    def match(self, from_uri: str, to_uri: str, ruri: str, now: float) -> InboundMatch:
        caller = uri_user(from_uri)
        called = ""
        works: list[DeliveryWork] = []
        for candidate in (digits(uri_user(ruri)), digits(uri_user(to_uri))):
            if candidate and not works:
                called = candidate
                works = self._live(candidate, now)
        called = called or digits(uri_user(to_uri))
        if not works:
            return InboundMatch(caller, called, None)
        mine = [w for w in works if digits(w.address) and digits(w.address) == digits(caller)]
        return InboundMatch(caller, called, mine[0] if mine else works[0], bool(mine))

    def _live(self, called: str, now: float) -> list[DeliveryWork]:
        for number, works in self._waiting.items():
            live = [w for w in works if w.expires_at is None or w.expires_at > now]
            self._waiting[number] = live
            if live and called in (number, digits(rewrite_number("+" + number, self._dial_plan))):
                return live
        return []
