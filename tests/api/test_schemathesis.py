"""schemathesis, run against the node's own OpenAPI document: no request it generates gets a 5xx.

/readyz is left out on purpose: it answers 503 while a configured link is down, which is its job.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.nodeproc import RunningNode, free_port


def test_no_server_errors(run_node, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node({
        "sms": {"links": [{"name": "a", "host": "127.0.0.1", "port": free_port(), "system_id": "x",
                           "password": "y"}]},
        "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": free_port(), "listen_port": free_port()},
        # a generated image_url is fetched when its request is otherwise valid: only ever from loopback
        "content": {"image_hosts": ["127.0.0.1"]},
    })
    st = Path(sys.executable).with_name("st")
    proc = subprocess.run(
        [str(st), "run", f"{node.url}/openapi.json", "--checks", "not_a_server_error",
         "--header", f"Authorization: Bearer {node.api_key}", "--exclude-path", "/readyz",
         "--max-examples", "40", "--workers", "1", "--phases", "examples,coverage,fuzzing",
         "--seed", "20261123", "--request-timeout", "30", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    tail = proc.stdout[-4000:]
    assert proc.returncode == 0, tail
    assert "Server error" not in proc.stdout, tail
    server_log = "".join(node.output)
    assert "unhandled error" not in server_log, server_log[-4000:]
