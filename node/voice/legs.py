"""Call legs: the mapping between an IVR machine and the worker carrying its call.

A :class:`Leg` is one attempt of one ``call`` delivery, or one inbound call. :class:`Legs` feeds each
leg's :class:`~alertnode.voice.ivr.IvrMachine` the worker's events and carries out its actions.

IVR action → what happens:

* PlaceCall → ``Place`` on a worker with room (outbound; the leg waits in line for a free slot
  otherwise; ``amd`` when the machine listens for answering machines) or ``Answer`` (inbound);
  reported as ``calling`` (outbound)
* PlayPrompts → ``Play`` with the prepared files (8 kHz, and 16 kHz for G.722 calls when prepared);
  StopPlayback → ``StopPlay``
* HangUp → ``Hangup``; a leg still waiting in line ends as cancelled before dialling (487)
* StopListening → ``AmdStop``
* StartTimer / CancelTimer → the scheduler
* Report → a channel event of that kind (``answered`` moves an outbound delivery to ANSWERED,
  ``recipientOk`` / ``recipientNotOk`` a recipient's delivery to RESPONDED)
* AttemptEnded → ``attempt_ended``, with ``retry_after`` when another attempt follows: the
  dispatcher hands the delivery back for it (retries are durable and not this process's)
* Finished → ``completed``, the delivery's final event

Worker event → IVR event: Ringing, Answered, PromptDone (PromptFinished), KeyPressed (Digit), Held,
Resumed, AmdVerdict, AmdBeep, AmdGreetingEnd (their timings as the detail), Ended (CallEnded),
NoSuchCall (CallEnded 500: the worker has no such call, the IVR must not wait forever), Lost
(WorkerLost). PromptFailed is reported and the call hung up (the callee would hear
silence until the call time-out); MediaUp is reported only.

Cancelling deliveries (the alert was cancelled) feeds their legs Cancelled: a call waiting in line is
dropped, a ringing one cancelled, an answered one hung up (BYE), inbound calls too. The alert's
cancellation already gave each of them its final event (``cancelled``), so the attempt ends with
``attempt_ended`` (``cancelled``) and no ``completed``, unless the recipient had answered first.

A leg ends (``done``) with its attempt; while
the channel stops, an attempt that did not succeed is handed back at once (``interrupted``). An
inbound call lost with its worker leaves the delivery waiting for the next call. A bug in the machine
or here never strands a call: it is hung up, and its Ended closes the leg.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alertnode.domain import DeliveryState, DeliveryWork
from alertnode.logs import log_ids
from alertnode.voice import ivr, pipe
from alertnode.voice.config import VoiceConfig, rewrite_number
from alertnode.voice.ivr import (
    Action,
    AttemptEnded,
    CallEnded,
    Cancelled,
    CancelTimer,
    Digit,
    FinalResult,
    Finished,
    HangUp,
    Held,
    IvrMachine,
    PlaceCall,
    PlayPrompts,
    PromptFinished,
    Report,
    Resumed,
    StartTimer,
    StopListening,
    StopPlayback,
    TimerFired,
    WorkerLost,
)
from alertnode.voice.link import WorkerLink
from alertnode.voice.prompt_files import PromptAudio

log = logging.getLogger(__name__)

_RESPONSE_KINDS = {"recipientOk", "recipientNotOk"}


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Cancellable]
"""Calls a function after some seconds (the event loop's ``call_later``; tests fire by hand)."""


class ReportFn(Protocol):
    def __call__(
        self,
        work: DeliveryWork,
        kind: str,
        *,
        state: DeliveryState | None = None,
        detail: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
        final: bool = False,
    ) -> None: ...


@dataclass
class Leg:
    work: DeliveryWork
    machine: IvrMachine
    prompts: Mapping[str, PromptAudio]
    inbound: bool
    final_for_delivery: bool = True
    caller: str = ""
    call_key: str | None = None
    listen: bool = False
    """The call is placed with answering-machine detection."""
    timers: dict[str, Cancellable] = field(default_factory=dict)
    done: bool = False
    cancelled: bool = False


def leg_ids(leg: Leg) -> contextlib.AbstractContextManager[None]:
    return log_ids(alert_ref=leg.work.alert_ref or None, delivery_id=leg.work.delivery_id or None,
                   call_id=leg.call_key)


class Legs:
    def __init__(
        self,
        config: VoiceConfig,
        report: ReportFn,
        later: Scheduler,
        forget_inbound: Callable[[DeliveryWork], None],
    ) -> None:
        self.config = config
        self.link: WorkerLink | None = None
        self.stopping = False
        self.waiting: deque[Leg] = deque()
        """Outbound legs whose call waits for a free slot (not dialled yet)."""
        self._report = report
        self._later = later
        self._forget_inbound = forget_inbound
        self._by_call: dict[str, Leg] = {}
        self._seq = 0

    def __len__(self) -> int:
        """Legs with a call (placed, ringing, up, or incoming)."""
        return len(self._by_call)

    # ------------------------------------------------------------------ from the channel

    def start(self, leg: Leg) -> None:
        self.feed(leg, ivr.Start())

    def adopt(self, call_key: str, leg: Leg) -> None:
        """An incoming call's leg: its call exists before its machine starts."""
        leg.call_key = call_key
        self._by_call[call_key] = leg

    def answer(self, leg: Leg) -> None:
        """Start an inbound leg: the machine answers the call and plays."""
        self.feed(leg, ivr.Start())
        self.feed(leg, ivr.Answered())

    def cancel(self, delivery_ids: set[int]) -> None:
        """Calls not yet dialled are dropped; ringing ones cancelled, answered ones hung up."""
        for leg in [leg for leg in self.waiting if leg.work.delivery_id in delivery_ids]:
            self.waiting.remove(leg)
            self._close(leg)
        for leg in list(self._by_call.values()):
            if leg.work.delivery_id in delivery_ids:
                leg.cancelled = True
                self.feed(leg, Cancelled())

    def hand_back_waiting(self) -> None:
        """Legs never dialled go straight back to the dispatcher's queue (the channel stops)."""
        while self.waiting:
            leg = self.waiting.popleft()
            self._report(leg.work, "handed_back", detail={"attempt": leg.machine.attempt}, retry_after=0.0)
            self._close(leg)

    def cancel_timers(self) -> None:
        for leg in self._by_call.values():
            for handle in leg.timers.values():
                handle.cancel()

    def dispatch_waiting(self) -> None:
        """Place the calls that wait, as far as the workers have room (a call ended, a worker started)."""
        if self.link is None:
            return
        while self.waiting and self.link.free_slots() > 0:
            leg = self.waiting.popleft()
            if not self._try_place(leg):
                self.waiting.appendleft(leg)
                return

    # ------------------------------------------------------------------ worker events

    def on_worker_event(self, ev: pipe.CallEvent) -> None:
        leg = self._by_call.get(ev.call)
        if leg is None:
            return
        event: ivr.Event
        match ev:
            case pipe.PromptFailed():
                with leg_ids(leg):
                    log.error("voice: prompt %s cannot be played: %s", ev.prompt, ev.message)
                self._report(leg.work, "prompt_error", detail={"prompt": ev.prompt, "reason": ev.message})
                self._send(pipe.Hangup(ev.call))
                return
            case pipe.MediaUp():
                detail = {"codec": ev.codec, "clock_rate": ev.clock_rate, "event_pt": ev.event_pt}
                self._report(leg.work, "media", detail=detail)
                return
            case pipe.Ringing():
                event = ivr.Ringing()
            case pipe.Answered():
                event = ivr.Answered()
            case pipe.Held():
                event = Held(ev.how)
            case pipe.Resumed():
                event = Resumed()
            case pipe.PromptDone():
                event = PromptFinished(ev.prompt)
            case pipe.KeyPressed():
                event = Digit(ev.digit, ev.source)
            case pipe.AmdVerdict():
                event = ivr.AmdVerdict(ev.verdict, ev.final, ev.reason, _timings(ev))
            case pipe.AmdBeep():
                event = ivr.AmdBeep(_timings(ev))
            case pipe.AmdGreetingEnd():
                event = ivr.AmdGreetingEnd(_timings(ev))
            case pipe.Ended():
                event = CallEnded(ev.code, ev.by_remote, ev.reason, ev.expired)
            case pipe.NoSuchCall():
                with leg_ids(leg):
                    log.warning("voice: the worker has no such call (any more); it is taken as ended")
                event = CallEnded(500, False, "call unknown to its worker")
            case pipe.Lost():
                event = WorkerLost()
            case _:
                return
        call_over = isinstance(ev, pipe.Ended | pipe.NoSuchCall | pipe.Lost)
        if call_over:
            del self._by_call[ev.call]
            leg.call_key = None
        self.feed(leg, event)
        if call_over:
            self.dispatch_waiting()

    # ------------------------------------------------------------------ the machine's actions

    def feed(self, leg: Leg, event: ivr.Event) -> None:
        if leg.done:
            return
        with leg_ids(leg):
            self._feed(leg, event)

    def _feed(self, leg: Leg, event: ivr.Event) -> None:
        try:
            actions = leg.machine.handle(event, time.monotonic())
        except Exception:
            log.exception("IVR machine failed on %s", type(event).__name__)
            actions = [HangUp()]
        try:
            for action in actions:
                if leg.done:
                    break  # handed back or closed: later actions (a Finished) are moot
                self._do(leg, action)
        except Exception:  # a bug here must not strand the call: end it, its Ended follows
            log.exception("voice: carrying out the IVR's actions failed")
            if leg.call_key:
                self._send(pipe.Hangup(leg.call_key))

    def _do(self, leg: Leg, action: Action) -> None:
        match action:
            case PlaceCall():
                if not leg.inbound:
                    leg.listen = action.listen
                    self._place(leg, action.attempt)
                elif leg.call_key:
                    self._send(pipe.Answer(leg.call_key))
            case PlayPrompts():
                if leg.call_key:
                    files = tuple(leg.prompts[p].as_play(p) for p in action.prompts)
                    self._send(pipe.Play(leg.call_key, files))
            case StopPlayback():
                if leg.call_key:
                    self._send(pipe.StopPlay(leg.call_key))
            case StopListening():
                if leg.call_key:
                    self._send(pipe.AmdStop(leg.call_key))
            case HangUp():
                if leg in self.waiting:
                    self.waiting.remove(leg)
                    self.feed(leg, CallEnded(487, by_remote=False, reason="cancelled before dialling"))
                elif leg.call_key:
                    self._send(pipe.Hangup(leg.call_key))
            case StartTimer():
                self._cancel_timer(leg, action.name)
                fire = functools.partial(self.feed, leg, TimerFired(action.name))
                leg.timers[action.name] = self._later(action.seconds, fire)
            case CancelTimer():
                self._cancel_timer(leg, action.name)
            case Report():
                self._on_report(leg, action)
            case AttemptEnded():
                self._attempt_ended(leg, action)
            case Finished():
                self._finish(leg, action)

    def _attempt_ended(self, leg: Leg, ended: AttemptEnded) -> None:
        detail: dict[str, Any] = {"attempt": ended.attempt, "outcome": ended.outcome, "success": ended.success}
        retry = None if leg.inbound else ended.retry_after
        if leg.cancelled and not ended.success:
            # the alert's cancellation gave the delivery its final event
            self._report(leg.work, "attempt_ended", detail={**detail, "cancelled": True})
            self._close(leg)
            return
        if self.stopping and not ended.success and not leg.inbound:
            # cut short by our shutdown: the next start of the node tries again
            detail["interrupted"] = True
            retry = 0.0
        self._report(leg.work, "attempt_ended", detail=detail, retry_after=retry)
        if retry is not None:
            self._close(leg)

    def _place(self, leg: Leg, attempt: int) -> None:
        self._report(leg.work, "calling", detail={"attempt": attempt})
        if not self._try_place(leg):
            self.waiting.append(leg)  # placed when a slot frees (a call ends, a worker starts)

    def _try_place(self, leg: Leg) -> bool:
        if self.link is None:
            return False
        self._seq += 1
        key = f"d{leg.work.delivery_id}a{leg.machine.attempt}n{self._seq}"
        number = rewrite_number(leg.work.address, list(self.config.dial_plan))
        caller = str(leg.work.params.get("sender") or "") if self.config.caller_id_from_sender else ""
        if not self.link.place(pipe.Place(key, self._uri(number), caller, amd=leg.listen)):
            return False
        leg.call_key = key
        self._by_call[key] = leg
        return True

    def _uri(self, number: str) -> str:
        cfg = self.config
        host = cfg.domain or cfg.registrar or cfg.trunk
        params = ";transport=tcp" if cfg.transport == "tcp" else ""
        return f"sip:{number}@{host}{params}"

    def _send(self, command: pipe.CallCommand) -> None:
        if self.link is not None:
            self.link.send(command)

    def _cancel_timer(self, leg: Leg, name: str) -> None:
        handle = leg.timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _on_report(self, leg: Leg, report: Report) -> None:
        detail = dict(report.detail)
        if leg.inbound and leg.caller:
            detail["caller"] = leg.caller
        state: DeliveryState | None = None
        if report.kind == "answered" and not leg.inbound:
            state = DeliveryState.ANSWERED
        elif report.kind in _RESPONSE_KINDS and leg.final_for_delivery:
            state = DeliveryState.RESPONDED
        self._report(leg.work, report.kind, state=state, detail=detail)

    def _finish(self, leg: Leg, fin: Finished) -> None:
        if leg.inbound and fin.outcome == "lost":
            # the caller cannot be called back: the delivery waits for the next call
            self._close(leg)
            return
        result = fin.result
        if leg.inbound:
            # the caller called and listened: a key is an answer, no key still reached them
            result = FinalResult.RESPONDED if fin.response is not None else FinalResult.ANSWERED
        state = {
            FinalResult.ANSWERED: DeliveryState.ANSWERED,
            FinalResult.RESPONDED: DeliveryState.RESPONDED,
            FinalResult.FAILED: DeliveryState.FAILED,
        }[result]
        detail: dict[str, Any] = {
            "outcome": fin.outcome,
            "attempts": fin.attempts,
            "response": fin.response,
            "sip_code": fin.sip_code,
        }
        if leg.inbound and leg.caller:
            detail["caller"] = leg.caller
        final = leg.final_for_delivery
        self._report(leg.work, "completed", state=state if final else None, detail=detail, final=final)
        if leg.inbound and final:
            self._forget_inbound(leg.work)
        self._close(leg)

    def _close(self, leg: Leg) -> None:
        leg.done = True
        for handle in leg.timers.values():
            handle.cancel()
        leg.timers.clear()


_NOT_TIMINGS = frozenset({"call", "verdict", "final", "reason"})


def _timings(ev: pipe.AmdEvent) -> dict[str, Any]:
    """An answering-machine event's numbers (the detail reported with it), rounded to the millisecond."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(ev):
        if f.name not in _NOT_TIMINGS:
            value = getattr(ev, f.name)
            out[f.name] = round(value, 1) if isinstance(value, float) else value
    return out
