"""Mobile-originated messages: concatenation reassembly (UDH 8/16-bit, SAR TLVs) and decoding (the
reply keywords are read by :mod:`alertnode.answers`, shared with e-mail).

Pure: fed parts with the time they arrived, returns whole messages. A message whose parts do not all
arrive within ``timeout`` is handed out incomplete (flagged) rather than dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from alertnode.sms import gsm

IE_CONCAT8 = 0x00  # 3GPP TS 23.040 §9.2.3.24.1
IE_CONCAT16 = 0x08  # 3GPP TS 23.040 §9.2.3.24.8


@dataclass(frozen=True)
class Concat:
    ref: int
    total: int
    seq: int


def split_udh(data: bytes) -> tuple[Concat | None, bytes]:
    """Concatenation info from a user data header, and the body after the header."""
    if not data:
        return None, data
    udhl = data[0]
    header, body = data[1 : 1 + udhl], data[1 + udhl :]
    concat = None
    i = 0
    while i + 2 <= len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + length]
        if iei == IE_CONCAT8 and length == 3 and len(value) == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == IE_CONCAT16 and length == 4 and len(value) == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + length
    return concat, body


@dataclass(frozen=True)
class MoPart:
    source: str
    destination: str
    data_coding: int
    body: bytes  # without UDH
    concat: Concat | None
    at: float
    link: str = ""


@dataclass(frozen=True)
class MoMessage:
    source: str
    destination: str
    text: str
    at: float
    parts: int
    complete: bool = True
    link: str = ""


@dataclass
class _Pending:
    first_at: float
    total: int
    parts: dict[int, MoPart] = field(default_factory=dict)


class Reassembler:
    def __init__(self, dcs0_charset: gsm.Charset, timeout: float = 300.0) -> None:
        self.dcs0_charset = dcs0_charset
        self.timeout = timeout
        self._pending: dict[tuple[str, str, int, int], _Pending] = {}

    def feed(self, part: MoPart) -> list[MoMessage]:
        out = self.expire(part.at)
        c = part.concat
        if c is None or c.total <= 1:
            out.append(MoMessage(part.source, part.destination, self._text([part]), part.at, 1, True, part.link))
            return out
        key = (part.source, part.destination, c.ref, c.total)
        pending = self._pending.setdefault(key, _Pending(part.at, c.total))
        pending.parts.setdefault(c.seq, part)
        if len(pending.parts) >= c.total:
            del self._pending[key]
            out.append(self._join(pending, part.at, complete=True))
        return out

    def expire(self, now: float) -> list[MoMessage]:
        out = []
        for key, pending in list(self._pending.items()):
            if now - pending.first_at >= self.timeout:
                del self._pending[key]
                out.append(self._join(pending, now, complete=False))
        return out

    def _join(self, pending: _Pending, at: float, complete: bool) -> MoMessage:
        parts = [pending.parts[k] for k in sorted(pending.parts)]
        first = parts[0]
        return MoMessage(first.source, first.destination, self._text(parts), at, len(parts), complete, first.link)

    def _text(self, parts: Iterable[MoPart]) -> str:
        parts = list(parts)
        # bytes are joined before decoding: a sender that cut a surrogate pair or an escape still decodes
        return gsm.decode(b"".join(p.body for p in parts), parts[0].data_coding, self.dcs0_charset)
