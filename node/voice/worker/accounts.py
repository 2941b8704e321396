"""The worker's SIP accounts: the default one (registered, or the trunk's) and caller-id accounts.

Rules:

* With a registrar, From is the registered AOR (``user@domain``); only the worker told
  ``do_register`` sends REGISTER, from an account of its own whose Contact is the supervisor's SIP
  front (``init.contact``): calls to the AOR reach the front, which spreads them over the workers.
  Its results are reported as :class:`~alertnode.voice.pipe.Registration`. The caller id then travels
  in P-Asserted-Identity (RFC 3325 §9.1), which the call's owner adds.
* In trunk mode the caller id is shown in From: one account per caller, at most
  :data:`MAX_CALLER_ACCOUNTS` (pjsua's PJSUA_MAX_ACC is 8, one is the default); beyond that the
  default account places the call. One that cannot be made fails the call (SipError).
* Every account is kept until :meth:`Accounts.shutdown`, before ``libDestroy``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alertnode.voice.pipe import Event, Registration, WorkerInit
from alertnode.voice.worker import pjsua

log = logging.getLogger(__name__)

MAX_CALLER_ACCOUNTS = 5

IncomingHandler = Callable[[Any, int, str], None]


class Accounts:
    def __init__(self, init: WorkerInit, emit: Callable[[Event], None]) -> None:
        self._init = init
        self._emit = emit
        self._default: Any = None
        self._registering: Any = None
        self._by_caller: dict[str, Any] = {}
        self.incoming: IncomingHandler | None = None
        """Takes each incoming call: (account, pjsua call id, the whole INVITE)."""

    def start(self) -> None:
        self._default = pjsua.new_account(self, self._init, None)
        if self._init.registrar and self._init.do_register:
            self._registering = pjsua.new_account(self, self._init, None, register=True)

    def for_caller(self, caller: str) -> Any:
        """The account to place a call from ``caller`` with; raises SipError if it cannot be made."""
        if self._init.registrar or not caller:
            return self._default
        acc = self._by_caller.get(caller)
        if acc is None and len(self._by_caller) < MAX_CALLER_ACCOUNTS:
            acc = self._by_caller[caller] = pjsua.new_account(self, self._init, caller)
        return acc or self._default

    # ------------------------------------------------------------------ pjsua2 callbacks (main loop)

    def on_registration(self, active: bool, code: int, reason: str, expires: int) -> None:
        self._emit(Registration(active, code, reason, expires))

    def on_incoming(self, account: Any, call_id: int, msg: str) -> None:
        if self.incoming is not None:
            self.incoming(account, call_id, msg)

    def shutdown(self) -> None:
        for acc in [*self._by_caller.values(), self._registering, self._default]:
            if acc is not None:
                pjsua.shutdown_account(acc)
        self._by_caller.clear()
        self._default = self._registering = None
