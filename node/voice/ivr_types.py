"""The values an IVR machine (node/voice/ivr.py) takes and gives: its options, time-outs, the events it
is fed, the actions it returns, and its phases. Frozen dataclasses and enums, no behaviour.

Events come from the call (through the worker and node/voice/legs.py) or from the node (Start,
Cancelled, TimerFired); actions go back the same way (worker commands, timers, reports).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.contract.sendalert import IvrControl


class IvrType(enum.StrEnum):
    SIMPLE = "simple"
    REPLAY = "replay"


class AnsweringMachine(enum.StrEnum):
    """What an outbound call does when answering-machine detection hears a machine
    (``ivrAnsweringMachine``; node/voice/ivr_amd.py)."""

    OFF = "off"
    """No detection: the prompts start at the answer."""
    HANGUP = "hangup"
    """Hang up; the attempt did not reach the recipient (retried while ``ivrAttempts`` are left)."""
    VOICEMAIL = "voicemail"
    """Wait for the beep and leave the message once (``voicemail_left``)."""


@dataclass(frozen=True)
class IvrOptions:
    """``ivrControl``, already validated by the contract (:class:`~alertnode.contract.sendalert.IvrControl`
    is the one place its rules live), with the reference's defaults. Keys are upper case (the
    contract takes a-d too; pjsua and the in-band detector report A-D)."""

    ivr_type: IvrType = IvrType.SIMPLE
    attempts: int = 1
    require_full_play: bool = False
    require_response: bool = False
    say_again_digits: str = "1"
    am_ok_digits: str = "2"
    am_not_ok_digits: str = "*"
    digits_stop_play: bool = False
    repeat_pre_prompt: bool = False
    answering_machine: AnsweringMachine | None = None
    """None: the node's default (``voice.answering_machine``), which the channel fills in."""

    @classmethod
    def from_model(cls, model: IvrControl | None) -> IvrOptions:
        if model is None:
            return cls()
        return cls(
            ivr_type=IvrType(model.ivrType),
            attempts=model.ivrAttempts,
            require_full_play=model.ivrRequireFullPlay,
            require_response=model.ivrRequireResponse,
            say_again_digits=model.ivrSayAgainDigits.upper(),
            am_ok_digits=model.ivrAmOkDigits.upper(),
            am_not_ok_digits=model.ivrAmNotOkDigits.upper(),
            digits_stop_play=model.ivrDigitsStopPlay,
            repeat_pre_prompt=model.ivrRepeatPrePrompt,
            answering_machine=AnsweringMachine(model.ivrAnsweringMachine) if model.ivrAnsweringMachine else None,
        )

    @classmethod
    def from_params(cls, raw: Mapping[str, Any] | None) -> IvrOptions:
        """From a delivery's stored ``ivrControl`` (the contract model's dump at intake). Raises
        ValueError if it is not one (a stored item altered or corrupt)."""
        if raw is None:
            return cls()
        return cls.from_model(IvrControl.model_validate(dict(raw)))


@dataclass(frozen=True)
class Timeouts:
    ring: float = 45.0
    key_wait: float = 10.0
    total: float = 300.0
    retry_interval: float = 60.0
    amd_decision: float = 6.0
    """No verdict of the answering-machine detector this long after the answer: the prompts start (it
    decides within 4 s of audio; a worker that fell behind must not keep a person waiting)."""
    voicemail_wait: float = 60.0
    """A machine neither beeped nor fell silent this long after the answer: not reached."""


# ---------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Start:
    """Begin the attempt."""


@dataclass(frozen=True)
class Ringing:
    pass


@dataclass(frozen=True)
class Answered:
    pass


@dataclass(frozen=True)
class CallEnded:
    """The call is over. ``sip_code`` is the final response for a call never answered (486 busy,
    408/480/487 no answer, others failed) or 200 for an answered call; ``by_remote`` says whether the
    far end hung up an answered call (False when the node hung up)."""

    sip_code: int
    by_remote: bool = True
    reason: str = ""
    expired: bool = False
    """The node ended an answered call whose far end went silent (no session refresh, RFC 4028 §10)."""


@dataclass(frozen=True)
class WorkerLost:
    """The process carrying the call died; the call is gone."""


@dataclass(frozen=True)
class PromptFinished:
    prompt: str
    """The prompt's name; playback that was stopped does not produce this event."""


@dataclass(frozen=True)
class Digit:
    digit: str
    source: str = "rfc4733"
    """rfc4733, info (SIP INFO) or inband."""


@dataclass(frozen=True)
class Held:
    """The far end put the call on hold (a re-INVITE or UPDATE with ``sendonly`` or ``inactive``):
    nothing the node plays is heard until :class:`Resumed`."""

    how: str = "sendonly"


@dataclass(frozen=True)
class Resumed:
    """The far end took the call off hold: audio flows both ways again."""


@dataclass(frozen=True)
class AmdVerdict:
    """The answering-machine detector's verdict: ``human`` (``final`` False: presumed, may still become
    ``machine``), ``machine`` (always final) or ``unknown``; ``detail`` holds the reason and the
    timings that decided (ms: after_answer, initial_silence, greeting, voice, pause, longest_pause;
    words)."""

    verdict: str
    final: bool
    reason: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AmdBeep:
    """A voicemail beep ended (when a mailbox starts recording); ``detail``: after_answer_ms, freq_hz,
    length_ms, level_dbm0."""

    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AmdGreetingEnd:
    """After a machine verdict, the greeting has been silent for 2 s (a mailbox whose beep was not
    heard, or that has none); ``detail``: after_answer_ms, silence_ms."""

    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cancelled:
    """The alert was cancelled: end the attempt now, whatever its phase."""


@dataclass(frozen=True)
class TimerFired:
    name: str


Event = (
    Start | Ringing | Answered | CallEnded | WorkerLost | PromptFinished | Digit | Held | Resumed | Cancelled
    | TimerFired | AmdVerdict | AmdBeep | AmdGreetingEnd
)


# --------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class PlaceCall:
    attempt: int
    listen: bool = False
    """Run answering-machine detection once the call is answered."""


@dataclass(frozen=True)
class PlayPrompts:
    """Play these prompts one after the other (each reports :class:`PromptFinished`)."""

    prompts: tuple[str, ...]


@dataclass(frozen=True)
class StopPlayback:
    pass


@dataclass(frozen=True)
class HangUp:
    pass


@dataclass(frozen=True)
class StopListening:
    """Stop the answering-machine detector of the call (a key proved a person, or the message plays)."""


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class Report:
    """Something to tell the alert's owner: ``kind`` is one of ringing, answered, busy, no_answer,
    failed, prompt_played, prompt_cut, key, invalid_key, say_again, key_timeout, recipientOk,
    recipientNotOk, held, resumed, hung_up, session_expired, call_timeout, lost, amd, amd_beep,
    amd_greeting_end, voicemail_left."""

    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttemptEnded:
    attempt: int
    success: bool
    outcome: str
    """answered, full_play, response, recipientOk, recipientNotOk, voicemail_left, busy, no_answer,
    failed, not_full_play, no_response, machine, lost, cancelled."""
    retry_after: float | None
    """Seconds until the next attempt; None when this attempt's result is final (:class:`Finished`
    follows)."""


class FinalResult(enum.StrEnum):
    ANSWERED = "answered"
    RESPONDED = "responded"
    FAILED = "failed"


@dataclass(frozen=True)
class Finished:
    result: FinalResult
    outcome: str
    attempts: int
    response: str | None = None
    """The key, or recipientOk / recipientNotOk."""
    sip_code: int | None = None


Action = (
    PlaceCall | PlayPrompts | StopPlayback | HangUp | StopListening | StartTimer | CancelTimer | Report | AttemptEnded
    | Finished
)


class Phase(enum.Enum):
    IDLE = "idle"
    DIALLING = "dialling"
    SCREENING = "screening"
    """Answered; the answering-machine detector listens, nothing plays yet."""
    PLAYING = "playing"
    WAITING_KEY = "waiting_key"
    DONE_PROMPT = "done_prompt"
    """The closing prompt plays (``done`` after an answer, ``goodbye`` after no key); its end hangs up."""
    MACHINE = "machine"
    """A machine answered; waiting for its beep (or its greeting's end) to leave the message."""
    MESSAGE = "message"
    """The message plays into a mailbox."""
    HANGING_UP = "hanging_up"
    DONE = "done"
