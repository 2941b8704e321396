"""Per-call analysis of received audio, batched across the calls of a worker (no pjsua2 here).

An :class:`Analyser` takes the 20 ms frames of every call it is attached to and, once per main-loop
round, processes what arrived as few numpy computations as it can, returning findings per call. The
in-band DTMF detector is here; answering-machine detection (node/voice/worker/amd.py) plugs in the
same way (:class:`~alertnode.voice.worker.taps.Taps` feeds every analyser every frame).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from alertnode.media.dtmf import DtmfDetector, DtmfEventKind
from alertnode.voice.pipe import AmdEvent

FRAME_SAMPLES = 160  # 20 ms at 8 kHz (ITU-T G.711 framing)
PTIME_MS = 20


@dataclass(frozen=True)
class InbandKey:
    """A key's tone began on this call (one per press, DESIGN.md "DTMF detection")."""

    call: str
    digit: str


Finding = InbandKey | AmdEvent
"""A key's tone (the taps report it once per press), or an answering-machine event (sent on as it is)."""


class Analyser(Protocol):
    def attach(self, call: str) -> bool:
        """Start analysing ``call``; False when no room is left."""

    def drop(self, call: str) -> None:
        """Stop analysing ``call`` and forget its state."""

    def push(self, call: str, frame: bytes) -> None:
        """One received frame (16-bit little-endian PCM, :data:`FRAME_SAMPLES` samples)."""

    def run(self) -> list[Finding]:
        """Process what was pushed; return what was found, in order."""


class InbandDtmf:
    """Feeds the received audio of all calls of a tick as one (slots, 160) batch to the detector.

    The conference bridge hands every port its frame in the same clock tick, so after a drain the
    calls usually hold the same number of frames. Only whole ticks are processed; a call whose
    frames stop (hold, media gone) is padded with silence once another call is ``_MAX_LAG`` frames
    ahead, which bounds the delay of a key."""

    _MAX_LAG = 3

    def __init__(self, slots: int) -> None:
        self._det = DtmfDetector(slots)
        self._slot_of: dict[str, int] = {}
        self._free = list(range(slots))
        self._fifo: dict[str, collections.deque[bytes]] = {}
        self._tick_ms = 0.0
        self._batch = np.zeros((slots, FRAME_SAMPLES), dtype=np.int16)

    def attach(self, call: str) -> bool:
        if call in self._slot_of:
            return True
        if not self._free:
            return False
        slot = self._free.pop(0)
        self._det.reset(slot)
        self._slot_of[call] = slot
        self._fifo[call] = collections.deque()
        return True

    def drop(self, call: str) -> None:
        slot = self._slot_of.pop(call, None)
        self._fifo.pop(call, None)
        if slot is not None:
            self._free.append(slot)

    def push(self, call: str, frame: bytes) -> None:
        fifo = self._fifo.get(call)
        if fifo is not None and len(frame) == 2 * FRAME_SAMPLES:
            fifo.append(frame)

    def run(self) -> list[Finding]:
        """Process every complete tick; one :class:`InbandKey` for each digit that started."""
        out: list[Finding] = []
        while self._fifo:
            lengths = [len(f) for f in self._fifo.values()]
            if max(lengths) == 0 or (min(lengths) == 0 and max(lengths) < self._MAX_LAG):
                break
            batch = self._batch
            batch[:] = 0
            for call, fifo in self._fifo.items():
                if fifo:
                    batch[self._slot_of[call]] = np.frombuffer(fifo.popleft(), dtype="<i2")
            by_slot = {slot: call for call, slot in self._slot_of.items()}
            for ev in self._det.process(batch, self._tick_ms):
                if ev.kind is DtmfEventKind.START and ev.channel in by_slot:
                    out.append(InbandKey(by_slot[ev.channel], ev.digit))
            self._tick_ms += PTIME_MS
        return out
