"""The operations surface of the real node (subprocess) against the SMSC simulator: /readyz follows
the link, /metrics follows a test alert, the status page renders in headless Chromium, SIGTERM during
a running SMS alert loses nothing, and ``alertnode backup`` copies the store while the node runs."""

from __future__ import annotations

import collections
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nodeproc import API_KEY, RunningNode, free_port
from tests.ops.cdp import Chromium
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost

pytestmark = pytest.mark.peer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def sms_alert(recipients: list[str], content: str, client_ref: str = "ops-test") -> dict[str, Any]:
    item = {"alertType": "sms", "tag": "sms-1", "content": content, "contentEncoding": "utf8",
            "sender": "+447700100100", "recipients": recipients}
    return {"version": "latest", "apiKey": API_KEY, "clientRef": client_ref, "lifetime": "1h", "alert": [item]}


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def readyz(node: RunningNode) -> tuple[int, dict[str, Any]]:
    resp = httpx.get(f"{node.url}/readyz", timeout=10, trust_env=False)
    return resp.status_code, resp.json()


def metrics(node: RunningNode) -> dict[str, float]:
    """Samples of /metrics as {'name{labels}': value}."""
    resp = httpx.get(f"{node.url}/metrics", timeout=10, trust_env=False)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out = {}
    for line in resp.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_readiness_flips_when_the_smsc_goes_away_and_comes_back(
    run_node: Callable[..., RunningNode], smsc: Smsc
) -> None:
    node = run_node({"sms": {"links": [smsc.link(reconnect_initial_s=0.2, reconnect_max_s=0.5)]}})
    wait_until(lambda: readyz(node)[0] == 200, what="ready with the SMSC up")
    _, body = readyz(node)
    assert body["ready"] is True and body["channels"]["sms"]["ready"] is True
    assert httpx.get(f"{node.url}/healthz", timeout=10, trust_env=False).status_code == 200

    smsc.kill()
    wait_until(lambda: readyz(node)[0] == 503, what="not ready with the SMSC gone")
    _, body = readyz(node)
    assert body["ready"] is False and body["channels"]["sms"]["ready"] is False
    assert body["store"] == "ok"
    # the process is alive all the same
    assert httpx.get(f"{node.url}/healthz", timeout=10, trust_env=False).status_code == 200
    samples = metrics(node)
    assert samples['alertnode_channel_ready{channel="sms"}'] == 0.0
    assert samples['alertnode_smpp_link_bound{link="a",role="transceiver"}'] == 0.0

    smsc.restart()
    wait_until(lambda: readyz(node)[0] == 200, what="ready again with the SMSC back")
    assert metrics(node)['alertnode_smpp_link_bound{link="a",role="transceiver"}'] == 1.0


def test_metrics_change_as_a_test_alert_runs(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    node = run_node({"sms": {"links": [smsc.link()]}})
    wait_until(lambda: readyz(node)[0] == 200, what="ready")
    before = metrics(node)
    assert not any(k.startswith("alertnode_deliveries{") for k in before)
    assert before['alertnode_smpp_submitted_total{link="a",role="transceiver"}'] == 0.0
    numbers = ["+447700900001", "+447700900002", "+447700900003"]
    resp = node.post("/api/json/sendalert", sms_alert(numbers, "Metrics test"))
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    node.wait_events(lambda evs: sum(1 for e in evs if e["event"] == "delivered") >= 3)
    wait_until(lambda: metrics(node).get('alertnode_deliveries{alert_type="sms",state="delivered"}') == 3.0,
               what="three delivered deliveries in /metrics")
    after = metrics(node)
    assert after['alertnode_alerts{status="completed"}'] == 1.0
    assert 'alertnode_alerts{status="running"}' not in after
    assert after['alertnode_smpp_submitted_total{link="a",role="transceiver"}'] == 3.0
    assert after['alertnode_smpp_acked_total{link="a",role="transceiver"}'] == 3.0
    assert after['alertnode_channel_events_total{kind="sent",state="sent"}'] == 3.0
    assert after['alertnode_channel_events_total{kind="delivered",state="delivered"}'] == 3.0
    assert after['alertnode_sms_receipts_total{stat="DELIVRD"}'] == 3.0
    assert after['alertnode_channel_in_flight{channel="sms"}'] >= 0.0
    labels = '{link="a",role="transceiver"}'
    assert after["alertnode_smpp_window_size" + labels] == smsc.link().get("window", 50)  # the default
    assert after["alertnode_smpp_window_used" + labels] == 0.0  # all three answered
    assert after["alertnode_smpp_submit_latency_seconds_count" + labels] == 3.0
    assert 0.0 < after["alertnode_smpp_submit_latency_seconds_sum" + labels] < 10.0
    assert after["alertnode_smpp_throttled_total" + labels] == 0.0


def _chromium(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    assert os.path.exists(exe), "Debian package chromium is not installed"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def test_status_page_renders_the_live_state_in_chromium(
    run_node: Callable[..., RunningNode], smsc: Smsc, threaded_smarthost: ThreadedSmarthost
) -> None:
    node = run_node({"sms": {"links": [smsc.link()]},
                     "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": threaded_smarthost.port,
                              "smarthost_tls": "off", "listen_port": 0, "domain": "alerts.example.net"}})
    wait_until(lambda: readyz(node)[0] == 200, what="ready")
    resp = node.post("/api/json/sendalert", sms_alert(["+447700900011", "+447700900012"], "Status page",
                                                      client_ref="status-page-e2e"))
    alert_ref = resp.json()["alertRef"]
    node.wait_events(lambda evs: sum(1 for e in evs if e["event"] == "delivered") >= 2)
    # without the key the JSON is refused
    assert httpx.get(f"{node.url}/api/ops/status", timeout=10, trust_env=False).status_code == 401

    url = f"{node.url}/status#key={API_KEY}"
    dom = _chromium(["--dump-dom", url])
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout.split("<script>")[0]  # the rendered document, not the page's own code
    assert re.search(r'<span id="readyState" class="ok">READY</span>', html), html[-3000:]
    row = re.search(r"<tr data-channel=\"sms\">(.*?)</tr>", html, re.S)
    assert row is not None, html[-3000:]
    assert ">bound<" in row.group(1) and "submitted 2" in row.group(1)
    mail_row = re.search(r"<tr data-channel=\"email\">(.*?)</tr>", html, re.S)
    assert mail_row is not None and ">reachable<" in mail_row.group(1)
    alert_row = re.search(rf"<tr data-alert=\"{alert_ref}\">(.*?)</tr>", html, re.S)
    assert alert_row is not None and "status-page-e2e" in alert_row.group(1)
    assert "delivered 2" in alert_row.group(1) and ">completed<" in alert_row.group(1)
    assert API_KEY not in html  # the key leaves the URL once read

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    shot.unlink(missing_ok=True)
    res = _chromium([f"--screenshot={shot}", "--window-size=1280,900", url])
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000

    # the page follows the live state: with the SMSC gone it says so
    smsc.kill()
    wait_until(lambda: readyz(node)[0] == 503, what="not ready")
    html = _chromium(["--dump-dom", url]).stdout.split("<script>")[0]
    assert re.search(r'<span id="readyState" class="bad">NOT READY</span>', html), html[-3000:]
    row = re.search(r"<tr data-channel=\"sms\">(.*?)</tr>", html, re.S)
    assert row is not None and ">bound<" not in row.group(1)


def test_sigterm_during_a_running_sms_alert_loses_nothing(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    count = 200
    node = run_node({"sms": {"links": [smsc.link(window=10, throughput=50, registered_delivery=False)]}})
    numbers = [f"+4477008{i:05d}" for i in range(count)]
    resp = node.post("/api/json/sendalert", sms_alert(numbers, "Leave the building"))
    assert resp.status_code == 200, resp.text
    wait_until(lambda: len(smsc.submits()) >= count // 4, what="a quarter submitted")
    assert node.stop() == 0  # SIGTERM: graceful
    at_stop = len(smsc.submits())
    assert at_stop < count, "the alert finished before the SIGTERM; nothing was tested"
    node.start()
    events = node.wait_events(lambda evs: len({e["recipient"] for e in evs if e["event"] == "sent"}) >= count,
                              timeout=60)
    accepted = collections.Counter(r["dest"] for r in smsc.submits() if r["status"] == 0)
    assert len(accepted) == count  # nothing lost
    assert max(accepted.values()) == 1, [d for d, n in accepted.items() if n > 1]  # nothing sent twice
    assert {e["recipient"] for e in events if e["event"] == "sent"} == set(numbers)


def test_backup_while_the_node_runs(run_node: Callable[..., RunningNode], smsc: Smsc, tmp_path: Path) -> None:
    node = run_node({"sms": {"links": [smsc.link()]}})
    node.post("/api/json/sendalert", sms_alert(["+447700900021"], "Backup test"))
    node.wait_events(lambda evs: any(e["event"] == "delivered" for e in evs))
    target = tmp_path / "backup.db"
    res = subprocess.run([sys.executable, "-m", "alertnode.cli", "backup", str(target),
                          "--config", str(node.config_path)], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM deliveries WHERE state = 'delivered'").fetchone()[0] == 1
    # the node is still serving after the copy
    assert readyz(node)[0] == 200


def test_metrics_key_and_switches(run_node: Callable[..., RunningNode]) -> None:
    # --no-sandbox: with nothing configured the node would otherwise run the sandbox's channels
    node = run_node({"ops": {"metrics_require_key": True}}, args=("--no-sandbox",))
    assert httpx.get(f"{node.url}/metrics", timeout=10, trust_env=False).status_code == 401
    resp = httpx.get(f"{node.url}/metrics", headers=node.headers, timeout=10, trust_env=False)
    assert resp.status_code == 200 and "alertnode_uptime_seconds" in resp.text
    bad = httpx.get(f"{node.url}/api/ops/status", headers={"Authorization": "Bearer nope"}, timeout=10,
                    trust_env=False)
    assert bad.status_code == 401 and bad.json()["success"] is False
    off = run_node({"ops": {"metrics": False, "status_page": False}}, args=("--no-sandbox",))
    assert httpx.get(f"{off.url}/metrics", timeout=10, trust_env=False).status_code == 404
    assert httpx.get(f"{off.url}/status", timeout=10, trust_env=False).status_code == 404
    # nothing configured: the status JSON says so rather than failing
    status = httpx.get(f"{node.url}/api/ops/status", headers=node.headers, timeout=10, trust_env=False).json()
    assert status["channels"] == [] and status["callsActive"] is None and status["alerts"] == []


def test_mail_metrics_follow_smtp_out_and_in(run_node: Callable[..., RunningNode], tmp_path: Path) -> None:
    from tests.peers.smtp import ThreadedSmarthost, send_with_smtplib

    smarthost = ThreadedSmarthost()
    smarthost.start()
    try:
        listen = free_port()
        node = run_node({"mail": {"smarthost_host": "127.0.0.1", "smarthost_port": smarthost.port,
                                  "smarthost_tls": "off", "listen_port": listen, "domain": "alerts.example.net"}})
        item = {"alertType": "email", "tag": "mail-1", "content": "Metrics mail", "contentEncoding": "utf8",
                "subject": "Metrics", "sender": "alerts", "recipients": ["ann@example.org"]}
        resp = node.post("/api/json/sendalert", {"version": "latest", "apiKey": API_KEY, "clientRef": "ops-mail",
                                                 "lifetime": "1h", "alert": [item]})
        assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
        node.wait_events(lambda evs: any(e["event"] == "sent" for e in evs))
        wait_until(lambda: metrics(node).get('alertnode_smtp_out_total{result="sent"}') == 1.0, what="smtp out")
        relay = send_with_smtplib(listen, b"Subject: x\r\n\r\nx\r\n", rcpt_to="someone@example.com")
        assert relay.code == 550
        wait_until(lambda: metrics(node).get('alertnode_smtp_in_total{result="refusedRelay"}') == 1.0,
                   what="smtp in refused relay")
        after = metrics(node)
        assert after["alertnode_smtp_smarthost_reachable"] == 1.0
        assert after['alertnode_channel_ready{channel="email"}'] == 1.0
    finally:
        smarthost.stop()


def test_status_page_refreshes_itself(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    """One page load, kept open: the page follows the link going down and coming back, and a new alert
    appears, without being reloaded."""
    node = run_node({"sms": {"links": [smsc.link(reconnect_initial_s=0.2, reconnect_max_s=0.5)]},
                     "ops": {"status_refresh_s": 0.5}})
    wait_until(lambda: readyz(node)[0] == 200, what="ready")
    browser = Chromium()
    try:
        browser.open(f"{node.url}/status#key={API_KEY}")
        ready = "document.getElementById('readyState') && document.getElementById('readyState').textContent"
        assert browser.wait_for(f"{ready} === 'READY'")
        loads = browser.evaluate("performance.getEntriesByType('navigation').length")
        smsc.kill()
        assert browser.wait_for(f"{ready} === 'NOT READY'")
        assert browser.evaluate("document.querySelector('tr[data-channel=sms] td.state').textContent") != "bound"
        smsc.restart()
        assert browser.wait_for(f"{ready} === 'READY'")
        resp = node.post("/api/json/sendalert", sms_alert(["+447700900031"], "Live", client_ref="live-row"))
        ref = resp.json()["alertRef"]
        row = f"document.querySelector('tr[data-alert=\"{ref}\"] td.progress')"
        assert "delivered 1" in browser.wait_for(f"{row} && {row}.textContent.includes('delivered') && "
                                                 f"{row}.textContent")
        assert browser.evaluate("performance.getEntriesByType('navigation').length") == loads  # never reloaded
        assert browser.evaluate("location.hash") == ""  # the key left the address bar
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "status-page-live.png")
    finally:
        browser.close()


def test_throttling_reported_by_the_sms_channel_is_counted(
    run_node: Callable[..., RunningNode], smsc_factory: Callable[..., Smsc]
) -> None:
    smsc = smsc_factory(throttle_prefix="447997")
    link = smsc.link(max_throttle_retries=1, throttle_backoff_initial_s=0.05, throttle_backoff_max_s=0.1)
    node = run_node({"sms": {"links": [link]}})
    wait_until(lambda: readyz(node)[0] == 200, what="ready")
    assert metrics(node)["alertnode_sms_throttled_reports_total"] == 0
    resp = node.post("/api/json/sendalert", sms_alert(["+447997000001"], "Throttled"))
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    wait_until(lambda: metrics(node)["alertnode_sms_throttled_reports_total"] >= 1, what="a throttling report")
    after = metrics(node)
    assert after['alertnode_channel_events_total{kind="retry",state=""}'] >= 1
    # the link counts every ESME_RTHROTTLED answer: the first and the one retry at least
    assert after['alertnode_smpp_throttled_total{link="a",role="transceiver"}'] >= 2


def test_callback_queue_and_failures(run_node: Callable[..., RunningNode], smsc: Smsc) -> None:
    dead = free_port()  # the callback receiver is down: events wait in the outbox and POSTs fail
    node = run_node({"sms": {"links": [smsc.link()]},
                     "callbacks": {"initial_backoff_s": 0.1, "max_backoff_s": 0.2, "max_attempts": 1000}})
    body = sms_alert(["+447700900041"], "Callback")
    body["callbackURL"] = f"http://127.0.0.1:{dead}/hook"
    resp = node.post("/api/json/sendalert", body)
    assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
    node.wait_events(lambda evs: any(e["event"] == "delivered" for e in evs))
    wait_until(lambda: metrics(node)["alertnode_callback_failures_total"] >= 2, what="failed callback POSTs")
    samples = metrics(node)
    assert samples["alertnode_callback_queue"] >= 2  # at least sent and delivered wait
    assert samples["alertnode_callbacks_sent_total"] == 0 and samples["alertnode_callback_dead"] == 0
