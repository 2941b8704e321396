"""Config helpers for end-to-end event tests: a node with mail (and optionally sms) and event routes."""

from __future__ import annotations

from typing import Any

from tests.nodeproc import free_port
from tests.peers.smtp import ThreadedSmarthost

DOMAIN = "alertnode.test"
SENDER = "+447700100100"


def contact(i: int, **lookups: str) -> dict[str, Any]:
    return {"id": f"p{i}", "sms": f"+4477009001{i:02d}", "email": f"p{i}@example.org", "lookups": lookups}


def mail_section(smarthost: ThreadedSmarthost) -> dict[str, Any]:
    return {"smarthost_host": "127.0.0.1", "smarthost_port": smarthost.port, "smarthost_tls": "off",
            "listen_port": free_port(), "domain": DOMAIN, "retry_backoff_s": [0.1]}


def event_body(**fields: Any) -> dict[str, Any]:
    return {"message": "something happened", **fields}
