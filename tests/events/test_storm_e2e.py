"""A storm through the real node: 500 identical events sent within 10 seconds (from 8 threads, two API keys)
become one alert with numCoalesced 499 and two originators; each contact gets one SMS and one e-mail."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.events.support import SENDER, contact, mail_section
from tests.nodeproc import API_KEY, RunningNode
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost

pytestmark = pytest.mark.peer

STORM = 500
OTHER_KEY = "second-app-key-0123456789"


def test_storm_of_identical_events_makes_one_alert(
    run_node: Callable[..., RunningNode], smsc: Smsc, threaded_smarthost: ThreadedSmarthost, tmp_path: Path
) -> None:
    node = run_node({
        "api": {"api_keys": [API_KEY, OTHER_KEY]},
        "sms": {"links": [smsc.link(dcs0_charset="latin1")]},
        "mail": mail_section(threaded_smarthost),
        "events": {
            "contact_groups": {"ops": {"name": "ops", "contacts": [contact(1), contact(2), contact(3)]}},
            "routes": [{"name": "disk", "match": ["disk.*"], "contact_group": "ops", "alert_types": ["sms", "email"],
                        "sms_sender": SENDER, "template": "{message}"}],
            "dedup_fields": ["data.host"],
        },
    })
    body = {"event": "disk.full", "message": "disk /var full", "data": {"host": "web1"}}

    # one client shared by the threads (httpx clients are thread-safe; making one costs ~30 ms of CPU)
    http = httpx.Client(base_url=node.url, timeout=30, trust_env=False,
                        limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))

    def send(i: int) -> dict[str, Any]:
        key = OTHER_KEY if i % 50 == 0 else API_KEY
        resp = http.post("/api/events", json=body, headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = resp.json()
        return answer

    started = time.monotonic()
    with http, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(STORM)))
    elapsed = time.monotonic() - started
    print(f"{STORM} events posted in {elapsed:.2f} s")

    refs = {a["alertRef"] for a in answers}
    assert len(refs) == 1
    assert sum(not a["coalesced"] for a in answers) == 1
    assert sorted(a["numCoalesced"] for a in answers if a["coalesced"]) == list(range(1, STORM))
    (ref,) = refs
    with node.client() as c:
        alert = c.get(f"/api/json/alerts/{ref}").json()
    assert alert["numCoalesced"] == STORM - 1
    assert alert["numOriginators"] == 2
    assert len(alert["_links"]["originators"]) == 2
    assert [i["sentCount"] for i in alert["items"]] == [3, 3]

    # a different host is another key: a second alert
    other = {"event": "disk.full", "message": "disk /var full", "data": {"host": "web2"}}
    with httpx.Client(base_url=node.url, headers=node.headers, timeout=30, trust_env=False) as c:
        resp = c.post("/api/events", json=other)
    assert resp.status_code == 200, resp.text
    assert resp.json()["alertRef"] != ref and not resp.json()["coalesced"]

    node.wait_events(lambda evs: sum(e["event"] == "delivered" for e in evs) >= 6
                     and sum(e["event"] == "sent" and e.get("alertType") == "email" for e in evs) >= 6, timeout=60)
    mails = threaded_smarthost.wait_for(6)
    submits = smsc.submits()
    # each contact once per alert: the storm alert and the web2 alert
    assert sorted(m.rcpt_tos[0] for m in mails) == sorted([f"p{i}@example.org" for i in (1, 2, 3)] * 2)
    assert sorted(s["dest"] for s in submits) == sorted([f"4477009001{i:02d}" for i in (1, 2, 3)] * 2)
