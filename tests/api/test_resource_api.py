"""The alert resource, the collection, read and acknowledge through the real node (``run_node``): the properties of
alert-resource.txt (alertType, category, appData, body per locale sent, groups, originators as resources), read per
API key, an operator's acknowledgement that stops an events escalation and counts for previouslySeen, the collection
paged by cursor with its filters and refusals, and the activity per minute. SMS over the SMSC simulator, e-mail
through an SMTP smarthost."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alertnode.api.auth import fingerprint
from tests.events.support import SENDER, contact, mail_section
from tests.nodeproc import API_KEY, RunningNode, free_port
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost

OTHER_KEY = "second-operator-key-0123"
GROUP = {"name": "site", "contacts": [contact(1, locale="de-AT"), contact(2), contact(3)],
         "sets": [{"name": "wardens", "ids": ["p1", "p2"]}, {"name": "firstaid", "ids": ["p3"]}]}


def client(node: RunningNode, key: str = API_KEY) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {key}"}, timeout=30, trust_env=False)


def get(node: RunningNode, path: str, key: str = API_KEY) -> dict[str, Any]:
    with client(node, key) as c:
        resp = c.get(path)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def dead_sms() -> dict[str, Any]:
    # an SMSC that is not there: alerts wait in the queue
    return {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x", "password": "y"}]}


def sms_item(tag: str = "t", **fields: Any) -> dict[str, Any]:
    return {"alertType": "sms", "tag": tag, "sender": SENDER, "content": "Boiler 3 pressure high", **fields}


def send(node: RunningNode, client_ref: str = "c1", items: list[dict[str, Any]] | None = None,
         **fields: Any) -> str:
    body = {"version": "latest", "clientRef": client_ref, "alert": items or [sms_item(recipients=["+447700900001"])],
            **fields}
    resp = node.post("/api/json/sendalert", body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["alertRef"])


@pytest.mark.peer
def test_the_resource_shows_what_was_sent_and_read_is_per_key(
    run_node: Callable[..., RunningNode], smsc: Smsc, threaded_smarthost: ThreadedSmarthost
) -> None:
    node = run_node({"api": {"api_keys": [API_KEY, OTHER_KEY]}, "sms": {"links": [smsc.link()]},
                     "mail": mail_section(threaded_smarthost)})
    ref = send(node, "boiler-3", [
        sms_item("oncall", contactSets=["wardens"], body={"de": "Kessel 3 Druck hoch"}),
        {"alertType": "email", "tag": "mail", "contactSetList": "firstaid", "subject": "Boiler",
         "content": "Boiler 3 pressure high"},
    ], contactGroup={"inlineContactGroup": GROUP}, appData='{"ticket": 4711}', category="admin")
    node.wait_events(lambda evs: sum(e["event"] == "delivered" for e in evs) >= 2
                     and any(e["event"] == "sent" and e["alertType"] == "email" for e in evs))
    alert = get(node, f"/api/json/alerts/{ref}")
    assert (alert["type"], alert["EID"], alert["alertType"]) == ("alert", ref, "sms,email")
    assert (alert["category"], alert["appData"]) == ("admin", '{"ticket": 4711}')
    # p1 (de-AT) was sent the German body, p2 (no locale) and p3 the content
    assert alert["body"] == {"de": "Kessel 3 Druck hoch", "und": "Boiler 3 pressure high"}
    assert alert["items"][0]["body"] == {"de": "Kessel 3 Druck hoch", "und": "Boiler 3 pressure high"}
    assert alert["numGroups"] == 2 and alert["numOriginators"] == 0 and "originators" not in alert["_links"]
    assert [g["name"] for g in alert["_links"]["groups"]] == ["set:firstaid", "set:wardens"]
    group = get(node, alert["_links"]["groups"][1]["href"])
    assert (group["kind"], group["name"], group["numAlerts"]) == ("contactSet", "wardens", 1)
    assert get(node, group["_links"]["alerts"]["href"])["_embedded"]["alerts"][0]["alertRef"] == ref
    recipients = alert["items"][0]["recipients"]
    assert all(isinstance(r["deliveryId"], int) for r in recipients)
    # read belongs to the key asking
    assert alert["read"] is False
    with client(node) as c:
        marked = c.post(alert["_links"]["read"]["href"])
    assert marked.status_code == 200 and marked.json()["changed"] is True
    assert marked.json()["reader"] == fingerprint(API_KEY)
    assert get(node, f"/api/json/alerts/{ref}")["read"] is True
    assert get(node, f"/api/json/alerts/{ref}", OTHER_KEY)["read"] is False
    assert get(node, "/api/json/alerts?unread=true")["count"] == 0
    assert get(node, "/api/json/alerts?unread=true", OTHER_KEY)["count"] == 1
    events = get(node, f"/api/json/alerts/{ref}/timeline")["events"]
    assert [e["detail"] for e in events if e["event"] == "read"] == [{"reader": fingerprint(API_KEY)}]
    with client(node) as c:
        assert c.delete(f"/api/json/alerts/{ref}/read").json()["changed"] is True
    assert get(node, f"/api/json/alerts/{ref}")["read"] is False
    # the activity of the last minutes counts what went out
    activity = get(node, "/api/json/activity?minutes=5")
    assert set(activity["channels"]) == {"sms", "email"} and activity["minutes"] == 5
    assert sum(activity["channels"]["sms"]["sent"]) == 2 and sum(activity["channels"]["sms"]["delivered"]) == 2
    assert sum(activity["channels"]["email"]["sent"]) == 1


@pytest.mark.peer
def test_an_operators_acknowledgement_stops_the_escalation(
    run_node: Callable[..., RunningNode], smsc: Smsc, threaded_smarthost: ThreadedSmarthost
) -> None:
    route = {"name": "site", "match": ["site.*"], "contact_group": "site", "contact_sets": ["wardens"],
             "alert_types": ["sms"], "sms_sender": SENDER, "template": "{message}",
             "escalation": {"after_min": 0.1, "alert_types": ["email"], "previously_seen": "sms,email"}}
    node = run_node({"sms": {"links": [smsc.link()]}, "mail": mail_section(threaded_smarthost),
                     "events": {"contact_groups": {"site": GROUP}, "routes": [route]}})
    with client(node) as c:
        resp = c.post("/api/events", json={"event": "site.fire", "message": "fire alarm", "appData": "run-7"})
        assert resp.status_code == 200, resp.text
        ref = resp.json()["alertRef"]
        # p1 phoned the operator: the operator answers for p1 before the escalation is due
        ack = c.post(f"/api/json/alerts/{ref}/acknowledge", json={"contact": "p1", "note": "called the desk"})
        assert ack.status_code == 200, ack.text
        assert len(ack.json()["acknowledged"]) == 1 and ack.json()["operator"] == fingerprint(API_KEY)
        again = c.post(f"/api/json/alerts/{ref}/acknowledge", json={"contact": "p1"})
        assert again.json()["acknowledged"] == [] and again.json()["alreadyAcknowledged"] == ack.json()["acknowledged"]
        nobody = c.post(f"/api/json/alerts/{ref}/acknowledge", json={"contact": "p9"})
        assert nobody.status_code == 404 and nobody.json()["errors"][0]["path"] == "contact"
        two = c.post(f"/api/json/alerts/{ref}/acknowledge", json={"contact": "p1", "deliveryId": 1})
        assert two.status_code == 400 and {e["path"] for e in two.json()["errors"]} == {"deliveryId", "contact"}
        unknown = c.post("/api/json/alerts/nope/acknowledge", json={"contact": "p1"})
        assert unknown.status_code == 404 and unknown.json()["errors"][0]["path"] == "alertRef"
    events = node.wait_events(lambda evs: any(e["event"] == "acknowledged" for e in evs))
    (acked,) = [e for e in events if e["event"] == "acknowledged"]
    assert (acked["contact"], acked["state"]) == ("p1", "responded")
    assert acked["detail"] == {"by": "operator", "operator": fingerprint(API_KEY), "note": "called the desk"}
    # the e-mail follow-up goes to p2 only: p1 counts as having answered
    threaded_smarthost.wait_for(1, timeout=60)
    first = get(node, f"/api/json/alerts/{ref}")
    assert first["appData"] == "run-7" and first["category"] == "user"
    assert [g["name"] for g in first["_links"]["groups"]] == ["route:site"] and first["numGroups"] == 1
    (origin,) = first["_links"]["originators"]
    assert origin["href"] == f"/api/json/originators/{fingerprint(API_KEY)}"
    originator = get(node, origin["href"])
    assert (originator["you"], originator["numAlerts"], originator["numEvents"]) == (True, 1, 1)
    deadline = time.monotonic() + 30
    while True:
        esc = get(node, f"/api/json/alerts/{ref}/escalation")
        if len(esc["steps"]) == 2 and esc["planned"] and esc["planned"][0]["doneAt"]:
            break
        assert time.monotonic() < deadline, esc
        time.sleep(0.2)
    assert [s["alertTypes"] for s in esc["steps"]] == [["sms"], ["email"]]
    assert esc["steps"][0]["current"] and esc["planned"][0]["outcome"].startswith("alert ")
    follow_up = get(node, esc["steps"][1]["_links"]["self"]["href"])
    assert [r["contact"] for r in follow_up["items"][0]["recipients"]] == ["p2"]
    assert [m.rcpt_tos for m in threaded_smarthost.messages] == [["p2@example.org"]]
    assert follow_up["appData"] == "run-7" and [g["name"] for g in follow_up["_links"]["groups"]] == ["route:site"]
    route_group = get(node, "/api/json/groups/route:site")
    assert route_group["numAlerts"] == 2 and route_group["route"]["escalation"][0]["alertTypes"] == ["email"]


def test_an_acknowledgement_counts_for_previously_seen(run_node: Callable[..., RunningNode]) -> None:
    node = run_node({"sms": dead_sms()})
    ref = send(node, "first", [sms_item(contactSets=["wardens"])], contactGroup={"inlineContactGroup": GROUP},
               linkedAlerts={"linkRef": "incident-1"})
    with client(node) as c:
        resp = c.post(f"/api/json/alerts/{ref}/acknowledge", json={"recipient": "+44 7700 900101"})
    assert resp.status_code == 200, resp.text
    alert = get(node, f"/api/json/alerts/{ref}")
    states = {r["contact"]: r["state"] for r in alert["items"][0]["recipients"]}
    assert states == {"p1": "responded", "p2": "queued"}  # never sent now: p1 has answered
    follow = node.post("/api/json/sendalert", {"version": "latest", "clientRef": "second",
                                               "linkedAlerts": {"linkRef": "incident-1"},
                                               "alert": [sms_item(contactSets=["wardens"], linkedAlertModifiers={
                                                   "except": {"previouslySeen": "sms"}})]})
    assert follow.status_code == 200, follow.text
    assert follow.json()["alerts"][0]["sentCount"] == 1
    second = get(node, f"/api/json/alerts/{follow.json()['alertRef']}")
    assert [r["contact"] for r in second["items"][0]["recipients"]] == ["p2"]
    assert second["_links"]["linkFirst"]["href"] == f"/api/json/alerts/{ref}"


def test_the_collection_pages_by_cursor_and_filters(run_node: Callable[..., RunningNode]) -> None:
    node = run_node({"sms": dead_sms()})
    refs = [send(node, f"c{i}", [sms_item(f"tag{i % 2}", recipients=[f"+4477009000{i:02d}"])]) for i in range(5)]
    pending = send(node, "later", schedule={"publish": False})
    with client(node) as c:
        assert c.post(f"/api/json/alerts/{refs[0]}/hold").status_code == 200
        assert c.post(f"/api/json/alerts/{refs[1]}/cancel").status_code == 200
    first = get(node, "/api/json/alerts?limit=2")
    assert [a["alertRef"] for a in first["_embedded"]["alerts"]] == [pending, refs[4]]
    assert first["more"] is True and first["_links"]["next"]["href"].startswith("/api/json/alerts?limit=2&cursor=")
    newer = send(node, "newer")  # arrives while the operator pages: the next page does not shift
    second = get(node, first["_links"]["next"]["href"])
    assert [a["alertRef"] for a in second["_embedded"]["alerts"]] == [refs[3], refs[2]]
    third = get(node, second["_links"]["next"]["href"])
    assert [a["alertRef"] for a in third["_embedded"]["alerts"]] == [refs[1], refs[0]]
    assert third["more"] is False and "next" not in third["_links"] and third["cursor"] is None
    assert get(node, "/api/json/alerts?limit=1")["_embedded"]["alerts"][0]["alertRef"] == newer

    def found(query: str) -> list[str]:
        return [a["alertRef"] for a in get(node, f"/api/json/alerts?{query}")["_embedded"]["alerts"]]

    assert found("status=on_hold,cancelled") == [refs[1], refs[0]]
    assert found("view=pending") == [pending]
    assert pending not in found("view=history") and refs[1] in found("view=history")
    assert found("tag=tag1") == [refs[3], refs[1]]
    assert found("clientRef=c2") == [refs[2]]
    summary = get(node, "/api/json/alerts?clientRef=c2")["_embedded"]["alerts"][0]
    assert summary["_links"]["self"]["href"] == f"/api/json/alerts/{refs[2]}"
    assert (summary["status"], summary["tags"], summary["counts"]["queued"]) == ("running", ["tag0"], 1)
    assert "recipients" not in str(summary)  # no contact data in the collection
    created = get(node, f"/api/json/alerts/{refs[2]}")["created"]
    assert found(f"from={created}&to=2100-01-01T00:00:00Z&status=running") == [newer, refs[4], refs[3], refs[2]]
    with client(node) as c:
        bad = c.get("/api/json/alerts?status=done&view=old&from=yesterday&to=2020-01-01T00:00:00&limit=500"
                    "&cursor=xyz&group=team&alertType=fax&unread=yes")
        assert bad.status_code == 400
        assert {e["path"] for e in bad.json()["errors"]} == {"status", "view", "from", "to", "limit", "cursor", "group",
                                                             "alertType", "unread"}
        assert c.get("/api/json/alerts", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/json/activity?minutes=0").json()["errors"][0]["path"] == "minutes"
        assert c.get("/api/json/groups/set:nobody").status_code == 404
        assert c.get("/api/json/originators/key-000000000000").status_code == 404
        assert c.get("/api/json/alerts/nope/timeline").status_code == 404
        assert c.get("/api/json/alerts/nope/escalation").status_code == 404
        assert c.post("/api/json/alerts/nope/read").status_code == 404
    timeline = get(node, f"/api/json/alerts/{refs[0]}/timeline?limit=1")
    assert [e["event"] for e in timeline["events"]] == ["accepted"] and timeline["more"] is True
    assert [e["event"] for e in get(node, timeline["_links"]["next"]["href"])["events"]] == ["held"]
