"""The command line against a running node: send, show, events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.api.test_jobs import dead_links, sms_alert


def cli(node, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "alertnode.cli", *args, "--url", node.url, "--api-key", node.api_key],
                          capture_output=True, text=True, timeout=60, check=False)


def test_send_show_events(run_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    node = run_node(dead_links())
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(sms_alert(2)), encoding="utf-8")
    sent = cli(node, "send", str(path))
    assert sent.returncode == 0, sent.stderr
    ref = json.loads(sent.stdout)["alertRef"]
    shown = cli(node, "show", ref)
    assert shown.returncode == 0 and json.loads(shown.stdout)["counts"]["targeted"] == 2
    events = cli(node, "events")
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    assert any(e["event"] == "accepted" and e["alertRef"] == ref for e in lines)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "latest"}', encoding="utf-8")
    refused = cli(node, "send", str(bad))
    assert refused.returncode == 1 and json.loads(refused.stdout)["success"] is False


def test_events_follow_prints_new_events(run_node) -> None:  # type: ignore[no-untyped-def]
    node = run_node(dead_links())
    proc = subprocess.Popen([sys.executable, "-m", "alertnode.cli", "events", "--follow", "--interval", "0.2",
                             "--url", node.url, "--api-key", node.api_key], stdout=subprocess.PIPE, text=True)
    try:
        ref = node.post("/api/json/sendalert", sms_alert(1)).json()["alertRef"]
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert json.loads(line)["alertRef"] == ref
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
