"""What the sandbox phone reads out of a submit_sm: the parts of one text put together and decoded (pure).

Rules:

* A part is one submit_sm as the SMSC answered it. Parts of a concatenated text are recognised by their UDH
  (GSM 03.40 §9.2.3.24.1 IEI 0, 8-bit reference, and §9.2.3.24.8 IEI 8, 16-bit reference) or by the SMPP
  SAR TLVs (SMPP 3.4 §5.3.2.22-24); a ``message_payload`` TLV (§5.3.2.32) carries a whole text in one part.
* Parts belong together when source, destination, reference and total agree; the text is complete when all
  ``total`` parts are in, whatever their order, and is then returned once, its parts in sequence order.
* The bodies are joined before decoding (so a UCS-2 surrogate pair split across parts survives) and decoded
  by their data_coding (``alertnode.sms.gsm.decode``, data_coding 0 read as ``dcs0_charset``).
* A text is ``accepted`` when every part was, else ``rejected`` (one SMPP error) or ``held`` (one never answered).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alertnode.sms.gsm import Charset, decode

# SMPP 3.4 §5.3.2 optional parameter tags: §5.3.2.22-24 SAR, §5.3.2.32 message_payload, §5.3.2.12
# receipted_message_id, §5.3.2.35 message_state
TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
ESM_UDHI = 0x40
"""SMPP 3.4 §5.2.12 esm_class bit 6: the short message starts with a UDH"""
HELD = -1
"""``Part.status`` of a submit_sm the SMSC deliberately never answered"""

_LINK = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True)
class Part:
    at: float
    source: str
    destination: str
    data_coding: int
    esm_class: int
    short_message: bytes
    tlvs: dict[int, bytes]
    status: int
    """0: accepted; an SMPP error status; ``HELD``: never answered"""
    message_id: str = ""


@dataclass(frozen=True)
class Text:
    at: float
    source: str
    destination: str
    text: str
    parts: int
    status: str
    """accepted, rejected or held"""
    message_ids: tuple[str, ...]
    smpp_status: int = 0


def segment(part: Part) -> tuple[int, int, int, bytes] | None:
    """(reference, total, sequence, body) of one part of a concatenated text; None for a text in one part."""
    sm = part.short_message
    if part.esm_class & ESM_UDHI and sm:
        header_len = sm[0]
        ies, body = sm[1 : 1 + header_len], sm[1 + header_len :]
        i = 0
        while i + 1 < len(ies):
            iei, length = ies[i], ies[i + 1]
            data = ies[i + 2 : i + 2 + length]
            if iei == 0 and length == 3 and len(data) == 3:
                return data[0], data[1], data[2], body
            if iei == 8 and length == 4 and len(data) == 4:
                return (data[0] << 8) | data[1], data[2], data[3], body
            i += 2 + length
        return None
    tlvs = part.tlvs
    if TLV_SAR_MSG_REF_NUM in tlvs and TLV_SAR_TOTAL_SEGMENTS in tlvs and TLV_SAR_SEGMENT_SEQNUM in tlvs:
        return (int.from_bytes(tlvs[TLV_SAR_MSG_REF_NUM], "big"), tlvs[TLV_SAR_TOTAL_SEGMENTS][0],
                tlvs[TLV_SAR_SEGMENT_SEQNUM][0], sm)
    return None


def body(part: Part) -> bytes:
    """The text's bytes of a part that is a whole text (UDH removed; the payload TLV when there is one)."""
    sm = part.short_message
    if TLV_MESSAGE_PAYLOAD in part.tlvs and not sm:
        return part.tlvs[TLV_MESSAGE_PAYLOAD]
    if part.esm_class & ESM_UDHI and sm:
        return sm[1 + sm[0] :]
    return sm


def links(text: str) -> list[str]:
    """The http(s) links in a text, in order, without trailing punctuation."""
    return [m.group(0).rstrip(".,;:!?") for m in _LINK.finditer(text)]


class Assembler:
    """Collects parts until a text is complete."""

    def __init__(self, dcs0_charset: Charset = Charset.LATIN1) -> None:
        self.dcs0_charset = dcs0_charset
        self._open: dict[tuple[str, str, int, int], dict[int, tuple[Part, bytes]]] = {}

    def feed(self, part: Part) -> Text | None:
        seg = segment(part)
        if seg is None or seg[1] <= 1:
            data = body(part) if seg is None else seg[3]
            return self._text([part], data)
        ref, total, seq, data = seg
        key = (part.source, part.destination, ref, total)
        got = self._open.setdefault(key, {})
        got[seq] = (part, data)
        if len(got) < total:
            return None
        del self._open[key]
        ordered = [got[k] for k in sorted(got)]
        return self._text([p for p, _ in ordered], b"".join(d for _, d in ordered))

    def pending(self) -> int:
        return sum(len(v) for v in self._open.values())

    def _text(self, parts: list[Part], data: bytes) -> Text:
        first = parts[0]
        text = decode(data, first.data_coding, self.dcs0_charset)  # never raises: broken bytes are replaced
        statuses = [p.status for p in parts]
        bad = next((s for s in statuses if s not in (0, HELD)), 0)
        status = "rejected" if bad else "held" if HELD in statuses else "accepted"
        return Text(first.at, first.source, first.destination, text, len(parts), status,
                    tuple(p.message_id for p in parts if p.message_id), bad)
