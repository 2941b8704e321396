"""The worker's tap ports: each call's received audio, fed to the analysers, and its keys, merged.

Rules:

* Taps are made once per worker, after ``libStart``, and live until the conference clock has stopped:
  deleting a port the media thread may be calling into crashes the process (DESIGN.md, "Facts
  learned"). A call borrows one from its first active media until it ends.
* ``on_frame`` runs on the media clock thread and only appends; :meth:`Taps.drain` runs in the main
  loop and feeds every frame to every analyser: the in-band DTMF detector and answering-machine
  detection (node/voice/worker/amd.py), whose events it sends on.
* Answering-machine detection runs for calls placed with it (:meth:`Taps.want_amd`), from the answer
  (:meth:`Taps.amd_start`) until it is done or stopped. Such a call also borrows a *sent* tap: the
  call's prompt player transmits into it while the call is listened to
  (:meth:`Taps.sent_port`, node/voice/worker/players.py), so the detector knows what the node sent
  in each tick.
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
from alertnode.voice.worker.amd import AmdListener
from alertnode.voice.worker.inband import Analyser, InbandDtmf, InbandKey
from alertnode.voice.worker.keys import DigitDeduper

log = logging.getLogger(__name__)


class Taps:
    def __init__(
        self,
        slots: int,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
        new_port: Callable[[pjsua.TapHost, int], Any] = pjsua.new_tap,
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
        self.amd = AmdListener(slots)
        self.analysers: list[Analyser] = [InbandDtmf(slots), self.amd]
        self._amd_calls: set[str] = set()
        self._sent_host = _SentHost(self)
        self._sent_taps: list[Any] = []
        self._sent_free: list[Any] = []
        self._sent_by_call: dict[str, Any] = {}
        self._sent: collections.deque[tuple[str, bytes]] = collections.deque()

    def make(self) -> None:
        """Create the pool (after ``libStart``)."""
        for i in range(self._slots):
            self._taps.append(self._new_port(self, i))
            self._sent_taps.append(self._new_port(self._sent_host, self._slots + i))
        self._free = list(self._taps)
        self._sent_free = list(self._sent_taps)

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
        """The call is over: its taps go back to the pool, the analysers forget it."""
        tap = self._by_call.pop(call, None)
        if tap is not None:
            tap.key = None
            self._free.append(tap)
        sent = self._sent_by_call.pop(call, None)
        if sent is not None:
            sent.key = None
            self._sent_free.append(sent)
        self._amd_calls.discard(call)
        for analyser in self.analysers:
            analyser.drop(call)
        self._dedup.pop(call, None)

    def on_frame(self, key: str, buf: Any) -> None:
        self._frames.append((key, pjsua.read_frame(buf)))

    def on_sent(self, key: str, buf: Any) -> None:
        self._sent.append((key, pjsua.read_frame(buf)))

    # ------------------------------------------------------------------ answering machines

    def want_amd(self, call: str) -> None:
        """``call`` is placed with answering-machine detection (it starts at the answer)."""
        self._amd_calls.add(call)

    def amd_start(self, call: str) -> None:
        """The call was answered: listen for a machine, if it was placed so."""
        if call not in self._amd_calls or not self.amd.start(call):
            return
        if call not in self._sent_by_call and self._sent_free:
            sent = self._sent_free.pop()
            sent.key = call
            self._sent_by_call[call] = sent

    def amd_stop(self, call: str) -> None:
        self.amd.stop(call)

    def sent_port(self, call: str) -> Any:
        """The port the call's prompt player also transmits into while its audio is listened to; None
        otherwise."""
        return self._sent_by_call.get(call) if self.amd.listening(call) else None

    def key(self, call: str, digit: str, source: KeySource) -> None:
        dedup = self._dedup.setdefault(call, DigitDeduper())
        if dedup.accept(digit, source, self._clock()):
            self._emit(KeyPressed(call, digit, source))

    def drain(self) -> None:
        while self._sent:  # before the received frames: a tick's sent frame is there when it is processed
            call, data = self._sent.popleft()
            self.amd.push_sent(call, data)
        if not self._frames:
            return
        analysers = self.analysers
        while self._frames:
            call, data = self._frames.popleft()
            for analyser in analysers:
                analyser.push(call, data)
        for analyser in analysers:
            for finding in analyser.run():
                if isinstance(finding, InbandKey):
                    if finding.call in self._by_call:
                        self.key(finding.call, finding.digit, "inband")
                else:
                    self._emit(finding)

    def clear(self) -> None:
        """Drop every port (only once the conference clock has stopped)."""
        self._by_call.clear()
        self._free.clear()
        self._taps.clear()
        self._sent_by_call.clear()
        self._sent_free.clear()
        self._sent_taps.clear()


class _SentHost:
    """The host of the sent taps: their frames go to the answering-machine detector as sent audio."""

    def __init__(self, taps: Taps) -> None:
        self._taps = taps

    def on_frame(self, key: str, buf: Any) -> None:
        self._taps.on_sent(key, buf)
