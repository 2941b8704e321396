"""What a person's written answer means: acknowledged, declined or neither. Pure, shared by every
channel that takes text answers (SMS replies, e-mail replies); imports nothing of the node.

Rules, in order:
1. The text is folded first: Unicode compatibility decomposition, accents dropped, case folded.
2. Words are runs of letters or runs of digits; punctuation, emoji and spacing separate them.
3. The first word decides: in the acknowledgement list → acknowledged; in the declining list →
   declined (``"OK!"``, ``" yes please"``, ``"1."`` acknowledge, ``"No, sorry"`` declines).
4. Otherwise the whole text, words joined by single spaces, is looked up the same way, so a list
   entry of several words (``"on my way"``) matches an answer that is exactly those words.
5. Anything else is neither: an answer, but not a yes or a no.

The caller decides what text to give: for e-mail, the new text of the reply with the quoted
original stripped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

DEFAULT_ACK = (
    "1",
    "y",
    "yes",
    "ok",
    "okay",
    "ack",
    "acknowledge",
    "acknowledged",
    "accept",
    "confirm",
    "confirmed",
)
DEFAULT_NACK = ("2", "n", "no", "nack", "decline", "declined", "reject", "cancel")
_WORD = re.compile(r"[0-9]+|[^\W\d_]+", re.UNICODE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class ReplyParser:
    """Maps an answer to acknowledged (True), declined (False) or neither (None); see the module's rules."""

    def __init__(self, ack: Iterable[str] = DEFAULT_ACK, nack: Iterable[str] = DEFAULT_NACK) -> None:
        self.ack = {" ".join(_WORD.findall(_fold(w))) for w in ack} - {""}
        self.nack = {" ".join(_WORD.findall(_fold(w))) for w in nack} - {""}

    def parse(self, text: str) -> bool | None:
        words = _WORD.findall(_fold(text))
        if not words:
            return None
        if words[0] in self.ack:
            return True
        if words[0] in self.nack:
            return False
        whole = " ".join(words)
        if whole in self.ack:
            return True
        if whole in self.nack:
            return False
        return None
