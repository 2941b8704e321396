"""One key press, one report: merging the RFC 4733 and in-band reports of a call (pure)."""

from __future__ import annotations


class DigitDeduper:
    """One key press is reported once even when it arrives both as an RFC 4733 event and in-band.

    A digit from one source is dropped when the same digit came from the other source less than
    ``window`` seconds earlier. Repeats from the same source always pass: each source already
    reports a press once (RFC 4733 events by their timestamp, the detector by tone on/off)."""

    def __init__(self, window: float = 0.6) -> None:
        self.window = window
        self._last: dict[str, tuple[str, float]] = {}

    def accept(self, digit: str, source: str, now: float) -> bool:
        last = self._last.get(digit)
        if last is not None and last[0] != source and now - last[1] < self.window:
            return False
        self._last[digit] = (source, now)
        return True
