"""The pjsua2 adapter: the only module of the worker that imports pjsua2.

It makes the endpoint, accounts, calls, players and tap ports, turns pjsua2 callbacks into calls on
the worker's host objects (:class:`CallHost`, :class:`AccountHost`, :class:`PlayerHost`, :class:`TapHost`), turns call
and stream information into the small values below, and pjsua2 exceptions into the node's
(:class:`~alertnode.errors.SipError`, :class:`~alertnode.errors.MediaError`).

pjsua2 facts this module keeps (DESIGN.md, "pjsua2 facts measured here"):

* ``threadCnt=0`` and ``mainThreadOnly``: every SIP callback runs in the worker's main loop, inside
  ``libHandleEvents``. ``onFrameReceived`` and ``onEof2`` run on the media clock thread: they only
  hand over to the host, which only enqueues.
* An exception escaping a callback aborts the process: every callback is guarded.
* The caller keeps a reference to every object made here until it may die (see the worker's
  modules for when that is); ``libDestroy`` runs only once all of them are gone.
* Keys: pjsua reports RFC 4733 events and SIP INFO ``application/dtmf-relay`` through ``onDtmfDigit``
  (its ``method`` says which); INFO ``application/dtmf`` (a bare digit) it does not know and would
  answer 500, so it is read in ``onCallTsxState`` and answered 200 through two C functions of the
  wheel's own library (node/voice/worker/native.py; pjsua2 has no call for answering a transaction).
* Session timers (RFC 4028) are pjsip's: ``timerUse`` optional, so the node offers them
  (``Supported: timer``, ``Session-Expires``) and refreshes, or expects refreshes, as the far end
  chose; a far end that stops refreshing is sent BYE with cause 408.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from alertnode.errors import MediaError, SipError
from alertnode.voice.pipe import WorkerInit
from alertnode.voice.worker.native import Responder, c_responder, vector_reader
from alertnode.voice.worker.sip_text import header, info_dtmf_digit

log = logging.getLogger(__name__)

# 20 ms frames at 8 kHz, 16-bit mono: what the conference bridge hands the tap port (it resamples
# when it runs at 16 kHz for G.722) and what the in-band detector takes (ITU-T G.711 framing,
# DESIGN.md "DTMF detection").
TAP_RATE = 8000
FRAME_SAMPLES = 160
PTIME_MS = 20
_CODEC_IDS = {"PCMA": "PCMA/8000", "PCMU": "PCMU/8000", "G722": "G722/16000"}
# PJSIP_ERRNO_FROM_SIP_STATUS(code) = 170000 + code (pjsip/sip_errno.h)
_SIP_ERRNO_BASE = 170000


class CallHost(Protocol):
    def on_call_state(self, key: str) -> None: ...
    def on_media_state(self, key: str) -> None: ...
    def on_signalled_digit(self, key: str, digit: str, source: str) -> None:
        """A key sent as an RFC 4733 event (``rfc4733``) or by SIP INFO (``info``)."""


class AccountHost(Protocol):
    def on_registration(self, active: bool, code: int, reason: str, expires: int) -> None: ...
    def on_incoming(self, account: Any, call_id: int, msg: str) -> None:
        """An INVITE (``msg``: the whole message) waits for an answer."""


class PlayerHost(Protocol):
    def on_eof(self, key: str, name: str, generation: int) -> None:
        """Called on the media clock thread: enqueue only."""


class TapHost(Protocol):
    def on_frame(self, key: str, buf: Any) -> None:
        """Called on the media clock thread: enqueue only."""


class InvState(enum.Enum):
    """pjsip_inv_state (pjsip-ua/sip_inv.h)."""

    NULL = 0
    CALLING = 1
    INCOMING = 2
    EARLY = 3
    CONNECTING = 4
    CONFIRMED = 5
    DISCONNECTED = 6


class MediaStatus(enum.Enum):
    """pjsua_call_media_status (pjsua-lib/pjsua.h)."""

    NONE = 0
    ACTIVE = 1
    LOCAL_HOLD = 2
    REMOTE_HOLD = 3
    ERROR = 4


class MediaDir(enum.IntFlag):
    """pjmedia_dir (pjmedia/types.h), from the node's side: ENCODING = it sends, DECODING = it receives."""

    NONE = 0
    ENCODING = 1
    DECODING = 2
    BOTH = 3


@dataclass(frozen=True)
class AudioStream:
    index: int
    """The media line's index in the SDP (what getAudioMedia and getStreamInfo take)."""
    slot: int
    """Its conference bridge slot (-1: none)."""
    status: MediaStatus
    direction: MediaDir = MediaDir.BOTH


@dataclass(frozen=True)
class CallInfo:
    state: InvState
    last_code: int
    last_reason: str
    audio: tuple[AudioStream, ...]


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    clock_rate: int
    event_pt: int


_pj: Any = None
_classes: dict[str, Any] = {}
read_frame: Callable[[Any], bytes] = bytes
_respond: Responder | None = None


def load() -> None:
    """Import pjsua2 and build the callback classes (once per process)."""
    global _pj, read_frame, _respond
    if _pj is not None:
        return
    import pjsua2

    _pj = pjsua2
    _classes.update(_build_classes(pjsua2))
    read_frame = vector_reader(pjsua2)
    _respond = c_responder(pjsua2)


def _guard(fn: Callable[..., None]) -> Callable[..., None]:
    """pjsua2 aborts the process on an exception escaping a callback: log it instead."""

    def wrapper(*args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("voice worker callback %s failed", fn.__name__)

    wrapper.__name__ = fn.__name__
    return wrapper


def _build_classes(pj: Any) -> dict[str, Any]:
    class Account(pj.Account):
        def __init__(self, host: AccountHost) -> None:
            super().__init__()
            self.host = host

        @_guard
        def onRegState(self, prm: Any) -> None:
            info = self.getInfo()
            self.host.on_registration(
                bool(info.regIsActive), int(prm.code), str(prm.reason), int(info.regExpiresSec)
            )

        @_guard
        def onIncomingCall(self, prm: Any) -> None:
            self.host.on_incoming(self, prm.callId, str(prm.rdata.wholeMsg))

    class Call(pj.Call):
        def __init__(self, host: CallHost, acc: Any, key: str, call_id: int) -> None:
            super().__init__(acc, call_id)
            self.host = host
            self.key = key

        @_guard
        def onCallState(self, prm: Any) -> None:
            self.host.on_call_state(self.key)

        @_guard
        def onCallMediaState(self, prm: Any) -> None:
            self.host.on_media_state(self.key)

        @_guard
        def onDtmfDigit(self, prm: Any) -> None:
            # fires once at the start of an RFC 4733 event (onDtmfEvent would fire on every update),
            # and once per SIP INFO application/dtmf-relay
            source = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
            self.host.on_signalled_digit(self.key, str(prm.digit), source)

        @_guard
        def onCallTsxState(self, prm: Any) -> None:
            digit = _info_dtmf(pj, prm.e)
            if digit:
                self.host.on_signalled_digit(self.key, digit, "info")

    class Player(pj.AudioMediaPlayer):
        def __init__(self, host: PlayerHost, key: str, name: str, generation: int) -> None:
            super().__init__()
            self.host, self.key, self.name, self.generation = host, key, name, generation

        def onEof2(self) -> None:
            try:
                self.host.on_eof(self.key, self.name, self.generation)
            except Exception:  # media thread: never let anything escape
                log.exception("onEof2 failed")

    class Tap(pj.AudioMediaPort):
        def __init__(self, host: TapHost) -> None:
            super().__init__()
            self.host = host
            self.key: str | None = None

        def onFrameReceived(self, frame: Any) -> None:
            try:
                key = self.key
                if key is not None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
                    self.host.on_frame(key, frame.buf)
            except Exception:  # media thread: never let anything escape
                log.exception("onFrameReceived failed")

    return {"Account": Account, "Call": Call, "Player": Player, "Tap": Tap}


def _info_dtmf(pj: Any, event: Any) -> str:
    """The key of an incoming SIP INFO ``application/dtmf`` (body: the key), answered 200 here; "" for
    any other transaction event. (``application/dtmf-relay`` is pjsua's: it reaches onDtmfDigit.)"""
    if event.type != pj.PJSIP_EVENT_TSX_STATE:
        return ""
    tsx = event.body.tsxState.tsx
    if tsx.role != pj.PJSIP_ROLE_UAS or tsx.method != "INFO" or tsx.state != pj.PJSIP_TSX_STATE_TRYING:
        return ""
    if event.body.tsxState.type != pj.PJSIP_EVENT_RX_MSG:
        return ""
    rdata = event.body.tsxState.src.rdata
    msg = str(rdata.wholeMsg)
    digit = info_dtmf_digit(header(msg, "Content-Type"), msg.partition("\r\n\r\n")[2])
    if digit and _respond is not None:
        _respond(int(tsx.pjTransaction), int(rdata.pjRxData), 200)
    return digit


# ------------------------------------------------------------------------------------------ endpoint


def create_endpoint(init: WorkerInit) -> tuple[Any, int]:
    """Create, configure and start the library; returns the endpoint and the SIP port it listens on.
    Raises SipError when it cannot start (e.g. the SIP port is taken)."""
    pj = _pj
    ep = pj.Endpoint()
    try:
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
        ep_cfg.uaConfig.maxCalls = init.max_calls
        ep_cfg.uaConfig.userAgent = "alertnode"
        ep_cfg.logConfig.level = init.log_level
        ep_cfg.logConfig.consoleLevel = init.log_level
        ep_cfg.medConfig.clockRate = init.clock_rate
        ep_cfg.medConfig.sndClockRate = init.clock_rate
        ep_cfg.medConfig.audioFramePtime = PTIME_MS
        ep_cfg.medConfig.ptime = PTIME_MS
        ep_cfg.medConfig.channelCount = 1
        # no echo canceller and no VAD: prompts out, keys in; saves CPU per call
        ep_cfg.medConfig.ecTailLen = 0
        ep_cfg.medConfig.noVad = True
        ep.libInit(ep_cfg)

        tcfg = pj.TransportConfig()
        tcfg.port = init.sip_port
        tcfg.boundAddress = init.bind_host
        tcfg.publicAddress = init.bind_host
        kind = pj.PJSIP_TRANSPORT_TCP if init.transport == "tcp" else pj.PJSIP_TRANSPORT_UDP
        tid = ep.transportCreate(kind, tcfg)
        sip_port = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1])
        ep.audDevManager().setNullDev()

        for info in ep.codecEnum2():
            ep.codecSetPriority(info.codecId, 0)
        for rank, name in enumerate(init.codecs):
            with contextlib.suppress(pj.Error):
                ep.codecSetPriority(_CODEC_IDS[name], 250 - rank)
        ep.libStart()
    except pj.Error as exc:
        raise SipError(f"{exc.title}: {exc.reason}", 500) from exc
    return ep, sip_port


def handle_events(ep: Any, wait_ms: int) -> None:
    ep.libHandleEvents(wait_ms)


def stop_clock(ep: Any) -> None:
    """Stop the conference clock (no sound device, not even the null one): no media-thread callback
    can then run into a port being destroyed."""
    with contextlib.suppress(Exception):
        ep.audDevManager().setNoDev()


def destroy_endpoint(ep: Any) -> None:
    ep.libDestroy()


# ------------------------------------------------------------------------------------------ accounts


def account_config(init: WorkerInit, caller: str | None, register: bool = False) -> Any:
    """An account for calls (``register`` false: it never registers), or the registering one: its
    Contact is the SIP front's address (``init.contact``), so calls to the AOR reach every worker."""
    pj = _pj
    acfg = pj.AccountConfig()
    host = init.bind_host
    transport_param = ";transport=tcp" if init.transport == "tcp" else ""
    if init.registrar:
        domain = init.domain or init.registrar
        acfg.idUri = f"sip:{init.user}@{domain}"
        if register:
            acfg.regConfig.registrarUri = f"sip:{init.registrar}{transport_param}"
            acfg.regConfig.timeoutSec = init.expiry
            acfg.regConfig.registerOnAdd = True
            acfg.regConfig.retryIntervalSec = 30
            if init.contact:
                acfg.sipConfig.contactForced = f"<sip:{init.user}@{init.contact}{transport_param}>"
        else:
            acfg.regConfig.registerOnAdd = False
    else:
        acfg.idUri = f"sip:{caller or 'alertnode'}@{host}"
        acfg.regConfig.registerOnAdd = False
    if init.proxy:
        acfg.sipConfig.proxies.append(f"sip:{init.proxy};lr{transport_param}")
    if init.password or init.auth_user:
        cred = pj.AuthCredInfo("digest", init.realm or "*", init.auth_user or init.user, 0, init.password)
        acfg.sipConfig.authCreds.append(cred)
    # RFC 4028: offer session timers, refresh or expect refreshes as the far end chooses
    acfg.callConfig.timerUse = pj.PJSUA_SIP_TIMER_OPTIONAL
    acfg.callConfig.timerSessExpiresSec = init.session_expires
    acfg.callConfig.timerMinSESec = init.min_se
    acfg.mediaConfig.transportConfig.port = init.rtp_port
    acfg.mediaConfig.transportConfig.portRange = init.rtp_range
    acfg.mediaConfig.transportConfig.boundAddress = host
    acfg.mediaConfig.transportConfig.publicAddress = host
    return acfg


def new_account(host: AccountHost, init: WorkerInit, caller: str | None, register: bool = False) -> Any:
    """The default account (``caller`` None), one showing ``caller`` in From (trunk mode), or the
    registering account (``register``)."""
    acc = _classes["Account"](host)
    try:
        acc.create(account_config(init, caller, register), caller is None and not register)
    except _pj.Error as exc:
        raise SipError(f"account: {exc.reason}", 500) from exc
    return acc


def shutdown_account(acc: Any) -> None:
    with contextlib.suppress(Exception):
        acc.shutdown()


# --------------------------------------------------------------------------------------------- calls


def new_call(host: CallHost, acc: Any, key: str, call_id: int | None = None) -> Any:
    """A Call object: for a new outbound call (``call_id`` None) or for an incoming one."""
    return _classes["Call"](host, acc, key, _pj.PJSUA_INVALID_ID if call_id is None else call_id)


def make_call(call: Any, uri: str, headers: dict[str, str]) -> None:
    """Send the INVITE. Raises SipError with the SIP status pjsua failed with (500 for a local failure:
    bad URI, no transport; the reason says which)."""
    pj = _pj
    prm = pj.CallOpParam(True)
    for name, value in headers.items():
        hdr = pj.SipHeader()
        hdr.hName = name
        hdr.hValue = value
        prm.txOption.headers.append(hdr)
    try:
        call.makeCall(uri, prm)
    except pj.Error as exc:
        code = exc.status - _SIP_ERRNO_BASE if 100 <= exc.status - _SIP_ERRNO_BASE < 700 else 500
        raise SipError(str(exc.reason), code) from exc


def answer(call: Any, code: int) -> None:
    prm = _pj.CallOpParam()
    prm.statusCode = code
    try:
        call.answer(prm)
    except _pj.Error as exc:
        raise SipError(str(exc.reason), 500) from exc


def hangup(call: Any, code: int) -> None:
    """Hang up, cancel or reject (``code`` 0: pjsua's default for the call's state)."""
    prm = _pj.CallOpParam()
    if code:
        prm.statusCode = code
    try:
        call.hangup(prm)
    except _pj.Error as exc:
        raise SipError(str(exc.reason), 500) from exc


def call_id(call: Any) -> int:
    return int(call.getId())


def call_info(call: Any) -> CallInfo:
    pj = _pj
    info = call.getInfo()
    audio = tuple(
        AudioStream(i, int(mi.audioConfSlot), MediaStatus(int(mi.status)), MediaDir(int(mi.dir) & 3))
        for i, mi in enumerate(info.media)
        if mi.type == pj.PJMEDIA_TYPE_AUDIO
    )
    return CallInfo(InvState(int(info.state)), int(info.lastStatusCode), str(info.lastReason), audio)


def audio_media(call: Any, index: int) -> Any:
    return call.getAudioMedia(index)


def stream_info(call: Any, index: int) -> StreamInfo | None:
    try:
        si = call.getStreamInfo(index)
    except _pj.Error as exc:
        log.debug("no stream info: %s", exc.reason)
        return None
    return StreamInfo(str(si.codecName), int(si.codecClockRate), int(si.audRxEventPt))


# --------------------------------------------------------------------------------------------- media


def connect(source: Any, sink: Any) -> None:
    """Send ``source``'s audio to ``sink``; connecting twice is harmless (the bridge keeps one link)."""
    try:
        source.startTransmit(sink)
    except _pj.Error as exc:
        raise MediaError(str(exc.reason)) from exc


def disconnect(source: Any, sink: Any) -> None:
    try:
        source.stopTransmit(sink)
    except _pj.Error as exc:  # already gone (a port of a media line that was removed)
        log.debug("stopTransmit: %s", exc.reason)


def new_player(host: PlayerHost, key: str, name: str, generation: int) -> Any:
    return _classes["Player"](host, key, name, generation)


def open_player(player: Any, path: str) -> None:
    """Open a WAV file to be played once; raises MediaError if pjmedia cannot read it."""
    try:
        player.createPlayer(path, _pj.PJMEDIA_FILE_NO_LOOP)
    except _pj.Error as exc:
        raise MediaError(str(exc.reason)) from exc


def new_tap(host: TapHost, index: int) -> Any:
    """A port receiving a call's audio (8 kHz, 20 ms frames); its ``key`` names the call it serves."""
    pj = _pj
    fmt = pj.MediaFormatAudio()
    fmt.init(pj.PJMEDIA_FORMAT_PCM, TAP_RATE, 1, PTIME_MS * 1000, 16)
    tap = _classes["Tap"](host)
    tap.createPort(f"tap{index}", fmt)
    return tap
