"""The voice channel: ``call`` (outbound IVR calls) and ``inboundCall`` (the node answers).

Each delivery of a ``call`` item runs one attempt here: its prompts are prepared as WAV files, an
:class:`~node.voice.ivr.IvrMachine` decides, and the :class:`~node.voice.supervisor.Supervisor`
carries the call in a worker process. Retries go back to the dispatcher: an attempt that reached no
success state and has attempts left is reported with ``retry_after`` (``retry_interval_s``), so a
waiting recipient holds no call slot and survives a restart; the dispatcher hands the delivery
back with ``attempt`` + 1.

Events reported per delivery (``ChannelEvent.kind``): calling, ringing, answered (state ANSWERED),
busy, no_answer, failed (detail ``sip_code``), media (negotiated ``codec``), prompt_played,
prompt_cut, prompt_error, key (detail ``digit``, ``source`` rfc4733/inband), say_again, key_timeout,
recipientOk / recipientNotOk (state RESPONDED),
hung_up, call_timeout, lost, attempt_ended (with ``retry_after`` when another attempt follows) and
the closing ``completed`` with ``final=True`` (state ANSWERED, RESPONDED or FAILED; detail
``outcome``, ``attempts``, ``response``, ``sip_code``).

``inboundCall`` deliveries wait (without using a call slot) for a call to the item's
``telephoneNumber``: the caller whose number is the delivery's address gets that delivery; a caller
matching no recipient is reported on the item's first waiting delivery (not final). The caller
hears the content, may press a key, and the delivery closes as RESPONDED (a key) or ANSWERED.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import logging
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from alertnode.domain import (
    Channel,
    ChannelEvent,
    ChannelInfo,
    DeliveryState,
    DeliveryWork,
    EventSink,
    InboundMessage,
)
from alertnode.errors import MediaError, Problem
from alertnode.logs import log_ids
from alertnode.media.config import MediaConfig
from alertnode.media.decode import validate_prompt
from alertnode.media.prompts import PromptCache, content_bytes
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store
from alertnode.voice import ivr
from alertnode.voice.config import VoiceConfig, rewrite_number
from alertnode.voice.ivr import (
    Action,
    AttemptEnded,
    CallEnded,
    CancelTimer,
    Digit,
    Event,
    FinalResult,
    Finished,
    HangUp,
    IvrControl,
    IvrMachine,
    IvrType,
    Phase,
    PlaceCall,
    PlayPrompts,
    PromptFinished,
    Report,
    Start,
    StartTimer,
    StopPlayback,
    Timeouts,
    TimerFired,
    WorkerLost,
)
from alertnode.voice.supervisor import Supervisor

log = logging.getLogger(__name__)

if importlib.util.find_spec("pjsua2") is None:
    # the app reports this as "this build has no voice channel" when voice is enabled
    raise ImportError("pjsua2 is not installed: pip install 'alertnode[voice]' (PyPI pjsua2-python)")

_RESPONSE_KINDS = {"recipientOk", "recipientNotOk"}


class PromptPreparer(Protocol):
    def __call__(self, voice_format: str, content: bytes, tts: Mapping[str, Any] | None) -> Path:
        """A WAV file pjsua2 can play (16-bit PCM) for this content; raises MediaError."""


def mask(number: str) -> str:
    """A phone number for logs: all but the last three digits hidden."""
    return "*" * max(len(number) - 3, 0) + number[-3:]


def _digits(number: str) -> str:
    return re.sub(r"[^0-9]", "", number)


def _uri_user(uri: str) -> str:
    """The user part of a SIP URI or name-addr (``"x" <sip:+44123@host;user=phone>`` → ``+44123``)."""
    m = re.search(r"sips?:([^@;>]+)@", uri)
    if m:
        return m.group(1)
    m = re.search(r"(?:tel:)([^;>]+)", uri)
    return m.group(1) if m else ""


@dataclass
class _Leg:
    """One call attempt of one delivery (or one inbound call)."""

    work: DeliveryWork
    machine: IvrMachine
    prompts: dict[str, Path]
    inbound: bool
    final_for_delivery: bool = True
    caller: str = ""
    call_key: str | None = None
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    done: bool = False
    cancelled: bool = False


def _leg_ids(leg: _Leg) -> contextlib.AbstractContextManager[None]:
    return log_ids(alert_ref=leg.work.alert_ref or None, delivery_id=leg.work.delivery_id or None,
                   call_id=leg.call_key)


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
        **_: object,
    ) -> None:
        """``prompts`` replaces the media prompt cache (tests give WAV content directly)."""
        self.config = config
        self.media_config = media_config or MediaConfig()
        self.store = store
        self.cipher = cipher
        self.data_dir = Path(data_dir)
        self._prompts = prompts
        self._cache: PromptCache | None = None
        self._sink: EventSink | None = None
        self._sup: Supervisor | None = None
        self._legs: dict[str, _Leg] = {}
        self._waiting: deque[_Leg] = deque()
        self._preparing = 0
        self._inbound: dict[str, list[DeliveryWork]] = {}
        self._inbound_prompts: dict[int, dict[str, Path]] = {}
        self._cancelled: set[int] = set()
        self._reports: asyncio.Queue[ChannelEvent | InboundMessage | None] = asyncio.Queue()
        self._reporter: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self._timeouts = Timeouts(
            ring=config.ring_timeout_s,
            key_wait=config.key_wait_s,
            total=config.max_call_s,
            retry_interval=config.retry_interval_s,
        )
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        self._reporter = asyncio.create_task(self._report_loop(), name="voice-reports")
        self._sup = Supervisor(self.config, self._on_worker_event)
        await self._sup.start()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for every worker (tests and the bench use this; the app need not)."""
        assert self._sup is not None
        return await self._sup.wait_ready(timeout or self.config.worker_start_timeout_s)

    async def stop(self, grace: float) -> None:
        self._stopping = True
        while self._waiting:  # never dialled: straight back to the queue
            leg = self._waiting.popleft()
            self._report(leg.work, "handed_back", detail={"attempt": leg.machine.attempt}, retry_after=0.0)
            self._close(leg)
        for leg in self._legs.values():
            for handle in leg.timers.values():
                handle.cancel()
        # the workers hang up every call; an attempt cut short goes back to the queue (see _do)
        if self._sup is not None:
            await self._sup.stop(grace)
        for task in list(self._tasks):
            task.cancel()
        if self._cache is not None:
            self._cache.close()
        await self._reports.put(None)
        if self._reporter is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reporter, timeout=grace)

    async def cancel(self, delivery_ids: list[int]) -> None:
        """Drop cancelled deliveries still waiting here: inboundCall expectations, calls not yet
        dialled or still ringing (hung up). An answered call plays on."""
        ids = set(delivery_ids)
        self._cancelled |= ids
        for number, works in list(self._inbound.items()):
            self._inbound[number] = [w for w in works if w.delivery_id not in ids]
        for leg in [leg for leg in self._waiting if leg.work.delivery_id in ids]:
            self._waiting.remove(leg)
            self._close(leg)
        for leg in list(self._legs.values()):
            if leg.work.delivery_id in ids and not leg.inbound:
                leg.cancelled = True
                if leg.machine.phase is Phase.DIALLING and leg.call_key and self._sup is not None:
                    self._sup.send(leg.call_key, {"op": "hangup"})

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (benchmarks read their CPU and memory)."""
        return self._sup.worker_pids() if self._sup is not None else []

    def free_capacity(self) -> int:
        if self._sup is None or self._stopping:
            return 0
        room = min(self._sup.free_slots(), self.config.max_concurrent_calls - self._sup.in_flight())
        return max(0, room - len(self._waiting) - self._preparing)

    def ready(self) -> bool:
        if self._sup is None:
            return False
        if self.config.registers:
            return bool(self._sup.registration().get("registered"))
        return self._sup.free_slots() > 0 or self._sup.in_flight() > 0

    def info(self) -> ChannelInfo:
        details: dict[str, Any] = {}
        if self._sup is not None:
            details["workers"] = self._sup.workers_info()
            if self.config.registers:
                details["registration"] = self._sup.registration()
        details["waitingInbound"] = sum(len(v) for v in self._inbound.values())
        if self._cache is not None:
            details["promptCache"] = {"hits": self._cache.hits, "misses": self._cache.misses}
        state = "disabled" if not self.config.enabled else ("ready" if self.ready() else "starting")
        return ChannelInfo(
            self.name,
            self.alert_types,
            state,
            self.config.max_concurrent_calls,
            len(self._legs) + len(self._waiting),
            details,
        )

    # ------------------------------------------------------------------ request-time checks

    def validate_item(self, item: Mapping[str, Any], content: bytes | None, path: str) -> list[Problem]:
        out = [Problem(p, m) for p, m in ivr.problems(item.get("ivrControl"), f"{path}.ivrControl")]
        kind = (item.get("ivrControl") or {}).get("ivrType", "simple")
        tags = [str(a.get("contentTag")) for a in item.get("additionalContent") or [] if isinstance(a, Mapping)]
        if kind == "replay":
            for tag in ivr.REPLAY_TAGS:
                if tag not in tags:
                    out.append(Problem(f"{path}.additionalContent", f"the replay IVR needs contentTag {tag!r}"))
        for i, tag in enumerate(tags):
            allowed = ivr.REPLAY_TAGS if kind == "replay" else ()
            if tag not in allowed:
                out.append(Problem(f"{path}.additionalContent[{i}].contentTag", f"not used by the {kind} IVR"))
        if content is not None and item.get("voiceFormat"):
            out.extend(validate_prompt(item.get("voiceFormat"), content, item.get("tts"), path, self.media_config))
        for i, add in enumerate(item.get("additionalContent") or []):
            if isinstance(add, Mapping) and add.get("content") is not None and add.get("voiceFormat"):
                where = f"{path}.additionalContent[{i}]"
                try:
                    data = content_bytes(add, f"{where}.content")
                except MediaError as exc:
                    out.append(Problem(exc.path, str(exc)))
                    continue
                out.extend(validate_prompt(add.get("voiceFormat"), data, add.get("tts"), where, self.media_config))
        return out

    # ------------------------------------------------------------------ submit

    async def submit(self, work: DeliveryWork) -> None:
        if work.alert_type == "inboundCall":
            number = _digits(str(work.params.get("telephoneNumber", "")))
            waiting = self._inbound.setdefault(number, [])
            waiting[:] = [w for w in waiting if w.delivery_id != work.delivery_id]  # handed over again
            waiting.append(work)
            self._report(work, "waiting_for_call", detail={"telephoneNumber": work.params.get("telephoneNumber")})
            return
        if work.delivery_id in self._cancelled:
            return
        self._preparing += 1
        try:
            prompts = await self._prepare(work)
        except MediaError as exc:
            self._report(
                work,
                "completed",
                state=DeliveryState.FAILED,
                detail={"outcome": "prompt", "reason": str(exc), "attempts": work.attempt},
                final=True,
            )
            return
        finally:
            self._preparing -= 1
        if work.delivery_id in self._cancelled:
            return  # cancelled while its prompts were prepared
        control = IvrControl.from_request(work.params.get("ivrControl"))
        leg = _Leg(work, IvrMachine(control, self._timeouts, first_attempt=work.attempt), prompts, inbound=False)
        self._feed(leg, Start())

    async def _prepare(self, work: DeliveryWork) -> dict[str, Path]:
        """WAV files for the main content and (replay) the pre/post/done prompts."""
        params = work.params
        voice_format = str(params.get("voiceFormat") or "tts")
        main_content = work.text.encode("utf-8") if voice_format == "tts" and work.text is not None else work.content
        jobs: dict[str, tuple[str, bytes, Mapping[str, Any] | None]] = {
            "main": (voice_format, main_content, params.get("tts"))
        }
        items = list(params.get("additionalContent") or [])
        stored = await self._stored([str(a["storedContent"]) for a in items if a.get("storedContent")])
        for i, add in enumerate(items):
            tag = str(add.get("contentTag"))
            where = f"additionalContent[{i}]"
            fmt: str | None
            if add.get("content") is not None:
                data = content_bytes(add, f"{where}.content")
                fmt = add.get("voiceFormat")
            else:
                found = stored.get(str(add.get("storedContent")))
                if found is None:
                    raise MediaError("storedContent is gone (expired or deleted)", f"{where}.storedContent")
                data, fmt = found
                fmt = add.get("voiceFormat") or fmt
            jobs[tag] = (str(fmt or "tts"), data, add.get("tts"))
        preparer = self._prompts or self._media_preparer()
        out: dict[str, Path] = {}
        for tag, (fmt, data, tts) in jobs.items():
            out[tag] = await asyncio.to_thread(preparer, fmt, data, tts)
        return out

    async def _stored(self, uuids: list[str]) -> dict[str, tuple[bytes, str | None]]:
        """additionalContent given as storedContent: (bytes, voiceFormat) per uuid still stored."""
        if not uuids or self.store is None or self.cipher is None:
            return {}
        from alertnode.store import repo

        cipher = self.cipher
        now = time.time()
        rows = await self.store.read(lambda conn: repo.get_stored(conn, cipher, uuids, now))
        out: dict[str, tuple[bytes, str | None]] = {}
        for uuid, (kind, value) in rows.items():
            if kind == "content" and isinstance(value, Mapping) and "data" in value:
                out[uuid] = (base64.b64decode(value["data"]), value.get("voiceFormat"))
        return out

    def _media_preparer(self) -> PromptPreparer:
        cache = PromptCache(self.data_dir / self.media_config.prompt_cache_dir, self.media_config)
        self._cache = cache

        def prepare(voice_format: str, content: bytes, tts: Mapping[str, Any] | None) -> Path:
            return Path(cache.prepare(voice_format, content, tts, 8000))

        self._prompts = prepare
        return prepare

    # ------------------------------------------------------------------ the machine's actions

    def _feed(self, leg: _Leg, event: Event) -> None:
        if leg.done:
            return
        with _leg_ids(leg):
            self._feed_machine(leg, event)

    def _feed_machine(self, leg: _Leg, event: Event) -> None:
        try:
            actions = leg.machine.handle(event, time.monotonic())
        except Exception:
            log.exception("IVR machine failed on %s", type(event).__name__)
            actions = [HangUp()]
        try:
            for action in actions:
                if leg.done:
                    break  # handed back or finished: later actions (a retry timer) are moot
                self._do(leg, action)
        except Exception:  # a bug here must not strand the call: end it, its CallEnded follows
            log.exception("voice: carrying out the IVR's actions failed")
            if leg.call_key and self._sup is not None:
                self._sup.send(leg.call_key, {"op": "hangup"})

    def _do(self, leg: _Leg, action: Action) -> None:
        sup = self._sup
        assert sup is not None
        match action:
            case PlaceCall():
                if leg.inbound:
                    assert leg.call_key is not None
                    sup.send(leg.call_key, {"op": "answer"})
                else:
                    self._place(leg, action.attempt)
            case PlayPrompts():
                if leg.call_key:
                    sup.send(
                        leg.call_key,
                        {"op": "play", "prompts": [[p, str(leg.prompts[p])] for p in action.prompts]},
                    )
            case StopPlayback():
                if leg.call_key:
                    sup.send(leg.call_key, {"op": "stop"})
            case HangUp():
                if leg in self._waiting:
                    self._waiting.remove(leg)
                    self._feed(leg, CallEnded(487, by_remote=False, reason="cancelled before dialling"))
                elif leg.call_key:
                    sup.send(leg.call_key, {"op": "hangup"})
            case StartTimer():
                self._cancel_timer(leg, action.name)
                if action.name == "retry" and not leg.inbound:
                    return  # the retry_after of attempt_ended carries it to the dispatcher
                loop = asyncio.get_running_loop()
                leg.timers[action.name] = loop.call_later(action.seconds, self._feed, leg, TimerFired(action.name))
            case CancelTimer():
                self._cancel_timer(leg, action.name)
            case Report():
                self._on_report(leg, action)
            case AttemptEnded():
                detail: dict[str, Any] = {
                    "attempt": action.attempt,
                    "outcome": action.outcome,
                    "success": action.success,
                }
                retry = self._timeouts.retry_interval if action.will_retry and not leg.inbound else None
                if leg.cancelled and not action.success:
                    self._report(leg.work, "attempt_ended", detail={**detail, "cancelled": True})
                    self._close(leg)
                    return
                if self._stopping and not action.success and not leg.inbound:
                    # cut short by our shutdown: the next start of the node tries again
                    detail["interrupted"] = True
                    retry = 0.0
                self._report(leg.work, "attempt_ended", detail=detail, retry_after=retry)
                if retry is not None:
                    self._close(leg)
            case Finished():
                self._finish(leg, action)

    def _place(self, leg: _Leg, attempt: int) -> None:
        self._report(leg.work, "calling", detail={"attempt": attempt})
        if not self._try_place(leg):
            self._waiting.append(leg)  # placed when a slot frees (a call ends, a worker starts)

    def _try_place(self, leg: _Leg) -> bool:
        assert self._sup is not None
        self._seq += 1
        key = f"d{leg.work.delivery_id}a{leg.machine.attempt}n{self._seq}"
        number = rewrite_number(leg.work.address, list(self.config.dial_plan))
        caller = str(leg.work.params.get("sender") or "") if self.config.caller_id_from_sender else ""
        if not self._sup.place(key, self._uri(number), caller):
            return False
        leg.call_key = key
        self._legs[key] = leg
        return True

    def _uri(self, number: str) -> str:
        cfg = self.config
        host = cfg.domain or cfg.registrar or cfg.trunk
        params = ";transport=tcp" if cfg.transport == "tcp" else ""
        return f"sip:{number}@{host}{params}"

    def _dispatch_waiting(self) -> None:
        assert self._sup is not None
        while self._waiting and self._sup.free_slots() > 0:
            leg = self._waiting.popleft()
            if not self._try_place(leg):
                self._waiting.appendleft(leg)
                return

    def _cancel_timer(self, leg: _Leg, name: str) -> None:
        handle = leg.timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _on_report(self, leg: _Leg, report: Report) -> None:
        detail = dict(report.detail)
        if leg.inbound and leg.caller:
            detail["caller"] = leg.caller
        state: DeliveryState | None = None
        if report.kind == "answered" and not leg.inbound:
            state = DeliveryState.ANSWERED
        elif report.kind in _RESPONSE_KINDS and leg.final_for_delivery:
            state = DeliveryState.RESPONDED
        self._report(leg.work, report.kind, state=state, detail=detail)

    def _finish(self, leg: _Leg, fin: Finished) -> None:
        if leg.inbound:
            # the caller called and listened: a key is an answer, no key still reached them
            result = FinalResult.RESPONDED if fin.response is not None else FinalResult.ANSWERED
            if fin.outcome == "lost":
                result = FinalResult.FAILED
        else:
            result = fin.result
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

    def _close(self, leg: _Leg) -> None:
        leg.done = True
        for handle in leg.timers.values():
            handle.cancel()
        leg.timers.clear()

    # ------------------------------------------------------------------ worker events

    def _on_worker_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("ev")
        key = str(ev.get("call") or "")
        if kind == "incoming":
            self._incoming(key, str(ev.get("from", "")), str(ev.get("to", "")), str(ev.get("ruri", "")))
            return
        if kind == "ready":
            self._dispatch_waiting()  # a (re)started worker has room for calls that waited
            return
        if kind == "error":
            log.warning("voice worker error on %s: %s", key or "-", ev.get("message"))
            if key in self._legs and ev.get("message") == "no such call":
                # the worker has no such call (any more): end it here too, or the IVR waits forever
                ev = {"ev": "ended", "call": key, "code": 500, "reason": "call unknown to its worker"}
                kind = "ended"
            else:
                return
        leg = self._legs.get(key)
        if leg is None:
            return
        event: Event | None = None
        if kind == "prompt_error":
            # the callee would hear silence until the call time-out: end the call instead
            with _leg_ids(leg):
                log.error("voice: prompt %s cannot be played: %s", ev.get("prompt"), ev.get("message"))
            self._report(leg.work, "prompt_error", detail={"prompt": ev.get("prompt"), "reason": ev.get("message")})
            if self._sup is not None:
                self._sup.send(key, {"op": "hangup"})
            return
        if kind == "media":
            detail = {
                "codec": ev.get("codec"),
                "clock_rate": ev.get("clock_rate"),
                "event_pt": ev.get("event_pt"),
            }
            self._report(leg.work, "media", detail=detail)
            return
        if kind == "ringing":
            event = ivr.Ringing()
        elif kind == "answered":
            event = ivr.Answered()
        elif kind == "prompt":
            event = PromptFinished(str(ev.get("prompt")))
        elif kind == "digit":
            event = Digit(str(ev.get("digit")), str(ev.get("source", "rfc4733")))
        elif kind == "ended":
            del self._legs[key]
            leg.call_key = None
            event = CallEnded(int(ev.get("code") or 0), bool(ev.get("by_remote")), str(ev.get("reason") or ""))
        elif kind == "lost":
            self._legs.pop(key, None)
            leg.call_key = None
            event = WorkerLost()
        if event is not None:
            self._feed(leg, event)
        if kind in ("ended", "lost"):
            self._dispatch_waiting()

    def _incoming(self, key: str, from_uri: str, to_uri: str, ruri: str = "") -> None:
        """Match the called number: the Request-URI user (a trunk delivering the DID), else the To
        user (a PBX forwarding to the node's registered contact keeps the dialled number in To)."""
        assert self._sup is not None
        caller = _uri_user(from_uri)
        called = ""
        works: list[DeliveryWork] = []
        for candidate in (_digits(_uri_user(ruri)), _digits(_uri_user(to_uri))):
            if candidate and not works:
                called = candidate
                works = self._match_inbound(candidate)
        called = called or _digits(_uri_user(to_uri))
        if not works or self._stopping:
            code = 486 if self.config.inbound_unmatched == "busy" else 404
            self._sup.send(key, {"op": "hangup", "code": code})
            self._reports.put_nowait(
                InboundMessage("voice", caller, called, "", time.time(), {"kind": "inboundCall", "sip_code": code})
            )
            log.info("incoming call from %s to %s matches no inboundCall alert", mask(caller), mask(called))
            return
        mine = [w for w in works if _digits(w.address) and _digits(w.address) == _digits(caller)]
        work = mine[0] if mine else works[0]
        control = IvrControl(IvrType.SIMPLE, 1, require_full_play=False, require_response=True)
        prompts = self._inbound_prompts.get(work.delivery_id)
        leg = _Leg(work, IvrMachine(control, self._timeouts), prompts or {}, inbound=True, caller=caller)
        leg.final_for_delivery = bool(mine)
        leg.call_key = key
        self._legs[key] = leg
        if prompts is None:
            task = asyncio.create_task(self._answer_inbound(leg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._feed(leg, Start())
            self._feed(leg, ivr.Answered())

    async def _answer_inbound(self, leg: _Leg) -> None:
        try:
            prompts = await self._prepare(leg.work)
        except MediaError as exc:
            log.warning("inboundCall prompt failed: %s", exc)
            if leg.call_key:
                assert self._sup is not None
                self._sup.send(leg.call_key, {"op": "hangup", "code": 500})
            return
        self._inbound_prompts[leg.work.delivery_id] = prompts
        leg.prompts = prompts
        if leg.call_key is None:
            return  # the caller gave up meanwhile
        self._feed(leg, Start())
        self._feed(leg, ivr.Answered())

    def _match_inbound(self, called: str) -> list[DeliveryWork]:
        if not called:
            return []
        now = time.time()
        for number, works in self._inbound.items():
            live = [w for w in works if w.expires_at is None or w.expires_at > now]
            self._inbound[number] = live
            if live and called in (number, self._dialled_form(number)):
                return live
        return []

    def _dialled_form(self, digits: str) -> str:
        return _digits(rewrite_number("+" + digits, list(self.config.dial_plan)))

    def _forget_inbound(self, work: DeliveryWork) -> None:
        for number, works in self._inbound.items():
            self._inbound[number] = [w for w in works if w.delivery_id != work.delivery_id]
        self._inbound_prompts.pop(work.delivery_id, None)

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
