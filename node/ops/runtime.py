"""The operations extension of the running node: ``/metrics`` (Prometheus) and the status page.

It adds the routes to the control app and counts every stored channel event. Store counts are read once
per request through ``Store.read`` (a reader connection, never the writer), channel state through
``Channel.info()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from alertnode import __version__
from alertnode.api.extension import Extension, ExtensionContext
from alertnode.domain import ChannelEvent, ChannelInfo
from alertnode.domain_info import VoiceInfo
from alertnode.logs import mask
from alertnode.ops import status_page
from alertnode.ops.metrics import OpsMetrics, Snapshot, StoreCounts
from alertnode.store import views

log = logging.getLogger(__name__)


def latest_alerts(conn: Any, limit: int, now: float) -> list[dict[str, Any]]:
    """The newest alerts with their status (as the alert resource derives it) and delivery counts by
    state, as the status page shows them; no contact data. Run through ``Store.read``."""
    return [{"alertRef": a.alert_ref, "clientRef": a.client_ref, "createdAt": a.created_at, "status": a.status.value,
             "deliveries": dict(a.deliveries)} for a in views.latest_alerts(conn, limit, now)]


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


def _calls_active(channels: Sequence[tuple[ChannelInfo, bool]]) -> int | None:
    """Calls on the voice workers (0 before they exist); None without a voice channel."""
    for info, _ in channels:
        if isinstance(info.typed, VoiceInfo):
            return info.typed.calls_active or 0
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


async def _snapshot(ctx: ExtensionContext) -> Snapshot:
    now = time.time()
    counts = await ctx.store.read(lambda c: views.store_counts(c, now))
    channels = [(ch.info(), ch.ready()) for ch in ctx.channels]
    cb = ctx.callbacks
    nodes = await ctx.cluster() if ctx.cluster is not None else []
    return Snapshot(counts, channels, cb.sent, cb.failures, time.time() - ctx.started_at, nodes)


def router(ctx: ExtensionContext, metrics: OpsMetrics) -> APIRouter:
    cfg = ctx.ops
    r = APIRouter()

    if cfg.metrics:
        @r.get("/metrics", include_in_schema=False)
        async def prometheus(request: Request) -> Response:
            if cfg.metrics_require_key:
                ctx.requests.require_key(request)
            body = metrics.render(await _snapshot(ctx))
            return Response(body, media_type=CONTENT_TYPE_LATEST)

    if cfg.status_page:
        html = status_page.page(cfg.status_refresh_s)

        @r.get("/status", include_in_schema=False)
        async def status() -> HTMLResponse:
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})

        @r.get("/api/ops/status", tags=["operations"])
        async def status_json(request: Request) -> JSONResponse:
            """Live state for the status page: readiness, channels and links, calls, queues, latest alerts."""
            ctx.requests.require_key(request)
            snap = await _snapshot(ctx)
            now = time.time()
            alerts = await ctx.store.read(lambda c: latest_alerts(c, cfg.status_alerts, now))
            cb = ctx.callbacks
            body = {
                "version": __version__,
                "now": time.time(),
                "uptimeSeconds": snap.uptime_s,
                "readiness": await ctx.readiness(),
                "channels": [{**info.as_dict(), "details": _masked(info.details), "ready": ok}
                             for info, ok in snap.channels],
                "callsActive": _calls_active(snap.channels),
                "queues": _queues(snap.counts),
                "callbacks": {"queued": snap.counts.outbox_pending, "dead": snap.counts.outbox_dead,
                              "sent": cb.sent, "failures": cb.failures},
                "alerts": alerts,
                "cluster": [_masked(n) for n in snap.nodes],
            }
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return r


class OpsExtension(Extension):
    name = "ops"

    def __init__(self, ctx: ExtensionContext) -> None:
        self.metrics = OpsMetrics()
        self._router = router(ctx, self.metrics)

    def routes(self, app: FastAPI) -> None:
        app.include_router(self._router)

    def on_event(self, event: ChannelEvent) -> None:
        self.metrics.observe(event)


def create(ctx: ExtensionContext) -> OpsExtension:
    return OpsExtension(ctx)
