"""Shared fixtures: ``run_node`` starts the real node as a subprocess; ``free_port`` picks a port;
``pg_cluster`` is the session's private PostgreSQL (tests/pg.py), started when a test first asks for it.

``ALERTNODE_TEST_STORE=postgresql`` makes ``run_node`` put each node's store in a database of its own on
that cluster (one per data directory, so a node started again finds its data), to run node-level tests
against PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.nodeproc import RunningNode, free_port
from tests.pg import PASSWORD, PgCluster

TEST_STORE = os.environ.get("ALERTNODE_TEST_STORE", "sqlite")

# Peer fixtures of each channel (SMSC simulator, SMTP smarthost, SIP peers) live in tests/peers/.
pytest_plugins = [m for m in ("tests.peers.smsc", "tests.peers.smtp", "tests.peers.sip")
                  if importlib.util.find_spec(m) is not None]


@pytest.fixture(name="free_port")
def free_port_fixture() -> Callable[[], int]:
    return free_port


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        yield cluster.start()
    finally:
        cluster.destroy()


@pytest.fixture
def run_node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., RunningNode]]:
    started: list[RunningNode] = []
    databases: dict[Path, str] = {}

    def start(config: dict[str, Any] | None = None, *, env: dict[str, str] | None = None,
              data_dir: Path | None = None, args: tuple[str, ...] = ()) -> RunningNode:
        data_dir = data_dir or tmp_path / f"node{len(started)}"
        config = dict(config or {})
        if TEST_STORE == "postgresql" and "store" not in config:
            cluster: PgCluster = request.getfixturevalue("pg_cluster")
            if data_dir not in databases:
                databases[data_dir] = cluster.new_database()
            config["store"] = {"url": databases[data_dir]}
            env = {"ALERTNODE__store__password": PASSWORD, **(env or {})}
        node = RunningNode(data_dir, config, env, args)
        started.append(node)
        return node.start()

    yield start
    for node in started:
        node.stop()
