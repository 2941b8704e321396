"""The operations extension of the running node: ``/metrics`` (Prometheus) and the status page.

``attach`` adds the routes to the control app and listens to channel events; ``detach`` stops
listening. Store counts are read once per request through ``Store.read`` (a reader connection, never
the writer), channel state through ``Channel.info()``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from alertnode import __version__
from alertnode.api.resource import alert_status
from alertnode.errors import ApiError, Problem
from alertnode.logs import mask
from alertnode.ops import status_page
from alertnode.ops.metrics import OpsMetrics, Snapshot, StoreCounts, store_counts

if TYPE_CHECKING:
    from alertnode.app import Node

log = logging.getLogger(__name__)

_STATE: dict[int, OpsMetrics] = {}


def latest_alerts(conn: sqlite3.Connection, limit: int, now: float) -> list[dict[str, Any]]:
    """The newest alerts with their status (as the alert resource derives it) and delivery counts by
    state; no contact data."""
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    rows = cur.execute(
        "SELECT alert_ref, client_ref, created_at, status, publish_at FROM alerts "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (limit,),
    ).fetchall()
    out: list[dict[str, Any]] = []
    for row in rows:
        counts = dict(conn.execute(
            "SELECT state, count(*) FROM deliveries WHERE alert_ref = ? GROUP BY state ORDER BY state",
            (row["alert_ref"],),
        ).fetchall())
        open_count = counts.get("queued", 0) + counts.get("in_progress", 0)
        out.append({"alertRef": row["alert_ref"], "clientRef": row["client_ref"], "createdAt": row["created_at"],
                    "status": alert_status(row, open_count, now), "deliveries": counts})
    return out


def _masked(value: Any) -> Any:
    """Channel details with any phone number or e-mail address in their texts masked (a last error may
    quote a recipient)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def _calls_active(node: Node) -> int | None:
    for ch in node.unique_channels:
        if ch.name == "voice":
            workers = ch.info().details.get("workers")
            if isinstance(workers, list):
                return sum(int(w.get("calls", 0)) for w in workers if isinstance(w, Mapping))
            return 0
    return None


def _queues(counts: StoreCounts) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (alert_type, state), n in counts.deliveries.items():
        q = out.setdefault(alert_type, {"queued": 0, "inProgress": 0})
        if state == "queued":
            q["queued"] += n
        elif state == "in_progress":
            q["inProgress"] += n
    return out


def _check_key(node: Node, request: Request) -> None:
    from alertnode.api.routes import _bearer

    assert node.services is not None
    if not node.services.keys.check(_bearer(request)):
        raise ApiError("missing or wrong API key", [Problem("Authorization", "not accepted")], 401)


async def _snapshot(node: Node) -> Snapshot:
    assert node.store is not None
    now = time.time()
    counts = await node.store.read(lambda c: store_counts(c, now))
    channels = [(ch.info(), ch.ready()) for ch in node.unique_channels]
    cb = node.callbacks
    return Snapshot(counts, channels, cb.sent if cb else 0, cb.failures if cb else 0, time.time() - node.started_at)


def router(node: Node, metrics: OpsMetrics) -> APIRouter:
    cfg = node.config.ops
    r = APIRouter()

    if cfg.metrics:
        @r.get("/metrics", include_in_schema=False)
        async def prometheus(request: Request) -> Response:
            if cfg.metrics_require_key:
                _check_key(node, request)
            body = metrics.render(await _snapshot(node))
            return Response(body, media_type=CONTENT_TYPE_LATEST)

    if cfg.status_page:
        html = status_page.page(cfg.status_refresh_s)

        @r.get("/status", include_in_schema=False)
        async def status() -> HTMLResponse:
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})

        @r.get("/api/ops/status", tags=["operations"])
        async def status_json(request: Request) -> JSONResponse:
            """Live state for the status page: readiness, channels and links, calls, queues, latest alerts."""
            _check_key(node, request)
            assert node.store is not None
            snap = await _snapshot(node)
            now = time.time()
            alerts = await node.store.read(lambda c: latest_alerts(c, cfg.status_alerts, now))
            cb = node.callbacks
            body = {
                "version": __version__,
                "now": time.time(),
                "uptimeSeconds": snap.uptime_s,
                "readiness": await node.readiness(),
                "channels": [{**info.as_dict(), "details": _masked(info.details), "ready": ok}
                             for info, ok in snap.channels],
                "callsActive": _calls_active(node),
                "queues": _queues(snap.counts),
                "callbacks": {"queued": snap.counts.outbox_pending, "dead": snap.counts.outbox_dead,
                              "sent": cb.sent if cb else 0, "failures": cb.failures if cb else 0},
                "alerts": alerts,
            }
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return r


async def attach(node: Node) -> None:
    metrics = OpsMetrics()
    _STATE[id(node)] = metrics
    node.event_listeners.append(metrics.observe)
    routes = router(node, metrics)

    def hook(app: FastAPI) -> None:
        app.include_router(routes)

    node.control_hooks.append(hook)


async def detach(node: Node) -> None:
    metrics = _STATE.pop(id(node), None)
    if metrics is not None and metrics.observe in node.event_listeners:
        node.event_listeners.remove(metrics.observe)
