"""Prompts of each call, played one after the other into the call's audio.

Rules:

* A prompt starts when the call is connected, its audio media is up (not held) and no prompt plays;
  each that plays to its end reports :class:`~alertnode.voice.pipe.PromptDone` and the next one
  starts. A call whose audio runs at 16 kHz (G.722) gets the prompt's wideband file when there is
  one; the choice is made as each prompt starts.
* A held call has no media: a prompt playing then is left unconnected (the bridge does not clock a
  port nobody listens to, so it pauses) until the call's owner stops it or the media comes back.
* While answering-machine detection listens to a call, its player also transmits into the call's
  sent tap (``monitor``, node/voice/worker/taps.py), so the detector knows what was sent; only while
  the call's media is up, so that a hold still pauses the prompt.
* ``onEof2`` runs on the media clock thread and only enqueues; :meth:`Players.drain` handles the ends
  in the main loop. A generation number per call drops the end of a player stopped meanwhile
  (``onEof2`` may still run after a stop).
* A stopped player is not deleted at once: an ``onEof2`` that began just before the stop may still
  be running, so it is kept ``BURY_AFTER_S`` and deleted in the main loop (DESIGN.md, "Facts
  learned": no port deletion while the clock runs into it).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertnode.errors import MediaError
from alertnode.voice.pipe import Event, PromptDone, PromptFailed
from alertnode.voice.worker import pjsua

log = logging.getLogger(__name__)

BURY_AFTER_S = 0.1


WIDEBAND_RATE = 16000  # G.722 (ITU-T G.722 §1.1)


@dataclass
class _Playback:
    queue: list[tuple[str, str, str]] = field(default_factory=list)
    player: Any = None
    generation: int = 0
    media: Any = None
    rate: int = 0
    live: bool = False
    monitor: Any = None
    """The sent tap the player also transmits into (answering-machine detection)."""


def _no_monitor(call: str) -> Any:
    return None


class Players:
    def __init__(
        self,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
        monitor: Callable[[str], Any] = _no_monitor,
    ) -> None:
        """``monitor(call)``: a port the call's prompt is also sent to, or None."""
        self._emit = emit
        self._clock = clock
        self._monitor = monitor
        self._calls: dict[str, _Playback] = {}
        self._ends: deque[tuple[str, int, str]] = deque()
        self._graveyard: list[tuple[Any, float]] = []

    # ------------------------------------------------------------------ from the call's owner

    def play(self, call: str, prompts: Sequence[tuple[str, str, str]]) -> None:
        """Play ``prompts`` (name, 8 kHz WAV, 16 kHz WAV or "") from the first, cutting what plays now."""
        pb = self._calls.setdefault(call, _Playback())
        pb.queue = list(prompts)
        self._stop(pb)
        self._next(call, pb)

    def stop(self, call: str) -> None:
        pb = self._calls.get(call)
        if pb is not None:
            pb.queue = []
            self._stop(pb)

    def connected(self, call: str) -> None:
        pb = self._calls.setdefault(call, _Playback())
        pb.live = True
        self._next(call, pb)

    def media(self, call: str, media: Any, rate: int) -> None:
        """The call's audio media (after the answer, or again after a re-INVITE) and its codec's clock
        rate: the playing prompt goes there, or the next one starts. None: held, no media. Safe to
        repeat."""
        pb = self._calls.setdefault(call, _Playback())
        pb.media = media
        pb.rate = rate
        if media is None:
            self._unmonitor(pb)
            return
        if pb.player is None:
            self._next(call, pb)
            return
        try:
            pjsua.connect(pb.player, media)
        except MediaError as exc:
            log.warning("prompt of %s not reconnected: %s", call, exc)
        self._watch(call, pb)

    def forget(self, call: str) -> None:
        pb = self._calls.pop(call, None)
        if pb is not None:
            self._stop(pb)

    def stop_all(self) -> None:
        for pb in self._calls.values():
            pb.queue = []
            self._stop(pb)

    # ------------------------------------------------------------------ media thread, main loop

    def on_eof(self, key: str, name: str, generation: int) -> None:
        self._ends.append((key, generation, name))

    def drain(self) -> None:
        while self._ends:
            call, generation, name = self._ends.popleft()
            pb = self._calls.get(call)
            if pb is None or pb.generation != generation or pb.player is None:
                continue
            self._stop(pb)
            self._emit(PromptDone(call, name))
            self._next(call, pb)

    def bury(self) -> None:
        if self._graveyard:
            cutoff = self._clock() - BURY_AFTER_S
            self._graveyard = [(obj, t) for obj, t in self._graveyard if t > cutoff]

    def clear(self) -> None:
        """Drop every player (only once the conference clock has stopped)."""
        self._calls.clear()
        self._graveyard.clear()

    # ------------------------------------------------------------------ internals

    def _next(self, call: str, pb: _Playback) -> None:
        if pb.player is not None or not pb.queue or pb.media is None or not pb.live:
            return
        name, narrow, wide = pb.queue.pop(0)
        path = wide if wide and pb.rate >= WIDEBAND_RATE else narrow
        pb.generation += 1
        player = pjsua.new_player(self, call, name, pb.generation)
        try:
            pjsua.open_player(player, path)
            pjsua.connect(player, pb.media)
        except MediaError as exc:
            self._graveyard.append((player, self._clock()))
            self._emit(PromptFailed(call, name, str(exc)))
            return
        pb.player = player
        self._watch(call, pb)

    def _watch(self, call: str, pb: _Playback) -> None:
        """Send the prompt to the call's monitor too, if it has one now."""
        monitor = self._monitor(call)
        if monitor is None or pb.player is None or monitor is pb.monitor:
            return
        self._unmonitor(pb)
        try:
            pjsua.connect(pb.player, monitor)
        except MediaError as exc:
            log.debug("prompt of %s not monitored: %s", call, exc)
            return
        pb.monitor = monitor

    def _unmonitor(self, pb: _Playback) -> None:
        if pb.monitor is not None and pb.player is not None:
            pjsua.disconnect(pb.player, pb.monitor)
        pb.monitor = None

    def _stop(self, pb: _Playback) -> None:
        if pb.player is None:
            return
        self._unmonitor(pb)
        if pb.media is not None:
            pjsua.disconnect(pb.player, pb.media)
        # deleted later in the main loop, never inside a media callback
        self._graveyard.append((pb.player, self._clock()))
        pb.player = None
        pb.generation += 1
