"""Answering-machine detection in the worker, batched over its calls (no pjsua2 here).

:class:`AmdListener` feeds one :class:`~alertnode.media.amd.AmdDetector` (a channel per call slot) the
received audio of every call it listens to, and what the node sent on it, one ``(slots, 160)`` batch
per 20 ms tick, as the in-band DTMF detector is fed (node/voice/worker/inband.py); its findings go
back as the voice pipe's AMD events.

Rules:

* A call is listened to from its answer (:meth:`AmdListener.start`, at the call's CONFIRMED state)
  until the detector is done with it (a final human or unknown, or ``listen_ms`` after the answer),
  the node stops it (``AmdStop``: a key proved a person, or the message plays), or the call ends.
  Calls not listened to cost nothing.
* Time is the ticks processed: 20 ms each, one clock for all calls. The conference bridge hands
  every tap a frame each tick, silence included, so the clock runs at the pace of the calls' audio;
  only whole ticks are processed, and a call whose frames stop (hold) is padded with silence once
  another is ``_MAX_LAG`` ticks ahead, as in the in-band detector.
* Sent audio: the frames the call's prompt player transmitted (a second tap, connected from the
  player while the call is listened to), matched tick for tick with the received ones; a tick with
  none is silence. The detector uses it to tell the prompt's echo from the far end's own speech: a
  received frame no louder than :data:`ECHO_MARGIN_DB` below what was sent is taken for echo.
"""

from __future__ import annotations

import collections

import numpy as np

from alertnode.media.amd import AmdBeep, AmdConfig, AmdDecision, AmdDetector, AmdEvent, AmdGreetingEnd
from alertnode.voice import pipe
from alertnode.voice.worker.inband import Finding

FRAME_SAMPLES = 160  # 20 ms at 8 kHz: the tap ports' format (node/voice/worker/pjsua.py)
PTIME_MS = 20.0
# The detector's default (6 dB, a hybrid's least echo loss by ITU-T G.168 with no canceller) also hides a
# greeting spoken 6 dB or more below the prompt, so a machine presumed a person was never found once the
# prompt played: 37 of 57 machines found, against 54 with no prompt (tools/bench/amd_echo.py). Networks
# cancel echo (ITU-T G.131 asks a talker's echo to come back some 40 dB down; G.168 cancellers add 20-30
# dB to the hybrid's loss): at 20 dB the prompt's echo is still never a greeting (no person taken for a
# machine with echo 20 dB or more down) and 52-54 of the 57 machines are found.
ECHO_MARGIN_DB = 20.0


class AmdListener:
    _MAX_LAG = 3

    def __init__(self, slots: int, config: AmdConfig | None = None) -> None:
        self._det = AmdDetector(slots, config or AmdConfig(echo_margin_db=ECHO_MARGIN_DB))
        self._slot_of: dict[str, int] = {}
        self._call_of: dict[int, str] = {}
        self._free = list(range(slots))
        self._rx: dict[str, collections.deque[bytes]] = {}
        self._tx: dict[str, collections.deque[bytes]] = {}
        self._tick_ms = 0.0
        self._rx_batch = np.zeros((slots, FRAME_SAMPLES), dtype=np.int16)
        self._tx_batch = np.zeros((slots, FRAME_SAMPLES), dtype=np.int16)

    # ------------------------------------------------------------------ the call's life

    def start(self, call: str) -> bool:
        """The call was answered: listen to it from now on; False when no slot is left."""
        if call in self._slot_of:
            return True
        if not self._free:
            return False
        slot = self._free.pop(0)
        self._det.start(slot, self._tick_ms)
        self._slot_of[call] = slot
        self._call_of[slot] = call
        self._rx[call] = collections.deque()
        self._tx[call] = collections.deque()
        return True

    def stop(self, call: str) -> None:
        slot = self._slot_of.pop(call, None)
        if slot is None:
            return
        self._det.stop(slot)
        del self._call_of[slot]
        del self._rx[call], self._tx[call]
        self._free.append(slot)

    def listening(self, call: str) -> bool:
        return call in self._slot_of

    # ------------------------------------------------------------------ the Analyser protocol (taps.py)

    def attach(self, call: str) -> bool:
        return True  # listening starts at the answer, not with the media

    def drop(self, call: str) -> None:
        self.stop(call)

    def push(self, call: str, frame: bytes) -> None:
        fifo = self._rx.get(call)
        if fifo is not None and len(frame) == 2 * FRAME_SAMPLES:
            fifo.append(frame)

    def push_sent(self, call: str, frame: bytes) -> None:
        fifo = self._tx.get(call)
        if fifo is not None and len(frame) == 2 * FRAME_SAMPLES:
            fifo.append(frame)

    def run(self) -> list[Finding]:
        """Process every complete tick; the AMD events they caused, in order."""
        out: list[Finding] = []
        while self._rx:
            lengths = [len(f) for f in self._rx.values()]
            if max(lengths) == 0 or (min(lengths) == 0 and max(lengths) < self._MAX_LAG):
                break
            rx, tx = self._rx_batch, self._tx_batch
            rx[:] = 0
            tx[:] = 0
            for call, fifo in self._rx.items():
                slot = self._slot_of[call]
                sent = self._tx[call]
                while len(sent) > len(fifo) + 1:  # sent without a received frame of its tick (hold): stale
                    sent.popleft()
                if fifo:
                    rx[slot] = np.frombuffer(fifo.popleft(), dtype="<i2")
                if sent:
                    tx[slot] = np.frombuffer(sent.popleft(), dtype="<i2")
            for ev in self._det.process(rx, self._tick_ms, tx):
                listened = self._call_of.get(ev.channel)
                if listened is not None:
                    out.append(_event(listened, ev))
            self._tick_ms += PTIME_MS
            for call, slot in list(self._slot_of.items()):
                if not self._det.listening(slot):
                    self.stop(call)  # decided for good (a person, or nobody can tell), or listened long enough
        return out


def _event(call: str, ev: AmdEvent) -> pipe.AmdEvent:
    match ev:
        case AmdDecision():
            return pipe.AmdVerdict(
                call, ev.verdict.value, ev.final, ev.reason.value, ev.after_answer_ms, ev.initial_silence_ms,
                ev.greeting_ms, ev.words, ev.voice_ms, ev.pause_ms, ev.longest_pause_ms,
            )  # fmt: skip
        case AmdBeep():
            return pipe.AmdBeep(call, ev.after_answer_ms, ev.end_ms - ev.start_ms, ev.freq_hz, ev.level_dbm0)
        case AmdGreetingEnd():
            return pipe.AmdGreetingEnd(call, ev.after_answer_ms, ev.silence_ms)
