"""The voice channel: ``call`` (outbound IVR calls) and ``inboundCall`` (the node answers).

Each delivery of a ``call`` item runs one attempt here: its prompts are prepared as WAV files
(node/voice/prompt_files.py), an :class:`~alertnode.voice.ivr.IvrMachine` decides, and the worker
link (the :class:`~alertnode.voice.supervisor.Supervisor` of worker processes) carries the call;
node/voice/legs.py maps one to the other. Retries go back to the dispatcher: an attempt that reached
no success state and has attempts left is reported with ``retry_after`` (``retry_interval_s``), so a
waiting recipient holds no call slot and survives a restart; the dispatcher hands the delivery back
with ``attempt`` + 1.

Events reported per delivery (``ChannelEvent.kind``): calling, ringing, answered (state ANSWERED),
busy, no_answer, failed (detail ``sip_code``), media (negotiated ``codec``), prompt_played,
prompt_cut, prompt_error, key (detail ``digit``, ``source`` rfc4733/info/inband), say_again,
key_timeout, invalid_key, held / resumed (the far end's hold, detail ``how`` sendonly/inactive and the
cut ``prompt``), amd (answering-machine detection: detail ``verdict`` human/machine/unknown, ``final``,
``reason`` and the timings that decided), amd_beep, amd_greeting_end, voicemail_left, recipientOk /
recipientNotOk (state RESPONDED), hung_up, session_expired (the node ended a
call whose far end stopped refreshing it, RFC 4028), call_timeout, lost, attempt_ended (with
``retry_after`` when another attempt follows), handed_back (the node stopped before dialling) and the
closing ``completed`` with ``final=True`` (state ANSWERED, RESPONDED or FAILED; detail ``outcome``,
``attempts``, ``response``, ``sip_code``).

``inboundCall`` deliveries wait (without using a call slot) for a call to the item's
``telephoneNumber`` (node/voice/inbound.py says which delivery a call belongs to). The caller hears
the content, may press a key, and the delivery closes as RESPONDED (a key) or ANSWERED.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.util
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alertnode.domain import (
    Channel,
    ChannelEvent,
    ChannelInfo,
    DeliveryState,
    DeliveryWork,
    EventSink,
    InboundMessage,
)
from alertnode.domain_info import VoiceInfo
from alertnode.errors import MediaError, Problem
from alertnode.media.amd_config import AmdConfig
from alertnode.media.config import MediaConfig
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store
from alertnode.voice import pipe
from alertnode.voice.config import VoiceConfig
from alertnode.voice.inbound import InboundBook, mask
from alertnode.voice.ivr import IvrMachine, IvrOptions, IvrType, Timeouts
from alertnode.voice.ivr_types import AnsweringMachine
from alertnode.voice.legs import Cancellable, Leg, Legs, Scheduler
from alertnode.voice.link import LinkFactory, OnEvent, WorkerLink
from alertnode.voice.prompt_files import PromptFiles, PromptPreparer, audio_problems
from alertnode.voice.supervisor import Supervisor

log = logging.getLogger(__name__)

if importlib.util.find_spec("pjsua2") is None:
    # the app reports this as "this build has no voice channel" when voice is enabled
    raise ImportError("pjsua2 is not installed: pip install 'alertnode[voice]' (PyPI pjsua2-python)")

# an inboundCall caller hears the content once and may press any key to acknowledge
_INBOUND_OPTIONS = IvrOptions(IvrType.SIMPLE, 1, require_full_play=False, require_response=True)


def _supervisor(config: VoiceConfig, on_event: OnEvent) -> WorkerLink:
    return Supervisor(config, on_event)


def _loop_later(seconds: float, fn: Callable[[], None]) -> Cancellable:
    return asyncio.get_running_loop().call_later(seconds, fn)


class VoiceChannel(Channel):
    name = "voice"
    alert_types = ("call", "inboundCall")

    def __init__(
        self,
        *,
        config: VoiceConfig,
        data_dir: Path,
        media_config: MediaConfig | None = None,
        store: Store | None = None,
        cipher: Cipher | None = None,
        prompts: PromptPreparer | None = None,
        link: LinkFactory | None = None,
        later: Scheduler | None = None,
        **_: object,
    ) -> None:
        """``prompts`` replaces the media prompt cache (tests give WAV content directly); ``link``
        replaces the supervisor of worker processes and ``later`` the event loop's timers (unit tests
        of the IVR-to-worker mapping)."""
        self.config = config
        self.media_config = media_config or MediaConfig()
        self.data_dir = Path(data_dir)
        self._files = PromptFiles(
            data_dir=self.data_dir,
            media_config=self.media_config,
            store=store,
            cipher=cipher,
            preparer=prompts,
            wideband="G722" in config.codecs,
        )
        self._make_link = link or _supervisor
        self._link: WorkerLink | None = None
        self._sink: EventSink | None = None
        self._timeouts = Timeouts(
            ring=config.ring_timeout_s,
            key_wait=config.key_wait_s,
            total=config.max_call_s,
            retry_interval=config.retry_interval_s,
            # beeps are listened for this long after the answer (the detector's own window)
            voicemail_wait=AmdConfig().listen_ms / 1000,
        )
        self._legs = Legs(config, self._report, later or _loop_later, self._forget_inbound)
        self._inbound = InboundBook(config.dial_plan)
        self._preparing = 0
        self._cancelled: set[int] = set()
        self._reports: asyncio.Queue[ChannelEvent | InboundMessage | None] = asyncio.Queue()
        self._reporter: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        try:  # the stock prompts, so no call waits for them (a few decodes: well under a second)
            await self._files.prewarm()
        except (MediaError, OSError) as exc:
            log.warning("voice: stock prompts not prepared at start (calls will prepare them): %s", exc)
        self._reporter = asyncio.create_task(self._report_loop(), name="voice-reports")
        self._link = self._legs.link = self._make_link(self.config, self._on_worker_event)
        await self._link.start()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for every worker (tests and the bench use this; the app need not)."""
        assert self._link is not None
        return await self._link.wait_ready(timeout or self.config.worker_start_timeout_s)

    async def stop(self, grace: float) -> None:
        self._stopping = self._legs.stopping = True
        self._legs.hand_back_waiting()
        self._legs.cancel_timers()
        # the workers hang up every call; an attempt cut short goes back to the queue (see legs.py)
        if self._link is not None:
            await self._link.stop(grace)
        for task in list(self._tasks):
            task.cancel()
        self._files.close()
        await self._reports.put(None)
        if self._reporter is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reporter, timeout=grace)

    async def watch(self, work: DeliveryWork) -> None:
        if work.alert_type == "inboundCall":
            self._inbound.add(work)  # another node reported it waiting; a call reaching this node answers it

    async def cancel(self, delivery_ids: list[int]) -> None:
        """The alert was cancelled: drop its inboundCall expectations and calls not yet dialled, cancel
        ringing calls and hang up answered ones (BYE), inbound calls too. Each delivery already has its
        final event (``cancelled``, from the cancellation itself)."""
        ids = set(delivery_ids)
        self._cancelled |= ids
        self._inbound.remove(ids)
        self._legs.cancel(ids)

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (benchmarks read their CPU and memory)."""
        return self._link.worker_pids() if self._link is not None else []

    def free_capacity(self) -> int:
        if self._link is None or self._stopping:
            return 0
        room = min(self._link.free_slots(), self.config.max_concurrent_calls - self._link.in_flight())
        return max(0, room - len(self._legs.waiting) - self._preparing)

    def ready(self) -> bool:
        if self._link is None:
            return False
        if self.config.registers:
            return bool(self._link.registration().registered)
        return self._link.free_slots() > 0 or self._link.in_flight() > 0

    def info(self) -> ChannelInfo:
        link = self._link
        typed = VoiceInfo(
            waiting_inbound=self._inbound.count(),
            sip_port=link.sip_port() if link is not None else None,
            workers=link.workers_info() if link is not None else None,
            registration=link.registration() if link is not None and self.config.registers else None,
            prompt_cache=self._files.cache_stats(),
        )
        state = "disabled" if not self.config.enabled else ("ready" if self.ready() else "starting")
        return ChannelInfo(
            self.name,
            self.alert_types,
            state,
            self.config.max_concurrent_calls,
            len(self._legs) + len(self._legs.waiting),
            typed=typed,
        )

    def validate_item(self, item: Mapping[str, Any], content: bytes | None, path: str) -> list[Problem]:
        """Audio that would not decode. The IVR's options were checked by the contract
        (``IvrControl.problems``) and its content tags by the expansion, before this runs."""
        return audio_problems(item, content, path, self.media_config)

    # ------------------------------------------------------------------ submit

    async def submit(self, work: DeliveryWork) -> None:
        if work.alert_type == "inboundCall":
            self._inbound.add(work)
            self._report(work, "waiting_for_call", detail={"telephoneNumber": work.params.get("telephoneNumber")})
            return
        if work.delivery_id in self._cancelled:
            return
        try:
            options = IvrOptions.from_params(work.params.get("ivrControl"))
        except ValueError as exc:
            self._fail(work, "ivr_control", f"stored ivrControl is not valid: {exc}")
            return
        if options.answering_machine is None:
            options = dataclasses.replace(options, answering_machine=AnsweringMachine(self.config.answering_machine))
        self._preparing += 1
        try:
            prompts = await self._files.prepare(work)
        except MediaError as exc:
            self._fail(work, "prompt", str(exc))
            return
        finally:
            self._preparing -= 1
        if work.delivery_id in self._cancelled:
            return  # cancelled while its prompts were prepared
        machine = IvrMachine(options, self._timeouts, attempt=work.attempt)
        self._legs.start(Leg(work, machine, prompts, inbound=False))

    def _fail(self, work: DeliveryWork, outcome: str, reason: str) -> None:
        detail = {"outcome": outcome, "reason": reason, "attempts": work.attempt}
        self._report(work, "completed", state=DeliveryState.FAILED, detail=detail, final=True)

    # ------------------------------------------------------------------ worker events

    def _on_worker_event(self, ev: pipe.Event) -> None:
        match ev:
            case pipe.Incoming():
                self._incoming(ev)
            case pipe.Ready():
                self._legs.dispatch_waiting()  # a (re)started worker has room for calls that waited
            case pipe.CommandFailed():
                log.warning("voice worker error on %s: %s", ev.call or "-", ev.message)
            case (
                pipe.Ringing() | pipe.Answered() | pipe.Ended() | pipe.MediaUp() | pipe.Held() | pipe.Resumed()
                | pipe.PromptDone() | pipe.PromptFailed() | pipe.KeyPressed() | pipe.NoSuchCall() | pipe.Lost()
                | pipe.AmdVerdict() | pipe.AmdBeep() | pipe.AmdGreetingEnd()
            ):
                self._legs.on_worker_event(ev)
            case _:
                pass  # the supervisor's own business (ready state, registration, logs)

    def _incoming(self, ev: pipe.Incoming) -> None:
        assert self._link is not None
        found = self._inbound.match(ev.caller_uri, ev.to_uri, ev.ruri, time.time())
        if found.work is None or self._stopping:
            code = 486 if self.config.inbound_unmatched == "busy" else 404
            self._link.send(pipe.Hangup(ev.call, code))
            detail = {"kind": "inboundCall", "sip_code": code}
            self._reports.put_nowait(InboundMessage("voice", found.caller, found.called, "", time.time(), detail))
            log.info(
                "incoming call from %s to %s matches no inboundCall alert", mask(found.caller), mask(found.called)
            )
            return
        work = found.work
        prompts = self._inbound.prompts.get(work.delivery_id)
        machine = IvrMachine(_INBOUND_OPTIONS, self._timeouts, redial_lost=False)
        leg = Leg(work, machine, prompts or {}, inbound=True, caller=found.caller)
        leg.final_for_delivery = found.final_for_delivery
        self._legs.adopt(ev.call, leg)
        if prompts is not None:
            self._legs.answer(leg)
            return
        task = asyncio.create_task(self._answer_inbound(leg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_inbound(self, leg: Leg) -> None:
        try:
            prompts = await self._files.prepare(leg.work)
        except MediaError as exc:
            log.warning("inboundCall prompt failed: %s", exc)
            if leg.call_key and self._link is not None:
                self._link.send(pipe.Hangup(leg.call_key, 500))
            return
        self._inbound.prompts[leg.work.delivery_id] = prompts
        leg.prompts = prompts
        if leg.call_key is None:
            return  # the caller gave up meanwhile
        self._legs.answer(leg)

    def _forget_inbound(self, work: DeliveryWork) -> None:
        self._inbound.remove({work.delivery_id})

    # ------------------------------------------------------------------ reports

    def _report(
        self,
        work: DeliveryWork,
        kind: str,
        *,
        state: DeliveryState | None = None,
        detail: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
        final: bool = False,
    ) -> None:
        self._reports.put_nowait(
            ChannelEvent(work.delivery_id, kind, time.time(), state, dict(detail or {}), retry_after, final)
        )

    async def _report_loop(self) -> None:
        assert self._sink is not None
        while True:
            item = await self._reports.get()
            if item is None:
                return
            try:
                if isinstance(item, InboundMessage):
                    await self._sink.unsolicited(item)
                else:
                    await self._sink.report(item)
            except Exception:  # a store hiccup must not stop later reports
                log.exception("voice: reporting %s failed", getattr(item, "kind", "inbound"))
