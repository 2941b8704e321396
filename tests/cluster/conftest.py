from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.support import Cluster
from tests.nodeproc import RunningNode
from tests.pg import PgCluster


@pytest.fixture
def cluster(pg_cluster: PgCluster, tmp_path: Path, run_node: Callable[..., RunningNode]) -> Cluster:
    return Cluster(pg_cluster, tmp_path, run_node)
