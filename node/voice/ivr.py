"""The outbound IVRs of the reference (``ivrType`` simple and replay) as pure machines.

One :class:`IvrMachine` follows one recipient of a ``call`` item through all of its attempts. It is
fed :class:`Event` values with the current time and returns :class:`Action` values; it never touches
pjsua2, asyncio or the clock. The channel turns actions into worker commands and timers.

Rules every transition follows:

* An attempt begins with :class:`PlaceCall` and a ``ring`` timer; it ends when the call is over
  (busy, no answer, failed, hung up by either side, or the worker lost it) with one
  :class:`AttemptEnded` report.
* After an attempt that reached none of the success states another attempt is placed after
  ``retry_interval`` (a ``retry`` timer) until ``ivrAttempts`` attempts were made; then the
  recipient's result is final (:class:`Finished`).
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
* A call lost because its worker process died does not use up an attempt; it is placed again at
  once, at most :data:`MAX_LOST_REDIALS` times per recipient.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# RFC 4733 §3.2 event codes 0-15: the sixteen keys a keypad can send.
DTMF_KEYS = frozenset("0123456789*#ABCD")
MAX_LOST_REDIALS = 2
MAX_IVR_ATTEMPTS = 10
# A replay IVR plays its prompts at most this often when nobody answers them (first play + one
# automatic repeat on key-wait time-out).
_REPLAY_AUTO_REPEATS = 1


class IvrType(enum.StrEnum):
    SIMPLE = "simple"
    REPLAY = "replay"


@dataclass(frozen=True)
class IvrControl:
    """``ivrControl`` with the reference's defaults."""

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
    def from_request(cls, raw: Mapping[str, Any] | None) -> IvrControl:
        """Build from the request's ``ivrControl`` object (already validated by :func:`problems`)."""
        raw = raw or {}
        return cls(
            ivr_type=IvrType(raw.get("ivrType", "simple")),
            attempts=int(raw.get("ivrAttempts", 1)),
            require_full_play=bool(raw.get("ivrRequireFullPlay", False)),
            require_response=bool(raw.get("ivrRequireResponse", False)),
            say_again_digits=str(raw.get("ivrSayAgainDigits", "1")),
            am_ok_digits=str(raw.get("ivrAmOkDigits", "2")),
            am_not_ok_digits=str(raw.get("ivrAmNotOkDigits", "*")),
            digits_stop_play=bool(raw.get("ivrDigitsStopPlay", False)),
            repeat_pre_prompt=bool(raw.get("ivrRepeatPrePrompt", False)),
        )


_SIMPLE_KEYS = {"ivrType", "ivrAttempts", "ivrRequireFullPlay", "ivrRequireResponse"}
_REPLAY_KEYS = {
    "ivrType",
    "ivrAttempts",
    "ivrSayAgainDigits",
    "ivrAmOkDigits",
    "ivrAmNotOkDigits",
    "ivrDigitsStopPlay",
    "ivrRepeatPrePrompt",
}
_BOOL_KEYS = {"ivrRequireFullPlay", "ivrRequireResponse", "ivrDigitsStopPlay", "ivrRepeatPrePrompt"}
_DIGIT_KEYS = {"ivrSayAgainDigits", "ivrAmOkDigits", "ivrAmNotOkDigits"}
REPLAY_TAGS = ("pre", "post", "done")
_DEFAULTS: dict[str, object] = {
    "ivrAttempts": 1,
    "ivrRequireFullPlay": False,
    "ivrRequireResponse": False,
    "ivrSayAgainDigits": "1",
    "ivrAmOkDigits": "2",
    "ivrAmNotOkDigits": "*",
    "ivrDigitsStopPlay": False,
    "ivrRepeatPrePrompt": False,
}


def problems(raw: Any, path: str) -> list[tuple[str, str]]:
    """Every problem with an ``ivrControl`` value, as (json path, message); ``path`` names it."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [(path, "must be an object")]
    out: list[tuple[str, str]] = []
    kind = raw.get("ivrType", "simple")
    if kind not in ("simple", "replay"):
        return [(f"{path}.ivrType", "must be 'simple' or 'replay'")]
    allowed = _SIMPLE_KEYS if kind == "simple" else _REPLAY_KEYS
    for key in raw:
        # the API model fills in every option's default, so only a value that differs from the
        # default can be a mistake
        if key not in allowed and raw[key] != _DEFAULTS.get(key, object()):
            out.append((f"{path}.{key}", f"not an option of the {kind} IVR"))
    attempts = raw.get("ivrAttempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_IVR_ATTEMPTS:
        out.append((f"{path}.ivrAttempts", f"must be an integer from 1 to {MAX_IVR_ATTEMPTS}"))
    for key in _BOOL_KEYS & set(raw):
        if not isinstance(raw[key], bool):
            out.append((f"{path}.{key}", "must be true or false"))
    for key in _DIGIT_KEYS & set(raw):
        value = raw[key]
        if not isinstance(value, str) or not value or any(c not in DTMF_KEYS for c in value):
            out.append((f"{path}.{key}", "must be one or more of the keys 0-9 * # A-D"))
    if kind == "replay" and not out:
        ctl = IvrControl.from_request(raw)
        clash = set(ctl.say_again_digits) & set(ctl.am_ok_digits)
        if clash:
            out.append((f"{path}.ivrAmOkDigits", f"shares {''.join(sorted(clash))!r} with ivrSayAgainDigits"))
        if ctl.am_not_ok_digits != "*":
            for key, digits in (
                ("ivrSayAgainDigits", ctl.say_again_digits),
                ("ivrAmOkDigits", ctl.am_ok_digits),
            ):
                clash = set(digits) & set(ctl.am_not_ok_digits)
                if clash:
                    out.append((f"{path}.ivrAmNotOkDigits", f"shares {''.join(sorted(clash))!r} with {key}"))
    return out


@dataclass(frozen=True)
class Timeouts:
    ring: float = 45.0
    key_wait: float = 10.0
    total: float = 300.0
    retry_interval: float = 60.0


# ---------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Start:
    """Begin the first attempt."""


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
    failed, prompt_played, prompt_cut, key, recipientOk, recipientNotOk, hung_up, attempt_ended."""

    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttemptEnded:
    attempt: int
    success: bool
    outcome: str
    """answered, full_play, response, recipientOk, recipientNotOk, busy, no_answer, failed,
    not_full_play, no_response, lost."""
    will_retry: bool


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
    RETRY_WAIT = "retry_wait"
    FINISHED = "finished"


# RFC 3261 §21.4.9 / §21.6.2 busy, §21.4.18/§21.4.14/§21.4.24 no answer (480 temporarily unavailable,
# 408 request timeout, 487 cancelled by our ring timer).
_BUSY = frozenset({486, 600})
_NO_ANSWER = frozenset({408, 480, 487})


class IvrMachine:
    """One recipient of one ``call`` item: all attempts, both IVR types."""

    def __init__(self, control: IvrControl, timeouts: Timeouts, first_attempt: int = 1) -> None:
        """``first_attempt`` > 1 resumes a recipient whose earlier attempts were made before (the
        channel hands retries back to the dispatcher and gets the delivery again)."""
        self.control = control
        self.timeouts = timeouts
        self.phase = Phase.IDLE
        self.attempt = max(first_attempt, 1) - 1
        self._lost = 0
        self._answered = False
        self._queue: tuple[str, ...] = ()
        self._main_done = False
        self._pending_key: str | None = None
        self._response: str | None = None
        self._outcome_key: str | None = None
        self._auto_repeats = 0
        self._last_code: int | None = None
        self._last_outcome = ""

    # ------------------------------------------------------------------ public

    @property
    def finished(self) -> bool:
        return self.phase is Phase.FINISHED

    def handle(self, event: Event, now: float) -> list[Action]:
        """Feed one event; ``now`` is the event's time (kept for symmetry with other machines)."""
        del now  # timing lives in timers; events carry no clock-dependent rules
        if self.phase is Phase.FINISHED:
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

    # ------------------------------------------------------------------ attempts

    def _reset_call(self) -> None:
        self._answered = False
        self._queue = ()
        self._main_done = False
        self._pending_key = None
        self._auto_repeats = 0

    def _place(self) -> list[Action]:
        self.attempt += 1
        self._reset_call()
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
        if self.control.ivr_type is IvrType.SIMPLE:
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
        if self.phase in (Phase.IDLE, Phase.RETRY_WAIT):
            return []
        cancel: list[Action] = [CancelTimer("ring"), CancelTimer("total"), CancelTimer("keywait")]
        if self._response is None and self._lost < MAX_LOST_REDIALS:
            self._lost += 1
            self.attempt -= 1
            return [*cancel, Report("lost", {"attempt": self.attempt + 1}), *self._place()]
        return cancel + self._end_attempt("lost", code=None)

    def _on_ended(self, event: CallEnded) -> list[Action]:
        if self.phase in (Phase.IDLE, Phase.RETRY_WAIT):
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
        ctl = self.control
        if ctl.ivr_type is IvrType.REPLAY:
            return self._outcome_key or "no_response"
        if ctl.require_full_play and not self._main_done:
            return "not_full_play"
        if ctl.require_response and self._outcome_key is None:
            return "no_response"
        if ctl.require_response:
            return "response"
        return "full_play" if ctl.require_full_play else "answered"

    def _end_attempt(self, outcome: str, code: int | None) -> list[Action]:
        success = outcome in ("answered", "full_play", "response", "recipientOk", "recipientNotOk")
        self._last_code = code
        self._last_outcome = outcome
        retry = not success and self.attempt < self.control.attempts
        actions: list[Action] = [AttemptEnded(self.attempt, success, outcome, retry)]
        if success:
            self.phase = Phase.FINISHED
            result = FinalResult.RESPONDED if self._response is not None else FinalResult.ANSWERED
            actions.append(Finished(result, outcome, self.attempt, self._response, code))
        elif retry:
            self.phase = Phase.RETRY_WAIT
            actions.append(StartTimer("retry", self.timeouts.retry_interval))
        else:
            self.phase = Phase.FINISHED
            actions.append(Finished(FinalResult.FAILED, outcome, self.attempt, None, code))
        return actions

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
        if self.control.ivr_type is IvrType.SIMPLE:
            if self.control.require_response and self._outcome_key is None:
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
        if self.control.ivr_type is IvrType.SIMPLE:
            return actions + self._simple_key(event.digit)
        if self.phase is Phase.PLAYING and not self.control.digits_stop_play:
            self._pending_key = event.digit
            return actions
        if self.phase is Phase.PLAYING:
            self._queue = ()
            actions.append(StopPlayback())
        return actions + self._replay_key(event.digit)

    def _simple_key(self, digit: str) -> list[Action]:
        if not self.control.require_response or self._outcome_key is not None:
            return []
        self._outcome_key = digit
        self._response = digit
        if self.phase is Phase.PLAYING and self.control.require_full_play:
            return []  # the prompt plays on; the call ends when it has finished
        actions: list[Action] = []
        if self.phase is Phase.PLAYING:
            self._queue = ()
            actions.append(StopPlayback())
        return actions + self._hang_up()

    def _replay_key(self, digit: str) -> list[Action]:
        ctl = self.control
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
        if name == "retry" and self.phase is Phase.RETRY_WAIT:
            return self._place()
        if name == "total" and self._answered and self.phase is not Phase.HANGING_UP:
            actions: list[Action] = [Report("call_timeout", {"seconds": self.timeouts.total})]
            if self.phase in (Phase.PLAYING, Phase.DONE_PROMPT):
                actions.append(StopPlayback())
            return actions + self._hang_up()
        if name == "keywait" and self.phase is Phase.WAITING_KEY:
            if self.control.ivr_type is IvrType.REPLAY and self._auto_repeats < _REPLAY_AUTO_REPEATS:
                self._auto_repeats += 1
                prompts = ("pre", "main", "post") if self.control.repeat_pre_prompt else ("main", "post")
                return [Report("key_timeout", {"repeat": True}), *self._play(prompts)]
            return [Report("key_timeout", {"repeat": False}), *self._hang_up()]
        return []


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
