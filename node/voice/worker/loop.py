"""The worker's main loop: pjsua2 events, the supervisor's commands, media hand-offs, shutdown.

One round of the loop: ``libHandleEvents`` (every SIP callback runs inside it), then the Call objects
of calls that ended are deleted (before any command can place a call that reuses their pjsua id),
then the queued commands run, then what the media thread queued is handled (prompt ends, received
frames) and stopped players old enough are deleted.

Shutdown (the ``Shutdown`` command, or the supervisor's end of the pipe closing): every call is hung
up (503), the loop runs until they ended or :data:`SHUTDOWN_WAIT_S` passed, then every media
connection is dropped, the conference clock stopped, every pjsua2 object released, the library
destroyed, and ``Bye`` reported.
"""

from __future__ import annotations

import collections
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from alertnode.voice.pipe import (
    AmdStop,
    Answer,
    Bye,
    Command,
    CommandFailed,
    Event,
    Hangup,
    NoSuchCall,
    Place,
    Play,
    Ready,
    Shutdown,
    StopPlay,
    WorkerInit,
)
from alertnode.voice.worker import pjsua
from alertnode.voice.worker.accounts import Accounts
from alertnode.voice.worker.calls import Calls
from alertnode.voice.worker.players import Players
from alertnode.voice.worker.taps import Taps

log = logging.getLogger(__name__)

_LOOP_WAIT_MS = 10
SHUTDOWN_WAIT_S = 3.0
# RFC 3261 §21.5.4 503 Service Unavailable: what a caller hears when the node stops under them
_SHUTDOWN_CODE = 503


class Worker:
    def __init__(self, init: WorkerInit, emit: Callable[[Event], None]) -> None:
        self.init = init
        self._emit = emit
        self._commands: collections.deque[Command] = collections.deque()
        self._stop = False
        self._ep: Any = None
        self.taps = Taps(init.max_calls, emit)
        self.players = Players(emit, monitor=self.taps.sent_port)
        self.accounts = Accounts(init, emit)
        self.calls = Calls(init, self.accounts, self.players, self.taps, emit)

    def submit(self, command: Command) -> None:
        """Queue a command (any thread: deque appends are atomic)."""
        self._commands.append(command)

    def start(self) -> None:
        """Start the library; raises SipError when it cannot (the caller reports it as Fatal)."""
        self._ep, sip_port = pjsua.create_endpoint(self.init)
        self.taps.make()
        self.accounts.start()
        self._emit(Ready(sip_port))

    def run(self) -> None:
        deadline: float | None = None
        while True:
            pjsua.handle_events(self._ep, _LOOP_WAIT_MS)
            self.calls.bury_dead()
            self._run_commands()
            self.players.drain()
            self.taps.drain()
            self.players.bury()
            if self._stop:
                if deadline is None:
                    deadline = time.monotonic() + SHUTDOWN_WAIT_S
                    self.calls.hangup_all(_SHUTDOWN_CODE)
                if not len(self.calls) or time.monotonic() > deadline:
                    break
        self._destroy()

    def _run_commands(self) -> None:
        # in a helper, not in run(): a command (or a call state) held by run()'s frame would outlive
        # libDestroy
        while self._commands:
            cmd = self._commands.popleft()
            try:
                self._command(cmd)
            except Exception as exc:  # a bad command must not end the worker
                log.exception("worker: command %s failed", cmd.tag)
                self._emit(CommandFailed(str(exc), getattr(cmd, "call", None)))

    def _command(self, cmd: Command) -> None:
        if isinstance(cmd, Shutdown):
            self._stop = True
            return
        if self._stop:
            return
        if isinstance(cmd, Place):
            self.calls.place(cmd)
            return
        if isinstance(cmd, WorkerInit):
            log.warning("worker: a second init command is ignored")
            return
        st = self.calls.get(cmd.call)
        if st is None:
            self._emit(NoSuchCall(cmd.call))
            return
        match cmd:
            case Play():
                self.players.play(st.key, cmd.prompts)
            case StopPlay():
                self.players.stop(st.key)
            case Hangup():
                self.calls.hangup(st, cmd.code)
            case Answer():
                self.calls.answer(st)
            case AmdStop():
                self.taps.amd_stop(st.key)

    def _destroy(self) -> None:
        self.players.stop_all()
        self.calls.drop_media()
        pjsua.stop_clock(self._ep)
        self.taps.clear()
        self.calls.clear()
        self.players.clear()
        self.accounts.shutdown()
        gc.collect()
        pjsua.destroy_endpoint(self._ep)
        self._ep = None
        self._emit(Bye())
