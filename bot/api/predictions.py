"""Replicate's predictions endpoints: create (and `Prefer: wait`), get, list, cancel.

With `Prefer: wait` (or `wait=N`) a create is answered with the finished prediction, or, when the
model has not finished in time, with status `starting`: the official client then polls `urls.get`
until it ends (it takes any other status in a waited answer as final). A caller sees only the
predictions made with their own token; another's answer 404, as a missing one does.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request

from bot.api.auth import CallerDep
from bot.api.jobs import FINAL, NewPrediction
from bot.api.render import prediction_out
from bot.api.schemas import (
    ErrorOut,
    PredictionOut,
    PredictionPage,
    PredictionRequest,
    VersionedPredictionRequest,
)
from bot.api.state import ApiState, StateDep
from storage import PredictionRecord

router = APIRouter(prefix="/v1", tags=["predictions"], responses={404: {"model": ErrorOut}})
PAGE_SIZE = 100

PreferHeader = Annotated[
    str | None,
    Header(description="`wait` or `wait=N`: answer when finished, or after N seconds with status starting."),
]


def wait_seconds(prefer: str | None, max_wait_s: float) -> float | None:
    """How long `Prefer` asks to wait (`wait`: the most allowed); None when it does not ask."""
    for part in (prefer or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        try:
            asked = float(value) if value.strip() else max_wait_s
        except ValueError:
            asked = max_wait_s
        return min(max(asked, 0.0), max_wait_s)
    return None


@router.post("/predictions", status_code=201, response_model=PredictionOut, summary="Create a prediction")
async def create_prediction(
    body: VersionedPredictionRequest,
    request: Request,
    state: StateDep,
    caller: CallerDep,
    prefer: PreferHeader = None,
) -> PredictionOut:
    _check_version(body.version, state)
    return await _create(body, request, state, caller, prefer)


@router.post(
    "/models/{owner}/{name}/predictions",
    status_code=201,
    response_model=PredictionOut,
    summary="Create a prediction with the model's latest version",
)
async def create_model_prediction(
    owner: str,
    name: str,
    body: PredictionRequest,
    request: Request,
    state: StateDep,
    caller: CallerDep,
    prefer: PreferHeader = None,
) -> PredictionOut:
    check_model(owner, name, state)
    return await _create(body, request, state, caller, prefer)


@router.get("/predictions/{prediction_id}", response_model=PredictionOut, summary="Get a prediction")
async def get_prediction(
    prediction_id: str, request: Request, state: StateDep, caller: CallerDep
) -> PredictionOut:
    record = await owned_prediction(prediction_id, state, caller.token_hash)
    return prediction_out(record, state.base_url(request))


@router.get("/predictions", response_model=PredictionPage, summary="List your predictions, newest first")
async def list_predictions(
    request: Request,
    state: StateDep,
    caller: CallerDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PredictionPage:
    before = _decode_cursor(cursor) if cursor else None
    records = await state.service.store.predictions.list(
        token_hash=caller.token_hash, before=before, limit=PAGE_SIZE + 1
    )
    base = state.base_url(request)
    page, more = records[:PAGE_SIZE], len(records) > PAGE_SIZE
    next_url = f"{base}/v1/predictions?cursor={_encode_cursor(page[-1])}" if more else None
    return PredictionPage(previous=None, next=next_url, results=[prediction_out(r, base) for r in page])


@router.post(
    "/predictions/{prediction_id}/cancel", response_model=PredictionOut, summary="Cancel a prediction"
)
async def cancel_prediction(
    prediction_id: str, request: Request, state: StateDep, caller: CallerDep
) -> PredictionOut:
    await owned_prediction(prediction_id, state, caller.token_hash)
    record = await state.jobs.cancel(prediction_id)
    if record is None:  # deleted by the retention purge just now
        raise HTTPException(404, "There is no such prediction.")
    return prediction_out(record, state.base_url(request))


async def owned_prediction(prediction_id: str, state: ApiState, token_hash: str) -> PredictionRecord:
    record = await state.service.store.predictions.get(prediction_id)
    if record is None or record.token_hash != token_hash:
        raise HTTPException(404, "There is no such prediction.")
    return record


def check_model(owner: str, name: str, state: ApiState) -> None:
    if f"{owner}/{name}" != state.config.model_name:
        raise HTTPException(
            404, f"There is no model {owner}/{name} here; this server runs {state.config.model_name}."
        )


def _check_version(version: str, state: ApiState) -> None:
    """The version id, `owner/name:id` or `owner/name`; anything else is another model's."""
    model, _, version_id = version.rpartition(":") if ":" in version else ("", "", version)
    if version_id == state.config.model_name or (
        model == state.config.model_name and version_id == state.version_id
    ):
        return
    if not model and version_id == state.version_id:
        return
    raise HTTPException(
        422,
        f"version {version!r} is not a version of {state.config.model_name}; "
        f"its version is {state.version_id}.",
    )


async def _create(
    body: PredictionRequest, request: Request, state: StateDep, caller: CallerDep, prefer: str | None
) -> PredictionOut:
    events = tuple(body.webhook_events_filter) if body.webhook_events_filter else None
    new = NewPrediction(body.input, caller, "replicate", state.base_url(request), body.webhook, events)
    record = await state.jobs.create(new)
    waited = wait_seconds(prefer, state.config.max_wait_s)
    if waited is not None and record.status not in FINAL:
        record = await state.jobs.wait(record.id, waited) or record
    out = prediction_out(record, new.base_url)
    if waited is not None and out.status not in FINAL:
        out.status = "starting"  # not done in time: the client polls only a "starting" prediction
    return out


def _encode_cursor(record: PredictionRecord) -> str:
    raw = f"{record.created_at.isoformat()}|{record.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, prediction_id = raw.split("|", 1)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, prediction_id
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise HTTPException(
            422, "cursor is not one this server gave out; use the next URL of a page."
        ) from None
