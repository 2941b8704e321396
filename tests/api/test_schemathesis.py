"""schemathesis, run against the node's own OpenAPI document with every check on: no 5xx, every status and
header documented, answers that match their schemas, schema-invalid requests refused, schema-valid ones
accepted, authentication enforced.

Two allowances, both written in the configuration below:
* /readyz is left out: it answers 503 while a configured link is down, which is its job;
* sendalert, storecontent and /api/events may refuse a schema-valid request with 400: their rules span fields,
  the store and the node's configuration (a recipient must be a possible E.164 number, content or
  storedContent, an event must match a route), which a JSON Schema cannot say; so may the alert collection
  (its `cursor` is opaque: only one the node handed out is valid; `to` must be later than `from`) and an
  operator's acknowledgement (exactly one of deliveryId, contact, recipient, naming one of the alert's
  recipients). Every other operation must accept what its schema allows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.nodeproc import RunningNode, free_port

CONFIG = """
[[operations]]
include-path-regex = "^/api/(json/(sendalert|storecontent|alerts|alerts/[^/]+/acknowledge)|events)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[parameters]
"path.alertRef" = {alert_ref}
"""


def test_every_check(run_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node({
        "sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                           "password": "y"}]},
        "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": free_port(), "listen_port": free_port()},
        # a generated image_url is fetched when its request is otherwise valid: only ever from loopback
        "content": {"image_hosts": ["127.0.0.1"]},
    })
    # a real alert, so that the operations on /api/json/alerts/{alertRef} are reached beyond their 404
    alert = node.post("/api/json/sendalert", {"version": "latest", "clientRef": "st", "alert": [{
        "alertType": "sms", "tag": "t", "sender": "ALERTS", "content": "x", "recipients": ["+447700900123"]}]})
    assert alert.status_code == 200, alert.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(alert_ref=json.dumps(alert.json()["alertRef"])), encoding="utf-8")
    st = Path(sys.executable).with_name("st")
    proc = subprocess.run(
        [str(st), "--config-file", str(config), "run", f"{node.url}/openapi.json", "--checks", "all",
         "--header", f"Authorization: Bearer {node.api_key}", "--exclude-path", "/readyz",
         "--max-examples", "40", "--workers", "1", "--phases", "examples,coverage,fuzzing",
         "--seed", "20261123", "--request-timeout", "30", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path,
    )
    tail = proc.stdout[-6000:]
    assert proc.returncode == 0, tail
    assert "Server error" not in proc.stdout, tail
    server_log = "".join(node.output)
    assert "unhandled error" not in server_log, server_log[-4000:]
