"""The job lifecycle through the real node: durability across SIGKILL, idempotency, the
collectevents cursor, and signed callbacks retried against a receiver that fails first."""

from __future__ import annotations

import threading
import time
from typing import Any

from alertnode.jobs.callbacks import verify
from tests.callback_receiver import Receiver
from tests.nodeproc import RunningNode, free_port


def dead_links() -> dict[str, Any]:
    # an SMSC that is not there: alerts are accepted and wait in the queue
    return {"sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                               "password": "y"}]}}


def sms_alert(n: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "version": "latest", "clientRef": "job-1",
        "alert": [{"alertType": "sms", "tag": "t1", "content": "Boiler 3 pressure high", "sender": "+447700900001",
                   "recipients": [f"+4477009{i:05d}" for i in range(n)]}],
        **extra,
    }


def test_accepted_alert_survives_sigkill(run_node, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = dead_links()
    node: RunningNode = run_node(config, data_dir=tmp_path / "n")
    resp = node.post("/api/json/sendalert", sms_alert(50))
    assert resp.status_code == 200, resp.text
    ref = resp.json()["alertRef"]
    assert resp.json()["alerts"][0]["sentCount"] == 50
    node.kill()  # SIGKILL right after the answer: accepted must mean durable
    again: RunningNode = run_node(config, data_dir=tmp_path / "n")
    with again.client() as c:
        got = c.get(f"/api/json/alerts/{ref}")
    assert got.status_code == 200, got.text
    alert = got.json()
    recipients = alert["items"][0]["recipients"]
    assert len(recipients) == 50
    assert {r["state"] for r in recipients} <= {"queued", "in_progress"}
    assert alert["counts"]["queued"] == 50
    assert alert["status"] == "running"


def test_unique_id_is_idempotent(run_node) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node(dead_links())
    first = node.post("/api/json/sendalert", sms_alert(5, uniqueId="evt-42")).json()
    second = node.post("/api/json/sendalert", sms_alert(5, uniqueId="evt-42")).json()
    assert first == second
    other = node.post("/api/json/sendalert", sms_alert(5, uniqueId="evt-43")).json()
    assert other["alertRef"] != first["alertRef"]
    info = node.post("/api/json/getinfo", {}).json()
    assert info["queued"]["sms"] == 10
    accepted = [e for e in node.events(limit=5000)["events"] if e["event"] == "accepted"]
    assert len(accepted) == 2


def test_unique_id_under_concurrency_creates_one_alert(run_node) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node(dead_links())
    answers: list[dict[str, Any]] = []

    def send() -> None:
        answers.append(node.post("/api/json/sendalert", sms_alert(2, uniqueId="same")).json())

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["alertRef"] for a in answers}) == 1
    assert node.post("/api/json/getinfo", {}).json()["queued"]["sms"] == 2


def test_collectevents_cursor_misses_and_repeats_nothing(run_node) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node(dead_links())
    refs: list[str] = []
    stop = threading.Event()

    def producer() -> None:
        for _ in range(40):
            refs.append(node.post("/api/json/sendalert", sms_alert(1)).json()["alertRef"])
        stop.set()

    seen: list[int] = []
    events: list[dict[str, Any]] = []
    cursor = 0
    thread = threading.Thread(target=producer)
    thread.start()
    while True:
        done = stop.is_set()
        data = node.events(cursor, limit=3)  # small pages while alerts are being written
        seen.extend(e["seq"] for e in data["events"])
        events.extend(data["events"])
        cursor = data["cursor"]
        if done and not data["more"] and not data["events"]:
            break
    thread.join()
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    accepted = {e["alertRef"] for e in events if e["event"] == "accepted"}
    assert accepted == set(refs)
    # the cursor answered last returns nothing new
    assert node.events(cursor)["events"] == []
    # filtering by alert gives that alert's events only
    only = node.events(0, alertRef=refs[0])["events"]
    assert only and {e["alertRef"] for e in only} == {refs[0]}


def test_callbacks_retried_and_signed(run_node) -> None:  # type: ignore[no-untyped-def]
    secret = "cb-secret-for-tests"
    with Receiver(fail_first=2) as receiver:
        node: RunningNode = run_node({**dead_links(), "callbacks": {"secret": secret, "initial_backoff_s": 0.2,
                                                                    "max_backoff_s": 1.0}})
        ref = node.post("/api/json/sendalert", sms_alert(2, callbackURL=receiver.url)).json()["alertRef"]
        with node.client() as c:
            assert c.post(f"/api/json/alerts/{ref}/cancel").status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            kinds = [e["event"] for e in receiver.accepted_events()]
            if kinds.count("cancelled") >= 3 and "accepted" in kinds:
                break
            time.sleep(0.1)
        events = receiver.accepted_events()
        kinds = [e["event"] for e in events]
        assert "accepted" in kinds and kinds.count("cancelled") == 3  # two deliveries and the alert
        assert len(kinds) == len({e["seq"] for e in events})  # each event delivered once
        assert sum(r["failed"] for r in receiver.requests) == 2
        for r in receiver.requests:
            headers = {k.lower(): v for k, v in r["headers"].items()}
            assert verify(secret.encode(), headers["x-alertnode-timestamp"], r["body"],
                          headers["x-alertnode-signature"])
            assert not verify(b"wrong", headers["x-alertnode-timestamp"], r["body"],
                              headers["x-alertnode-signature"])


def test_callbacks_batched(run_node) -> None:  # type: ignore[no-untyped-def]
    with Receiver() as receiver:
        node: RunningNode = run_node({**dead_links(), "callbacks": {"batch_size": 50}})
        ref = node.post("/api/json/sendalert", sms_alert(20, callbackURL=receiver.url)).json()["alertRef"]
        with node.client() as c:
            c.post(f"/api/json/alerts/{ref}/cancel")
        deadline = time.monotonic() + 30
        while len(receiver.accepted_events()) < 22 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(receiver.accepted_events()) == 22
        assert len(receiver.requests) < 22  # several events per POST


def test_callbacks_survive_a_down_client_and_a_restart(run_node, tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    config = {**dead_links(), "callbacks": {"initial_backoff_s": 0.2, "max_backoff_s": 0.5}}
    node: RunningNode = run_node(config, data_dir=tmp_path / "n")
    node.post("/api/json/sendalert", sms_alert(1, callbackURL=url))
    time.sleep(1.0)  # a few failed attempts against nothing
    node.stop()
    again: RunningNode = run_node(config, data_dir=tmp_path / "n")
    receiver = Receiver()
    receiver.server.server_close()
    from http.server import ThreadingHTTPServer

    receiver.server = ThreadingHTTPServer(("127.0.0.1", port), receiver.server.RequestHandlerClass)
    receiver.thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    with receiver:
        deadline = time.monotonic() + 30
        while not receiver.accepted_events() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [e["event"] for e in receiver.accepted_events()] == ["accepted"]
    assert again.proc is not None


def test_scheduled_alert_waits_for_its_schedule_url(run_node) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node(dead_links())
    resp = node.post("/api/json/sendalert", sms_alert(2, schedule={"publish": False})).json()
    assert resp["scheduleId"].startswith("sch-") and resp["storeId"] == resp["alertRef"]
    assert resp["expirationInDays"] == 7
    with node.client() as c:
        assert c.get(f"/api/json/alerts/{resp['alertRef']}").json()["status"] == "scheduled"
        r = c.put(resp["schedule_url"], json={"publish_delay": "P0DT0S"})
        assert r.status_code == 200, r.text
        assert c.get(f"/api/json/alerts/{resp['alertRef']}").json()["status"] == "running"
        bad = c.put(resp["schedule_url"], json={"publish_delay": "soon"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "publish_delay"


def test_hold_and_resume(run_node) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node(dead_links())
    ref = node.post("/api/json/sendalert", sms_alert(1)).json()["alertRef"]
    with node.client() as c:
        assert c.post(f"/api/json/alerts/{ref}/hold").json()["status"] == "on_hold"
        assert c.get(f"/api/json/alerts/{ref}").json()["status"] == "on_hold"
        assert c.post(f"/api/json/alerts/{ref}/hold").status_code == 409
        assert c.post(f"/api/json/alerts/{ref}/resume").json()["status"] == "running"
        assert c.post(f"/api/json/alerts/{ref}/cancel").status_code == 200
        assert c.post(f"/api/json/alerts/{ref}/resume").status_code == 409
        assert c.get(f"/api/json/alerts/{ref}").json()["status"] == "cancelled"
        assert c.post("/api/json/alerts/nope/hold").status_code == 404
    kinds = [e["event"] for e in node.events(alertRef=ref)["events"]]
    assert kinds[:3] == ["accepted", "held", "resumed"] and "cancelled" in kinds
