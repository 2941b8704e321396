"""The voice worker: one process owning one pjsua2 Endpoint, carrying at most 4 calls.

This is the pjsua2 adapter. It places, answers, plays prompts into and tears down calls on commands
from its supervisor, and reports what happens; it takes no IVR decision (node/voice/ivr.py does).

Run as ``python -m node.voice.worker``. The protocol is JSON lines: commands on stdin, events on
stdout. The first line is the ``init`` command. pjsua2 writes its own log to stderr; the real
stdout descriptor is kept for the protocol and descriptor 1 is pointed at stderr so no C library can
corrupt it.

Commands (``op``)::

    init      {sip_port, rtp_port, rtp_range, bind_host, transport, codecs, registrar, do_register, user,
               auth_user, password, realm, domain, proxy, expiry, trunk, inbound, max_calls, log_level}
              (registrar set: From is user@domain, only a worker with do_register REGISTERs; else trunk)
    call      {call, uri, caller}            place a call; ``call`` is the supervisor's key
    play      {call, prompts: [[name, wav path], ...]}   play one after the other
    stop      {call}                         stop playback
    hangup    {call, code?}                  hang up (or cancel, or reject an incoming call)
    answer    {call}                         answer an incoming call (200)
    shutdown  {}                             hang up everything, destroy the library, exit

Events (``ev``)::

    ready     {sip_port}                     the endpoint runs; commands are accepted
    reg       {active, code, reason, expires}
    ringing   {call}
    answered  {call}
    ended     {call, code, reason, by_remote, connected}
    media     {call, codec, clock_rate, event_pt}   audio flows (again, after a re-INVITE)
    prompt    {call, prompt}                 a prompt was played to its end
    prompt_error {call, prompt, message}     a prompt file could not be played
    digit     {call, digit, source}          source: rfc4733 | inband; each press once
    incoming  {call, from, to, ruri}         an incoming call waits for answer or hangup
    error     {call?, message}               a command could not be carried out
    fatal     {message}                      the endpoint could not start; the process exits
    log       {level, message}               a log record of this process
    bye       {}                             the library is destroyed; the process exits

Threads (DESIGN.md, "pjsua2 facts measured here"): ``threadCnt=0`` and ``mainThreadOnly`` make
every SIP callback run in this process's main loop, inside ``libHandleEvents``. ``onFrameReceived``
and ``onEof2`` run on the media clock thread and only append to deques; the main loop drains them.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from alertnode.voice.ivr import DigitDeduper

log = logging.getLogger(__name__)

# 20 ms frames at 8 kHz, 16-bit mono: what the conference bridge hands the tap port and what the
# in-band detector takes (ITU-T G.711 framing, DESIGN.md "DTMF detection").
CLOCK_RATE = 8000
FRAME_SAMPLES = 160
PTIME_MS = 20
_CODEC_IDS = {"PCMA": "PCMA/8000", "PCMU": "PCMU/8000", "G722": "G722/16000"}
_LOOP_WAIT_MS = 10
_BURY_AFTER_S = 0.1


def _vector_reader() -> Callable[[Any], bytes]:
    """A cheap copy of a pjsua2 ``ByteVector`` (std::vector<unsigned char>).

    ``bytes(frame.buf)`` iterates element by element through SWIG (~200-400 µs per 320-byte frame,
    measured here); reading the vector's begin/end pointers (libstdc++ layout) and copying with
    ``ctypes.string_at`` takes ~2 µs. The layout is checked once against the slow path; if it does
    not match, the slow path is used."""
    import pjsua2 as pj

    def slow(vec: Any) -> bytes:
        return bytes(vec)

    def fast(vec: Any) -> bytes:
        addr = int(vec.this)
        begin = ctypes.c_void_p.from_address(addr).value or 0
        end = ctypes.c_void_p.from_address(addr + ctypes.sizeof(ctypes.c_void_p)).value or 0
        if end <= begin or end - begin > 65536:
            return b""
        return ctypes.string_at(begin, end - begin)

    probe = pj.ByteVector()
    for i in range(320):
        probe.append((i * 7) % 256)
    try:
        if fast(probe) == slow(probe):
            return fast
    except (ValueError, OSError, TypeError):
        pass
    return slow


class _Inband:
    """Feeds the received audio of all calls of a tick as one (slots, 160) batch to the detector.

    The conference bridge hands every port its frame in the same clock tick, so after a drain the
    calls usually hold the same number of frames. Only whole ticks are processed; a call whose
    frames stop (hold, media gone) is padded with silence once another call is ``_MAX_LAG`` frames
    ahead, which bounds the delay of a key."""

    _MAX_LAG = 3

    def __init__(self, slots: int) -> None:
        from alertnode.media.dtmf import DtmfDetector, DtmfEventKind

        self._start_kind = DtmfEventKind.START
        self._det = DtmfDetector(slots)
        self._slot_of: dict[str, int] = {}
        self._free = list(range(slots))
        self._fifo: dict[str, collections.deque[bytes]] = {}
        self._tick_ms = 0.0
        self._batch = np.zeros((slots, FRAME_SAMPLES), dtype=np.int16)

    def attach(self, key: str) -> bool:
        if key in self._slot_of:
            return True
        if not self._free:
            return False
        slot = self._free.pop(0)
        self._det.reset(slot)
        self._slot_of[key] = slot
        self._fifo[key] = collections.deque()
        return True

    def drop(self, key: str) -> None:
        slot = self._slot_of.pop(key, None)
        self._fifo.pop(key, None)
        if slot is not None:
            self._free.append(slot)

    def push(self, key: str, frame: bytes) -> None:
        fifo = self._fifo.get(key)
        if fifo is not None and len(frame) == 2 * FRAME_SAMPLES:
            fifo.append(frame)

    def run(self) -> list[tuple[str, str]]:
        """Process every complete tick; returns (call, digit) for each digit that started."""
        out: list[tuple[str, str]] = []
        while self._fifo:
            lengths = [len(f) for f in self._fifo.values()]
            if max(lengths) == 0 or (min(lengths) == 0 and max(lengths) < self._MAX_LAG):
                break
            batch = self._batch
            batch[:] = 0
            for key, fifo in self._fifo.items():
                if fifo:
                    batch[self._slot_of[key]] = np.frombuffer(fifo.popleft(), dtype="<i2")
            by_slot = {slot: key for key, slot in self._slot_of.items()}
            for ev in self._det.process(batch, self._tick_ms):
                if ev.kind is self._start_kind and ev.channel in by_slot:
                    out.append((by_slot[ev.channel], ev.digit))
            self._tick_ms += PTIME_MS
        return out


class _Proto:
    """The event stream to the supervisor; written from the main loop and, for log records, from
    any thread, hence the lock."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, data: dict[str, Any]) -> None:
        line = json.dumps(data, separators=(",", ":")) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


class _ProtoLogHandler(logging.Handler):
    """Log records of the worker process travel to the supervisor, which logs them in the node's
    own format (only the node's entry point configures handlers)."""

    def __init__(self, proto: _Proto) -> None:
        super().__init__(logging.INFO)
        self._proto = proto

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._proto.write({"ev": "log", "level": record.levelno, "message": record.getMessage()})
        except (OSError, ValueError, TypeError):  # logging must never raise; the pipe may be gone
            self.handleError(record)


@dataclass
class _CallState:
    key: str
    call: Any
    outbound: bool
    prompts: list[tuple[str, str]] = field(default_factory=list)
    player: Any = None
    playing: str | None = None
    tap: Any = None
    media: Any = None
    media_slot: int = -1
    rang: bool = False
    connected: bool = False
    hung_up_by_us: bool = False
    ended: bool = False
    generation: int = 0


class Worker:
    """The main loop and every pjsua2 object of this process."""

    def __init__(self, cfg: dict[str, Any], out: _Proto) -> None:
        self.cfg = cfg
        self._out = out
        self._commands: collections.deque[dict[str, Any]] = collections.deque()
        self._media_events: collections.deque[tuple[str, str, int, str]] = collections.deque()
        self._frames: collections.deque[tuple[str, bytes]] = collections.deque()
        self._calls: dict[str, _CallState] = {}
        # (object, when): players and failed calls, deleted a little later (see _bury)
        self._graveyard: list[tuple[Any, float]] = []
        self._dead_calls: list[Any] = []
        self._taps: list[Any] = []
        self._free_taps: list[Any] = []
        self._quarantine: list[Any] = []
        self._dedup: dict[str, DigitDeduper] = {}
        self._stop = False
        self._inbound_seq = 0
        self._ep: Any = None
        self._acc: Any = None
        self._caller_accounts: dict[str, Any] = {}
        self._read = _vector_reader()
        self._inband = _Inband(int(cfg.get("max_calls", 4)))

    # ------------------------------------------------------------------ I/O with the supervisor

    def emit(self, ev: str, **data: Any) -> None:
        data["ev"] = ev
        self._out.write(data)

    def _read_commands(self, stream: TextIO) -> None:
        for line in stream:
            line = line.strip()
            if not line:
                continue
            try:
                self._commands.append(json.loads(line))
            except ValueError:
                log.warning("worker: unreadable command line ignored")
        self._commands.append({"op": "shutdown", "eof": True})

    # ------------------------------------------------------------------ library set-up

    def start(self) -> None:
        import pjsua2 as pj

        cfg = self.cfg
        ep = self._ep = pj.Endpoint()
        # pjsua logs its start-up banner at level 5 before libInit applies logConfig: silence stdout
        # (pjsua's console) for libCreate only, then send it to stderr again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            ep.libCreate()
        finally:
            os.dup2(2, 1)
            os.close(devnull)
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0
        ep_cfg.uaConfig.mainThreadOnly = True
        ep_cfg.uaConfig.maxCalls = int(cfg.get("max_calls", 4))
        ep_cfg.uaConfig.userAgent = "alertnode"
        ep_cfg.logConfig.level = int(cfg.get("log_level", 1))
        ep_cfg.logConfig.consoleLevel = int(cfg.get("log_level", 1))
        ep_cfg.medConfig.clockRate = CLOCK_RATE
        ep_cfg.medConfig.sndClockRate = CLOCK_RATE
        ep_cfg.medConfig.audioFramePtime = PTIME_MS
        ep_cfg.medConfig.ptime = PTIME_MS
        ep_cfg.medConfig.channelCount = 1
        # no echo canceller and no VAD: prompts out, keys in; saves CPU per call
        ep_cfg.medConfig.ecTailLen = 0
        ep_cfg.medConfig.noVad = True
        ep.libInit(ep_cfg)

        tcfg = pj.TransportConfig()
        tcfg.port = int(cfg.get("sip_port", 0))
        tcfg.boundAddress = cfg["bind_host"]
        tcfg.publicAddress = cfg["bind_host"]
        kind = pj.PJSIP_TRANSPORT_TCP if cfg.get("transport") == "tcp" else pj.PJSIP_TRANSPORT_UDP
        tid = ep.transportCreate(kind, tcfg)
        sip_port = ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1]
        ep.audDevManager().setNullDev()

        wanted = list(cfg.get("codecs") or ["PCMA", "PCMU"])
        for info in ep.codecEnum2():
            ep.codecSetPriority(info.codecId, 0)
        for rank, name in enumerate(wanted):
            with contextlib.suppress(pj.Error):
                ep.codecSetPriority(_CODEC_IDS[name], 250 - rank)
        ep.libStart()
        self._make_taps()
        self._acc = self._make_account(None)
        self.emit("ready", sip_port=int(sip_port))

    def _account_config(self, caller: str | None) -> Any:
        import pjsua2 as pj

        cfg = self.cfg
        acfg = pj.AccountConfig()
        host = cfg["bind_host"]
        registrar = cfg.get("registrar") or ""
        transport_param = ";transport=tcp" if cfg.get("transport") == "tcp" else ""
        if registrar:
            domain = cfg.get("domain") or registrar
            acfg.idUri = f"sip:{cfg['user']}@{domain}"
            if cfg.get("do_register", True):
                acfg.regConfig.registrarUri = f"sip:{registrar}{transport_param}"
                acfg.regConfig.timeoutSec = int(cfg.get("expiry", 300))
                acfg.regConfig.registerOnAdd = True
                acfg.regConfig.retryIntervalSec = 30
            else:
                acfg.regConfig.registerOnAdd = False
        else:
            user = caller or "alertnode"
            acfg.idUri = f"sip:{user}@{host}"
            acfg.regConfig.registerOnAdd = False
        proxy = cfg.get("proxy") or ""
        if proxy:
            acfg.sipConfig.proxies.append(f"sip:{proxy};lr{transport_param}")
        if cfg.get("password") or cfg.get("auth_user"):
            cred = pj.AuthCredInfo(
                "digest",
                cfg.get("realm") or "*",
                cfg.get("auth_user") or cfg.get("user") or "",
                0,
                cfg.get("password") or "",
            )
            acfg.sipConfig.authCreds.append(cred)
        acfg.mediaConfig.transportConfig.port = int(cfg["rtp_port"])
        acfg.mediaConfig.transportConfig.portRange = int(cfg["rtp_range"])
        acfg.mediaConfig.transportConfig.boundAddress = host
        acfg.mediaConfig.transportConfig.publicAddress = host
        return acfg

    def _make_account(self, caller: str | None) -> Any:
        acc = _Account(self)
        acc.create(self._account_config(caller), caller is None)
        return acc

    def _account_for(self, caller: str) -> Any:
        """Trunk mode shows the caller id in From (a per-caller account, PJSUA_MAX_ACC is 8); with a
        registration the From stays the registered AOR and the caller id goes in
        P-Asserted-Identity (RFC 3325 §9.1)."""
        if self.cfg.get("registrar") or not caller:
            return self._acc
        acc = self._caller_accounts.get(caller)
        if acc is None and len(self._caller_accounts) < 5:
            acc = self._caller_accounts[caller] = self._make_account(caller)
        return acc or self._acc

    # ------------------------------------------------------------------ main loop

    def run(self, commands: TextIO) -> None:
        import pjsua2 as pj

        try:
            self.start()
        except pj.Error as exc:
            # e.g. the SIP port is taken: say why before exiting, the supervisor logs it
            self.emit("fatal", message=f"{exc.title}: {exc.reason}")
            raise SystemExit(1) from exc
        reader = threading.Thread(target=self._read_commands, args=(commands,), daemon=True)
        reader.start()
        deadline: float | None = None
        while True:
            self._ep.libHandleEvents(_LOOP_WAIT_MS)
            # dead Call objects go before any command can place a call that reuses their ids
            self._bury_calls()
            while self._commands:
                cmd = self._commands.popleft()
                try:
                    self._command(cmd)
                except Exception as exc:  # a bad command must not end the worker
                    log.exception("worker: command %s failed", cmd.get("op"))
                    self.emit("error", call=cmd.get("call"), message=str(exc))
            self._drain_media()
            self._bury()
            if self._stop:
                if deadline is None:
                    deadline = time.monotonic() + 3.0
                    self._hangup_all()
                if not self._calls or time.monotonic() > deadline:
                    break
        self._destroy()

    def _hangup_all(self) -> None:
        # a helper, not a loop in run(): a loop variable in run()'s frame would keep a Call alive
        # past libDestroy, and its destructor then aborts the process
        for st in list(self._calls.values()):
            self._hangup(st, 503)

    def _command(self, cmd: dict[str, Any]) -> None:
        op = cmd.get("op")
        if op == "shutdown":
            self._stop = True
            return
        if self._stop:
            return
        key = str(cmd.get("call", ""))
        if op == "call":
            try:
                self._place(key, str(cmd["uri"]), str(cmd.get("caller") or ""))
            except Exception as exc:  # e.g. the per-caller account cannot be made: the call failed
                log.exception("worker: placing a call failed")
                failed = self._calls.pop(key, None)
                if failed is not None:
                    self._graveyard.append((failed.call, time.monotonic()))
                self.emit("ended", call=key, code=500, reason=str(exc), by_remote=False, connected=False)
            return
        st = self._calls.get(key)
        if st is None:
            self.emit("error", call=key, message="no such call")
            return
        if op == "play":
            st.prompts = [(str(n), str(p)) for n, p in cmd.get("prompts", [])]
            self._stop_player(st)
            self._next_prompt(st)
        elif op == "stop":
            st.prompts = []
            self._stop_player(st)
        elif op == "hangup":
            self._hangup(st, int(cmd.get("code") or 0))
        elif op == "answer":
            import pjsua2 as pj

            prm = pj.CallOpParam()
            prm.statusCode = 200
            st.call.answer(prm)
        else:
            self.emit("error", call=key, message=f"unknown op {op!r}")

    # ------------------------------------------------------------------ calls

    def _place(self, key: str, uri: str, caller: str) -> None:
        import pjsua2 as pj

        if len(self._calls) >= int(self.cfg.get("max_calls", 4)):
            self.emit("ended", call=key, code=503, reason="worker full", by_remote=False, connected=False)
            return
        acc = self._account_for(caller)
        call = _Call(self, acc, key)
        st = self._calls[key] = _CallState(key, call, outbound=True)
        prm = pj.CallOpParam(True)
        if caller:
            hdr = pj.SipHeader()
            hdr.hName = "P-Asserted-Identity"
            domain = self.cfg.get("domain") or self.cfg.get("registrar") or self.cfg["bind_host"]
            hdr.hValue = f"<sip:{caller}@{domain}>"
            prm.txOption.headers.append(hdr)
        try:
            call.makeCall(uri, prm)
        except pj.Error as exc:
            del self._calls[key]
            self._graveyard.append((call, time.monotonic()))
            # PJSIP_ERRNO_FROM_SIP_STATUS(code) = 170000 + code (pjsip/sip_errno.h); any other local
            # failure (bad URI, no transport) is reported as 500, the reason text says which
            code = exc.status - 170000 if 170100 <= exc.status < 170700 else 500
            self.emit("ended", call=key, code=code, reason=exc.reason, by_remote=False, connected=False)
            st.ended = True

    def _hangup(self, st: _CallState, code: int) -> None:
        import pjsua2 as pj

        if st.ended:
            return
        st.hung_up_by_us = True
        st.prompts = []
        self._stop_player(st)
        prm = pj.CallOpParam()
        if code:
            prm.statusCode = code
        try:
            st.call.hangup(prm)
        except pj.Error as exc:
            log.debug("hangup of %s: %s", st.key, exc.reason)

    def incoming(self, acc: Any, call_id: int, from_uri: str, to_uri: str, ruri: str) -> None:
        import pjsua2 as pj

        self._inbound_seq += 1
        key = f"in{os.getpid()}-{self._inbound_seq}"
        # A call that ended in this same round of events may have had this id: deleting its object
        # now would hang up the new call, so it is kept (harmless) until libDestroy.
        for old in [c for c in self._dead_calls if c.getId() == call_id]:
            self._dead_calls.remove(old)
            self._quarantine.append(old)
        call = _Call(self, acc, key, call_id)
        st = self._calls[key] = _CallState(key, call, outbound=False)
        prm = pj.CallOpParam()
        if not self.cfg.get("inbound", True) or len(self._calls) > int(self.cfg.get("max_calls", 4)):
            prm.statusCode = 486
            call.hangup(prm)
            st.hung_up_by_us = True
            return
        prm.statusCode = 180
        call.answer(prm)
        self.emit("incoming", call=key, ruri=ruri, **{"from": from_uri, "to": to_uri})

    def call_state(self, key: str) -> None:
        import pjsua2 as pj

        st = self._calls.get(key)
        if st is None or st.ended:
            return
        info = st.call.getInfo()
        state = info.state
        if state == pj.PJSIP_INV_STATE_EARLY and st.outbound and not st.rang:
            if info.lastStatusCode in (180, 183):
                st.rang = True
                self.emit("ringing", call=key)
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and not st.connected:
            st.connected = True
            self.emit("answered", call=key)
            self._next_prompt(st)
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            st.ended = True
            code = info.lastStatusCode
            if st.connected:
                code = 200
            elif st.hung_up_by_us and code in (0, 200):
                code = 487  # RFC 3261 §15: a cancelled INVITE ends with 487
            self._stop_player(st)
            self._drop_media(st)
            self._release_tap(st)
            self.emit(
                "ended",
                call=key,
                code=int(code),
                reason=info.lastReason,
                by_remote=not st.hung_up_by_us,
                connected=st.connected,
            )
            del self._calls[key]
            self._dedup.pop(key, None)
            self._inband.drop(key)
            # Not deleted inside its own callback (the SWIG director would touch it afterwards:
            # segfaults under load). It must die before a new call can take its id, though:
            # pjsua frees the id now, and ~Call of a late-deleted object clears the user data of
            # (and hangs up) whatever call has that id by then. See _bury and incoming().
            self._dead_calls.append(st.call)

    def media_state(self, key: str) -> None:
        """Idempotent: a codec-lock re-INVITE fires this again for the same (or a new) slot."""
        import pjsua2 as pj

        st = self._calls.get(key)
        if st is None or st.ended:
            return
        info = st.call.getInfo()
        for i, mi in enumerate(info.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            if mi.audioConfSlot == st.media_slot:
                return
            self._drop_media(st)
            st.media = st.call.getAudioMedia(i)
            st.media_slot = mi.audioConfSlot
            if st.tap is None and self._free_taps:
                self._inband.attach(key)
                st.tap = self._free_taps.pop()
                st.tap.key = key
            if st.tap is not None:
                st.media.startTransmit(st.tap)
            if st.player is not None:
                st.player.startTransmit(st.media)
            else:
                self._next_prompt(st)
            try:
                si = st.call.getStreamInfo(i)
                self.emit(
                    "media",
                    call=key,
                    codec=str(si.codecName),
                    clock_rate=int(si.codecClockRate),
                    event_pt=int(si.audRxEventPt),
                )
            except pj.Error as exc:
                log.debug("no stream info for %s: %s", key, exc.reason)
            return

    def _drop_media(self, st: _CallState) -> None:
        import pjsua2 as pj

        if st.media is not None and st.tap is not None:
            with contextlib.suppress(pj.Error):
                st.media.stopTransmit(st.tap)
        st.media = None
        st.media_slot = -1

    def _release_tap(self, st: _CallState) -> None:
        """The tap goes back to the pool. Taps are made once and live until the conference clock
        has stopped: deleting a port the media thread may be calling into crashes the process."""
        if st.tap is not None:
            st.tap.key = None
            self._free_taps.append(st.tap)
            st.tap = None

    def _make_taps(self) -> None:
        import pjsua2 as pj

        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, CLOCK_RATE, 1, PTIME_MS * 1000, 16)
        for i in range(int(self.cfg.get("max_calls", 4))):
            tap = _Tap(self, None)
            tap.createPort(f"tap{i}", fmt)
            self._taps.append(tap)
        self._free_taps = list(self._taps)

    # ------------------------------------------------------------------ prompts

    def _next_prompt(self, st: _CallState) -> None:
        import pjsua2 as pj

        if st.player is not None or not st.prompts or st.media is None or not st.connected:
            return
        name, path = st.prompts.pop(0)
        st.generation += 1
        player = _Player(self, st.key, name, st.generation)
        try:
            player.createPlayer(path, pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(st.media)
        except pj.Error as exc:
            self._graveyard.append((player, time.monotonic()))
            self.emit("prompt_error", call=st.key, prompt=name, message=exc.reason)
            return
        st.player = player
        st.playing = name

    def _stop_player(self, st: _CallState) -> None:
        import pjsua2 as pj

        if st.player is None:
            return
        if st.media is not None:
            with contextlib.suppress(pj.Error):
                st.player.stopTransmit(st.media)
        # destroyed later in the main loop: never inside a media callback
        self._graveyard.append((st.player, time.monotonic()))
        st.player = None
        st.playing = None
        st.generation += 1

    # ------------------------------------------------------------------ media thread hand-off

    def on_eof(self, key: str, name: str, generation: int) -> None:
        self._media_events.append(("eof", key, generation, name))

    def on_frame(self, key: str, buf: Any) -> None:
        self._frames.append((key, self._read(buf)))

    def digit(self, key: str, digit: str, source: str) -> None:
        st = self._calls.get(key)
        if st is None or st.ended:
            return
        dedup = self._dedup.setdefault(key, DigitDeduper())
        if dedup.accept(digit, source, time.monotonic()):
            self.emit("digit", call=key, digit=digit, source=source)

    def _drain_media(self) -> None:
        while self._media_events:
            _kind, key, generation, name = self._media_events.popleft()
            st = self._calls.get(key)
            if st is None or st.generation != generation or st.player is None:
                continue
            self._stop_player(st)
            self.emit("prompt", call=key, prompt=name)
            self._next_prompt(st)
        if not self._frames:
            return
        while self._frames:
            key, data = self._frames.popleft()
            self._inband.push(key, data)
        for key, digit in self._inband.run():
            self.digit(key, digit, "inband")

    def _bury(self) -> None:
        # A stopped player is no longer read by the conference, but an onEof2 upcall that began
        # just before may still be running on the media thread: wait a few ticks before deleting.
        if self._graveyard:
            cutoff = time.monotonic() - _BURY_AFTER_S
            self._graveyard = [(obj, t) for obj, t in self._graveyard if t > cutoff]

    def _bury_calls(self) -> None:
        if self._dead_calls:
            self._dead_calls.clear()

    def _release_media(self) -> None:
        for st in list(self._calls.values()):
            self._stop_player(st)
            self._drop_media(st)

    def _destroy(self) -> None:
        self._release_media()  # in a helper so that no loop variable outlives libDestroy
        # stop the conference clock (no sound device, not even the null one) before any port is
        # deleted: no media-thread callback can then run into a port being destroyed
        with contextlib.suppress(Exception):
            self._ep.audDevManager().setNoDev()
        self._taps.clear()
        self._free_taps.clear()
        self._calls.clear()
        self._graveyard.clear()
        self._dead_calls.clear()
        self._quarantine.clear()
        for acc in [*self._caller_accounts.values(), self._acc]:
            if acc is not None:
                with contextlib.suppress(Exception):
                    acc.shutdown()
        self._caller_accounts.clear()
        self._acc = None
        import gc

        gc.collect()
        self._ep.libDestroy()
        self._ep = None
        self.emit("bye")


def _guard(fn: Callable[..., None]) -> Callable[..., None]:
    """pjsua2 aborts the process on an exception escaping a callback: log it instead."""

    def wrapper(*args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("voice worker callback %s failed", fn.__name__)

    wrapper.__name__ = fn.__name__
    return wrapper


def _classes() -> tuple[type, type, type, type]:
    import pjsua2 as pj

    class Account(pj.Account):
        def __init__(self, worker: Worker) -> None:
            super().__init__()
            self.worker = worker

        @_guard
        def onRegState(self, prm: Any) -> None:
            info = self.getInfo()
            self.worker.emit(
                "reg",
                active=bool(info.regIsActive),
                code=int(prm.code),
                reason=str(prm.reason),
                expires=int(info.regExpiresSec),
            )

        @_guard
        def onIncomingCall(self, prm: Any) -> None:
            msg = prm.rdata.wholeMsg
            self.worker.incoming(self, prm.callId, _header(msg, "From"), _header(msg, "To"), _request_uri(msg))

    class Call(pj.Call):
        def __init__(self, worker: Worker, acc: Any, key: str, call_id: int = pj.PJSUA_INVALID_ID) -> None:
            super().__init__(acc, call_id)
            self.worker = worker
            self.key = key

        @_guard
        def onCallState(self, prm: Any) -> None:
            self.worker.call_state(self.key)

        @_guard
        def onCallMediaState(self, prm: Any) -> None:
            self.worker.media_state(self.key)

        @_guard
        def onDtmfDigit(self, prm: Any) -> None:
            # fires once at the start of an RFC 4733 event (onDtmfEvent would fire on every update)
            self.worker.digit(self.key, str(prm.digit), "rfc4733")

    class Player(pj.AudioMediaPlayer):
        def __init__(self, worker: Worker, key: str, name: str, generation: int) -> None:
            super().__init__()
            self.worker, self.key, self.name, self.generation = worker, key, name, generation

        def onEof2(self) -> None:
            try:
                self.worker.on_eof(self.key, self.name, self.generation)
            except Exception:  # media thread: never let anything escape
                log.exception("onEof2 failed")

    class Tap(pj.AudioMediaPort):
        def __init__(self, worker: Worker, key: str | None) -> None:
            super().__init__()
            self.worker, self.key = worker, key

        def onFrameReceived(self, frame: Any) -> None:
            try:
                key = self.key
                if key is not None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                    self.worker.on_frame(key, frame.buf)
            except Exception:  # media thread: never let anything escape
                log.exception("onFrameReceived failed")

    return Account, Call, Player, Tap


_Account: Any = None
_Call: Any = None
_Player: Any = None
_Tap: Any = None


def _header(msg: str, name: str) -> str:
    for line in msg.split("\r\n"):
        head, _, value = line.partition(":")
        if head.strip().lower() in (name.lower(), {"from": "f", "to": "t"}.get(name.lower(), "")):
            return value.strip()
    return ""


def _request_uri(msg: str) -> str:
    """The Request-URI of a request's start line (RFC 3261 §7.1): ``INVITE sip:x@y SIP/2.0``."""
    parts = msg.split("\r\n", 1)[0].split(" ")
    return parts[1] if len(parts) == 3 else ""


def main() -> None:
    global _Account, _Call, _Player, _Tap
    proto = _Proto(os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1))
    os.dup2(2, 1)  # anything written to stdout by C code (pjsua's console) now goes to stderr
    root = logging.getLogger()
    root.addHandler(_ProtoLogHandler(proto))
    root.setLevel(logging.INFO)
    first = sys.stdin.readline()
    cfg = json.loads(first)
    if cfg.get("op") != "init":
        raise SystemExit("voice worker: first command must be init")
    _Account, _Call, _Player, _Tap = _classes()
    worker = Worker(cfg, proto)
    worker.run(sys.stdin)
    sys.stdout.flush()
    sys.stderr.flush()
    # every pjsua2 object is gone and libDestroy ran; skip the interpreter's teardown, whose
    # garbage collection order across SWIG proxies is not ours to control
    os._exit(0)


if __name__ == "__main__":
    main()
