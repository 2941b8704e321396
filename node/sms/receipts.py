"""Delivery receipts (SMPP 3.4 §5.2.12 esm_class bit 2, appendix B text form, §5.3.2.35 message_state).

A receipt is a deliver_sm with ``esm_class & 0x04``. Carriers send the id and final state in the
text (``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…``), in the TLVs
``receipted_message_id``/``message_state``, or both; the TLVs win when present. Some carriers
report the id in decimal when submit_sm_resp gave it in hex, or the other way round:
:func:`id_candidates` lists the forms to look up.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

ESM_RECEIPT_MASK = 0x3C  # SMPP 3.4 §5.2.12 bits 5-2: message type
ESM_SMSC_RECEIPT = 0x04


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"
    PENDING = "pending"  # intermediate (ENROUTE, ACCEPTED)


# SMPP 3.4 §5.2.28 message_state values
MESSAGE_STATES = {
    1: ("ENROUTE", Outcome.PENDING),
    2: ("DELIVRD", Outcome.DELIVERED),
    3: ("EXPIRED", Outcome.FAILED),
    4: ("DELETED", Outcome.FAILED),
    5: ("UNDELIV", Outcome.FAILED),
    6: ("ACCEPTD", Outcome.PENDING),
    7: ("UNKNOWN", Outcome.FAILED),
    8: ("REJECTD", Outcome.FAILED),
}
_STAT_OUTCOME = {name: outcome for name, outcome in MESSAGE_STATES.values()}
_STAT_ALIASES = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "REJECTED": "REJECTD",
    "ACCEPTED": "ACCEPTD",
    "ENROUTE": "ENROUTE",
    "DELETED": "DELETED",
}

_FIELD = re.compile(
    r"(?P<key>id|sub|dlvrd|submit date|done date|stat|err|text)\s*:\s*"
    r"(?P<value>.*?)(?=\s+(?:id|sub|dlvrd|submit date|done date|stat|err|text)\s*:|$)",
    re.IGNORECASE | re.DOTALL,
)


def is_receipt(esm_class: int) -> bool:
    return esm_class & ESM_RECEIPT_MASK == ESM_SMSC_RECEIPT


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str
    outcome: Outcome
    err: str = ""
    done_date: str = ""


def parse_text(body: str) -> dict[str, str]:
    """Fields of the appendix B text form, keys lower-case (``text`` is the rest of the body)."""
    fields: dict[str, str] = {}
    for m in _FIELD.finditer(body):
        key = m.group("key").lower()
        if key not in fields:
            fields[key] = m.group("value").strip() if key != "text" else m.group("value")
    return fields


def parse(body: bytes, receipted_message_id: bytes | str | None, message_state: int | None) -> Receipt | None:
    """A receipt from a deliver_sm's text and TLVs, or None if it names no message."""
    fields = parse_text(body.decode("latin-1"))
    mid = receipted_message_id
    if isinstance(mid, bytes):
        mid = mid.rstrip(b"\0").decode("latin-1")
    mid = (mid or fields.get("id", "")).strip()
    if not mid:
        return None
    if message_state is not None and message_state in MESSAGE_STATES:
        stat, outcome = MESSAGE_STATES[message_state]
    else:
        stat = fields.get("stat", "").upper()
        stat = _STAT_ALIASES.get(stat, stat)
        outcome = _STAT_OUTCOME.get(stat, Outcome.FAILED if stat else Outcome.PENDING)
    return Receipt(mid, stat or "UNKNOWN", outcome, fields.get("err", ""), fields.get("done date", ""))


def normalize_id(message_id: str) -> str:
    s = message_id.strip().lower()
    stripped = s.lstrip("0")
    return stripped or ("0" if s else "")


def id_candidates(message_id: str, mode: str = "auto") -> list[str]:
    """Normalized forms under which the submitted id may be stored.

    ``mode`` says how the carrier writes receipt ids compared to submit_sm_resp ids: ``same``;
    ``decimal`` (receipts in decimal, submit ids in hex); ``hex`` (the reverse); ``auto`` tries the id
    as given, then read as decimal, then read as hex. ``auto`` can mismatch when small ids are valid in
    both forms (receipt "10" = submit "a" vs submit "10"): set the mode when the carrier is known.
    """
    s = normalize_id(message_id)
    is_dec = s.isdigit()
    is_hex = bool(s) and len(s) <= 32 and all(c in "0123456789abcdef" for c in s)
    if mode == "same":
        return [s]
    if mode == "decimal":
        return [format(int(s), "x")] if is_dec else [s]
    if mode == "hex":
        return [str(int(s, 16))] if is_hex else [s]
    out = [s]
    if is_dec:
        out.append(format(int(s), "x"))
    if is_hex:
        out.append(str(int(s, 16)))
    seen: list[str] = []
    for c in out:
        if c not in seen:
            seen.append(c)
    return seen
