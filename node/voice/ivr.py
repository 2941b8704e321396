"""The IVRs of the reference (``ivrType`` simple and replay) as pure machines, one call attempt each.

One :class:`IvrMachine` follows one attempt of one recipient of a ``call`` item (or one inbound
call). It is fed :class:`Event` values with the current time and returns :class:`Action` values; it
never touches pjsua2, asyncio or the clock. The channel turns actions into worker commands and timers.

Rules every transition follows:

* The attempt begins with :class:`PlaceCall` and a ``ring`` timer; it ends when the call is over
  (busy, no answer, failed, hung up by either side, or the worker lost it) with one
  :class:`AttemptEnded`, after which the machine is done and ignores every event.
* Retries are not the machine's: an attempt that reached none of the success states says when the
  next one should be made (``AttemptEnded.retry_after``, the ``retry_interval``) while fewer than
  ``ivrAttempts`` attempts were made; the channel hands the delivery back to the dispatcher with it,
  so a waiting recipient holds no call slot, survives a restart and may be taken by another node.
  Otherwise the recipient's result is final (:class:`Finished`).
* A ``total`` timer bounds every answered call; a ``keywait`` timer bounds the wait for a key after
  the prompts were played.
* Everything observable is reported (:class:`Report`), once, in the order it happened.

Success states (reference, "Available IVRs"):

* simple: the call reached the connected state; with ``ivrRequireFullPlay`` the whole prompt was
  played before the callee hung up; with ``ivrRequireResponse`` the callee pressed a key.
* replay: the callee pressed an ``ivrAmOkDigits`` key (``recipientOk``) or an ``ivrAmNotOkDigits``
  key (``recipientNotOk``); both are answers, so neither is retried.

Choices where the reference is silent (documented for users in the OpenAPI description):

* simple IVR, key during the prompt with ``ivrRequireResponse``: the key is the response; playback
  stops and the call ends at once, unless ``ivrRequireFullPlay`` asks for the whole prompt first.
* replay IVR with ``ivrDigitsStopPlay`` false: a key pressed while prompts play does not interrupt
  them; the last such key is acted on when the prompts have finished.
* replay IVR, a key in no digit set (only possible when ``ivrAmNotOkDigits`` is not ``*``): ignored.
* replay IVR, no key within the key wait: the prompts are played once more (counting as a
  say-again), then the call ends if still no key comes.
* A call lost because its worker process died does not use up the attempt: it is placed again at
  once, at most :data:`MAX_LOST_REDIALS` times per attempt. A response given before the loss stands
  (the attempt ends as if the call had been hung up then). An inbound call cannot be placed again
  (``redial_lost`` false): its attempt ends as ``lost``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alertnode.contract.sendalert import IvrControl

MAX_LOST_REDIALS = 2
# A replay IVR plays its prompts at most this often when nobody answers them (first play + one
# automatic repeat on key-wait time-out).
_REPLAY_AUTO_REPEATS = 1


class IvrType(enum.StrEnum):
    SIMPLE = "simple"
    REPLAY = "replay"


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


@dataclass(frozen=True)
class TimerFired:
    name: str


Event = Start | Ringing | Answered | CallEnded | WorkerLost | PromptFinished | Digit | TimerFired


# --------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class PlaceCall:
    attempt: int


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
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class Report:
    """Something to tell the alert's owner: ``kind`` is one of ringing, answered, busy, no_answer,
    failed, prompt_played, prompt_cut, key, say_again, key_timeout, recipientOk, recipientNotOk,
    hung_up, call_timeout, lost."""

    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttemptEnded:
    attempt: int
    success: bool
    outcome: str
    """answered, full_play, response, recipientOk, recipientNotOk, busy, no_answer, failed,
    not_full_play, no_response, lost."""
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


Action = PlaceCall | PlayPrompts | StopPlayback | HangUp | StartTimer | CancelTimer | Report | AttemptEnded | Finished


class Phase(enum.Enum):
    IDLE = "idle"
    DIALLING = "dialling"
    PLAYING = "playing"
    WAITING_KEY = "waiting_key"
    DONE_PROMPT = "done_prompt"
    HANGING_UP = "hanging_up"
    DONE = "done"


# RFC 3261 §21.4.9 / §21.6.2 busy, §21.4.18/§21.4.14/§21.4.24 no answer (480 temporarily unavailable,
# 408 request timeout, 487 cancelled by our ring timer).
_BUSY = frozenset({486, 600})
_NO_ANSWER = frozenset({408, 480, 487})


class IvrMachine:
    """One attempt of one recipient, both IVR types."""

    def __init__(self, options: IvrOptions, timeouts: Timeouts, attempt: int = 1, redial_lost: bool = True) -> None:
        """``attempt`` counts this recipient's attempts, this one included (the dispatcher counts
        them across hand-backs); ``redial_lost`` false: a lost call cannot be placed again."""
        self.options = options
        self.timeouts = timeouts
        self.phase = Phase.IDLE
        self.attempt = max(attempt, 1)
        self._redial_lost = redial_lost
        self._lost = 0
        self._answered = False
        self._queue: tuple[str, ...] = ()
        self._main_done = False
        self._pending_key: str | None = None
        self._response: str | None = None
        self._outcome_key: str | None = None
        self._auto_repeats = 0

    # ------------------------------------------------------------------ public

    @property
    def done(self) -> bool:
        """The attempt is over (AttemptEnded was returned)."""
        return self.phase is Phase.DONE

    def handle(self, event: Event, now: float) -> list[Action]:
        """Feed one event; ``now`` is the event's time (kept for symmetry with other machines)."""
        del now  # timing lives in timers; events carry no clock-dependent rules
        if self.phase is Phase.DONE:
            return []
        match event:
            case Start():
                return self._place() if self.phase is Phase.IDLE else []
            case Ringing():
                return [Report("ringing")] if self.phase is Phase.DIALLING else []
            case Answered():
                return self._on_answered()
            case CallEnded():
                return self._on_ended(event)
            case WorkerLost():
                return self._on_lost()
            case PromptFinished():
                return self._on_prompt_finished(event.prompt)
            case Digit():
                return self._on_digit(event)
            case TimerFired():
                return self._on_timer(event.name)
        return []

    # ------------------------------------------------------------------ the attempt

    def _place(self) -> list[Action]:
        self._answered = False
        self._queue = ()
        self._main_done = False
        self._pending_key = None
        self._auto_repeats = 0
        self.phase = Phase.DIALLING
        return [PlaceCall(self.attempt), StartTimer("ring", self.timeouts.ring)]

    def _on_answered(self) -> list[Action]:
        if self.phase is not Phase.DIALLING:
            return []
        self._answered = True
        actions: list[Action] = [
            CancelTimer("ring"),
            Report("answered", {"attempt": self.attempt}),
            StartTimer("total", self.timeouts.total),
        ]
        if self.options.ivr_type is IvrType.SIMPLE:
            return actions + self._play(("main",))
        return actions + self._play(("pre", "main", "post"))

    def _play(self, prompts: tuple[str, ...]) -> list[Action]:
        self.phase = Phase.PLAYING
        self._queue = prompts
        return [PlayPrompts(prompts)]

    def _hang_up(self) -> list[Action]:
        self.phase = Phase.HANGING_UP
        return [CancelTimer("keywait"), HangUp()]

    def _on_lost(self) -> list[Action]:
        if self.phase is Phase.IDLE:
            return []
        actions: list[Action] = [
            CancelTimer("ring"),
            CancelTimer("total"),
            CancelTimer("keywait"),
            Report("lost", {"attempt": self.attempt}),
        ]
        if self._response is not None:
            return actions + self._end_attempt(self._answered_outcome(), code=None)
        if self._redial_lost and self._lost < MAX_LOST_REDIALS:
            self._lost += 1
            return actions + self._place()
        return actions + self._end_attempt("lost", code=None)

    def _on_ended(self, event: CallEnded) -> list[Action]:
        if self.phase is Phase.IDLE:
            return []
        actions: list[Action] = [CancelTimer("ring"), CancelTimer("total"), CancelTimer("keywait")]
        if not self._answered:
            code = event.sip_code
            if code in _BUSY:
                actions.append(Report("busy", {"sip_code": code, "attempt": self.attempt}))
                return actions + self._end_attempt("busy", code)
            if code in _NO_ANSWER:
                actions.append(Report("no_answer", {"sip_code": code, "attempt": self.attempt}))
                return actions + self._end_attempt("no_answer", code)
            actions.append(Report("failed", {"sip_code": code, "reason": event.reason, "attempt": self.attempt}))
            return actions + self._end_attempt("failed", code)
        if self.phase is Phase.PLAYING and self._queue:
            actions.append(Report("prompt_cut", {"prompt": self._queue[0], "attempt": self.attempt}))
        if event.by_remote:
            actions.append(Report("hung_up", {"attempt": self.attempt}))
        return actions + self._end_attempt(self._answered_outcome(), 200)

    def _answered_outcome(self) -> str:
        """The outcome of an answered call that has ended (see the module docstring)."""
        opts = self.options
        if opts.ivr_type is IvrType.REPLAY:
            return self._outcome_key or "no_response"
        if opts.require_full_play and not self._main_done:
            return "not_full_play"
        if opts.require_response and self._outcome_key is None:
            return "no_response"
        if opts.require_response:
            return "response"
        return "full_play" if opts.require_full_play else "answered"

    def _end_attempt(self, outcome: str, code: int | None) -> list[Action]:
        success = outcome in ("answered", "full_play", "response", "recipientOk", "recipientNotOk")
        self.phase = Phase.DONE
        if not success and self.attempt < self.options.attempts:
            return [AttemptEnded(self.attempt, False, outcome, self.timeouts.retry_interval)]
        result = FinalResult.FAILED
        if success:
            result = FinalResult.RESPONDED if self._response is not None else FinalResult.ANSWERED
        return [
            AttemptEnded(self.attempt, success, outcome, None),
            Finished(result, outcome, self.attempt, self._response if success else None, code),
        ]

    # ------------------------------------------------------------------ prompts and keys

    def _on_prompt_finished(self, prompt: str) -> list[Action]:
        if self.phase is Phase.DONE_PROMPT and prompt == "done":
            return [Report("prompt_played", {"prompt": prompt}), *self._hang_up()]
        if self.phase is not Phase.PLAYING or not self._queue or self._queue[0] != prompt:
            return []
        self._queue = self._queue[1:]
        actions: list[Action] = [Report("prompt_played", {"prompt": prompt})]
        if prompt == "main":
            self._main_done = True
        if self._queue:
            return actions
        # the sequence is over
        if self.options.ivr_type is IvrType.SIMPLE:
            if self.options.require_response and self._outcome_key is None:
                self.phase = Phase.WAITING_KEY
                return [*actions, StartTimer("keywait", self.timeouts.key_wait)]
            return actions + self._hang_up()
        if self._pending_key is not None:
            key, self._pending_key = self._pending_key, None
            return actions + self._replay_key(key)
        self.phase = Phase.WAITING_KEY
        return [*actions, StartTimer("keywait", self.timeouts.key_wait)]

    def _on_digit(self, event: Digit) -> list[Action]:
        if self.phase not in (Phase.PLAYING, Phase.WAITING_KEY, Phase.DONE_PROMPT):
            return []
        actions: list[Action] = [Report("key", {"digit": event.digit, "source": event.source})]
        if self.phase is Phase.DONE_PROMPT:
            return actions
        if self.options.ivr_type is IvrType.SIMPLE:
            return actions + self._simple_key(event.digit)
        if self.phase is Phase.PLAYING and not self.options.digits_stop_play:
            self._pending_key = event.digit
            return actions
        if self.phase is Phase.PLAYING:
            self._queue = ()
            actions.append(StopPlayback())
        return actions + self._replay_key(event.digit)

    def _simple_key(self, digit: str) -> list[Action]:
        if not self.options.require_response or self._outcome_key is not None:
            return []
        self._outcome_key = digit
        self._response = digit
        if self.phase is Phase.PLAYING and self.options.require_full_play:
            return []  # the prompt plays on; the call ends when it has finished
        actions: list[Action] = []
        if self.phase is Phase.PLAYING:
            self._queue = ()
            actions.append(StopPlayback())
        return actions + self._hang_up()

    def _replay_key(self, digit: str) -> list[Action]:
        ctl = self.options
        if digit in ctl.say_again_digits:
            prompts = ("pre", "main", "post") if ctl.repeat_pre_prompt else ("main", "post")
            return [CancelTimer("keywait"), Report("say_again", {"digit": digit}), *self._play(prompts)]
        if digit in ctl.am_ok_digits:
            outcome = "recipientOk"
        elif ctl.am_not_ok_digits == "*" or digit in ctl.am_not_ok_digits:
            outcome = "recipientNotOk"
        else:
            return []  # in no digit set: keep waiting (the key-wait timer still runs)
        self._outcome_key = outcome
        self._response = outcome
        self.phase = Phase.DONE_PROMPT
        return [CancelTimer("keywait"), Report(outcome, {"digit": digit}), PlayPrompts(("done",))]

    def _on_timer(self, name: str) -> list[Action]:
        if name == "ring" and self.phase is Phase.DIALLING:
            # the call is cancelled; its CallEnded (487) reports the no answer
            return [HangUp()]
        if name == "total" and self._answered and self.phase is not Phase.HANGING_UP:
            actions: list[Action] = [Report("call_timeout", {"seconds": self.timeouts.total})]
            if self.phase in (Phase.PLAYING, Phase.DONE_PROMPT):
                actions.append(StopPlayback())
            return actions + self._hang_up()
        if name == "keywait" and self.phase is Phase.WAITING_KEY:
            if self.options.ivr_type is IvrType.REPLAY and self._auto_repeats < _REPLAY_AUTO_REPEATS:
                self._auto_repeats += 1
                prompts = ("pre", "main", "post") if self.options.repeat_pre_prompt else ("main", "post")
                return [Report("key_timeout", {"repeat": True}), *self._play(prompts)]
            return [Report("key_timeout", {"repeat": False}), *self._hang_up()]
        return []
