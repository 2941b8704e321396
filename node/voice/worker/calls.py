"""The worker's calls: placing, answering, hanging up, and what happens to each call.

Rules:

* A call is known by the supervisor's key, never by pjsua's call id: pjsua reuses an id right after
  DISCONNECTED. So a Call object is released when its call ends, but not inside its own callback
  (the SWIG director would touch it afterwards: segfaults under load): it goes to ``_dead`` and is
  deleted at the start of the next main-loop round (:meth:`Calls.bury_dead`), before any command can
  place a call that reuses its id. An incoming call that takes the id of a call that ended in the same
  round finds that object still alive; deleting it then would hang up the new call, so it is kept
  (harmless) until the library is destroyed (``_quarantine``).
* Each call reports Ringing (180/183, once), Answered (once), and Ended (once) with the final code:
  200 for a connected call, 487 for one the node cancelled, else the failure's status. A connected
  call that pjsip ended with 408 (the far end stopped refreshing the session, RFC 4028 §10, or stopped
  answering in-dialog requests) is not ``by_remote``: the node sent the BYE.
* Media is re-checked on every ``onCallMediaState``: every mid-call offer/answer (hold, resume, a
  codec or address change, a re-INVITE without SDP, UPDATE, the codec-lock re-INVITE) makes pjsua
  build the stream again, on a new bridge slot or the old number. Active audio: the tap and the
  prompt (the player) are connected to the stream's media again; MediaUp is reported when the codec
  changed. Far-end hold (``sendonly``/``inactive``: the stream is REMOTE_HOLD) is reported once as
  Held, the return to active audio as Resumed; while held nothing is connected: the prompt is not
  heard, so the bridge does not clock the player (it pauses until the IVR stops it), and the tap does
  not listen (hold music is no recipient pressing keys; RFC 4733 and SIP INFO keys still count).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alertnode.errors import SipError
from alertnode.voice.pipe import (
    Answered,
    Ended,
    Event,
    Held,
    Incoming,
    KeySource,
    MediaUp,
    Place,
    Resumed,
    Ringing,
    WorkerInit,
)
from alertnode.voice.worker import pjsua
from alertnode.voice.worker.accounts import Accounts
from alertnode.voice.worker.pjsua import InvState, MediaDir, MediaStatus
from alertnode.voice.worker.players import BURY_AFTER_S, Players
from alertnode.voice.worker.sip_text import header, request_uri
from alertnode.voice.worker.taps import Taps

log = logging.getLogger(__name__)

_SOURCES: dict[str, KeySource] = {"rfc4733": "rfc4733", "info": "info"}


@dataclass
class CallState:
    key: str
    call: Any
    outbound: bool
    media: Any = None
    codec: tuple[str, int, int] | None = None
    """(codec, clock rate, RFC 4733 payload type) last reported by MediaUp."""
    held: bool = False
    rang: bool = False
    connected: bool = False
    hung_up_by_us: bool = False
    ended: bool = False


class Calls:
    def __init__(
        self,
        init: WorkerInit,
        accounts: Accounts,
        players: Players,
        taps: Taps,
        emit: Callable[[Event], None],
    ) -> None:
        self._init = init
        self._accounts = accounts
        self._players = players
        self._taps = taps
        self._emit = emit
        self._calls: dict[str, CallState] = {}
        self._dead: list[Any] = []
        self._quarantine: list[Any] = []
        self._failed: list[tuple[Any, float]] = []
        self._inbound_seq = 0
        accounts.incoming = self.incoming

    def get(self, key: str) -> CallState | None:
        return self._calls.get(key)

    def __len__(self) -> int:
        return len(self._calls)

    # ------------------------------------------------------------------ commands

    def place(self, cmd: Place) -> None:
        key = cmd.call
        if key in self._calls:
            log.warning("worker: call %s placed twice; the second is ignored", key)
            return
        if len(self._calls) >= self._init.max_calls:
            self._emit(Ended(key, 503, "worker full"))
            return
        headers: dict[str, str] = {}
        if cmd.caller:
            domain = self._init.domain or self._init.registrar or self._init.bind_host
            headers["P-Asserted-Identity"] = f"<sip:{cmd.caller}@{domain}>"
        try:
            call = pjsua.new_call(self, self._accounts.for_caller(cmd.caller), key)
        except Exception as exc:
            log.exception("worker: no Call object for a new call")
            self._emit(Ended(key, 500, str(exc)))
            return
        self._calls[key] = CallState(key, call, outbound=True)
        if cmd.amd:
            self._taps.want_amd(key)
        try:
            pjsua.make_call(call, cmd.uri, headers)
        except Exception as exc:
            if not isinstance(exc, SipError):
                log.exception("worker: placing a call failed")
            del self._calls[key]
            self._taps.release(key)
            # it never rang and is not in a callback: deleted a little later, like a stopped player
            self._failed.append((call, time.monotonic()))
            self._emit(Ended(key, exc.sip_code if isinstance(exc, SipError) else 500, str(exc)))

    def hangup(self, st: CallState, code: int) -> None:
        if st.ended:
            return
        st.hung_up_by_us = True
        self._players.stop(st.key)
        try:
            pjsua.hangup(st.call, code)
        except SipError as exc:
            log.debug("hangup of %s: %s", st.key, exc)

    def hangup_all(self, code: int) -> None:
        for st in list(self._calls.values()):
            self.hangup(st, code)

    def answer(self, st: CallState) -> None:
        pjsua.answer(st.call, 200)

    def incoming(self, account: Any, call_id: int, msg: str) -> None:
        self._inbound_seq += 1
        key = f"in{os.getpid()}-{self._inbound_seq}"
        for old in [c for c in self._dead if pjsua.call_id(c) == call_id]:
            self._dead.remove(old)
            self._quarantine.append(old)
        call = pjsua.new_call(self, account, key, call_id)
        st = self._calls[key] = CallState(key, call, outbound=False)
        if not self._init.inbound or len(self._calls) > self._init.max_calls:
            st.hung_up_by_us = True
            pjsua.hangup(call, 486)
            return
        pjsua.answer(call, 180)
        ruri = request_uri(msg)
        self._emit(Incoming(key, header(msg, "From"), header(msg, "To"), ruri, header(msg, "Call-ID")))

    # ------------------------------------------------------------------ pjsua2 callbacks (main loop)

    def on_call_state(self, key: str) -> None:
        st = self._calls.get(key)
        if st is None or st.ended:
            return
        info = pjsua.call_info(st.call)
        if info.state is InvState.EARLY and st.outbound and not st.rang:
            if info.last_code in (180, 183):
                st.rang = True
                self._emit(Ringing(key))
        elif info.state is InvState.CONFIRMED and not st.connected:
            st.connected = True
            self._emit(Answered(key))
            self._taps.amd_start(key)  # if placed with answering-machine detection
            self._players.connected(key)
        elif info.state is InvState.DISCONNECTED:
            self._ended(st, info.last_code, info.last_reason)

    def _ended(self, st: CallState, code: int, reason: str) -> None:
        st.ended = True
        # RFC 4028 §10 / RFC 3261 §12.2.1.2: pjsip ended a connected call whose far end went silent
        expired = st.connected and code == 408 and not st.hung_up_by_us
        if st.connected:
            code = 200
        elif st.hung_up_by_us and code in (0, 200):
            code = 487  # RFC 3261 §15: a cancelled INVITE ends with 487
        key = st.key
        self._players.forget(key)
        self._taps.disconnect(key, st.media)
        self._taps.release(key)
        st.media = None
        by_remote = not st.hung_up_by_us and not expired
        self._emit(Ended(key, int(code), reason, by_remote=by_remote, connected=st.connected, expired=expired))
        del self._calls[key]
        self._dead.append(st.call)

    def on_media_state(self, key: str) -> None:
        st = self._calls.get(key)
        if st is None or st.ended:
            return
        info = pjsua.call_info(st.call)
        stream = next((a for a in info.audio if a.slot >= 0), None)
        if stream is None:
            return
        if stream.status is MediaStatus.REMOTE_HOLD:
            self._hold(st, "sendonly" if stream.direction & MediaDir.DECODING else "inactive")
        elif stream.status is MediaStatus.ACTIVE:
            self._active(st, stream.index)

    def _active(self, st: CallState, index: int) -> None:
        key = st.key
        # the stream was built again (maybe on the same slot number): connect to it afresh
        self._taps.disconnect(key, st.media)
        st.media = pjsua.audio_media(st.call, index)
        si = pjsua.stream_info(st.call, index)
        rate = si.clock_rate if si is not None else 0
        self._taps.connect(key, st.media)
        self._players.media(key, st.media, rate)
        if si is not None and (si.codec, si.clock_rate, si.event_pt) != st.codec:
            st.codec = (si.codec, si.clock_rate, si.event_pt)
            self._emit(MediaUp(key, si.codec, si.clock_rate, si.event_pt))
        if st.held:
            st.held = False
            self._emit(Resumed(key))

    def _hold(self, st: CallState, how: str) -> None:
        self._taps.disconnect(st.key, st.media)
        self._players.media(st.key, None, 0)
        st.media = None
        if not st.held:
            st.held = True
            self._emit(Held(st.key, how))

    def on_signalled_digit(self, key: str, digit: str, source: str) -> None:
        st = self._calls.get(key)
        if st is not None and not st.ended:
            self._taps.key(key, digit, _SOURCES.get(source, "rfc4733"))

    # ------------------------------------------------------------------ lifetime of Call objects

    def bury_dead(self) -> None:
        """Delete the Call objects of calls that ended (at the start of a main-loop round)."""
        if self._dead:
            self._dead.clear()
        if self._failed:
            cutoff = time.monotonic() - BURY_AFTER_S
            self._failed = [(c, t) for c, t in self._failed if t > cutoff]

    def drop_media(self) -> None:
        """Disconnect every call's audio from its tap (before the conference clock stops)."""
        for st in self._calls.values():
            self._taps.disconnect(st.key, st.media)
            st.media = None

    def clear(self) -> None:
        """Drop every Call object (before ``libDestroy``)."""
        self._calls.clear()
        self._dead.clear()
        self._quarantine.clear()
        self._failed.clear()
