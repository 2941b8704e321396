"""A call in progress on a node that is killed (issue 13): node A's call is answered (SIPp holds it, silent)
when A dies with SIGKILL; once A's lease lapses node B calls the recipient again (through its own trunk, a
SIPp that presses 2), and the attempt lost with A is not counted against ``ivrAttempts``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cluster.support import LEASE_S, Cluster
from tests.peers.sip import SippUas
from tests.peers.test_voice_node import call_alert, voice_config

pytestmark = pytest.mark.peer


def test_a_call_lost_with_its_node_is_made_again_by_the_other(cluster: Cluster,
                                                              sipp_uas: Callable[..., SippUas]) -> None:
    held, answering = sipp_uas("uas_silent.xml"), sipp_uas("uas_press2.xml")
    a = cluster.start(0, voice_config(held.hostport))
    body = call_alert(content="Pump 2 failed. Press 2.", ivrControl={"ivrRequireResponse": True, "ivrAttempts": 1})
    resp = a.post("/api/json/sendalert", body)
    assert resp.status_code == 200, resp.text
    ref = resp.json()["alertRef"]
    cluster.wait(lambda: cluster.states().get("answered", 0) == 1, 60, "A's call answered")
    b = cluster.start(1, voice_config(answering.hostport))
    a.kill()
    events = b.wait_events(lambda evs: any(e.get("alertRef") == ref and e.get("final") for e in evs),
                           timeout=LEASE_S + 60)
    mine = [e for e in events if e.get("alertRef") == ref]
    requeued = [e for e in mine if e["event"] == "requeued"]
    assert requeued and requeued[0]["detail"]["node"] == "node-0"
    [final] = [e for e in mine if e.get("final")]
    assert final["state"] == "responded" and final["detail"]["response"] == "2"
    assert final["detail"]["attempts"] == 1  # the call lost with node A used up no attempt
    assert answering.wait() == 0, answering.output()[-2000:]
