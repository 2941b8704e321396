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
* Hold (:class:`Held`, a re-INVITE or UPDATE with ``sendonly`` or ``inactive``): nothing is played
  while the far end holds the call. A prompt playing when the hold comes is stopped, and on
  :class:`Resumed` it is played again from its start, followed by the rest of its sequence: a listener
  back from hold has lost the thread, and the whole current prompt (not its tail, not the whole
  sequence) is what gets them back into it. Hold while waiting for a key stops the key wait; on resume
  the last prompt (the one that asked for the key) is played again and the key wait starts over after
  it. Prompts the machine would start while held (a say-again, the ``done`` prompt) wait for the
  resume. Keys are taken while held as at any other time; the ``total`` timer keeps running.
* :class:`Cancelled` (the alert was cancelled): a call not answered yet is cancelled, an answered one
  stopped and hung up (BYE); the attempt ends ``cancelled`` and is never retried. A response given
  before stands.

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
* A key is reported with its source: ``rfc4733`` (RTP events), ``info`` (SIP INFO) or ``inband``.
* A key wait that ends with no key (after the replay IVR's automatic repeat) plays the stock
  ``goodbye`` before the node hangs up; a key pressed during it still counts.
* replay IVR, a key in no digit set: reported (``invalid_key``), the stock ``tone`` plays and the key
  wait starts over (the prompts a key stopped are not resumed).
* Answering machines (``ivrAnsweringMachine``): the rules are node/voice/ivr_amd.py's. While the
  detector listens nothing plays (phase ``SCREENING``); the prompts start on a person; a machine stops
  them and either hangs up (outcome ``machine``, not reached: retried while attempts are left) or
  waits for the beep (``MACHINE``) and leaves the message once (``MESSAGE``: simple the main prompt,
  replay pre and main; the key instructions would be no use to a mailbox): ``voicemail_left`` is a
  final result (answered), never retried, so a mailbox does not collect one message per attempt.
"""

from __future__ import annotations

from alertnode.voice.ivr_amd import TIMERS as AMD_TIMERS
from alertnode.voice.ivr_amd import AmdRules, Do, Step
from alertnode.voice.ivr_types import (
    Action,
    AmdBeep,
    AmdGreetingEnd,
    AmdVerdict,
    Answered,
    AttemptEnded,
    CallEnded,
    Cancelled,
    CancelTimer,
    Digit,
    Event,
    FinalResult,
    Finished,
    HangUp,
    Held,
    IvrOptions,
    IvrType,
    Phase,
    PlaceCall,
    PlayPrompts,
    PromptFinished,
    Report,
    Resumed,
    Ringing,
    Start,
    StartTimer,
    StopListening,
    StopPlayback,
    Timeouts,
    TimerFired,
    WorkerLost,
)

__all__ = [
    "MAX_LOST_REDIALS", "Action", "AmdBeep", "AmdGreetingEnd", "AmdVerdict", "Answered", "AttemptEnded", "CallEnded",
    "CancelTimer", "Cancelled", "Digit", "Event", "FinalResult", "Finished", "HangUp", "Held", "IvrMachine",
    "IvrOptions", "IvrType", "Phase", "PlaceCall", "PlayPrompts", "PromptFinished", "Report", "Resumed", "Ringing",
    "Start", "StartTimer", "StopListening", "StopPlayback", "Timeouts", "TimerFired", "WorkerLost",
]

MAX_LOST_REDIALS = 2
# A replay IVR plays its prompts at most this often when nobody answers them (first play + one
# automatic repeat on key-wait time-out).
_REPLAY_AUTO_REPEATS = 1
_SUCCESS = frozenset({"answered", "full_play", "response", "recipientOk", "recipientNotOk", "voicemail_left"})

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
        self._cancelled = False
        self._held = False
        self._resume: tuple[str, ...] | None = None
        """While held: the prompts to play on resume."""
        self._last_played: str | None = None
        self._closing = "done"
        """The prompt whose end hangs up (phase DONE_PROMPT): done, or goodbye."""
        self._amd = AmdRules(options.answering_machine, timeouts)
        self._left = False
        """The message was left on a machine."""

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
        actions = self._dispatch(event)
        if self._held and not isinstance(event, Held):
            actions = self._keep_for_resume(actions)
        return actions

    def _dispatch(self, event: Event) -> list[Action]:
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
            case Held():
                return self._on_held(event.how)
            case Resumed():
                return self._on_resumed()
            case Cancelled():
                return self._on_cancelled()
            case TimerFired():
                return self._on_timer(event.name)
            case AmdVerdict():
                return self._amd_step(self._amd.verdict(event))
            case AmdBeep():
                return self._amd_step(self._amd.beep(event))
            case AmdGreetingEnd():
                return self._amd_step(self._amd.greeting_end(event))
        return []

    # ------------------------------------------------------------------ the attempt

    def _place(self) -> list[Action]:
        self._answered = False
        self._queue = ()
        self._main_done = False
        self._pending_key = None
        self._auto_repeats = 0
        self._amd = AmdRules(self.options.answering_machine, self.timeouts)
        self.phase = Phase.DIALLING
        return [PlaceCall(self.attempt, self._amd.listens), StartTimer("ring", self.timeouts.ring)]

    def _on_answered(self) -> list[Action]:
        if self.phase is not Phase.DIALLING:
            return []
        self._answered = True
        actions: list[Action] = [
            CancelTimer("ring"),
            Report("answered", {"attempt": self.attempt}),
            StartTimer("total", self.timeouts.total),
        ]
        self.phase = Phase.SCREENING
        return actions + self._amd_step(self._amd.answered())

    def _start_prompts(self) -> list[Action]:
        if self.options.ivr_type is IvrType.SIMPLE:
            return self._play(("main",))
        return self._play(("pre", "main", "post"))

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
        if self._redial_lost and not self._cancelled and self._lost < MAX_LOST_REDIALS:
            self._lost += 1
            return actions + self._place()
        return actions + self._end_attempt("cancelled" if self._cancelled else "lost", code=None)

    def _on_ended(self, event: CallEnded) -> list[Action]:
        if self.phase is Phase.IDLE:
            return []
        actions: list[Action] = [CancelTimer("ring"), CancelTimer("total"), CancelTimer("keywait")]
        if not self._answered:
            code = event.sip_code
            if self._cancelled:
                return actions + self._end_attempt("cancelled", code)
            if code in _BUSY:
                actions.append(Report("busy", {"sip_code": code, "attempt": self.attempt}))
                return actions + self._end_attempt("busy", code)
            if code in _NO_ANSWER:
                actions.append(Report("no_answer", {"sip_code": code, "attempt": self.attempt}))
                return actions + self._end_attempt("no_answer", code)
            actions.append(Report("failed", {"sip_code": code, "reason": event.reason, "attempt": self.attempt}))
            return actions + self._end_attempt("failed", code)
        if self.phase in (Phase.PLAYING, Phase.MESSAGE) and self._queue:
            actions.append(Report("prompt_cut", {"prompt": self._queue[0], "attempt": self.attempt}))
        if event.by_remote:
            actions.append(Report("hung_up", {"attempt": self.attempt}))
        elif event.expired:
            actions.append(Report("session_expired", {"reason": event.reason, "attempt": self.attempt}))
        return actions + self._end_attempt(self._answered_outcome(), 200)

    def _answered_outcome(self) -> str:
        """The outcome of an answered call that has ended (see the module docstring)."""
        opts = self.options
        if self._cancelled and self._response is None:
            return "cancelled"
        if self._amd.machine:
            return "voicemail_left" if self._left else "machine"
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
        success = outcome in _SUCCESS
        self.phase = Phase.DONE
        self._held = False
        if not success and not self._cancelled and self.attempt < self.options.attempts:
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
        if self._held:
            return []  # the end of a prompt cut by the hold (it plays again on resume)
        if self.phase is Phase.MESSAGE:
            return self._on_message_played(prompt)
        if prompt != "tone":  # the invalid key's tone asked for nothing
            self._last_played = prompt
        if self.phase is Phase.DONE_PROMPT and prompt == self._closing:
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
        if self.phase not in (
            Phase.PLAYING, Phase.WAITING_KEY, Phase.DONE_PROMPT, Phase.SCREENING, Phase.MACHINE, Phase.MESSAGE
        ):
            return []
        actions: list[Action] = [Report("key", {"digit": event.digit, "source": event.source})]
        step = self._amd.key()  # a key proves a person
        if step.do is Do.PROMPTS:
            return actions + self._amd_step(step)  # nothing was asked yet: the key answers nothing
        actions += step.actions
        if self.phase is Phase.MESSAGE:
            return actions
        if self.phase is Phase.DONE_PROMPT:
            if self._closing != "goodbye":
                return actions
            self.phase = Phase.WAITING_KEY  # a key during the goodbye still answers
            actions.append(StopPlayback())
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
        else:  # in no digit set: a tone says so, and the key wait starts over
            self.phase = Phase.WAITING_KEY
            self._queue = ()
            return [
                Report("invalid_key", {"digit": digit}),
                PlayPrompts(("tone",)),
                StartTimer("keywait", self.timeouts.key_wait),
            ]
        self._outcome_key = outcome
        self._response = outcome
        self.phase = Phase.DONE_PROMPT
        self._closing = "done"
        return [CancelTimer("keywait"), Report(outcome, {"digit": digit}), PlayPrompts(("done",))]

    def _close(self, prompt: str) -> list[Action]:
        """Play the closing ``prompt``; its end hangs up."""
        self.phase = Phase.DONE_PROMPT
        self._closing = prompt
        return [CancelTimer("keywait"), PlayPrompts((prompt,))]

    def _on_timer(self, name: str) -> list[Action]:
        if name in AMD_TIMERS:
            return self._amd_step(self._amd.timer(name))
        if name == "ring" and self.phase is Phase.DIALLING:
            # the call is cancelled; its CallEnded (487) reports the no answer
            return [HangUp()]
        if name == "total" and self._answered and self.phase is not Phase.HANGING_UP:
            actions: list[Action] = [Report("call_timeout", {"seconds": self.timeouts.total})]
            if self.phase in (Phase.PLAYING, Phase.DONE_PROMPT, Phase.MESSAGE):
                actions.append(StopPlayback())
            return actions + self._hang_up()
        if name == "keywait" and self.phase is Phase.WAITING_KEY:
            if self.options.ivr_type is IvrType.REPLAY and self._auto_repeats < _REPLAY_AUTO_REPEATS:
                self._auto_repeats += 1
                prompts = ("pre", "main", "post") if self.options.repeat_pre_prompt else ("main", "post")
                return [Report("key_timeout", {"repeat": True}), *self._play(prompts)]
            return [Report("key_timeout", {"repeat": False}), *self._close("goodbye")]
        return []

    # ------------------------------------------------------------------ hold and cancel

    def _on_held(self, how: str) -> list[Action]:
        if self._held or self.phase not in (Phase.PLAYING, Phase.WAITING_KEY, Phase.DONE_PROMPT, Phase.SCREENING):
            return []
        self._held = True
        actions: list[Action] = []
        cut: str | None = None
        if self.phase is Phase.PLAYING:
            self._resume = self._queue
            cut = self._queue[0] if self._queue else None
            actions.append(StopPlayback())
        elif self.phase is Phase.DONE_PROMPT:
            self._resume = (self._closing,)
            cut = self._closing
            actions.append(StopPlayback())
        elif self.phase is Phase.SCREENING:
            self._resume = None  # nothing plays yet; prompts started meanwhile wait for the resume
        else:
            self._resume = (self._last_played,) if self._last_played else None
            actions.append(CancelTimer("keywait"))
        return [Report("held", {"how": how, "prompt": cut}), *actions]

    def _on_resumed(self) -> list[Action]:
        if not self._held:
            return []
        self._held = False
        resume, self._resume = self._resume, None
        actions: list[Action] = [Report("resumed")]
        if self.phase is Phase.WAITING_KEY:
            if not resume:
                return [*actions, StartTimer("keywait", self.timeouts.key_wait)]
            self.phase = Phase.PLAYING  # the prompt that asked for the key, then the key wait again
            self._queue = resume
        if self.phase in (Phase.PLAYING, Phase.DONE_PROMPT, Phase.MESSAGE) and resume:
            actions.append(PlayPrompts(resume))
        return actions

    def _keep_for_resume(self, actions: list[Action]) -> list[Action]:
        """While held: a prompt the machine starts is kept for the resume, and there is nothing to stop."""
        kept: list[Action] = []
        for action in actions:
            if isinstance(action, PlayPrompts):
                self._resume = action.prompts
            elif not isinstance(action, StopPlayback):
                kept.append(action)
        return kept

    def _on_cancelled(self) -> list[Action]:
        if self._cancelled or self.phase is Phase.IDLE:
            return []
        self._cancelled = True
        if self.phase is Phase.DIALLING:
            return [HangUp()]  # its CallEnded ends the attempt as cancelled
        if self.phase is Phase.HANGING_UP:
            return []
        actions: list[Action] = []
        if self.phase in (Phase.PLAYING, Phase.DONE_PROMPT, Phase.MESSAGE):
            actions.append(StopPlayback())
        return actions + self._hang_up()

    # ------------------------------------------------------------------ answering machines

    def _amd_step(self, step: Step) -> list[Action]:
        """Carry out what the answering-machine rules decided (node/voice/ivr_amd.py)."""
        actions = list(step.actions)
        if step.do is Do.PROMPTS and self.phase in (Phase.SCREENING, Phase.MACHINE):
            return actions + self._start_prompts()
        if step.do in (Do.HANG_UP, Do.WAIT) and self.phase not in (Phase.HANGING_UP, Phase.DONE):
            if self.phase in (Phase.PLAYING, Phase.DONE_PROMPT):
                actions.append(StopPlayback())
            self._queue = ()
            self._pending_key = None
            if step.do is Do.HANG_UP:
                return actions + self._hang_up()
            self.phase = Phase.MACHINE
            return [*actions, CancelTimer("keywait")]
        if step.do is Do.MESSAGE and self.phase is Phase.MACHINE:
            self.phase = Phase.MESSAGE
            self._queue = ("main",) if self.options.ivr_type is IvrType.SIMPLE else ("pre", "main")
            return [*actions, PlayPrompts(self._queue)]
        return actions

    def _on_message_played(self, prompt: str) -> list[Action]:
        if not self._queue or self._queue[0] != prompt:
            return []
        self._queue = self._queue[1:]
        actions: list[Action] = [Report("prompt_played", {"prompt": prompt})]
        if self._queue:
            return actions
        self._left = True
        return [*actions, Report("voicemail_left", {"attempt": self.attempt}), *self._hang_up()]
