"""Answering-machine rules of one call attempt: what the IVR does with the detector's verdicts.

:class:`AmdRules` is fed the answering-machine detector's findings (the worker runs
:mod:`alertnode.media.amd` on the received audio) and the IVR's own moments (answer, key, timers) and
returns a :class:`Step`: the actions of its own (reports, timers, stopping the detector) and what
the IVR must do (:class:`Do`). It is pure, like the machine that owns it (node/voice/ivr.py).

Rules:

* Only an outbound call whose option (``ivrAnsweringMachine``, else ``voice.answering_machine``) is
  ``hangup`` or ``voicemail`` is listened to; with ``off`` nothing here happens and the prompts start at
  the answer, as they always did.
* Detection never delays a person: the prompts start on the first ``human`` verdict, final or
  presumed (the detector presumes a person by 1.5 s after the answer unless the far end is still
  speaking), and on ``unknown`` (treated as a person, but reported). No verdict within ``amd_decision``
  seconds of the answer (the detector decides within 4 s of audio; a worker that fell behind must not
  keep a person waiting) starts them too, reported as ``unknown`` with reason ``timeout``.
* ``machine`` (always final) comes first, or revises a presumed person while the prompts play: the
  prompts stop. ``hangup``: the call ends and the attempt did not reach the recipient (outcome
  ``machine``, retried while ``ivrAttempts`` are left). ``voicemail``: each beep (re)starts a gap of
  :data:`BEEP_GAP_S` (about 15 % of mailboxes beep twice), after which the message plays once from
  its start; a machine whose greeting fell silent (the detector's greeting end: 2 s of silence) and
  that never beeped gets it then; ``voicemail_wait`` seconds after the answer with neither, the
  call ends as not reached. Once the message plays the detector is stopped.
* A key proves a person: the detector is stopped, later verdicts are ignored, and if nothing plays
  yet (listening, or waiting for a beep) the prompts start.
* A final ``human`` or ``unknown`` ends the detection (the detector stops on its own); only a
  presumed person can still become a machine. Every verdict, beep and greeting end is reported
  (``amd``, ``amd_beep``, ``amd_greeting_end``) with the timings that decided.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from alertnode.voice.ivr_types import (
    Action,
    AmdBeep,
    AmdGreetingEnd,
    AmdVerdict,
    AnsweringMachine,
    CancelTimer,
    Report,
    StartTimer,
    StopListening,
    Timeouts,
)

# About 15 % of mailboxes beep twice, 100-250 ms apart (tools/vectors/amd_corpus.py models them so):
# the message starts this long after the last beep ended.
BEEP_GAP_S = 0.4
TIMERS = ("amd", "beep_gap", "voicemail")


class Do(enum.Enum):
    NOTHING = "nothing"
    PROMPTS = "prompts"
    """Start the IVR's prompts (a person, or nobody can tell)."""
    HANG_UP = "hang_up"
    """A machine, and the recipient was not reached: stop the prompts and hang up."""
    WAIT = "wait"
    """A machine: stop the prompts and wait (for its beep) with nothing playing."""
    MESSAGE = "message"
    """Play the message into the mailbox now."""


@dataclass(frozen=True)
class Step:
    do: Do = Do.NOTHING
    actions: list[Action] = field(default_factory=list)


class _State(enum.Enum):
    OFF = "off"  # not listening (option off, inbound, or not answered yet)
    LISTENING = "listening"  # answered, no verdict yet
    PRESUMED = "presumed"  # a person presumed; the prompts play; may still become a machine
    PERSON = "person"  # final human or unknown, or a key: detection is over
    MACHINE = "machine"  # waiting for the beep (voicemail) or hanging up (hangup)
    MESSAGE = "message"  # the message plays into the mailbox


class AmdRules:
    def __init__(self, mode: AnsweringMachine | None, timeouts: Timeouts) -> None:
        self.mode = mode or AnsweringMachine.OFF
        self.timeouts = timeouts
        self._state = _State.OFF
        self._beeped = False

    @property
    def listens(self) -> bool:
        """The call is to be listened to (the worker starts the detector at the answer)."""
        return self.mode is not AnsweringMachine.OFF

    @property
    def machine(self) -> bool:
        """A machine was heard and acted on."""
        return self._state in (_State.MACHINE, _State.MESSAGE)

    def answered(self) -> Step:
        if not self.listens:
            return Step(Do.PROMPTS)
        self._state = _State.LISTENING
        return Step(Do.NOTHING, [StartTimer("amd", self.timeouts.amd_decision)])

    def verdict(self, ev: AmdVerdict) -> Step:
        if self._state not in (_State.LISTENING, _State.PRESUMED):
            return Step()
        report = Report("amd", {"verdict": ev.verdict, "final": ev.final, "reason": ev.reason, **ev.detail})
        if ev.verdict == "machine":
            self._state = _State.MACHINE
            actions: list[Action] = [CancelTimer("amd"), report]
            if self.mode is not AnsweringMachine.VOICEMAIL:
                return Step(Do.HANG_UP, actions)
            after_s = float(ev.detail.get("after_answer_ms") or 0.0) / 1000
            actions.append(StartTimer("voicemail", max(self.timeouts.voicemail_wait - after_s, 1.0)))
            return Step(Do.WAIT, actions)
        first = self._state is _State.LISTENING
        self._state = _State.PERSON if ev.final else _State.PRESUMED
        if first:
            return Step(Do.PROMPTS, [CancelTimer("amd"), report])
        return Step(Do.NOTHING, [report])

    def _waiting(self) -> bool:
        return self._state is _State.MACHINE and self.mode is AnsweringMachine.VOICEMAIL

    def beep(self, ev: AmdBeep) -> Step:
        if not self._waiting():
            return Step()
        self._beeped = True
        return Step(Do.NOTHING, [Report("amd_beep", dict(ev.detail)), StartTimer("beep_gap", BEEP_GAP_S)])

    def greeting_end(self, ev: AmdGreetingEnd) -> Step:
        if not self._waiting():
            return Step()
        report = Report("amd_greeting_end", dict(ev.detail))
        if self._beeped:  # the message starts after the beep
            return Step(Do.NOTHING, [report])
        return self._message([report])

    def key(self) -> Step:
        """A key was pressed: a person. PROMPTS when nothing plays yet."""
        if self._state in (_State.OFF, _State.PERSON, _State.MESSAGE):
            return Step()
        waiting = self._state in (_State.LISTENING, _State.MACHINE)
        self._state = _State.PERSON
        actions: list[Action] = [StopListening(), *(CancelTimer(name) for name in TIMERS)]
        return Step(Do.PROMPTS if waiting else Do.NOTHING, actions)

    def timer(self, name: str) -> Step:
        if name == "amd" and self._state is _State.LISTENING:
            self._state = _State.PERSON
            detail = {"verdict": "unknown", "final": True, "reason": "timeout"}
            return Step(Do.PROMPTS, [StopListening(), Report("amd", detail)])
        if name == "beep_gap" and self._waiting():
            return self._message([])
        if name == "voicemail" and self._waiting():
            return Step(Do.HANG_UP, [StopListening(), CancelTimer("beep_gap")])
        return Step()

    def _message(self, actions: list[Action]) -> Step:
        self._state = _State.MESSAGE
        return Step(Do.MESSAGE, [*actions, StopListening(), CancelTimer("beep_gap"), CancelTimer("voicemail")])
