"""This node among the nodes sharing its store: the deliveries it holds (:class:`Leases`), its heartbeat with
the renewal of those leases and the take-over of dead nodes' work (:class:`Membership`), and named locks
for work one node at a time does (:class:`ClusterLock`). The rules are store/cluster.py's.

One node on SQLite runs the same code: its heartbeat and renewals are one small write every
``heartbeat_s``, its locks are always free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from alertnode import __version__
from alertnode.errors import StoreError, StoreUnavailable
from alertnode.store import cluster
from alertnode.store.backend import Conn
from alertnode.store.config import ClusterSection
from alertnode.store.crypto import Cipher
from alertnode.store.db import Store

log = logging.getLogger(__name__)

LOCK_POLL_S = 0.05
WAITING_TYPES = ("inboundCall",)  # deliveries a node waits on that another node's answer may settle


def default_node_id() -> str:
    return socket.gethostname() or "alertnode"


def link_shares(node_id: str, nodes: Iterable[cluster.NodeRow], now: float, lease_s: float) -> dict[str, float]:
    """The part of each of this node's SMPP links' configured throughput it may use. A link's throughput is
    the carrier account's contracted rate; the nodes bound to one account (the same system_id at the same
    SMSC, from their heartbeats' ``smsAccounts``) split it evenly: each live node with a bound link to it
    takes 1/n. A node that stops beating leaves its share to the others within ``lease_s``."""
    rows = list(nodes)
    mine = next((r for r in rows if r.node_id == node_id), None)
    if mine is None:
        return {}
    bound: dict[str, int] = {}
    for row in rows:
        if row.node_id != node_id and not row.alive(now, lease_s):
            continue
        for account in {a.get("account") for a in row.info.get("smsAccounts", []) if a.get("bound")}:
            if isinstance(account, str):
                bound[account] = bound.get(account, 0) + 1
    shares = {}
    for link in mine.info.get("smsAccounts", []):
        n = bound.get(str(link.get("account")), 0)
        shares[str(link.get("link"))] = 1.0 / n if n > 1 else 1.0
    return shares


class Leases:
    """The deliveries this node holds, each under its claim number (what fences its reports)."""

    def __init__(self, node_id: str, lease_s: float) -> None:
        self.node_id = node_id
        self.lease_s = lease_s
        self._held: dict[int, tuple[int, str]] = {}  # delivery id -> (claim, alert type)

    def hold(self, delivery_id: int, claim: int, alert_type: str) -> None:
        self._held[delivery_id] = (claim, alert_type)

    def forget(self, delivery_ids: Iterable[int]) -> None:
        for i in delivery_ids:
            self._held.pop(i, None)

    def claims(self, delivery_ids: Iterable[int]) -> dict[int, int]:
        """The claims this node holds among ``delivery_ids`` (for ``eventlog.apply_events``)."""
        return {i: self._held[i][0] for i in delivery_ids if i in self._held}

    def held(self) -> dict[int, tuple[int, str]]:
        return dict(self._held)

    def by_type(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, alert_type in self._held.values():
            out[alert_type] = out.get(alert_type, 0) + 1
        return out


class ClusterLock:
    """Named locks in the store (store/cluster.py ``try_lock``), held by one process at a time."""

    def __init__(self, store: Store, lease_s: float, owner: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.lease_s = lease_s
        self.owner = owner or f"{default_node_id()}/{uuid.uuid4().hex[:12]}"
        self.clock = clock

    async def try_acquire(self, name: str) -> bool:
        now = self.clock()
        return await self.store.write(lambda c: cluster.try_lock(c, name, self.owner, now, now + self.lease_s),
                                      notify=False)

    async def release(self, name: str) -> None:
        await self.store.write(lambda c: cluster.unlock(c, name, self.owner), notify=False)

    @contextlib.asynccontextmanager
    async def hold(self, name: str, wait_s: float) -> AsyncIterator[None]:
        """Hold ``name`` for the block, waiting up to ``wait_s`` for another node to release it; StoreError
        (answered 503) when it does not."""
        if not self.store.dialect.shared:  # one node owns an SQLite store: nobody to wait for
            yield
            return
        deadline = time.monotonic() + wait_s
        while not await self.try_acquire(name):
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"another node holds {name.split(':')[0]} for longer than {wait_s:g} s")
            await asyncio.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            try:
                await self.release(name)
            except StoreError:
                log.warning("could not release cluster lock %s; it lapses after %.0f s", name, self.lease_s)


class Membership:
    """Heartbeat, lease renewal and take-over, every ``heartbeat_s``."""

    def __init__(self, config: ClusterSection, store: Store, cipher: Cipher, leases: Leases,
                 info: Callable[[], Mapping[str, Any]], on_lost: Callable[[dict[str, list[int]]], Any],
                 clock: Callable[[], float] = time.time,
                 on_nodes: Callable[[list[cluster.NodeRow]], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.cipher = cipher
        self.leases = leases
        self.info = info
        self.on_lost = on_lost
        self.on_nodes = on_nodes
        self.clock = clock
        self.instance = uuid.uuid4().hex
        self.started_at = clock()
        self.taken_over = 0
        self.lost = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def node_id(self) -> str:
        return self.leases.node_id

    def _row(self, state: str) -> cluster.NodeRow:
        info = {"held": self.leases.by_type(), "takenOver": self.taken_over, "lost": self.lost, **self.info()}
        return cluster.NodeRow(self.node_id, self.instance, socket.gethostname(), os.getpid(), __version__,
                               self.started_at, self.clock(), state, info)

    async def join(self) -> None:
        """First heartbeat. Where the store is shared and the node id's last heartbeat is recent, wait two
        heartbeats: a process still beating under this id is alive (StoreError: two nodes must not share an
        id); one that stays silent was this node's previous run, killed."""
        if self.store.dialect.shared:
            rows = await self.store.read(cluster.nodes)
            before = next((r for r in rows if r.node_id == self.node_id), None)
            if before is not None and before.alive(self.clock(), self.config.lease_s):
                log.info("node id %s beat %.1f s ago: waiting to see whether that process still runs",
                         self.node_id, self.clock() - before.beat_at)
                await asyncio.sleep(self.config.heartbeat_s * 2 + 0.5)
                rows = await self.store.read(cluster.nodes)
                again = next((r for r in rows if r.node_id == self.node_id), None)
                if again is not None and again.beat_at > before.beat_at:
                    raise StoreError(f"another running node uses node id {self.node_id!r} (pid {again.pid} on "
                                     f"{again.host}); give each node its own cluster.node_id")
        row = self._row("running")
        await self.store.write(lambda c: cluster.heartbeat(c, row), notify=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cluster-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        row = self._row("stopped")
        try:
            await self.store.write(lambda c: cluster.heartbeat(c, row), notify=False)
        except StoreError:
            log.warning("could not record this node as stopped")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster heartbeat failed")

    async def beat(self) -> None:
        """Heartbeat, renew this node's leases, take over the deliveries of nodes whose leases ran out."""
        now = self.clock()
        row = self._row("running")
        held = self.leases.held()
        until = now + self.config.lease_s
        node_id = self.node_id

        def work(conn: Conn) -> tuple[dict[int, int], dict[int, int], list[cluster.TakenOver], list[cluster.NodeRow]]:
            cluster.heartbeat(conn, row)
            kept = cluster.renew(conn, node_id, until)
            missing = [i for i in held if i not in kept]
            current = cluster.claims_of(conn, missing) if missing else {}
            taken = cluster.take_over_expired(conn, self.cipher, now, node_id)
            cluster.purge_locks(conn, now)
            return kept, current, taken, cluster.nodes(conn)

        kept, current, taken, rows = await self.store.write(work, notify=True)
        if self.on_nodes is not None:
            self.on_nodes(rows)
        lost: dict[str, list[int]] = {}
        answered_elsewhere: dict[str, list[int]] = {}
        gone: list[int] = []
        for delivery_id, (claim, alert_type) in held.items():
            if kept.get(delivery_id) == claim:
                continue
            gone.append(delivery_id)
            if delivery_id in kept or current.get(delivery_id, claim) != claim:
                lost.setdefault(alert_type, []).append(delivery_id)  # claimed again since: not ours any more
            elif alert_type in WAITING_TYPES:
                # released without this node: another node took its answer (an inbound call it received)
                answered_elsewhere.setdefault(alert_type, []).append(delivery_id)
        self.leases.forget(gone)
        if lost:
            self.lost += sum(len(v) for v in lost.values())
            log.warning("lost the leases of %d deliveries (taken over by another node): dropping their work",
                        sum(len(v) for v in lost.values()))
        for alert_type, ids in answered_elsewhere.items():
            lost.setdefault(alert_type, []).extend(ids)
        if lost:
            result = self.on_lost(lost)
            if asyncio.iscoroutine(result):
                await result
        if taken:
            self.taken_over += len(taken)
            owners = sorted({t.owner for t in taken})
            log.warning("took over %d deliveries of node(s) %s whose leases ran out", len(taken), ", ".join(owners))
