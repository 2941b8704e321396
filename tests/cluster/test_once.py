"""Everything that happens once happens once across two nodes, also when one of them is killed: callbacks
(each event posted, in order per alert, twice at most for what the killed node had in flight), escalation
follow-ups (one per alert) and storms (events of one key arriving at both nodes join one alert)."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import httpx

from tests.callback_receiver import Receiver
from tests.cluster.support import LEASE_S, Cluster
from tests.cluster.test_cluster import sms_body, sms_section
from tests.events.support import SENDER, contact
from tests.nodeproc import RunningNode

CONCURRENCY = 4


def test_callbacks_are_posted_once_in_order_when_a_node_dies(cluster: Cluster, smsc_factory: Any) -> None:
    smsc = smsc_factory(dlr_route="any", dlr_retries=20)
    with Receiver(delay_s=0.02) as receiver:
        section = {**sms_section(smsc), "callbacks": {"concurrency": CONCURRENCY, "initial_backoff_s": 0.2}}
        a, b = cluster.start(0, section), cluster.start(1, section)
        refs = []
        for i in range(8):
            node = a if i % 2 == 0 else b
            numbers = [f"+44773{i:02d}{j:04d}" for j in range(40)]
            resp = node.post("/api/json/sendalert", sms_body(numbers, callbackURL=receiver.url))
            assert resp.status_code == 200, resp.text
            refs.append(resp.json()["alertRef"])
        cluster.wait(lambda: len(receiver.accepted_events()) >= 150, 60, "callbacks under way")
        a.kill()
        cluster.wait(lambda: cluster.states().get("delivered", 0) == 320, 60, "every delivery delivered")
        cluster.wait(lambda: cluster.query("SELECT count(*) FROM outbox")[0][0] == 0, 60, "the outbox empty")
        expected = {int(r[0]) for r in cluster.query("SELECT seq FROM events WHERE notify = 1")}
        posted = [(e["alertRef"], int(e["seq"])) for e in receiver.accepted_events()]
    counts = collections.Counter(seq for _, seq in posted)
    assert set(counts) == expected  # none lost
    twice = sum(n - 1 for n in counts.values())
    assert twice <= CONCURRENCY, f"{twice} events posted twice (the killed node had {CONCURRENCY} POSTs at most)"
    by_alert: dict[str, list[int]] = collections.defaultdict(list)
    for ref, seq in posted:
        if seq not in by_alert[ref]:
            by_alert[ref].append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_alert.values()), "an alert's events came out of order"
    assert set(by_alert) == set(refs)


def _events_section(smsc: Any, after_min: float) -> dict[str, Any]:
    return {**sms_section(smsc), "events": {
        "contact_groups": {"ops": {"name": "ops", "contacts": [contact(1), contact(2)]}},
        "routes": [{"name": "svc", "match": ["svc.*"], "contact_group": "ops", "alert_types": ["sms"],
                    "sms_sender": SENDER, "template": "{message}",
                    "escalation": {"after_min": after_min, "alert_types": ["sms"]}}],
        "dedup_fields": ["data.host"]}}


def _event(node: RunningNode, host: str) -> dict[str, Any]:
    resp = node.post("/api/events", {"event": "svc.down", "message": f"{host} down", "data": {"host": host}})
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def test_each_escalation_is_sent_once_when_the_node_that_opened_it_dies(cluster: Cluster, smsc: Any) -> None:
    section = _events_section(smsc, after_min=0.05)  # 3 s
    a, b = cluster.start(0, section), cluster.start(1, section)
    first = [_event(a if i % 2 else b, f"h{i}")["alertRef"] for i in range(6)]
    time.sleep(1.0)
    a.kill()  # some escalations were opened on A, some may be claimed by A when it dies
    links = [f"ev-{r[0]}" for r in cluster.query("SELECT storm_id FROM event_storms")]
    cluster.wait(lambda: cluster.query("SELECT count(*) FROM event_escalations WHERE done_at IS NOT NULL")[0][0] == 6,
                 3 + LEASE_S * 2 + 20, "every escalation done")
    per_link = dict(cluster.query("SELECT link_ref, count(*) FROM alerts GROUP BY link_ref"))
    assert len(first) == 6 and sorted(links) == sorted(per_link)
    assert all(n == 2 for n in per_link.values()), per_link  # the first alert and exactly one follow-up


def test_a_storm_arriving_at_both_nodes_makes_one_alert(cluster: Cluster, smsc: Any) -> None:
    section = _events_section(smsc, after_min=60)
    nodes = [cluster.start(0, section), cluster.start(1, section)]
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def send(i: int) -> None:
        node = nodes[i % 2]
        with httpx.Client(base_url=node.url, headers=node.headers, timeout=60, trust_env=False) as client:
            barrier.wait()
            for _ in range(10):
                resp = client.post("/api/events", json={"event": "svc.down", "message": "web1 down",
                                                        "data": {"host": "web1"}})
                assert resp.status_code == 200, resp.text
                with lock:
                    answers.append(resp.json())

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 80
    assert len({a["alertRef"] for a in answers}) == 1
    assert sorted(a["numCoalesced"] for a in answers) == list(range(80))
    assert cluster.query("SELECT coalesced FROM event_storms")[0][0] == 79
