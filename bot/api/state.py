"""`ApiState`: what every route needs, put on `app.state.api` by `build_api` and given as `StateDep`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from bot.api.config import ApiConfig
from bot.api.image_inputs import ImageInputs
from bot.api.jobs import PredictionJobs
from bot.api.metrics import ApiMetrics
from bot.core import ChatService


@dataclass(slots=True)
class ApiState:
    """What the routes need, on `app.state.api`."""

    config: ApiConfig
    service: ChatService
    jobs: PredictionJobs
    images: ImageInputs
    metrics: ApiMetrics
    webhook_secret: str
    version_id: str
    model_description: str

    def base_url(self, request: Request) -> str:
        """The configured public URL, else the one this request came to.

        Either is this server: a file URL there in an input is read from the store, not fetched.
        """
        base = self.config.public_url or str(request.base_url).rstrip("/")
        self.images.note_own_origin(base)
        return base


def model_version_id(config: ApiConfig, model: str) -> str:
    """A stable version id: the same served model under the same name keeps it across restarts."""
    return hashlib.sha256(f"{config.model_name}\n{model}".encode()).hexdigest()


def api_state(request: Request) -> ApiState:
    return request.app.state.api


StateDep = Annotated[ApiState, Depends(api_state)]
