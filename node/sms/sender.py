"""Sender (source address) and recipient (destination address) validation and TON/NPI choice.

SMPP 3.4 §5.2.5/§5.2.6: TON 1 international with NPI 1 (E.164), TON 3 network specific for short
codes, TON 5 alphanumeric with NPI 0. An alphanumeric originator is at most 11 GSM characters
(3GPP TS 23.040 §9.1.2.5: 10 octets of packed septets in TP-OA).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from alertnode.sms import gsm

TON_UNKNOWN = 0
TON_INTERNATIONAL = 1
TON_NETWORK_SPECIFIC = 3
TON_ALPHANUMERIC = 5
NPI_UNKNOWN = 0
NPI_E164 = 1

ALNUM_MAX = 11
_E164 = re.compile(r"^\+?[1-9][0-9]{6,14}$")  # ITU-T E.164 §6: at most 15 digits
_SHORT_CODE = re.compile(r"^[0-9]{3,8}$")  # as the API accepts them (node/jobs/expand.py)


@dataclass(frozen=True)
class Address:
    ton: int
    npi: int
    addr: str


@functools.lru_cache(maxsize=256)  # an alert item has one sender for all its recipients
def parse_sender(sender: str) -> Address:
    """The source address for ``sender``; raises ValueError saying what is wrong."""
    s = sender.strip()
    if not s:
        raise ValueError("sender is empty")
    if _SHORT_CODE.match(s):
        return Address(TON_NETWORK_SPECIFIC, NPI_UNKNOWN, s)
    if _E164.match(s):
        return Address(TON_INTERNATIONAL, NPI_E164, s.lstrip("+"))
    if s.startswith("+") or s.isdigit():
        raise ValueError("a numeric sender is an E.164 number (+ and 7 to 15 digits) or a 3 to 8 digit short code")
    length = gsm.septet_length(s)
    if length is None:
        raise ValueError("an alphanumeric sender may only use GSM 03.38 characters")
    if length > ALNUM_MAX:
        raise ValueError(f"an alphanumeric sender is at most {ALNUM_MAX} GSM characters (got {length})")
    return Address(TON_ALPHANUMERIC, NPI_UNKNOWN, s)


def parse_recipient(number: str, default_ton: int, default_npi: int) -> Address:
    """The destination address: ``+`` numbers are international E.164, others use the link defaults."""
    s = number.strip().replace(" ", "").replace("-", "")
    if s.startswith("+"):
        digits = s[1:]
        if not digits.isdigit() or not 1 <= len(digits) <= 15:
            raise ValueError("not an E.164 number")
        return Address(TON_INTERNATIONAL, NPI_E164, digits)
    if not s.isdigit() or len(s) > 20:  # SMPP 3.4 §4.4.1: destination_addr ≤ 20 octets
        raise ValueError("not a phone number")
    return Address(default_ton, default_npi, s)


def to_e164(addr: str, ton: int) -> str:
    """A received source address as the node stores numbers (``+`` for international)."""
    if ton == TON_INTERNATIONAL and addr.isdigit():
        return "+" + addr
    return addr


def mask(number: str) -> str:
    """A phone number for logs: keep the last 3 digits."""
    return ("*" * max(0, len(number) - 3)) + number[-3:]
