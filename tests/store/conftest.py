"""The store suite runs against both backends: ``backend`` is ``sqlite`` or ``postgresql`` (a new database
on the session's private cluster, tests/pg.py), and ``open_store`` opens a store of that backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alertnode.store.db import PostgresStore, SqliteStore, Store
from tests.pg import PASSWORD, PgCluster


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[], Store]]:
    """Opens a store of ``backend``; every call opens one more handle on the same data (a restart, or a
    second node on the same PostgreSQL database)."""
    opened: list[Store] = []
    url = ""
    if backend == "postgresql":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.new_database()

    def make() -> Store:
        store: Store = PostgresStore(url, password=PASSWORD) if url else SqliteStore(tmp_path / "a.db")
        store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()
