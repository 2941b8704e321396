"""The node's stock prompts: what a call plays when the alert gives no audio of its own.

The files live in the repository's top-level ``audio/`` folder (made by ``tools/gen_audio.py`` from
the texts below; ``audio/README.md`` says how, and their licence) and are installed with the package
(``alertnode/audio``, package data). Each is an 8 kHz µ-law WAV: the prompt cache decodes it like any
other audio prompt, so a stock prompt is prepared, cached and played exactly like an alert's own.

* ``pre``, ``post``, ``done``: the replay IVR's ``additionalContent`` when an alert leaves one out.
  ``post`` names the keys 1 and 2; with other ``ivrSayAgainDigits`` / ``ivrAmOkDigits`` the node
  speaks :func:`post_text` instead (TTS), so the instructions never name a wrong key.
* ``goodbye``: played before the node hangs up on a call whose key wait ended without a key.
* ``tone``: a short beep, played when a key of no digit set is pressed in the replay IVR.

The texts are English: an alert in another language gives its own ``pre``, ``post`` and ``done``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

__all__ = ["STOCK", "StockPrompt", "post_text", "stock_bytes"]


@dataclass(frozen=True)
class StockPrompt:
    name: str
    file: str
    text: str
    """What is said (for a tone: what it is)."""
    voice: str = "en-gb+f3"
    """The espeak-ng voice that speaks it ("" for a tone)."""


STOCK: dict[str, StockPrompt] = {
    p.name: p
    for p in (
        StockPrompt(
            "pre", "pre.wav", "Hello. This is an automated alert call. Please listen to the following message."
        ),
        StockPrompt(
            "post",
            "post.wav",
            "To hear this message again, press 1. To confirm that you have received it, press 2.",
        ),
        StockPrompt("done", "done.wav", "Thank you. Your answer has been recorded. Goodbye."),
        StockPrompt("goodbye", "goodbye.wav", "Goodbye."),
        StockPrompt("tone", "tone.wav", "A beep: 880 Hz for 250 ms.", voice=""),
    )
}

# the keys the stock post prompt names (the reference's defaults of ivrSayAgainDigits and ivrAmOkDigits)
_STOCK_SAY_AGAIN = "1"
_STOCK_OK = "2"


@functools.cache
def stock_bytes(name: str) -> bytes:
    """The WAV file of stock prompt ``name`` (KeyError for a name not in :data:`STOCK`); read once."""
    prompt = STOCK[name]
    return resources.files("alertnode").joinpath("audio", prompt.file).read_bytes()


def post_text(say_again_digits: str, am_ok_digits: str) -> str | None:
    """The text of the replay IVR's post prompt for these keys, or None when the stock file says it
    (the default keys 1 and 2)."""
    if say_again_digits == _STOCK_SAY_AGAIN and am_ok_digits == _STOCK_OK:
        return None
    return f"To hear this message again, press {_keys(say_again_digits)}. " + (
        f"To confirm that you have received it, press {_keys(am_ok_digits)}."
    )


def _keys(digits: str) -> str:
    names = {"*": "star", "#": "hash"}
    spoken = [names.get(d, d) for d in digits.upper()]
    return spoken[0] if len(spoken) == 1 else ", ".join(spoken[:-1]) + " or " + spoken[-1]
