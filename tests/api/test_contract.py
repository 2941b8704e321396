"""Contract defects found by a request corpus, a fuzzer and by exercising every feature (issue 14), through
the real node and the SMSC simulator: what goes out to a person never holds a lookup's braces, the SMS
sender falls back to ``[sms] default_sender``, and the OpenAPI document says what the node really does."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.links import sent_texts
from tests.events.support import event_body
from tests.nodeproc import RunningNode, free_port
from tests.peers.smsc import Smsc

pytestmark = pytest.mark.peer

GROUP = {"inlineContactGroup": {"name": "g", "contacts": [
    {"id": "ann", "sms": "+447700900401", "lookups": {"firstname": "Ann"}},
    {"id": "bob", "sms": "+447700900402"},
]}}


def test_no_braces_reach_a_person(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    """A contact lookup is empty for a recipient who does not have it (a plain recipient, or a contact
    without that lookup): accepted, and the text goes out without the keyword."""
    node = run_node({"sms": {"links": [smsc.link(dcs0_charset="latin1")]}})
    resp = node.post("/api/json/sendalert", {
        "version": "latest", "clientRef": "braces", "contactGroup": GROUP,
        "alert": [{"alertType": "sms", "tag": "t", "sender": "ALERTS", "content": "Hi {firstname}, boiler 3 high",
                   "recipients": ["+447700900403"], "contacts": ["ann", "bob"], "lookups": {"performLookups": True}}]})
    assert resp.status_code == 200, resp.text
    texts = sorted(sent_texts(smsc, 3))
    assert texts == ["Hi , boiler 3 high", "Hi , boiler 3 high", "Hi Ann, boiler 3 high"]


def test_sms_sender_falls_back_to_the_default(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    """``[sms] default_sender`` is used by an item without a sender and by an events route without
    ``sms_sender`` (its documented default)."""
    node = run_node({
        "sms": {"links": [smsc.link(dcs0_charset="latin1")], "default_sender": "SITEALERT"},
        "events": {"contact_groups": {"ops": GROUP["inlineContactGroup"]},
                   "routes": [{"name": "plant", "match": ["plant.*"], "contact_group": "ops",
                               "contact_sets": ["all"], "alert_types": ["sms"], "template": "{message}"}]},
    })
    resp = node.post("/api/json/sendalert", {
        "version": "latest", "clientRef": "nosender",
        "alert": [{"alertType": "sms", "tag": "t", "content": "from the default", "recipients": ["+447700900405"]}]})
    assert resp.status_code == 200, resp.text
    with httpx.Client(base_url=node.url, headers=node.headers, timeout=30, trust_env=False) as c:
        event = c.post("/api/events", json=event_body(event="plant.boiler", message="boiler 3 high"))
    assert event.status_code == 200, event.text
    assert event.json()["success"] is True
    sent_texts(smsc, 3)
    assert {s["src"] for s in smsc.submits()} == {"SITEALERT"}


def test_no_default_sender_still_needs_a_sender(run_node: Callable[..., RunningNode]) -> None:
    node = run_node({"sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                                        "password": "y"}]}})
    resp = node.post("/api/json/sendalert", {
        "version": "latest", "clientRef": "nosender",
        "alert": [{"alertType": "sms", "tag": "t", "content": "x", "recipients": ["+447700900405"]}]})
    assert resp.status_code == 400
    assert [e["path"] for e in resp.json()["errors"]] == ["alert[0].sender"]


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def test_openapi_says_what_the_node_does(run_node: Callable[..., RunningNode]) -> None:
    node = run_node({"sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                                        "password": "y"}]}})
    schema = httpx.get(f"{node.url}/openapi.json", timeout=30, trust_env=False).json()
    ops = _operations(schema)
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids)), sorted(ids)
    for path, method, op in ops:
        statuses = set(op["responses"])
        public = op.get("security", schema["security"]) == []
        assert "422" not in statuses, (method, path)  # invalid requests are answered 400, never 422
        if not public:
            assert "401" in statuses, (method, path)
        if "requestBody" in op:
            assert {"400", "413"} <= statuses, (method, path)
        if op.get("parameters"):
            assert "400" in statuses, (method, path)
        if "{alertRef}" in path:
            assert "404" in statuses, (method, path)
        for status in (s for s in statuses if s.startswith("4")):
            ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorResponse"), (method, path, status)
    for path in ("/healthz", "/readyz"):
        assert schema["paths"][path]["get"]["security"] == [], path

    comps = schema["components"]["schemas"]
    duration = comps["SchedulePublishRequest"]["properties"]["publish_delay"]
    assert not re.search(duration["pattern"], "") and re.search(duration["pattern"], "P0DT0S")
    assert not re.search(duration["pattern"], "PT") and re.search(duration["pattern"], "PT1.5M")
    lifetime = comps["SendAlertRequest"]["properties"]["lifetime"]["anyOf"][0]
    assert not re.search(lifetime["pattern"], "") and re.search(lifetime["pattern"], "7d")


def test_integral_numbers_are_integers(run_node: Callable[..., RunningNode]) -> None:
    """JSON Schema counts 35.0 as an integer: so does the node. 35.5 is still refused, at its path."""
    node = run_node({"sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                                        "password": "y"}]}})
    assert node.post("/api/json/collectevents", {"cursor": 0.0, "limit": 35.0}).status_code == 200
    resp = node.post("/api/json/collectevents", {"cursor": 0, "limit": 35.5})
    assert resp.status_code == 400 and resp.json()["errors"][0]["path"] == "limit"
    alert = node.post("/api/json/sendalert", {"version": "latest", "clientRef": "int", "alert": [{
        "alertType": "sms", "tag": "t", "sender": "ALERTS", "content": "x", "recipients": ["+447700900405"]}]})
    ref = alert.json()["alertRef"]
    with node.client() as c:
        assert c.get(f"/api/json/alerts/{ref}", params={"limit": "5.0", "offset": "0.0"}).status_code == 200
        bad = c.get(f"/api/json/alerts/{ref}", params={"limit": "0"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "limit"
