"""The sandbox phone's process: one pjsua2 Endpoint on 127.0.0.1, driven by JSON-line commands on stdin.

pjsua2 facts it keeps (DESIGN.md): ``threadCnt=0`` and ``mainThreadOnly``, so every SIP callback runs in this
process's main loop inside ``libHandleEvents``; the thread reading stdin only queues; every callback is guarded
(an exception escaping one aborts the process); a Call object is released in its DISCONNECTED callback (pjsua
reuses the id at once); a recorder is deleted only some ticks after its call ended (deleting a port while the
conference clock runs can crash), which is also when its WAV header is written; every object is gone before
``libDestroy``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from alertnode.sandbox.phone import COMMANDS, DIGITS, decode, encode

log = logging.getLogger(__name__)

_LOOP_WAIT_MS = 10
_SHUTDOWN_WAIT_S = 3.0
_RECORDER_GRACE_S = 0.5
# RFC 3261 §21.1.2 180 Ringing, §21.2.1 200 OK, §21.4.24 486 Busy Here
RINGING, OK, BUSY_HERE = 180, 200, 486
_CODECS = ("PCMA/8000", "PCMU/8000")
# pjsip_inv_state (pjsip-ua/sip_inv.h) and pjsua_call_media_status (pjsua-lib/pjsua.h)
_CONFIRMED, _DISCONNECTED = 5, 6
_MEDIA_ACTIVE = 1


@dataclass
class _Call:
    key: str
    obj: Any
    recorder: Any = None
    declined: bool = False
    answered: bool = False


class Phone:
    def __init__(self, pj: Any, recordings: Path, out: TextIO) -> None:
        self.pj = pj
        self.recordings = recordings
        self._out = out
        self._lock = threading.Lock()
        self.commands: collections.deque[dict[str, Any]] = collections.deque()
        self.calls: dict[str, _Call] = {}
        self._graveyard: list[tuple[float, Any]] = []
        self._count = 0
        self.ep: Any = None
        self.account: Any = None
        self.stopping = False

    def emit(self, **event: Any) -> None:
        with self._lock:
            self._out.write(encode(event))
            self._out.flush()

    # ------------------------------------------------------------------------------- set-up
    def start(self, host: str, port: int, rtp_port: int) -> int:
        pj = self.pj
        ep = self.ep = pj.Endpoint()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # pjsua's start-up banner goes to stdout before logConfig applies
        try:
            ep.libCreate()
        finally:
            os.dup2(2, 1)
            os.close(devnull)
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 4
        cfg.uaConfig.userAgent = "alertnode-sandbox-phone"
        cfg.logConfig.level = 1
        cfg.logConfig.consoleLevel = 1
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.ecTailLen = 0
        cfg.medConfig.noVad = True
        ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = port
        tcfg.boundAddress = host
        tcfg.publicAddress = host
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        bound = int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[-1])
        ep.audDevManager().setNullDev()
        for info in ep.codecEnum2():
            ep.codecSetPriority(info.codecId, 0)
        for rank, codec in enumerate(_CODECS):
            with contextlib.suppress(pj.Error):
                ep.codecSetPriority(codec, 250 - rank)
        ep.libStart()
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:phone@{host}:{bound}"
        acfg.regConfig.registerOnAdd = False
        acfg.mediaConfig.transportConfig.port = rtp_port
        acfg.mediaConfig.transportConfig.portRange = 100 if rtp_port else 0
        acfg.mediaConfig.transportConfig.boundAddress = host
        acfg.mediaConfig.transportConfig.publicAddress = host
        self.account = _account_class(pj)(self)
        self.account.create(acfg, True)
        return bound

    # ---------------------------------------------------------------------- pjsua2 callbacks
    def on_incoming(self, call_id: int, to: str, caller: str) -> None:
        self._count += 1
        key = f"p{self._count}"
        call = _call_class(self.pj)(self, self.account, key, call_id)
        st = self.calls[key] = _Call(key, call)
        if self.stopping:
            self._hangup(st, 503)
            return
        self.emit(ev="incoming", call=key, to=to, **{"from": caller})
        prm = self.pj.CallOpParam()
        prm.statusCode = RINGING
        call.answer(prm)

    def on_state(self, key: str) -> None:
        st = self.calls.get(key)
        if st is None:
            return
        info = st.obj.getInfo()
        state = int(info.state)
        if state == _CONFIRMED and not st.answered:
            st.answered = True
            self.emit(ev="answered", call=key)
        elif state == _DISCONNECTED:
            del self.calls[key]  # released in this callback: pjsua reuses the call id at once
            if st.recorder is not None:
                self._graveyard.append((time.monotonic() + _RECORDER_GRACE_S, st.recorder))
            self.emit(ev="ended", call=key, code=int(info.lastStatusCode), reason=str(info.lastReason),
                      declined=st.declined)

    def on_media(self, key: str) -> None:
        st = self.calls.get(key)
        if st is None:
            return
        info = st.obj.getInfo()
        for index, media in enumerate(info.media):
            if media.type != self.pj.PJMEDIA_TYPE_AUDIO or int(media.status) != _MEDIA_ACTIVE:
                continue
            # re-INVITEs bring this callback again: connecting twice is harmless, the recorder is made once
            if st.recorder is None:
                name = f"{key}-{int(time.time() * 1000)}.wav"
                st.recorder = self.pj.AudioMediaRecorder()
                st.recorder.createRecorder(str(self.recordings / name))
                self.emit(ev="recording", call=key, file=name)
            st.obj.getAudioMedia(index).startTransmit(st.recorder)

    # ------------------------------------------------------------------------------ commands
    def run_command(self, cmd: dict[str, Any]) -> None:
        name = cmd.get("cmd")
        if name == "shutdown":
            self.stopping = True
            return
        st = self.calls.get(str(cmd.get("call", "")))
        if st is None or name not in COMMANDS:
            self.emit(ev="failed", call=cmd.get("call"), command=name, error="no such call or command")
            return
        pj = self.pj
        try:
            if name == "answer":
                prm = pj.CallOpParam(True)
                prm.statusCode = OK
                st.obj.answer(prm)
            elif name == "decline":
                st.declined = True
                self._hangup(st, BUSY_HERE)
            elif name == "hangup":
                self._hangup(st, 0)
            elif name == "keys":
                digits = str(cmd.get("digits", ""))
                if not DIGITS.fullmatch(digits):
                    raise ValueError(f"not keys of a phone: {digits!r}")
                prm = pj.CallSendDtmfParam()
                prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
                prm.digits = digits.upper()
                st.obj.sendDtmf(prm)
                self.emit(ev="keys", call=st.key, digits=digits.upper())
        except (pj.Error, ValueError) as exc:
            reason = exc.reason if isinstance(exc, pj.Error) else str(exc)
            self.emit(ev="failed", call=st.key, command=name, error=str(reason))

    def _hangup(self, st: _Call, code: int) -> None:
        prm = self.pj.CallOpParam()
        if code:
            prm.statusCode = code
        st.obj.hangup(prm)

    # --------------------------------------------------------------------------------- loop
    def run(self) -> None:
        deadline: float | None = None
        while True:
            self.ep.libHandleEvents(_LOOP_WAIT_MS)
            while self.commands:
                self.run_command(self.commands.popleft())
            now = time.monotonic()
            self._graveyard = [(t, r) for t, r in self._graveyard if t > now]  # the others are deleted here
            if self.stopping:
                if deadline is None:
                    deadline = now + _SHUTDOWN_WAIT_S
                    for st in list(self.calls.values()):
                        with contextlib.suppress(self.pj.Error):
                            self._hangup(st, 503)
                if not self.calls or now > deadline:
                    break
        self._destroy()

    def _destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.ep.audDevManager().setNoDev()  # stop the conference clock before ports go
        self.calls.clear()
        self._graveyard.clear()
        with contextlib.suppress(Exception):
            self.account.shutdown()
        self.account = None
        gc.collect()
        self.ep.libDestroy()
        self.ep = None
        self.emit(ev="bye")


def _guarded(fn: Any) -> Any:
    def wrapper(*args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("sandbox phone: callback %s failed", fn.__name__)

    return wrapper


_CLASSES: dict[str, Any] = {}


def _account_class(pj: Any) -> Any:
    if "account" not in _CLASSES:
        class Account(pj.Account):
            def __init__(self, phone: Phone) -> None:
                super().__init__()
                self.phone = phone

            @_guarded
            def onIncomingCall(self, prm: Any) -> None:
                msg = str(prm.rdata.wholeMsg)
                start = msg.split("\r\n", 1)[0].split(" ")
                ruri = start[1] if len(start) == 3 else ""
                caller = _header(msg, "From")
                self.phone.on_incoming(prm.callId, _user(ruri) or _user(_header(msg, "To")), _user(caller))

        _CLASSES["account"] = Account
    return _CLASSES["account"]


def _call_class(pj: Any) -> Any:
    if "call" not in _CLASSES:
        class Call(pj.Call):
            def __init__(self, phone: Phone, account: Any, key: str, call_id: int) -> None:
                super().__init__(account, call_id)
                self.phone = phone
                self.key = key

            @_guarded
            def onCallState(self, prm: Any) -> None:
                self.phone.on_state(self.key)

            @_guarded
            def onCallMediaState(self, prm: Any) -> None:
                self.phone.on_media(self.key)

        _CLASSES["call"] = Call
    return _CLASSES["call"]


def _header(msg: str, name: str) -> str:
    compact = {"from": "f", "to": "t"}.get(name.lower(), "")  # RFC 3261 §7.3.3 compact forms
    for line in msg.split("\r\n")[1:]:
        head, _, value = line.partition(":")
        if head.strip().lower() in (name.lower(), compact):
            return value.strip()
    return ""


def _user(uri: str) -> str:
    """The user part of a SIP URI or name-addr: ``"x" <sip:+44123@host;user=phone>`` → ``+44123``."""
    if "<" in uri:
        uri = uri.split("<", 1)[1].split(">", 1)[0]
    uri = uri.split(";", 1)[0]
    for scheme in ("sips:", "sip:", "tel:"):
        if uri.lower().startswith(scheme):
            uri = uri[len(scheme) :]
    return uri.split("@", 1)[0] if "@" in uri else uri


def _read_commands(phone: Phone, stream: TextIO) -> None:
    try:
        for line in stream:
            if not line.strip():
                continue
            try:
                phone.commands.append(decode(line))
            except ValueError:
                log.warning("sandbox phone: a line that is no command was dropped")
    finally:
        phone.commands.append({"cmd": "shutdown"})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m alertnode.sandbox.phone", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="SIP port (UDP); 0 = any free port")
    ap.add_argument("--rtp-port", type=int, default=0, help="first RTP port; 0 = pjsua's choice")
    ap.add_argument("--recordings", required=True, help="folder for the WAV files of the calls")
    args = ap.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit("the sandbox phone listens on loopback only")
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # anything C code prints goes to stderr, never into the pipe
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="sandbox phone: %(message)s")
    recordings = Path(args.recordings)
    recordings.mkdir(parents=True, exist_ok=True)
    import pjsua2

    phone = Phone(pjsua2, recordings, out)
    try:
        port = phone.start(args.host, args.port, args.rtp_port)
    except pjsua2.Error as exc:
        phone.emit(ev="fatal", error=f"{exc.title}: {exc.reason}")
        raise SystemExit(1) from exc
    phone.emit(ev="ready", port=port)
    threading.Thread(target=_read_commands, args=(phone, sys.stdin), daemon=True).start()
    phone.run()
    sys.stderr.flush()
    # every pjsua2 object is gone and libDestroy ran; the interpreter's teardown order across SWIG proxies is
    # not ours to control
    os._exit(0)
