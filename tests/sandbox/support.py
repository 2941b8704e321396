"""Starting the real node in sandbox mode for the tests of tests/sandbox/ (all on 127.0.0.1, free ports)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.nodeproc import RunningNode, free_port, merge
from tests.peers.sip import free_rtp_base


def sandbox_node(data_dir: Path, extra: Mapping[str, Any] | None = None, args: Sequence[str] = ()) -> RunningNode:
    """A node with nothing configured but its listeners (so it runs in sandbox mode unless ``args`` say
    otherwise), not started."""
    public = free_port()
    config = merge({
        "public": {"port": public, "base_url": f"http://127.0.0.1:{public}"},
        "mail": {"listen_port": free_port()},
        "voice": {"rtp_port_base": free_rtp_base(40), "key_wait_s": 8, "retry_interval_s": 1},
    }, dict(extra or {}))
    return RunningNode(data_dir, config, args=args)


def phone(node: RunningNode, since: int = -1, wait: float = 0) -> dict[str, Any]:
    with node.client() as c:
        resp = c.get("/api/sandbox/phone", params={"since": since, "wait": wait})
    resp.raise_for_status()
    data: dict[str, Any] = resp.json()
    return data


def person(state: Mapping[str, Any], address: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = next((p for p in state["recipients"] if p["address"] == address), None)
    return found


def wait_book(node: RunningNode, predicate: Callable[[dict[str, Any]], Any], timeout: float = 60.0) -> Any:
    """Long-poll the sandbox book until ``predicate(state)`` is truthy; its value."""
    deadline = time.monotonic() + timeout
    version = -1
    while True:
        state = phone(node, version, 5 if version >= 0 else 0)
        version = state["version"]
        found = predicate(state)
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"the sandbox book never got there: {state['recipients']}")
