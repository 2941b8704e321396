"""The worker's tap ports: each call's received audio, fed to the analysers, and its keys, merged.

Rules:

* Taps are made once per worker, after ``libStart``, and live until the conference clock has stopped:
  deleting a port the media thread may be calling into crashes the process (DESIGN.md, "Facts
  learned"). A call borrows one from its first active media until it ends.
* ``on_frame`` runs on the media clock thread and only appends; :meth:`Taps.drain` runs in the main
  loop and feeds every frame to every analyser (the in-band DTMF detector today; a per-call audio
  analyser such as answering-machine detection is one more entry in ``analysers``).
* A key is reported once per press whichever way it came (:class:`DigitDeduper`): RFC 4733 keys come
  in through :meth:`Taps.key`, in-band keys from the detector.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from alertnode.errors import MediaError
from alertnode.voice.pipe import Event, KeyPressed, KeySource
from alertnode.voice.worker import pjsua
from alertnode.voice.worker.inband import Analyser, InbandDtmf, InbandKey
from alertnode.voice.worker.keys import DigitDeduper

log = logging.getLogger(__name__)


class Taps:
    def __init__(
        self,
        slots: int,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
        new_port: Callable[[Taps, int], Any] = pjsua.new_tap,
    ) -> None:
        """``new_port`` makes a tap port (the pjsua2 one; tests give a stand-in)."""
        self._slots = slots
        self._emit = emit
        self._clock = clock
        self._new_port = new_port
        self._taps: list[Any] = []
        self._free: list[Any] = []
        self._by_call: dict[str, Any] = {}
        self._frames: collections.deque[tuple[str, bytes]] = collections.deque()
        self._dedup: dict[str, DigitDeduper] = {}
        self.analysers: list[Analyser] = [InbandDtmf(slots)]

    def make(self) -> None:
        """Create the pool (after ``libStart``)."""
        for i in range(self._slots):
            self._taps.append(self._new_port(self, i))
        self._free = list(self._taps)

    def connect(self, call: str, media: Any) -> None:
        """Listen to ``media`` for ``call``; safe to repeat (a re-INVITE re-checks every connection)."""
        tap = self._by_call.get(call)
        if tap is None and self._free:
            tap = self._free.pop()
            tap.key = call
            self._by_call[call] = tap
            for analyser in self.analysers:
                analyser.attach(call)
        if tap is None:
            return
        try:
            pjsua.connect(media, tap)
        except MediaError as exc:
            log.warning("tap of %s not connected: %s", call, exc)

    def disconnect(self, call: str, media: Any) -> None:
        tap = self._by_call.get(call)
        if tap is not None and media is not None:
            pjsua.disconnect(media, tap)

    def release(self, call: str) -> None:
        """The call is over: its tap goes back to the pool, the analysers forget it."""
        tap = self._by_call.pop(call, None)
        if tap is not None:
            tap.key = None
            self._free.append(tap)
        for analyser in self.analysers:
            analyser.drop(call)
        self._dedup.pop(call, None)

    def on_frame(self, key: str, buf: Any) -> None:
        self._frames.append((key, pjsua.read_frame(buf)))

    def key(self, call: str, digit: str, source: KeySource) -> None:
        dedup = self._dedup.setdefault(call, DigitDeduper())
        if dedup.accept(digit, source, self._clock()):
            self._emit(KeyPressed(call, digit, source))

    def drain(self) -> None:
        if not self._frames:
            return
        analysers = self.analysers
        while self._frames:
            call, data = self._frames.popleft()
            for analyser in analysers:
                analyser.push(call, data)
        for analyser in analysers:
            for finding in analyser.run():
                if isinstance(finding, InbandKey) and finding.call in self._by_call:
                    self.key(finding.call, finding.digit, "inband")

    def clear(self) -> None:
        """Drop every port (only once the conference clock has stopped)."""
        self._by_call.clear()
        self._free.clear()
        self._taps.clear()
