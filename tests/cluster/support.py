"""Several real nodes (``alertnode serve`` subprocesses) on one PostgreSQL database of the session's private
cluster (tests/pg.py), sharing one encryption key, each with its own node id, a short lease and a fast
heartbeat, so a failover happens within seconds."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from alertnode.store.crypto import load_or_create_key
from tests.nodeproc import RunningNode, merge
from tests.pg import PASSWORD, PgCluster

LEASE_S = 4.0
HEARTBEAT_S = 1.0


class Cluster:
    def __init__(self, pg: PgCluster, tmp_path: Path, run_node: Callable[..., RunningNode]) -> None:
        self.pg = pg
        self.url = pg.new_database()
        self.tmp_path = tmp_path
        self.run_node = run_node
        self.key = tmp_path / "secret.key"
        load_or_create_key(self.key)  # one key for every node: each decrypts what another stored
        self.nodes: list[RunningNode] = []

    def config(self, i: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        base = {"store": {"url": self.url, "connect_timeout_s": 2.0},
                "cluster": {"node_id": f"node-{i}", "lease_s": LEASE_S, "heartbeat_s": HEARTBEAT_S}}
        return merge(base, extra or {})

    def start(self, i: int, extra: dict[str, Any] | None = None) -> RunningNode:
        data = self.tmp_path / f"node{i}" / "data"
        data.mkdir(parents=True, exist_ok=True)
        if not (data / "secret.key").exists():
            shutil.copy(self.key, data / "secret.key")
            (data / "secret.key").chmod(0o600)
        node = self.run_node(self.config(i, extra), data_dir=self.tmp_path / f"node{i}",
                             env={"ALERTNODE__store__password": PASSWORD})
        if i < len(self.nodes):
            self.nodes[i] = node
        else:
            self.nodes.append(node)
        return node

    def db(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.url, password=PASSWORD, autocommit=True)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self.db() as conn:
            return conn.execute(sql, args).fetchall()

    def states(self) -> dict[str, int]:
        return {str(s): int(n) for s, n in self.query("SELECT state, count(*) FROM deliveries GROUP BY state")}

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                for node in self.nodes:  # what the nodes said that was wrong, for the report
                    print("".join(ln for ln in node.output if " WARNING " in ln or " ERROR " in ln
                                  or "Error" in ln)[-4000:])
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; deliveries {self.states()}")
            time.sleep(0.2)
