"""The Python client (node/client) against the real node (``run_node``) and an SMTP smarthost: ``send`` while
the node is down neither raises nor blocks and delivers once the node is up; ``send_async`` results for
success, a bad key and an unreachable node; the per-call ``api_key``; the ``sendalert`` wrapper; logging
under ``alertnode.client`` without the key."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alertnode.client import LOGGER_NAME, AlertNode, AlertNodeClient, Event, SendResult
from tests.events.support import contact, mail_section
from tests.nodeproc import API_KEY, RunningNode, free_port
from tests.peers.smtp import ThreadedSmarthost

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung node)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    sock.close()


def test_event_omits_unset_fields() -> None:
    assert Event("m").to_json() == {"message": "m"}
    full = Event("m", event="e", title="t", channel="c", tags=["x"], link="https://l.example", data={"k": 1},
                 dedup_key="d")
    assert full.to_json() == {"message": "m", "event": "e", "title": "t", "channel": "c", "tags": ["x"],
                              "link": "https://l.example", "data": {"k": 1}, "dedupKey": "d"}


def test_client_imports_without_server_dependencies() -> None:
    code = ("import sys, alertnode.client; heavy = {'fastapi', 'pydantic', 'numpy', 'httpx', 'starlette', 'uvicorn'};"
            " print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_send_async_to_an_unreachable_node_returns_a_failure() -> None:
    client = AlertNodeClient(f"http://127.0.0.1:{free_port()}", API_KEY, timeout=5)
    result = await client.send_async(Event("m", event="ci.x"))
    assert isinstance(result, SendResult)
    assert not result.success and result.status is None and result.alert_ref is None
    assert result.error is not None and result.error.startswith("node unreachable")
    client.close()


async def test_send_async_never_raises_on_bad_input() -> None:
    client = AlertNodeClient("ftp://nowhere", None)
    assert (await client.send_async(Event("m"))).error == "no API key"
    assert (await client.send_async("not an event")).error == "an Event with a non-empty message is required"  # type: ignore[arg-type]
    keyed = AlertNodeClient("ftp://nowhere", API_KEY, timeout=2)
    result = await keyed.send_async(Event("m"))
    assert not result.success and result.error is not None and "unreachable" in result.error
    client.close()
    keyed.close()


def test_send_returns_at_once_and_gives_up_after_bounded_attempts(silent_server: int) -> None:
    client = AlertNodeClient(f"http://127.0.0.1:{silent_server}", API_KEY, timeout=0.3, max_attempts=3,
                             backoff_s=0.05)
    client.send(Event("m", event="ci.x"))          # returns while the node does not answer
    assert client.flush(0) is False                # ... the event is still being tried in the background
    assert client.flush(30) is True
    assert (client.delivered, client.dropped) == (0, 1)
    client.close()


def test_facade_not_configured_logs_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    AlertNode._client = None
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        AlertNode.send(Event("m"))
        assert AlertNode.send_alert({"clientRef": "x", "alert": []}).error == "not configured"
    assert [r.name for r in caplog.records] == [LOGGER_NAME, LOGGER_NAME]
    assert "not configured" in caplog.records[0].getMessage()


@pytest.mark.peer
async def test_client_against_the_node(
    run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    client = AlertNode.configure(url, API_KEY, debug=True, max_attempts=100, backoff_s=0.1, max_backoff_s=0.5)

    # the node is down: send neither raises nor waits; it is delivered once the node is up
    AlertNode.send(Event("deploy of web failed", event="ci.deploy.failed", title="CI"))
    assert client.flush(0) is False
    node = run_node({
        "api": {"port": port},
        "mail": mail_section(threaded_smarthost),
        "events": {"contact_groups": {"ops": {"name": "ops", "contacts": [contact(1)]}},
                   "routes": [{"name": "ci", "match": ["ci.*"], "contact_group": "ops", "alert_types": ["email"],
                               "template": "{title}: {message}"}]},
    })
    assert node.url == url
    assert client.flush(60) is True
    assert (client.delivered, client.dropped) == (1, 0)
    mail = threaded_smarthost.wait_for(1)[0]
    assert mail.rcpt_tos == ["p1@example.org"]
    assert "CI: deploy of web failed" in mail.message.get_body(("plain",)).get_content()

    # send_async: success (a repeat of the same event is coalesced into the open alert)
    first = await AlertNode.send_async(Event("build broke", event="ci.build.failed", channel="builds"))
    assert first.success and first.alert_ref and first.channel == "builds" and first.error is None
    assert first.status == 200 and not first.coalesced and first.warnings == []
    again = await AlertNode.send_async(Event("build broke", event="ci.build.failed", channel="builds"))
    assert again.success and again.coalesced and again.alert_ref == first.alert_ref

    # a bad key: a failure with the node's reason; the per-call key overrides the configured one
    bad = await AlertNode.send_async(Event("m", event="ci.x"), api_key="wrong-key")
    assert (bad.success, bad.status, bad.alert_ref) == (False, 401, None)
    assert bad.error == "missing or wrong API key (apiKey: not accepted)"
    wrong_client = AlertNodeClient(url, "wrong-key")
    assert (await wrong_client.send_async(Event("m", event="ci.y"))).status == 401
    assert (await wrong_client.send_async(Event("m", event="ci.y"), api_key=API_KEY)).success
    wrong_client.close()

    # refused by routing: a clear error, not retried in the background
    unrouted = await AlertNode.send_async(Event("m", event="nothing.matches"))
    assert not unrouted.success and unrouted.status == 400
    assert unrouted.error is not None and unrouted.error.startswith("no route for this event (event: ")

    # the sendalert wrapper
    alert = AlertNode.send_alert({"clientRef": "client-test", "alert": [{
        "alertType": "email", "tag": "t", "recipients": ["p9@example.org"], "subject": "s", "sender": "alerts",
        "content": "direct"}]})
    assert alert.success and alert.alert_ref and alert.response["alerts"][0]["sentCount"] == 1
    refused = await client.send_alert_async({"clientRef": "bad ref!", "alert": []})
    assert not refused.success and refused.status == 400 and refused.error is not None

    # logs under the client's own logger name, never the key
    records = [r for r in caplog.records if r.name == LOGGER_NAME]
    assert any("sent: alert" in r.getMessage() for r in records)
    assert any("retrying" in r.getMessage() for r in records)
    assert all(API_KEY not in r.getMessage() for r in records)
    client.close()
    AlertNode._client = None
