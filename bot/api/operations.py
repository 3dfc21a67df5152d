"""For operators: `GET /healthz` (no token: load balancers call it) and `GET /metrics` (Prometheus)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.api.schemas import Health
from bot.api.state import StateDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Model loaded, queue depth, store reachable",
    responses={503: {"model": Health, "description": "Degraded: the store or the queue cannot be reached."}},
)
async def healthz(state: StateDep) -> Response:
    queue = state.service.ctx.queue
    store_ok = queue_ok = True
    try:
        async with state.service.store.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        log.warning("health: store unreachable (%s)", type(error).__name__)
        store_ok = False
    depth = 0
    try:
        depth = await queue.backlog()
    except Exception as error:
        log.warning("health: queue unreachable (%s)", type(error).__name__)
        queue_ok = False
    loaded = bool(getattr(queue, "running", True)) and queue_ok
    healthy = store_ok and loaded
    health = Health(
        status="ok" if healthy else "degraded",
        model=queue.model.name,
        model_loaded=loaded,
        queue_depth=depth,
        store_reachable=store_ok,
    )
    return JSONResponse(health.model_dump(), status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus' text format."}},
)
async def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
