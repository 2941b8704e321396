"""One SMPP bind (SmppThread) against the SMSC simulator: an answer to a deliver_sm goes only to the
connection the deliver_sm came on. A deliver_sm_resp carries nothing but a sequence number: if the bind
drops and comes back before a held answer goes out, that number names another PDU on the new connection
(the SMSC's numbering starts again), which would be answered with the old decision."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from alertnode.sms.config import SmppLinkConfig
from alertnode.sms.links import session_config
from alertnode.sms.session import LinkState
from alertnode.sms.smpplib_adapter import BindParams, Inbound, LinkOutput, SmppThread
from alertnode.sms.status import ESME_ROK, ESME_RX_T_APPN
from tests.peers.smsc import Smsc

pytestmark = pytest.mark.peer


class Outputs:
    def __init__(self) -> None:
        self.items: list[LinkOutput] = []
        self.lock = threading.Lock()

    def emit(self, batch: list[LinkOutput]) -> None:
        with self.lock:
            self.items.extend(batch)

    def inbound(self) -> list[Inbound]:
        with self.lock:
            return [o.action for o in self.items if isinstance(o.action, Inbound)]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def make_thread(smsc: Smsc, outputs: Outputs, **link: Any) -> SmppThread:
    cfg = SmppLinkConfig.model_validate(
        smsc.link(reconnect_initial_s=0.1, reconnect_max_s=0.5, response_timeout_s=5, **link)
    )
    bind = BindParams(cfg.host, cfg.port, cfg.system_id, cfg.password, "", 0, 0, "", 5.0)
    return SmppThread(cfg.name, "transceiver", bind, session_config(cfg, True), lambda part: None, outputs.emit)


def inject_mo(smsc: Smsc, text: str, results: list[tuple[int, dict[str, Any]]]) -> threading.Thread:
    """An MO from the simulator; its HTTP call returns once the node answered the deliver_sm (or failed)."""

    def run() -> None:
        try:
            results.append(smsc.mo(to="447700100100", text=text, **{"from": "447700900009"}))
        except OSError as exc:  # the simulator was killed while it waited
            results.append((0, {"error": str(exc)}))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_an_answer_for_a_connection_that_is_gone_is_never_written_to_the_new_one(
    smsc_factory: Callable[..., Smsc],
) -> None:
    smsc = smsc_factory()
    outputs = Outputs()
    thread = make_thread(smsc, outputs)
    thread.start()
    try:
        wait_for(lambda: thread.state is LinkState.BOUND, "the bind")
        first: list[tuple[int, dict[str, Any]]] = []
        inject_mo(smsc, "held answer", first)
        wait_for(lambda: len(outputs.inbound()) == 1, "the first deliver_sm")
        [old] = outputs.inbound()  # held unanswered, as the node holds a receipt or an unstored reply
        smsc.restart()  # the bind drops and comes back on a new connection
        wait_for(lambda: thread.state is LinkState.BOUND and thread.connection > old.connection, "the new bind")

        second: list[tuple[int, dict[str, Any]]] = []
        mo = inject_mo(smsc, "new connection", second)
        wait_for(lambda: len(outputs.inbound()) == 2, "the second deliver_sm")
        new = outputs.inbound()[1]
        assert new.connection == old.connection + 1
        # the held answer finally goes out, under a sequence number that now names the new deliver_sm
        thread.respond(new.sequence, ESME_ROK, old.connection)
        thread.respond(new.sequence, ESME_RX_T_APPN, new.connection)  # the new deliver_sm's own answer
        mo.join(30)
        [(code, result)] = second
        # the SMSC got the new deliver_sm's own answer (not acknowledged: it will send it again), not the old one
        assert code == 502 and result["ok"] is False, result
        assert thread.stale_answers == 1
        assert smsc.stats()["mo_failed"] == 1
    finally:
        thread.stop()
        thread.join(5)
