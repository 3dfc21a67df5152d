"""eachlabs' prediction shape: `POST /v1/prediction/` with `X-API-Key`, then `GET /v1/prediction/{id}`.

The same jobs and store as Replicate's shape: a prediction made one way can be read the other.
eachlabs' clients send numbers and booleans as strings; `ModelInput` accepts them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from bot.api.auth import CallerDep
from bot.api.jobs import NewPrediction
from bot.api.predictions import owned_prediction
from bot.api.render import eachlabs_out
from bot.api.schemas import EachlabsCreate, EachlabsCreated, EachlabsPrediction, ErrorOut
from bot.api.state import StateDep

router = APIRouter(prefix="/v1/prediction", tags=["eachlabs"], responses={404: {"model": ErrorOut}})


@router.post("/", response_model=EachlabsCreated, summary="Create a prediction (eachlabs)")
async def create(
    body: EachlabsCreate, request: Request, state: StateDep, caller: CallerDep
) -> EachlabsCreated:
    base_url = state.base_url(request)
    new = NewPrediction(body.input, caller, "eachlabs", base_url, body.webhook_url, ("completed",))
    record = await state.jobs.create(new)
    return EachlabsCreated(
        status="success", message="Prediction created successfully", predictionID=record.id
    )


@router.get("/{prediction_id}", response_model=EachlabsPrediction, summary="Get a prediction (eachlabs)")
async def get(prediction_id: str, request: Request, state: StateDep, caller: CallerDep) -> EachlabsPrediction:
    record = await owned_prediction(prediction_id, state, caller.token_hash)
    return eachlabs_out(record, state.base_url(request))
