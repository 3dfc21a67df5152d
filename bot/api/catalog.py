"""What the server runs: the model, its one version with the inputs' schema, the webhook secret.

The version's `openapi_schema` is in Cog's shape (`components.schemas.Input` and `Output`), as
Replicate serves it: the official client reads `Output` to decide how to hand back the output,
and tools read `Input` to build their forms.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from bot.api.auth import CallerDep
from bot.api.predictions import check_model
from bot.api.schemas import ErrorOut, ModelInput, ModelOut, VersionOut, VersionPage, WebhookSecret
from bot.api.state import ApiState, StateDep

router = APIRouter(prefix="/v1", tags=["models"], responses={404: {"model": ErrorOut}})

#: The Cog release whose schema shape this follows (the client reads it for compatibility rules).
COG_VERSION = "0.9.0"
#: When this server started: the version's `created_at` (a new start may serve a new model).
STARTED_AT = datetime.now(UTC)


def cog_schema() -> dict[str, Any]:
    """The inputs and output as Cog describes a model: `Input` in order (`x-order`), `Output` a string."""
    inputs = ModelInput.model_json_schema()
    for order, schema in enumerate(inputs["properties"].values()):
        schema["x-order"] = order
    inputs["title"] = "Input"
    inputs.pop("additionalProperties", None)
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {},
        "components": {"schemas": {"Input": inputs, "Output": {"type": "string", "title": "Output"}}},
    }


def version_out(state: ApiState) -> VersionOut:
    return VersionOut(
        id=state.version_id,
        created_at=STARTED_AT.isoformat().replace("+00:00", "Z"),
        cog_version=COG_VERSION,
        openapi_schema=cog_schema(),
    )


@router.get("/models/{owner}/{name}", response_model=ModelOut, summary="Get the model")
async def get_model(owner: str, name: str, request: Request, state: StateDep, caller: CallerDep) -> ModelOut:
    check_model(owner, name, state)
    return ModelOut(
        url=f"{state.base_url(request)}/v1/models/{owner}/{name}",
        owner=owner,
        name=name,
        description=state.model_description,
        visibility="private",
        github_url=None,
        paper_url="https://arxiv.org/abs/2301.12597",
        license_url=None,
        run_count=0,
        cover_image_url=None,
        default_example=None,
        latest_version=version_out(state),
    )


@router.get(
    "/models/{owner}/{name}/versions", response_model=VersionPage, summary="List the model's versions"
)
async def list_versions(owner: str, name: str, state: StateDep, caller: CallerDep) -> VersionPage:
    check_model(owner, name, state)
    return VersionPage(previous=None, next=None, results=[version_out(state)])


@router.get(
    "/models/{owner}/{name}/versions/{version_id}", response_model=VersionOut, summary="Get a version"
)
async def get_version(
    owner: str, name: str, version_id: str, state: StateDep, caller: CallerDep
) -> VersionOut:
    check_model(owner, name, state)
    if version_id != state.version_id:
        raise HTTPException(
            404, f"There is no version {version_id} of {owner}/{name}; the current one is {state.version_id}."
        )
    return version_out(state)


@router.get(
    "/webhooks/default/secret",
    response_model=WebhookSecret,
    tags=["webhooks"],
    summary="The secret webhooks are signed with",
)
async def webhook_secret(state: StateDep, caller: CallerDep) -> WebhookSecret:
    return WebhookSecret(key=state.webhook_secret)
