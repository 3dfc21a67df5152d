"""The FastAPI app: routers for each wire shape, one error format, request metrics.

Every error, a refused token or a malformed body included, is Replicate's `{"title", "detail",
"status"}`, with a plain `detail`; an unexpected exception becomes a 500 with no traceback in it
(the log keeps that). The app holds no model: it is handed a running `ChatService`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bot.api import catalog, eachlabs, files, operations, predictions
from bot.api.config import ApiConfig
from bot.api.image_inputs import ImageInputs
from bot.api.jobs import PredictionJobs
from bot.api.metrics import ApiMetrics
from bot.api.schemas import ErrorOut
from bot.api.state import ApiState, model_version_id
from bot.api.webhooks import WebhookSender, new_secret
from bot.core import ChatService

log = logging.getLogger(__name__)

_TITLES = {400: "Bad request", 401: "Unauthenticated", 404: "Not found", 405: "Method not allowed",
           413: "Too large", 422: "Invalid input", 500: "Server error", 503: "Unavailable"}  # fmt: skip


def build_api(
    config: ApiConfig, service: ChatService, *, model: str, max_image_bytes: int, http: httpx.AsyncClient
) -> FastAPI:
    """The app over a running service; `model` is the served model's hub id or directory."""
    app = FastAPI(
        title="blipbot",
        version="1",
        summary="Describe photos and answer questions about them: Replicate's and eachlabs' BLIP-2 API.",
        responses={
            400: {
                "model": ErrorOut,
                "description": "The body could not be read.",
            },
            401: {"model": ErrorOut, "description": "No API token, or one that is not valid."},
            422: {"model": ErrorOut, "description": "The request body or a parameter is not valid."},
        },
    )
    secret = config.webhook_secret.get_secret_value() if config.webhook_secret else new_secret()
    metrics = ApiMetrics(service.ctx.queue)
    images = ImageInputs(config, service.store.files, max_bytes=max_image_bytes, http=http)
    version_id = model_version_id(config, model)
    jobs = PredictionJobs(
        service,
        images,
        WebhookSender(http, secret, allow_private=config.allow_private_urls),
        metrics,
        model_name=config.model_name,
        version_id=version_id,
        default_base_url=config.public_url or f"http://{config.listen}:{config.port}",
    )
    app.state.tokens = [token.get_secret_value() for token in config.tokens]
    app.state.api = ApiState(
        config=config,
        service=service,
        jobs=jobs,
        images=images,
        metrics=metrics,
        webhook_secret=secret,
        version_id=version_id,
        model_description=f"BLIP-2 served by blipbot ({model}).",
    )
    for module in (predictions, catalog, files, eachlabs, operations):
        app.include_router(module.router)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
    app.middleware("http")(_count_requests)
    return app


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"title": _TITLES.get(status, "Error"), "detail": detail, "status": status}
    return JSONResponse(body, status_code=status, headers=headers)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else "The request could not be handled."
    return error_response(error.status_code, detail, dict(error.headers or {}))


async def _invalid_request(request: Request, error: Exception) -> Response:
    """422 with the first problem as one sentence: where it is and what is wrong, never the value."""
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    first = problems[0] if problems else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        message = "is not an input this model takes"
    more = len(problems) - 1
    suffix = f" ({more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return error_response(422, f"{where}: {message}{suffix}")


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=error)
    return error_response(500, "Something went wrong on the server. Please try again.")


async def _count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    metrics: ApiMetrics = request.app.state.api.metrics
    metrics.requests.labels(request.method, template, str(response.status_code)).inc()
    return response
