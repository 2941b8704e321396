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
  200 for a connected call, 487 for one the node cancelled, else the failure's status.
* Media is re-checked on every ``onCallMediaState`` (a codec-lock or hold/resume re-INVITE fires it
  again): the tap and the playing prompt are connected to the active audio again, whatever the slot
  number says; MediaUp is reported when the audio is new (a new slot).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alertnode.errors import SipError
from alertnode.voice.pipe import Answered, Ended, Event, Incoming, MediaUp, Place, Ringing, WorkerInit
from alertnode.voice.worker import pjsua
from alertnode.voice.worker.accounts import Accounts
from alertnode.voice.worker.pjsua import InvState, MediaStatus
from alertnode.voice.worker.players import BURY_AFTER_S, Players
from alertnode.voice.worker.taps import Taps

log = logging.getLogger(__name__)


@dataclass
class CallState:
    key: str
    call: Any
    outbound: bool
    media: Any = None
    media_slot: int = -1
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
        try:
            pjsua.make_call(call, cmd.uri, headers)
        except Exception as exc:
            if not isinstance(exc, SipError):
                log.exception("worker: placing a call failed")
            del self._calls[key]
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

    def incoming(self, account: Any, call_id: int, from_uri: str, to_uri: str, ruri: str) -> None:
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
        self._emit(Incoming(key, from_uri, to_uri, ruri))

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
            self._players.connected(key)
        elif info.state is InvState.DISCONNECTED:
            self._ended(st, info.last_code, info.last_reason)

    def _ended(self, st: CallState, code: int, reason: str) -> None:
        st.ended = True
        if st.connected:
            code = 200
        elif st.hung_up_by_us and code in (0, 200):
            code = 487  # RFC 3261 §15: a cancelled INVITE ends with 487
        key = st.key
        self._players.forget(key)
        self._taps.disconnect(key, st.media)
        self._taps.release(key)
        st.media = None
        self._emit(Ended(key, int(code), reason, by_remote=not st.hung_up_by_us, connected=st.connected))
        del self._calls[key]
        self._dead.append(st.call)

    def on_media_state(self, key: str) -> None:
        st = self._calls.get(key)
        if st is None or st.ended:
            return
        info = pjsua.call_info(st.call)
        for stream in info.audio:
            if stream.status is not MediaStatus.ACTIVE:
                continue
            fresh = stream.slot != st.media_slot
            if fresh:
                self._taps.disconnect(key, st.media)
                st.media = pjsua.audio_media(st.call, stream.index)
                st.media_slot = stream.slot
            self._taps.connect(key, st.media)
            self._players.media(key, st.media)
            if fresh:
                si = pjsua.stream_info(st.call, stream.index)
                if si is not None:
                    self._emit(MediaUp(key, si.codec, si.clock_rate, si.event_pt))
            return

    def on_rfc4733_digit(self, key: str, digit: str) -> None:
        st = self._calls.get(key)
        if st is not None and not st.ended:
            self._taps.key(key, digit, "rfc4733")

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
