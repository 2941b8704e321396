"""What nodes sharing one store write about each other (migration 0100): heartbeats, the leases on the
deliveries each holds, and named locks for work that one node at a time does.

Rules (README "Several nodes"):

* A delivery a node claims is leased to it (``lease_owner``, ``lease_until``) and numbered (``claim`` goes
  up by one at each claim). The node renews its leases with its heartbeat; a delivery stays leased while
  it is in progress or, for a call, answered and not yet ended (:data:`HELD_STATES`), and is released when
  it leaves them.
* A lease not renewed for ``lease_s`` has lost its node: :func:`take_over_expired` puts the delivery back
  in the queue for any node, without counting the lost attempt (a call lost with its node does not use one
  of its ``ivrAttempts``), with a ``requeued`` event naming the node.
* What a node reports about a delivery is fenced by the claim it holds (``eventlog.apply_events`` with
  ``claims``): a report under an older claim changes nothing, so a node that was only slow cannot report
  over the new owner's attempt.
* A named lock (:func:`try_lock`) is a lease too: held until ``until`` unless renewed or released.

Times are the nodes' own clocks (Unix seconds): nodes sharing a store keep them in step (NTP), as any
lease needs; :func:`heartbeat` records each node's offset from the database's clock for the status page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alertnode.domain import DeliveryState
from alertnode.store import eventlog
from alertnode.store.backend import Conn
from alertnode.store.crypto import Cipher

HELD_STATES = (DeliveryState.IN_PROGRESS.value, DeliveryState.ANSWERED.value)
"""States in which a delivery is in a node's hands (its lease is kept)."""


# -- heartbeats -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeRow:
    node_id: str
    instance: str
    host: str
    pid: int
    version: str
    started_at: float
    beat_at: float
    state: str
    info: Mapping[str, Any]

    def alive(self, now: float, lease_s: float) -> bool:
        return self.state == "running" and now - self.beat_at < lease_s

    def as_dict(self, now: float, lease_s: float) -> dict[str, Any]:
        return {"node": self.node_id, "host": self.host, "pid": self.pid, "version": self.version,
                "startedAt": self.started_at, "lastBeatSecondsAgo": round(max(0.0, now - self.beat_at), 3),
                "alive": self.alive(now, lease_s), "state": self.state, **dict(self.info)}


def heartbeat(conn: Conn, row: NodeRow) -> str | None:
    """Write this node's heartbeat; the instance that held ``row.node_id`` before, when it is another one
    (a second process started under the same node id, or this node's previous run)."""
    before = conn.execute("SELECT instance FROM cluster_nodes WHERE node_id = ?", (row.node_id,)).fetchone()
    conn.execute(
        "INSERT INTO cluster_nodes (node_id, instance, host, pid, version, started_at, beat_at, state, info)"
        " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (node_id) DO UPDATE SET instance = excluded.instance,"
        " host = excluded.host, pid = excluded.pid, version = excluded.version, started_at = excluded.started_at,"
        " beat_at = excluded.beat_at, state = excluded.state, info = excluded.info",
        (row.node_id, row.instance, row.host, row.pid, row.version, row.started_at, row.beat_at, row.state,
         json.dumps(dict(row.info), separators=(",", ":"))),
    )
    other = str(before[0]) if before is not None else None
    return other if other != row.instance else None


def nodes(conn: Conn) -> list[NodeRow]:
    return [NodeRow(r[0], r[1], r[2], int(r[3]), r[4], float(r[5]), float(r[6]), r[7], json.loads(r[8]))
            for r in conn.execute("SELECT node_id, instance, host, pid, version, started_at, beat_at, state, info"
                                  " FROM cluster_nodes ORDER BY node_id")]


def held_counts(conn: Conn) -> dict[str, dict[str, int]]:
    """Deliveries each node holds, by alert type."""
    out: dict[str, dict[str, int]] = {}
    for owner, alert_type, n in conn.execute(
            "SELECT lease_owner, alert_type, count(*) FROM deliveries WHERE lease_owner IS NOT NULL"
            " GROUP BY lease_owner, alert_type"):
        out.setdefault(str(owner), {})[str(alert_type)] = int(n)
    return out


# -- leases on deliveries -------------------------------------------------------------------------


def renew(conn: Conn, owner: str, until: float) -> dict[int, int]:
    """Extend every lease ``owner`` holds; the deliveries it still holds, with their claim numbers (a
    delivery missing here, or under another claim, was taken over: its work is no longer this node's)."""
    rows = conn.execute("UPDATE deliveries SET lease_until = ? WHERE lease_owner = ? RETURNING id, claim",
                        (until, owner)).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def claims_of(conn: Conn, delivery_ids: Sequence[int]) -> dict[int, int]:
    """The current claim number of each delivery (a purged one is missing)."""
    out: dict[int, int] = {}
    for i in range(0, len(delivery_ids), 500):
        chunk = list(delivery_ids[i : i + 500])
        for r in conn.execute(f"SELECT id, claim FROM deliveries WHERE id IN ({','.join('?' * len(chunk))})", chunk):
            out[int(r[0])] = int(r[1])
    return out


@dataclass(frozen=True)
class TakenOver:
    delivery_id: int
    alert_ref: str
    alert_type: str
    owner: str


def take_over_expired(conn: Conn, cipher: Cipher, now: float, by: str, limit: int = 1000) -> list[TakenOver]:
    """Deliveries whose lease ran out (their node stopped renewing it) go back to the queue, due now, with
    their attempt not counted and a ``requeued`` event; the ones taken over by this call."""
    marks = ", ".join("?" * len(HELD_STATES))
    rows = conn.execute(
        "SELECT d.id, d.alert_ref, d.alert_type, d.lease_owner FROM deliveries d"
        f" WHERE d.lease_owner IS NOT NULL AND d.lease_until < ? AND d.state IN ({marks})"
        f" ORDER BY d.lease_until LIMIT ?{conn.dialect.skip_locked('d')}",
        (now, *HELD_STATES, limit),
    ).fetchall()
    taken = [TakenOver(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]
    if not taken:
        return []
    conn.executemany(
        "UPDATE deliveries SET state = 'queued', due_at = ?, updated_at = ?, final_at = NULL, lease_owner = NULL,"
        " lease_until = NULL, claim = claim + 1, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END"
        " WHERE id = ?",
        [(now, now, t.delivery_id) for t in taken],
    )
    for t in taken:
        eventlog.insert_event(conn, cipher, t.alert_ref, t.delivery_id, "requeued", DeliveryState.QUEUED.value, now,
                              {"reason": f"node {t.owner} stopped renewing its lease", "node": t.owner, "by": by},
                              final=False)
    return taken


# -- named locks ----------------------------------------------------------------------------------


def try_lock(conn: Conn, name: str, owner: str, now: float, until: float) -> bool:
    """Take (or renew) the lock ``name`` for ``owner`` until ``until``; False while another owner holds it."""
    row = conn.execute(
        "INSERT INTO cluster_locks (name, owner, until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
        " owner = excluded.owner, until = excluded.until"
        " WHERE cluster_locks.until < ? OR cluster_locks.owner = excluded.owner RETURNING owner",
        (name, owner, until, now),
    ).fetchone()
    return row is not None


def unlock(conn: Conn, name: str, owner: str) -> None:
    conn.execute("DELETE FROM cluster_locks WHERE name = ? AND owner = ?", (name, owner))


def purge_locks(conn: Conn, now: float) -> None:
    conn.execute("DELETE FROM cluster_locks WHERE until < ?", (now,))
