"""The node in sandbox mode, driven through its HTTP API: texts, e-mails (reports and replies), calls, the
marks on everything, --sandbox over configured channels, --no-sandbox, a restart."""

from __future__ import annotations

import mailbox
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nodeproc import RunningNode, free_port
from tests.sandbox.support import person, phone, sandbox_node, wait_book

pytestmark = pytest.mark.peer

ANN_SMS, ANN_CALL, ANN_MAIL = "+447700900101", "+447700900201", "ann@example.org"
LONG = "Boiler 3 pressure high in building B. " * 6 + "Reply OK to acknowledge, NO if you cannot come."


def send(node: RunningNode, *items: dict[str, Any], ref: str = "t") -> dict[str, Any]:
    resp = node.post("/api/json/sendalert", {"version": "latest", "clientRef": ref, "alert": list(items)})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def sms(recipients: list[str], content: str) -> dict[str, Any]:
    return {"alertType": "sms", "tag": "sms", "sender": "ALERTS", "content": content, "recipients": recipients}


def test_sandbox_mode_carries_texts_mail_and_calls(tmp_path: Path) -> None:
    node = sandbox_node(tmp_path / "n").start()
    try:
        out = "".join(node.output)
        assert f"SANDBOX mode: nothing leaves this machine. The sandbox phone: {node.url}/sandbox" in out
        with node.client() as c:
            ready = c.get("/readyz")
            assert ready.json()["sandbox"] is True and ready.headers["x-alertnode-sandbox"] == "true"
            info = c.post("/api/json/getinfo", json={"version": "latest"}).json()
            assert c.get("/api/ops/status").json()["readiness"]["sandbox"] is True  # the status page's banner
            assert "SANDBOX MODE" in c.get("/status").text
        assert info["sandbox"]["enabled"] is True and info["sandbox"]["why"] == "no channel is configured"
        assert set(info["alertTypes"]) >= {"sms", "email", "call"}

        # a long text arrives whole at the phone, with its receipts; the phone replies
        ref = send(node, sms([ANN_SMS], LONG))["alertRef"]
        texts = wait_book(node, lambda s: (p := person(s, ANN_SMS)) and p["sms"] and
                          p["sms"][-1]["status"] == "delivered" and p["sms"])
        assert texts[-1]["text"] == LONG and texts[-1]["parts"] == 2 and texts[-1]["peer"] == "ALERTS"
        with node.client() as c:
            reply = c.post(f"/api/sandbox/sms/{texts[-1]['id']}/reply", json={"text": "OK"})
        assert reply.status_code == 200 and reply.json()["sms"]["status"] == "sent"
        events = node.wait_events(lambda evs: any(e["event"] == "replied" for e in evs))
        replied = next(e for e in events if e["event"] == "replied")
        assert replied["alertRef"] == ref and replied["state"] == "responded" and replied["detail"]["ack"] is True

        # e-mail: one kept in the mailbox (a success report comes back), one bounces; a reply from the page
        send(node, {"alertType": "email", "tag": "mail", "sender": "alerts", "replyTo": "responses",
                    "subject": "Boiler 3", "content": "Boiler 3 pressure high. Reply OK.",
                    "recipients": [ANN_MAIL, "bob@nowhere.invalid"]}, ref="mail")
        node.wait_events(lambda evs: {"delivered", "bounced"} <= {e["event"] for e in evs
                                                                   if e.get("alertType") == "email"})
        mail = wait_book(node, lambda s: (p := person(s, ANN_MAIL)) and p["emails"][-1]["report"] and p["emails"][-1])
        assert mail["report"].startswith("delivered: taken") and mail["subject"].startswith("Boiler 3")
        bounced = person(phone(node), "bob@nowhere.invalid")
        assert bounced is not None and bounced["emails"][-1]["status"] == "bounced"
        with node.client() as c:
            answer = c.post(f"/api/sandbox/email/{mail['id']}/reply", json={"text": "OK, on my way"})
        assert answer.status_code == 200 and answer.json()["success"] is True, answer.text
        events = node.wait_events(lambda evs: any(e["event"] == "replied" and e.get("alertType") == "email"
                                                  for e in evs))
        mail_reply = next(e for e in events if e["event"] == "replied" and e.get("alertType") == "email")
        assert mail_reply["recipient"] == ANN_MAIL and mail_reply["detail"]["ack"] is True
        box = mailbox.Maildir(str(node.data_dir / "data" / "sandbox" / "maildir"), create=False)
        kept = [m for m in box if m["Delivered-To"] == ANN_MAIL]
        assert len(kept) == 1 and kept[0]["Subject"].startswith("Boiler 3")

        # a call that is declined (486): busy, and no more keys for it
        send(node, {"alertType": "call", "tag": "call", "sender": "+441632960000", "recipients": [ANN_CALL],
                    "content": "Fire drill.", "contentEncoding": "utf8", "voiceFormat": "tts"}, ref="call")
        call = wait_book(node, lambda s: (p := person(s, ANN_CALL)) and p["calls"] and p["calls"][-1])
        assert call["state"] == "ringing" and call["caller"] == "+441632960000"
        with node.client() as c:
            assert c.post(f"/api/sandbox/calls/{call['id']}/keys", json={"digits": "2"}).status_code == 409
            assert c.post(f"/api/sandbox/calls/{call['id']}/decline").status_code == 200
        events = node.wait_events(lambda evs: any(e["event"] == "busy" for e in evs))
        assert next(e for e in events if e["event"] == "busy")["detail"]["sip_code"] == 486
        declined = wait_book(node, lambda s: (c := person(s, ANN_CALL)["calls"][-1])["state"] != "ringing" and c)
        assert declined["state"] == "declined" and declined["code"] == 486

        # everything a channel reported says it came from the sandbox
        everything = node.events(0, limit=5000)["events"]
        from_channels = [e for e in everything if "deliveryId" in e and e["event"] not in ("accepted", "requeued")]
        assert len(from_channels) > 10
        assert all(e["detail"]["sandbox"] is True for e in from_channels), from_channels
        assert "[sandbox]" in "".join(node.output)
    finally:
        node.stop()

    # a restart keeps the book (the journal) and the sandbox's own store
    again = sandbox_node(tmp_path / "n").start()
    try:
        state = phone(again)
        assert person(state, ANN_SMS) is not None and person(state, ANN_MAIL) is not None
        assert (tmp_path / "n" / "data" / "sandbox" / "alertnode.db").exists()
        assert not (tmp_path / "n" / "data" / "alertnode.db").exists()
        ids_before = {i for t in person(state, ANN_SMS)["sms"] for i in t["message_ids"]}  # type: ignore[index]
        send(again, sms([ANN_SMS], "second run"))
        latest = wait_book(again, lambda s: (t := person(s, ANN_SMS)["sms"][-1])["text"] == "second run"
                           and t["status"] == "delivered" and t)
        assert not set(latest["message_ids"]) & ids_before  # message ids never repeat across runs
    finally:
        again.stop()


def test_refusals_name_what_is_wrong(tmp_path: Path) -> None:
    node = sandbox_node(tmp_path / "n").start()
    try:
        with httpx.Client(base_url=node.url, timeout=30, trust_env=False) as anon:
            assert anon.get("/api/sandbox/phone").status_code == 401
            assert anon.get("/sandbox").status_code == 200  # the page itself holds no data
        with node.client() as c:
            bad = c.get("/api/sandbox/phone", params={"wait": 99})
            assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "wait"
            missing = c.post("/api/sandbox/sms/s42/reply", json={"text": "OK"})
            assert missing.status_code == 404 and missing.json()["errors"][0]["path"] == "smsId"
            empty = c.post("/api/sandbox/sms/s1/reply", json={"text": ""})
            assert empty.status_code == 400 and empty.json()["errors"][0]["path"] == "text"
            odd = c.post("/api/sandbox/email/m1/reply", json={"text": "x", "cc": "y"})
            assert odd.status_code == 400 and odd.json()["errors"][0]["path"] == "cc"
            keys = c.post("/api/sandbox/calls/c1/keys", json={"digits": "9x"})
            assert keys.status_code == 400 and keys.json()["errors"][0]["path"] == "digits"
            assert c.post("/api/sandbox/calls/c7/answer").status_code == 404
            assert c.get("/api/sandbox/calls/c7/recording").status_code == 404
    finally:
        node.stop()


def test_sandbox_flag_replaces_configured_channels(tmp_path: Path) -> None:
    dead = {"sms": {"links": [{"name": "carrier", "host": "127.0.0.1", "port": free_port(), "system_id": "x"}]},
            "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": free_port()}}
    node = sandbox_node(tmp_path / "n", dead, args=["--sandbox"]).start()
    try:
        out = "".join(node.output)
        assert "SANDBOX MODE (--sandbox)" in out and "the configured channels (sms, email) are replaced" in out
        send(node, sms([ANN_SMS], "through the sandbox"))
        wait_book(node, lambda s: (p := person(s, ANN_SMS)) and p["sms"][-1]["status"] == "delivered")
        with node.client() as c:
            info = c.post("/api/json/getinfo", json={"version": "latest"}).json()
        assert info["sandbox"]["replaced"] == ["sms", "email"]
        sms_channel = next(ch for ch in info["channels"] if ch["name"] == "sms")
        assert list(sms_channel["details"]) == ["sandbox"] and sms_channel["state"] == "bound"
    finally:
        node.stop()


def test_no_sandbox_flag_keeps_an_empty_node_empty(tmp_path: Path) -> None:
    node = sandbox_node(tmp_path / "n", args=["--no-sandbox"]).start()
    try:
        assert "SANDBOX" not in "".join(node.output)
        with node.client() as c:
            ready = c.get("/readyz")
            assert "sandbox" not in ready.json() and "x-alertnode-sandbox" not in ready.headers
            assert c.get("/sandbox").status_code == 404
            refused = c.post("/api/json/sendalert", json={"version": "latest", "clientRef": "x",
                                                          "alert": [sms([ANN_SMS], "hello")]})
        assert refused.status_code == 400 and "not configured" in refused.json()["errors"][0]["message"]
    finally:
        node.stop()


def test_a_page_waiting_for_news_does_not_hold_the_node_up(tmp_path: Path) -> None:
    node = sandbox_node(tmp_path / "n").start()
    answers: list[int] = []

    def long_poll() -> None:
        with node.client() as c:
            answers.append(c.get("/api/sandbox/phone", params={"since": 10**6, "wait": 30}).status_code)

    waiting = threading.Thread(target=long_poll)
    waiting.start()
    time.sleep(1.5)  # the request is in: the node is waiting for a change that will not come
    assert node.stop() == 0
    waiting.join(30)
    assert answers == [200]  # answered at the stop, not cancelled after the HTTP listener's grace period:
    assert "Exception in ASGI application" not in "".join(node.output)


def test_a_phone_that_dies_is_started_again_on_its_port(tmp_path: Path) -> None:
    node = sandbox_node(tmp_path / "n").start()
    try:
        send(node, {"alertType": "call", "tag": "call", "sender": "+441632960000", "recipients": [ANN_CALL],
                    "content": "Fire drill.", "contentEncoding": "utf8", "voiceFormat": "tts"}, ref="call")
        ringing = wait_book(node, lambda s: (p := person(s, ANN_CALL)) and p["calls"][-1]["state"] == "ringing"
                            and p["calls"][-1])
        before = phone(node)["sandbox"]["phone"]
        os.kill(before["pid"], signal.SIGKILL)
        # the call it had ends in the book; the phone comes back on the same SIP port (the trunk)
        lost = wait_book(node, lambda s: (c := person(s, ANN_CALL)["calls"][-1])["state"] == "missed" and c)
        assert lost["id"] == ringing["id"] and lost["reason"] == "the sandbox phone restarted"
        after = wait_book(node, lambda s: s["sandbox"]["phone"]["restarts"] == 1 and s["sandbox"]["phone"]["running"]
                          and s["sandbox"]["phone"])
        assert after["sip"] == before["sip"] and after["pid"] != before["pid"]
        send(node, {"alertType": "call", "tag": "call", "sender": "+441632960000", "recipients": [ANN_CALL],
                    "content": "Fire drill again.", "contentEncoding": "utf8", "voiceFormat": "tts"}, ref="again")
        again = wait_book(node, lambda s: (c := person(s, ANN_CALL)["calls"][-1])["id"] != ringing["id"] and c)
        with node.client() as c:
            assert c.post(f"/api/sandbox/calls/{again['id']}/answer").status_code == 200
        wait_book(node, lambda s: person(s, ANN_CALL)["calls"][-1]["state"] == "answered")
    finally:
        node.stop()
