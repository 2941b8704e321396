"""A corpus of malformed sendalert requests: each is answered 400 with the JSON path of its fault."""

from __future__ import annotations

import base64
import copy
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.nodeproc import API_KEY, RunningNode, free_port

Body = dict[str, Any]
BASE: Body = {
    "version": "latest",
    "apiKey": API_KEY,
    "clientRef": "abc-1",
    "alert": [{"alertType": "sms", "tag": "t1", "content": "hello", "sender": "+447700900001",
               "recipients": ["+447700900123"]}],
}
GROUP: Body = {"inlineContactGroup": {"name": "g", "contacts": [
    {"id": "c1", "sms": "+447700900201", "email": "c1@example.com", "call": "+447700900301"},
    {"id": "c2", "sms": "+447700900202"},
], "sets": [{"name": "team", "ids": ["c1", "c2"]}]}}
UUID0 = "00000000-0000-4000-8000-000000000000"


def mut(fn: Callable[[Body], Any]) -> Body:
    body = copy.deepcopy(BASE)
    fn(body)
    return body


def item(**fields: Any) -> Callable[[Body], None]:
    def apply(body: Body) -> None:
        for key, value in fields.items():
            if value is None:
                body["alert"][0].pop(key, None)
            else:
                body["alert"][0][key] = value
    return apply


def top(**fields: Any) -> Callable[[Body], None]:
    def apply(body: Body) -> None:
        for key, value in fields.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
    return apply


def both(*fns: Callable[[Body], None]) -> Callable[[Body], None]:
    def apply(body: Body) -> None:
        for fn in fns:
            fn(body)
    return apply


CALL = {"alertType": "call", "tag": "c", "content": "Hello", "voiceFormat": "tts", "sender": "+447700900001",
        "recipients": ["+447700900123"]}
EMAIL = {"alertType": "email", "tag": "e", "content": "Hello", "recipients": ["a@example.com"]}
MANY = [f"+4477009{n:05d}" for n in range(501)]

CASES: list[tuple[str, Body, str]] = [
    ("missing version", mut(top(version=None)), "version"),
    ("missing clientRef", mut(top(clientRef=None)), "clientRef"),
    ("missing alert", mut(top(alert=None)), "alert"),
    ("empty alert", mut(top(alert=[])), "alert"),
    ("alert not a list", mut(top(alert={"alertType": "sms"})), "alert"),
    ("missing alertType", mut(item(alertType=None)), "alert[0].alertType"),
    ("missing tag", mut(item(tag=None)), "alert[0].tag"),
    ("unknown alertType", mut(item(alertType="fax")), "alert[0].alertType"),
    ("unknown version", mut(top(version="9")), "version"),
    ("version as number", mut(top(version=1)), "version"),
    ("clientRef with space", mut(top(clientRef="ab c")), "clientRef"),
    ("clientRef with slash", mut(top(clientRef="ab/c")), "clientRef"),
    ("empty clientRef", mut(top(clientRef="")), "clientRef"),
    ("clientRef as number", mut(top(clientRef=12)), "clientRef"),
    ("lifetime in years", mut(top(lifetime="5y")), "lifetime"),
    ("lifetime without unit", mut(top(lifetime="7")), "lifetime"),
    ("lifetime reversed", mut(top(lifetime="d7")), "lifetime"),
    ("lifetime as number", mut(top(lifetime=7)), "lifetime"),
    ("unknown top-level field", mut(top(colour="red")), "colour"),
    ("unknown item field", mut(item(colour="red")), "alert[0].colour"),
    ("no recipients", mut(item(recipients=None)), "alert[0]"),
    ("national number", mut(item(recipients=["07700900123"])), "alert[0].recipients[0]"),
    ("recipient as number", mut(item(recipients=[447700900123])), "alert[0].recipients[0]"),
    ("recipients as string", mut(item(recipients="+447700900123")), "alert[0].recipients"),
    ("recipientList empty entry", mut(item(recipients=None, recipientList="+447700900123,,")),
     "alert[0].recipientList"),
    ("recipientList bad number", mut(item(recipients=None, recipientList="+447700900123,+12")),
     "alert[0].recipientList"),
    ("storedRecipients unknown", mut(item(storedRecipients=UUID0)), "alert[0].storedRecipients"),
    ("storedRecipients not a uuid", mut(item(storedRecipients="abc")), "alert[0].storedRecipients"),
    ("contacts without group", mut(item(recipients=None, contacts=["c1"])), "alert[0]"),
    ("unknown contact", mut(both(top(contactGroup=GROUP), item(contacts=["nobody"]))), "alert[0].contacts[0]"),
    ("unknown contact set", mut(both(top(contactGroup=GROUP), item(contactSets=["ghosts"]))),
     "alert[0].contactSets[0]"),
    ("unknown set in list", mut(both(top(contactGroup=GROUP), item(contactSetList="team,ghosts"))),
     "alert[0].contactSetList"),
    ("storedContactList unknown", mut(both(top(contactGroup=GROUP), item(storedContactList=UUID0))),
     "alert[0].storedContactList"),
    ("storedContactSetList unknown", mut(both(top(contactGroup=GROUP), item(storedContactSetList=UUID0))),
     "alert[0].storedContactSetList"),
    ("storedContactGroup unknown", mut(top(contactGroup={"storedContactGroup": UUID0})),
     "contactGroup.storedContactGroup"),
    ("group inline and stored", mut(top(contactGroup={**GROUP, "storedContactGroup": UUID0})), "contactGroup"),
    ("group contact bad sms", mut(top(contactGroup={"inlineContactGroup": {"name": "g", "contacts": [
        {"id": "c1", "sms": "12345"}]}})), "contactGroup.inlineContactGroup.contacts[0].sms"),
    ("group duplicate ids", mut(top(contactGroup={"inlineContactGroup": {"name": "g", "contacts": [
        {"id": "c1", "sms": "+447700900201"}, {"id": "c1", "sms": "+447700900202"}]}})),
     "contactGroup.inlineContactGroup.contacts[1].id"),
    ("group set with unknown id", mut(top(contactGroup={"inlineContactGroup": {"name": "g", "contacts": [
        {"id": "c1", "sms": "+447700900201"}], "sets": [{"name": "s", "ids": ["zz"]}]}})),
     "contactGroup.inlineContactGroup.sets[0].ids[0]"),
    ("group defines all", mut(top(contactGroup={"inlineContactGroup": {"name": "g", "contacts": [
        {"id": "c1", "sms": "+447700900201"}], "sets": [{"name": "all", "ids": ["c1"]}]}})),
     "contactGroup.inlineContactGroup.sets[0].name"),
    ("contact without email", mut(both(top(contactGroup=GROUP), top(alert=[{**EMAIL, "recipients": None,
                                                                           "contacts": ["c2"]}]))),
     "alert[0].contacts[0]"),
    ("content missing", mut(item(content=None)), "alert[0]"),
    ("content and storedContent", mut(item(storedContent=UUID0)), "alert[0]"),
    ("storedContent unknown", mut(item(content=None, storedContent=UUID0)), "alert[0].storedContent"),
    ("base64 that does not decode", mut(item(content="!!!notbase64", contentEncoding="base64")),
     "alert[0].content"),
    ("unknown contentEncoding", mut(item(contentEncoding="utf16")), "alert[0].contentEncoding"),
    ("base64 of non-UTF-8 text", mut(item(content=base64.b64encode(b"\xff\xfe\x00").decode(),
                                          contentEncoding="base64")), "alert[0].content"),
    ("sms without sender", mut(item(sender=None)), "alert[0].sender"),
    ("sms sender too long", mut(item(sender="ALERTSALERTS1")), "alert[0].sender"),
    ("sms with a subject", mut(item(subject="hi")), "alert[0].subject"),
    ("email sender with @", mut(top(alert=[{**EMAIL, "sender": "a@b.com"}])), "alert[0].sender"),
    ("multipart without boundary", mut(top(alert=[{**EMAIL, "emailBodyIsMultipart": True}])),
     "alert[0].multipartBoundary"),
    ("email bad address", mut(top(alert=[{**EMAIL, "recipients": ["not-an-address"]}])), "alert[0].recipients[0]"),
    ("call without voiceFormat", mut(top(alert=[{**CALL, "voiceFormat": None}])), "alert[0].voiceFormat"),
    ("call sender not E.164", mut(top(alert=[{**CALL, "sender": "ALERTS"}])), "alert[0].sender"),
    ("replay prompt of no use", mut(top(alert=[{**CALL, "ivrControl": {"ivrType": "replay"}, "additionalContent": [
        {"contentTag": "intro", "content": "Hi", "contentEncoding": "utf8", "voiceFormat": "tts"}]}])),
     "alert[0].additionalContent[0].contentTag"),
    ("unknown ivrAnsweringMachine", mut(top(alert=[{**CALL, "ivrControl": {"ivrAnsweringMachine": "fax"}}])),
     "alert[0].ivrControl.ivrAnsweringMachine"),
    ("ivrAttempts zero", mut(top(alert=[{**CALL, "ivrControl": {"ivrAttempts": 0}}])),
     "alert[0].ivrControl.ivrAttempts"),
    ("unknown ivrType", mut(top(alert=[{**CALL, "ivrControl": {"ivrType": "maze"}}])),
     "alert[0].ivrControl.ivrType"),
    ("bad IVR digits", mut(top(alert=[{**CALL, "ivrControl": {"ivrType": "simple", "ivrAmOkDigits": "x"}}])),
     "alert[0].ivrControl.ivrAmOkDigits"),
    ("inboundCall without number", mut(top(alert=[{"alertType": "inboundCall", "tag": "i", "content": "hi",
                                                   "voiceFormat": "tts"}])), "alert[0].telephoneNumber"),
    ("unknown lookup keyword", mut(item(content="Hi {nickname}", lookups={"performLookups": True})),
     "alert[0].content"),
    ("recipient lookup not unique", mut(item(content="Hi {recipient}", lookups={"performLookups": True})),
     "alert[0].content"),
    ("more than 500 with unique lookups", mut(item(recipients=MANY, lookups={"uniqueLookups": True,
                                                                           "performLookups": True})), "alert"),
    ("bad linkRef", mut(top(linkedAlerts={"linkRef": "a b"})), "linkedAlerts.linkRef"),
    ("first linked alert without group", mut(top(linkedAlerts={"linkRef": "link-x"})), "contactGroup"),
    ("link must exist", mut(top(linkedAlerts={"linkRef": "nope", "linkOnlyIfRefAlreadyExists": True})),
     "linkedAlerts.linkRef"),
    ("modifiers without link", mut(item(linkedAlertModifiers={"except": {"previouslySeen": "sms"}})),
     "alert[0].linkedAlertModifiers"),
    ("previouslySeen unknown kind", mut(both(top(contactGroup=GROUP, linkedAlerts={"linkRef": "l1"}), item(
        linkedAlertModifiers={"except": {"previouslySeen": "sms,fax"}}))),
     "alert[0].linkedAlertModifiers.except.previouslySeen"),
    ("callbackURL not http", mut(top(callbackURL="ftp://example.com/x")), "callbackURL"),
    ("schedule delay bad", mut(top(schedule={"delay": "15 minutes"})), "schedule.delay"),
    ("schedule startAt and delay", mut(top(schedule={"delay": "PT1M", "startAt": "2030-01-01T00:00:00Z"})),
     "schedule"),
    ("quiet hours half given", mut(top(schedule={"ceaseAt": "2200"})), "schedule"),
    ("quiet hours bad zone", mut(top(schedule={"ceaseAt": "2200", "resumeAt": "0700", "timezone": "Mars/Base"})),
     "schedule.timezone"),
    ("bad notificationType", mut(top(notificationType="some")), "notificationType"),
    ("notification as string", mut(top(notification="yes")), "notification"),
    ("uniqueId with spaces", mut(top(uniqueId="a b")), "uniqueId"),
    ("tts on sms", mut(item(tts={"language": "en-GB"})), "alert[0].tts"),
    ("datetime lookup bad zone", mut(item(content="{datetime-Mars/Base-DD}", lookups={"performLookups": True})),
     "alert[0].content"),
    ("alert item not an object", mut(top(alert=["sms"])), "alert[0]"),
    ("tag empty", mut(item(tag="")), "alert[0].tag"),
    ("recipients empty array", mut(item(recipients=[])), "alert[0].recipients"),
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    # channels configured against peers that are not there: requests are validated, nothing is sent
    config = {
        "sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                           "password": "y"}]},
        "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": free_port(), "listen_port": free_port()},
    }
    running = RunningNode(tmp_path_factory.mktemp("malformed"), config).start()
    yield running
    running.stop()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({name for name, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "body", "path"), CASES, ids=[c[0] for c in CASES])
def test_malformed_request_is_400_with_path(node: RunningNode, name: str, body: Body, path: str) -> None:
    resp = httpx.post(f"{node.url}/api/json/sendalert", json=body, timeout=30, trust_env=False)
    assert resp.status_code == 400, resp.text
    data = resp.json()
    assert data["success"] is False
    assert data["failureReason"]
    paths = [e["path"] for e in data["errors"]]
    assert path in paths, f"{name}: expected {path!r} in {paths}"


@pytest.mark.parametrize("raw", [b"{not json", b"[1,2]", b"\xff\xfe", b""])
def test_body_that_is_not_an_object(node: RunningNode, raw: bytes) -> None:
    resp = httpx.post(f"{node.url}/api/json/sendalert", content=raw, headers=node.headers, timeout=30,
                      trust_env=False)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["path"] == "(body)"


def test_wrong_key_is_401_and_says_nothing_else(node: RunningNode) -> None:
    body = mut(top(apiKey="wrong", clientRef="bad ref"))
    resp = httpx.post(f"{node.url}/api/json/sendalert", json=body, timeout=30, trust_env=False)
    assert resp.status_code == 401
    assert [e["path"] for e in resp.json()["errors"]] == ["apiKey"]


def test_every_problem_reported_at_once(node: RunningNode) -> None:
    body = mut(item(recipients=["bad1", "+447700900123", "bad2"], sender=None))
    resp = httpx.post(f"{node.url}/api/json/sendalert", json=body, timeout=30, trust_env=False)
    paths = {e["path"] for e in resp.json()["errors"]}
    assert {"alert[0].recipients[0]", "alert[0].recipients[2]", "alert[0].sender"} <= paths


def test_stored_uuid_of_another_kind_is_refused(node: RunningNode) -> None:
    stored = node.post("/api/json/storecontent", {"contentType": "content", "content": "hello"}).json()
    body = mut(item(recipients=None, storedRecipients=stored["uuid"]))
    resp = httpx.post(f"{node.url}/api/json/sendalert", json=body, timeout=30, trust_env=False)
    assert resp.status_code == 400
    assert "alert[0].storedRecipients" in [e["path"] for e in resp.json()["errors"]]


def test_unconfigured_channel_is_refused_with_reason(node: RunningNode) -> None:
    body = mut(top(alert=[CALL]))
    resp = httpx.post(f"{node.url}/api/json/sendalert", json=body, timeout=30, trust_env=False)
    assert resp.status_code == 400
    assert "not configured" in resp.json()["errors"][0]["message"]


def test_sendalert_by_another_method_is_405_and_the_operation_stays_documented(node: RunningNode) -> None:
    # sendalert is served by a lean Starlette route in front of its FastAPI route (api/routes.py): the FastAPI
    # route still documents the operation, and another method still gets 405 naming POST
    with httpx.Client(base_url=node.url, timeout=30, trust_env=False) as c:
        resp = c.get("/api/json/sendalert", headers=node.headers)
        assert resp.status_code == 405 and resp.headers["allow"] == "POST"
        assert resp.json()["success"] is False
        operation = c.get("/openapi.json").json()["paths"]["/api/json/sendalert"]
    assert list(operation) == ["post"] and operation["post"]["requestBody"]


def test_a_body_over_the_limit_is_413_whether_its_length_is_declared_or_not(run_node, free_port) -> None:  # type: ignore[no-untyped-def]
    small = run_node({"api": {"max_body_bytes": 2000},
                      "sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                                         "password": "y"}]}})
    big = {**BASE, "clientRef": "x" * 3000}
    with httpx.Client(base_url=small.url, timeout=30, trust_env=False) as c:
        declared = c.post("/api/json/sendalert", json=big)
        assert declared.status_code == 413 and "larger than 2000 bytes" in declared.json()["failureReason"]

        def chunks(body: bytes) -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
            for i in range(0, len(body), 500):
                yield body[i : i + 500]

        raw = json.dumps(big).encode()
        chunked = c.post("/api/json/sendalert", content=chunks(raw), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413, chunked.text
    # the refusal comes at the limit, not at the body's end: a chunked body that never ends is answered 413
    host, port = small.url[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"POST /api/json/sendalert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % 3000 + b" " * 3000 + b"\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    with httpx.Client(base_url=small.url, timeout=30, trust_env=False) as c:
        # under the limit, a chunked body is read whole and handled as any other
        fine = c.post("/api/json/sendalert", content=chunks(json.dumps(BASE).encode()),
                      headers={"Content-Type": "application/json"})
        assert fine.status_code == 200, fine.text
