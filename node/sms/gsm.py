"""Text to SMS segments: GSM 03.38 (3GPP TS 23.038 §6.2.1) with its extension table, UCS-2, and the
three ways SMPP can carry a concatenated message (UDH, SAR TLVs, message_payload).

Pure: no I/O. The per-destination concatenation reference is state and is passed in by the caller.

Sizes (3GPP TS 23.040 §9.2.3.24.1 and §9.2.3.16): one SM carries 140 octets = 160 GSM septets or 70
UCS-2 code units. A concatenation UDH takes 6 octets (8-bit reference) or 7 octets (16-bit), which
leaves 153 or 152 septets (the UDH is padded to a septet boundary) and 67 or 66 UCS-2 code units.
An escape sequence (0x1B + extension character) is two septets and is never split across parts; a
UTF-16 surrogate pair is never split either. SAR TLVs leave the UDH to the SMSC, so parts are sized as
for an 8-bit UDH.
"""

from __future__ import annotations

import enum
import functools
import struct
from dataclasses import dataclass

# 3GPP TS 23.038 §6.2.1 default alphabet, index = septet value; 0x1B is the escape to the extension table.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(GSM_BASIC) == 128
ESC = 0x1B
# 3GPP TS 23.038 §6.2.1.1 extension table (the characters a handset shows; 0x0A is a page break).
GSM_EXTENSION = {
    "\x0c": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM_BASIC) if i != ESC}
_EXT_REVERSE = {v: k for k, v in GSM_EXTENSION.items()}

SINGLE_SEPTETS = 160
SINGLE_UCS2_UNITS = 70
UDH8_LEN = 6  # 05 00 03 ref total seq (TS 23.040 §9.2.3.24.1)
UDH16_LEN = 7  # 06 08 04 ref_hi ref_lo total seq (TS 23.040 §9.2.3.24.8)
MAX_PARTS = 255  # the total count is one octet
DCS_DEFAULT = 0x00
DCS_LATIN1 = 0x03
DCS_UCS2 = 0x08
ESM_UDHI = 0x40  # SMPP 3.4 §5.2.12: UDH indicator


class Concat(enum.StrEnum):
    UDH8 = "udh8"
    UDH16 = "udh16"
    SAR = "sar"
    PAYLOAD = "payload"


class Charset(enum.StrEnum):
    """What the bytes of a non-UCS-2 message are."""

    GSM = "gsm"  # unpacked GSM septets, one per octet (what SMSCs expect in SMPP short_message)
    LATIN1 = "latin1"  # ISO-8859-1 octets


def septets(ch: str) -> int | None:
    """Septets one character takes in GSM 03.38, or None if it has none."""
    if ch in _BASIC_INDEX:
        return 1
    if ch in GSM_EXTENSION:
        return 2
    return None


def septet_length(text: str) -> int | None:
    """Septets the whole text takes, or None when some character is not in GSM 03.38."""
    total = 0
    for ch in text:
        n = septets(ch)
        if n is None:
            return None
        total += n
    return total


def is_gsm(text: str) -> bool:
    return septet_length(text) is not None


def fits_charset(text: str, charset: Charset) -> bool:
    """Whether every character can be sent in this charset (and still reaches the handset as GSM)."""
    if not is_gsm(text):
        return False
    if charset is Charset.LATIN1:
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            return False
    return True


def gsm_encode(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        i = _BASIC_INDEX.get(ch)
        if i is not None:
            out.append(i)
        else:
            out.append(ESC)
            out.append(GSM_EXTENSION[ch])
    return bytes(out)


def gsm_decode(data: bytes) -> str:
    """Unpacked septets to text. An unknown escape shows the basic character (TS 23.038 §6.2.1.1);
    a trailing lone escape is dropped."""
    out = []
    i = 0
    while i < len(data):
        b = data[i] & 0x7F
        if b == ESC:
            if i + 1 < len(data):
                nxt = data[i + 1] & 0x7F
                ext = _EXT_REVERSE.get(nxt)
                out.append(ext if ext is not None else GSM_BASIC[nxt] if nxt != ESC else " ")
            i += 2
            continue
        out.append(GSM_BASIC[b])
        i += 1
    return "".join(out)


def split_gsm(text: str, limit: int) -> list[str]:
    """Split into chunks of at most ``limit`` septets; works on characters, so an escape sequence
    (one character, two septets) can never be cut."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        n = septets(ch)
        if n is None:
            raise ValueError(f"not a GSM 03.38 character: {ch!r}")
        if used + n > limit:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += n
    if current or not parts:
        parts.append("".join(current))
    return parts


def ucs2_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def split_ucs2(text: str, limit: int) -> list[str]:
    """Split into chunks of at most ``limit`` UTF-16 code units, never inside a surrogate pair."""
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        n = ucs2_units(ch)
        if used + n > limit:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += n
    if current or not parts:
        parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class Plan:
    """How a text goes out: its data_coding and the text of each part (one part = one segment)."""

    data_coding: int
    charset: Charset | None  # None for UCS-2
    chunks: tuple[str, ...]

    @property
    def segments(self) -> int:
        return len(self.chunks)

    def encode(self, chunk: str) -> bytes:
        if self.charset is None:
            return chunk.encode("utf-16-be")
        if self.charset is Charset.LATIN1:
            return chunk.encode("latin-1")
        return gsm_encode(chunk)


@functools.lru_cache(maxsize=512)  # one alert's text goes to many recipients
def plan(text: str, *, charset: Charset, dcs: int, concat: Concat, force_ucs2: bool = False) -> Plan:
    """Choose the alphabet and cut the text into segments.

    ``charset`` is how non-UCS-2 text is written; ``dcs`` the data_coding sent with it (0 or 3).
    Any character outside that charset switches the whole message to UCS-2 (dcs 8).
    """
    udh = UDH16_LEN if concat is Concat.UDH16 else UDH8_LEN
    if not force_ucs2 and fits_charset(text, charset):
        length = septet_length(text) or 0
        # the UDH is padded to a whole number of septets: ceil(udh*8/7)
        chunks = [text] if length <= SINGLE_SEPTETS else split_gsm(text, SINGLE_SEPTETS - (udh * 8 + 6) // 7)
        result = Plan(dcs, charset, tuple(chunks))
    else:
        units = sum(ucs2_units(ch) for ch in text)
        chunks = [text] if units <= SINGLE_UCS2_UNITS else split_ucs2(text, (140 - udh) // 2)
        result = Plan(DCS_UCS2, None, tuple(chunks))
    if result.segments > MAX_PARTS:
        raise ValueError(f"text needs {result.segments} segments; at most {MAX_PARTS} can be concatenated")
    return result


@dataclass(frozen=True)
class Segment:
    """One submit_sm worth of content."""

    short_message: bytes
    esm_class: int
    sar: tuple[int, int, int] | None = None  # (ref, total, seq) for the sar_* TLVs
    payload: bytes | None = None  # message_payload TLV (then short_message is empty)


def frame(p: Plan, concat: Concat, ref: int) -> list[Segment]:
    if p.segments == 1 or concat is Concat.PAYLOAD:
        return list(_frame_single(p, concat))  # no reference in it: the same for every recipient
    return _frame(p, concat, ref)


@functools.lru_cache(maxsize=512)
def _frame_single(p: Plan, concat: Concat) -> tuple[Segment, ...]:
    return tuple(_frame(p, concat, 0))


def _frame(p: Plan, concat: Concat, ref: int) -> list[Segment]:
    """The submit_sm contents for a plan. ``ref`` is the concatenation reference (used only when the
    plan has more than one segment): 0–255 for udh8, 0–65535 for udh16 and sar."""
    if concat is Concat.PAYLOAD:
        return [Segment(b"", 0, payload=b"".join(p.encode(c) for c in p.chunks))]
    if p.segments == 1:
        return [Segment(p.encode(p.chunks[0]), 0)]
    total = p.segments
    out = []
    for seq, chunk in enumerate(p.chunks, start=1):
        body = p.encode(chunk)
        if concat is Concat.UDH8:
            out.append(Segment(bytes([5, 0, 3, ref & 0xFF, total, seq]) + body, ESM_UDHI))
        elif concat is Concat.UDH16:
            out.append(
                Segment(bytes([6, 8, 4]) + struct.pack(">H", ref & 0xFFFF) + bytes([total, seq]) + body, ESM_UDHI)
            )
        else:
            out.append(Segment(body, 0, sar=(ref & 0xFFFF, total, seq)))
    return out


def ref_modulus(concat: Concat) -> int:
    return 256 if concat is Concat.UDH8 else 65536


def decode(data: bytes, dcs: int, dcs0_charset: Charset) -> str:
    """Text of a received message body (SMPP 3.4 §5.2.19 data_coding): 0 per the link's charset,
    1 IA5/ASCII, 3 Latin-1, 8 UCS-2 (surrogate pairs allowed, broken ones replaced)."""
    coding = dcs & 0xFF
    if coding == DCS_UCS2:
        if len(data) % 2:
            data = data[:-1]
        return data.decode("utf-16-be", errors="replace")
    if coding == DCS_LATIN1:
        return data.decode("latin-1")
    if coding == 0x01:
        return data.decode("ascii", errors="replace")
    if coding == DCS_DEFAULT or coding & 0xF0 == 0xF0:
        if dcs0_charset is Charset.LATIN1:
            return data.decode("latin-1")
        return gsm_decode(data)
    return data.decode("latin-1")
