"""Shared fixtures: ``run_node`` starts the real node as a subprocess; ``free_port`` picks a port."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.nodeproc import RunningNode, free_port

# Peer fixtures of each channel (SMSC simulator, SMTP smarthost, SIP peers) live in tests/peers/.
pytest_plugins = [m for m in ("tests.peers.smsc", "tests.peers.smtp", "tests.peers.sip")
                  if importlib.util.find_spec(m) is not None]


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture
def run_node(tmp_path: Path) -> Iterator[Callable[..., RunningNode]]:
    started: list[RunningNode] = []

    def start(config: dict[str, Any] | None = None, *, env: dict[str, str] | None = None,
              data_dir: Path | None = None, args: tuple[str, ...] = ()) -> RunningNode:
        node = RunningNode(data_dir or tmp_path / f"node{len(started)}", config or {}, env, args)
        started.append(node)
        return node.start()

    yield start
    for node in started:
        node.stop()
