"""Two nodes on one PostgreSQL (issue 13): work accepted by either is sent once across the cluster, a node
killed with ``kill -9`` has its work taken over when its lease lapses, answers reach their delivery
whichever node receives them, and the same ``uniqueId`` sent to both at the same moment makes one alert."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import httpx

from tests.cluster.support import LEASE_S, Cluster
from tests.peers.smsc import Smsc

WINDOW = 20


def sms_body(numbers: list[str], **extra: Any) -> dict[str, Any]:
    return {"version": "latest", "clientRef": "ha", **extra,
            "alert": [{"alertType": "sms", "tag": "t", "content": "Pump 2 failed", "sender": "ALERTS",
                       "recipients": numbers}]}


def sms_section(smsc: Smsc, **link: Any) -> dict[str, Any]:
    # the simulator writes receipt ids as it answered submits ('auto' could read a small id two ways and, with
    # the message it means not stored yet by the other node, settle an older one)
    return {"sms": {"links": [smsc.link(window=WINDOW, receipt_id_format="same", **link)]}}


def test_the_same_unique_id_at_two_nodes_at_once_makes_one_alert(cluster: Cluster, smsc: Smsc) -> None:
    a, b = cluster.start(0, sms_section(smsc)), cluster.start(1, sms_section(smsc))
    answers: dict[str, list[str]] = collections.defaultdict(list)
    errors: list[str] = []

    def post(node_url: str, headers: dict[str, str], unique: str, barrier: threading.Barrier) -> None:
        with httpx.Client(base_url=node_url, headers=headers, timeout=60, trust_env=False) as client:
            barrier.wait()
            resp = client.post("/api/json/sendalert", json=sms_body(["+447700900123"], uniqueId=unique))
        if resp.status_code != 200:
            errors.append(resp.text)
        else:
            answers[unique].append(resp.json()["alertRef"])

    for i in range(15):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=post, args=(n.url, n.headers, f"u-{i}", barrier)) for n in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert all(len(refs) == 2 and refs[0] == refs[1] for refs in answers.values()), answers
    assert cluster.query("SELECT count(*) FROM alerts")[0][0] == 15


def test_a_node_killed_mid_run_loses_nothing(cluster: Cluster, smsc_factory: Any) -> None:
    """5,000 SMS recipients accepted through both nodes; node A is killed (SIGKILL) after about a third was
    submitted; every recipient is submitted, those sent twice are at most what A had in flight (its SMPP
    window), and every receipt lands on its delivery (receipts of A's messages come to B)."""
    smsc = smsc_factory(dlr_delay_ms=200, dlr_route="any", dlr_retries=20)
    # the account's contracted rate is shared by the nodes bound to it (each sends half while both live)
    section = sms_section(smsc, throughput=600, throughput_burst=50)
    a, b = cluster.start(0, section), cluster.start(1, section)
    numbers = [f"+44770{i:06d}" for i in range(5000)]
    for i in range(10):
        node = a if i % 2 == 0 else b
        resp = node.post("/api/json/sendalert", sms_body(numbers[i * 500 : (i + 1) * 500]))
        assert resp.status_code == 200, resp.text
    cluster.wait(lambda: smsc.stats()["submit_sm"] >= 1500, 60, "a third submitted")
    killed_at = time.monotonic()
    a.kill()
    try:
        cluster.wait(lambda: cluster.states().get("delivered", 0) == 5000, 120, "every delivery delivered")
    except AssertionError:
        print("".join(line for line in b.output if "WARNING" in line or "ERROR" in line)[-6000:])
        print(smsc.stats())
        for row in cluster.query("SELECT d.id, m.state, p.message_id, p.state, m.link FROM deliveries d LEFT JOIN"
                                 " sms_message m ON m.delivery_id = d.id LEFT JOIN sms_part p ON p.delivery_id = d.id"
                                 " WHERE d.state = 'sent' LIMIT 10"):
            print(row, [(e[0], e[1]) for e in cluster.query(
                "SELECT kind, state FROM events WHERE delivery_id = %s ORDER BY seq", row[0])])
        raise
    elapsed = time.monotonic() - killed_at
    sent = collections.Counter(s["dest"].lstrip("+") for s in smsc.submits() if s.get("status") == 0)
    assert set(sent) == {n.lstrip("+") for n in numbers}
    duplicates = sum(n - 1 for n in sent.values())
    assert duplicates <= WINDOW, f"{duplicates} recipients sent twice (window {WINDOW})"
    taken = cluster.query("SELECT count(*) FROM events WHERE kind = 'requeued' AND data IS NOT NULL")[0][0]
    assert taken > 0  # A held work when it died; B took it over
    assert elapsed < 120 and LEASE_S < 10


def test_receipts_and_replies_reach_their_delivery_at_either_node(cluster: Cluster, smsc_factory: Any) -> None:
    """The SMSC hands each receipt to either node's bind at random: every one settles its delivery."""
    smsc = smsc_factory(dlr_delay_ms=50, dlr_route="any", dlr_retries=20)
    a, b = cluster.start(0, sms_section(smsc)), cluster.start(1, sms_section(smsc))
    numbers = [f"+44771{i:06d}" for i in range(1000)]
    assert a.post("/api/json/sendalert", sms_body(numbers[:500])).status_code == 200
    assert b.post("/api/json/sendalert", sms_body(numbers[500:])).status_code == 200
    try:
        cluster.wait(lambda: cluster.states().get("delivered", 0) == 1000, 60, "every delivery delivered")
    except AssertionError:
        print(smsc.stats())
        for row in cluster.query("SELECT d.id, p.message_id, d.lease_owner FROM deliveries d"
                                 " JOIN sms_part p ON p.delivery_id = d.id WHERE d.state = 'sent' LIMIT 5"):
            print(row, cluster.query("SELECT kind, state, notify FROM events WHERE delivery_id = %s", row[0]))
        print("".join(ln for ln in a.output + b.output if "WARNING" in ln or "ERROR" in ln)[-3000:])
        raise
